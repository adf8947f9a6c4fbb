"""Configuration: bad values are start-up errors that name the variable."""

from __future__ import annotations

from pathlib import Path

import pytest

from workflow_runner.config import ConfigError, StorageType, load_settings


def test_defaults_are_local_mode() -> None:
    s = load_settings({})
    assert s.storage_type is StorageType.FILESYSTEM
    assert s.storage_path == Path("~/.stigmer/data/blobs").expanduser()
    assert s.threshold_bytes == 51_200
    assert s.claimcheck_enabled and s.compression_enabled
    assert s.ttl_days == 30
    assert s.local_mode and s.temporal_namespace == "default"


@pytest.mark.parametrize(
    ("env", "names"),
    [
        ({"CLAIMCHECK_THRESHOLD_BYTES": "abc"}, ["CLAIMCHECK_THRESHOLD_BYTES", "integer"]),
        ({"BLOB_STORAGE_TYPE": "ftp"}, ["BLOB_STORAGE_TYPE", "filesystem, r2, s3, memory"]),
        ({"CLAIMCHECK_TTL_DAYS": "-1"}, ["CLAIMCHECK_TTL_DAYS", ">= 0"]),
        ({"CLAIMCHECK_ENABLED": "maybe"}, ["CLAIMCHECK_ENABLED", "true or false"]),
        ({"TEMPORAL_DEV_SERVER_PORT": "70000"}, ["TEMPORAL_DEV_SERVER_PORT"]),
    ],
)
def test_bad_values_name_variable_and_allowed_values(env: dict[str, str], names: list[str]) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(env)
    for name in names:
        assert name in str(info.value)


def test_every_problem_is_reported_at_once() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"CLAIMCHECK_THRESHOLD_BYTES": "x", "CLAIMCHECK_TTL_DAYS": "y"})
    assert len(info.value.problems) == 2


def test_r2_without_credentials_names_all_four_variables() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"BLOB_STORAGE_TYPE": "r2"})
    message = str(info.value)
    for name in ("R2_BUCKET", "R2_ENDPOINT", "R2_ACCESS_KEY_ID", "R2_SECRET_ACCESS_KEY"):
        assert name in message


def test_r2_partial_credentials_names_only_the_missing() -> None:
    with pytest.raises(ConfigError) as info:
        load_settings({"BLOB_STORAGE_TYPE": "r2", "R2_BUCKET": "b", "R2_ENDPOINT": "https://x"})
    assert "R2_ACCESS_KEY_ID" in str(info.value) and "R2_BUCKET" not in str(info.value)


def test_secrets_never_appear_in_repr() -> None:
    s = load_settings(
        {
            "BLOB_STORAGE_TYPE": "r2",
            "R2_BUCKET": "bucket",
            "R2_ENDPOINT": "https://acct.r2.cloudflarestorage.com",
            "R2_ACCESS_KEY_ID": "AKIDSECRETVALUE",
            "R2_SECRET_ACCESS_KEY": "very-secret-key",
            "WORKFLOW_SECRET_API_TOKEN": "tok-123",
        }
    )
    assert s.s3 is not None and s.s3.region == "auto"
    text = repr(s) + str(s)
    for secret in ("AKIDSECRETVALUE", "very-secret-key", "tok-123"):
        assert secret not in text
    assert s.secrets == {"api_token": "tok-123"}
