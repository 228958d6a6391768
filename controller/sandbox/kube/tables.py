"""Server-side printing (``Accept: application/json;as=Table;g=meta.k8s.io;v=v1``)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from .resources import Obj, ResourceType

TABLE_MEDIA = "as=Table"


def wants_table(accept: str) -> bool:
    first = accept.split(",", maxsplit=1)[0]
    return TABLE_MEDIA in first and "g=meta.k8s.io" in first


def human_duration(seconds: float) -> str:
    """``k8s.io/apimachinery/pkg/util/duration.HumanDuration``."""
    s = int(seconds)
    if s < -1:
        return "<invalid>"
    if s < 0:
        return "0s"
    if s < 120:
        return f"{s}s"
    minutes = s // 60
    if minutes < 10:
        return f"{minutes}m" if s % 60 == 0 else f"{minutes}m{s % 60}s"
    if minutes < 180:
        return f"{minutes}m"
    hours = s // 3600
    if hours < 8:
        return f"{hours}h" if minutes % 60 == 0 else f"{hours}h{minutes % 60}m"
    if hours < 48:
        return f"{hours}h"
    if hours < 24 * 8:
        return f"{hours // 24}d" if hours % 24 == 0 else f"{hours // 24}d{hours % 24}h"
    if hours < 24 * 365 * 2:
        return f"{hours // 24}d"
    if hours < 24 * 365 * 8:
        years, days = hours // 24 // 365, hours // 24 % 365
        return f"{years}y" if days == 0 else f"{years}y{days}d"
    return f"{hours // 24 // 365}y"


def _age(value: Any) -> Any:
    if not isinstance(value, str):
        return "<unknown>" if value is None else value
    try:
        then = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    return human_duration((datetime.now(UTC) - then).total_seconds())


def _partial(obj: Obj) -> dict[str, Any]:
    return {
        "kind": "PartialObjectMetadata",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": obj["metadata"],
    }


def row(rt: ResourceType, obj: Obj, include_object: str) -> dict[str, Any]:
    cells = []
    for column in rt.columns:
        value = column.cell(obj)
        cells.append(_age(value) if column.type == "date" and column.relative else value)
    out: dict[str, Any] = {"cells": cells}
    if include_object == "Object":
        out["object"] = obj
    elif include_object != "None":
        out["object"] = _partial(obj)
    return out


def table(
    rt: ResourceType,
    objs: list[Obj],
    metadata: dict[str, Any],
    include_object: str,
    *,
    headers: bool = True,
) -> dict[str, Any]:
    return {
        "kind": "Table",
        "apiVersion": "meta.k8s.io/v1",
        "metadata": metadata,
        "columnDefinitions": [c.definition() for c in rt.columns] if headers else [],
        "rows": [row(rt, o, include_object) for o in objs],
    }
