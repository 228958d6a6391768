"""Tolerant readers for ZeroSSL's loosely typed JSON scalars.

Invariant: no reader raises on a value of an unexpected type; each returns a neutral value
(None, False, empty tuple) instead, so new or oddly typed fields never break parsing.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

_TRUE = frozenset({"1", "true", "yes"})


def as_bool(value: Any) -> bool:
    """ZeroSSL booleans: true, 1, "1", "true", "yes" (any case) are true; all else false."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float):
        return value == 1
    return isinstance(value, str) and value.strip().lower() in _TRUE


def as_str(value: Any) -> str | None:
    """A non-empty string, numbers rendered as text; None for null, "" and containers."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, str) and value != "":
        return value
    return None


def as_int(value: Any, default: int = 0) -> int:
    """An integer from a number or a numeric string (``page`` is sometimes a string)."""
    if isinstance(value, bool):
        return default
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        try:
            return int(value.strip())
        except ValueError:
            return default
    return default


def as_time(value: Any) -> datetime | None:
    """ZeroSSL timestamps ("2020-04-29 09:04:19", UTC) as aware UTC datetimes; None if absent.

    ISO 8601 with an offset is accepted too; text without an offset is taken as UTC.
    """
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def as_csv(value: Any) -> tuple[str, ...]:
    """A comma-separated string (or a list) as a tuple of trimmed, non-empty items."""
    if isinstance(value, str):
        items: list[Any] = value.split(",")
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        return ()
    return tuple(s for item in items if (s := (as_str(item) or "").strip()))


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object; ZeroSSL sends [] or null for empty objects."""
    return value if isinstance(value, dict) else {}
