"""DSL durations: ISO 8601 strings (``PT1M30S``) and the object form (``seconds: 90``)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

_ISO = re.compile(
    r"^P(?:(?P<days>\d+(?:\.\d+)?)D)?"
    r"(?:T(?:(?P<hours>\d+(?:\.\d+)?)H)?(?:(?P<minutes>\d+(?:\.\d+)?)M)?"
    r"(?:(?P<seconds>\d+(?:\.\d+)?)S)?)?$"
)
_UNITS = {"days", "hours", "minutes", "seconds", "milliseconds"}


def parse_duration(value: Any) -> timedelta:
    """Raise ``ValueError`` with a readable reason when ``value`` is not a duration."""
    if isinstance(value, str):
        match = _ISO.match(value.strip())
        if not match or value.strip() in ("P", "PT") or value.strip().endswith("T"):
            raise ValueError(f"{value!r} is not an ISO 8601 duration such as PT30S or P1DT2H")
        parts = {k: float(v) for k, v in match.groupdict().items() if v}
        return timedelta(**parts)
    if isinstance(value, dict):
        unknown = set(value) - _UNITS
        if unknown:
            raise ValueError(f"unknown duration unit(s) {sorted(unknown)}; use {sorted(_UNITS)}")
        try:
            return timedelta(**{k: float(v) for k, v in value.items()})
        except (TypeError, ValueError):
            raise ValueError(f"duration values must be numbers, got {value!r}") from None
    if isinstance(value, int | float) and not isinstance(value, bool):
        return timedelta(seconds=value)
    raise ValueError(f"{value!r} is not a duration (ISO 8601 string or {{seconds: N}})")
