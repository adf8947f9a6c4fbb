"""The configuration table is declared once: Settings, the README and the parser agree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from workflow_runner.config import VARIABLES, Settings, load_settings, markdown_table

README = Path(__file__).parents[1] / "README.md"
START, END = "<!-- config-table:start -->\n", "<!-- config-table:end -->"


def test_the_readme_table_is_the_one_generated_from_the_declarations() -> None:
    text = README.read_text()
    assert START in text and END in text, "README lost its config-table markers"
    shown = text.split(START, 1)[1].split(END, 1)[0]
    assert shown == markdown_table(), "run: python -m workflow_runner.config"


def test_settings_defaults_are_the_table_defaults() -> None:
    defaults = Settings()
    for variable in VARIABLES:
        if variable.field is not None and variable.default is not None:
            assert getattr(defaults, variable.field) == variable.default, variable.name


def test_every_settings_field_is_declared_or_derived() -> None:
    declared = {v.field for v in VARIABLES if v.field is not None}
    derived = {"s3", "secrets"}
    assert {f.name for f in dataclasses.fields(Settings)} == declared | derived


def test_an_empty_environment_gives_the_default_settings() -> None:
    assert load_settings({}) == Settings()


def test_every_variable_is_named_once() -> None:
    names = [v.name for v in VARIABLES]
    assert len(names) == len(set(names))
