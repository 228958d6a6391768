"""Readers and writers for the JSON of Kubernetes objects (tolerant on read, exact on write).

Invariant: readers never raise on a missing or mistyped field; they return a neutral value.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from controller.clock import parse_rfc3339, rfc3339


def as_dict(value: Any) -> dict[str, Any]:
    """The value if it is a JSON object, else an empty dict."""
    return value if isinstance(value, dict) else {}


def parse_time(value: Any) -> datetime | None:
    """A metav1.Time, or None when absent or unreadable."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return parse_rfc3339(value)
    except ValueError:
        return None


def put_time(out: dict[str, Any], key: str, moment: datetime | None) -> None:
    """Sets ``out[key]`` to the metav1.Time of ``moment`` unless it is None."""
    if moment is not None:
        out[key] = rfc3339(moment)
