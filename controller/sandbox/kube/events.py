"""events.k8s.io/v1 Events: a second view of the core/v1 Event storage, as in the real server.

The field mapping follows ``k8s.io/kubernetes/pkg/apis/events/v1`` conversion, so an Event
written through either API is listed by both (``kubectl describe`` reads core/v1). As on the
real server, neither view derives fields from the other API's: an Event written with
``eventTime``/``series`` has ``firstTimestamp``/``lastTimestamp`` null (present, so
``--sort-by=.lastTimestamp`` works) and no ``count``; each view carries the fields Go always
serializes, with their zero values.
"""

from __future__ import annotations

from typing import Any

from .builtins import CORE_EVENT_ZEROS, admit_event_v1, with_zeros
from .resources import Column, FieldLabel, Obj, ResourceType, default_field_labels

# (events.k8s.io/v1 field, core/v1 field)
_RENAMED = (
    ("regarding", "involvedObject"),
    ("note", "message"),
    ("reportingController", "reportingComponent"),
    ("deprecatedSource", "source"),
    ("deprecatedFirstTimestamp", "firstTimestamp"),
    ("deprecatedLastTimestamp", "lastTimestamp"),
    ("deprecatedCount", "count"),
)
_SHARED = (
    "metadata",
    "eventTime",
    "series",
    "related",
    "action",
    "reason",
    "type",
    "reportingInstance",
)


#: events.k8s.io/v1 fields Go always serializes, with their zero values
_V1_ZEROS: dict[str, Any] = {
    "eventTime": None,
    "regarding": {},
    "deprecatedSource": {},
    "deprecatedFirstTimestamp": None,
    "deprecatedLastTimestamp": None,
}


def to_core(obj: Obj) -> Obj:
    out: Obj = {"apiVersion": "v1", "kind": "Event"}
    for name in _SHARED:
        if name in obj:
            out[name] = obj[name]
    for new, old in _RENAMED:
        if new in obj:
            out[old] = obj[new]
    return with_zeros(out, CORE_EVENT_ZEROS)


def from_core(obj: Obj) -> Obj:
    out: Obj = {"apiVersion": "events.k8s.io/v1", "kind": "Event"}
    # every events.k8s.io/v1 string field is omitempty: "" (core's zero value) is left out
    for name in _SHARED:
        if name in obj and obj[name] != "":
            out[name] = obj[name]
    for new, old in _RENAMED:
        if old in obj and obj[old] != "":
            out[new] = obj[old]
    return with_zeros(out, _V1_ZEROS)


def _regarding(field: str) -> FieldLabel:
    return lambda obj: (obj.get("regarding") or {}).get(field)


def events_v1() -> ResourceType:
    labels: dict[str, FieldLabel] = {
        **default_field_labels(True),
        "reason": lambda o: o.get("reason"),
        "type": lambda o: o.get("type"),
        "reportingController": lambda o: o.get("reportingController"),
        **{
            f"regarding.{f}": _regarding(f)
            for f in (
                "kind",
                "namespace",
                "name",
                "uid",
                "apiVersion",
                "resourceVersion",
                "fieldPath",
            )
        },
    }
    return ResourceType(
        group="events.k8s.io",
        version="v1",
        plural="events",
        singular="event",
        kind="Event",
        namespaced=True,
        storage="events",
        short_names=("ev",),
        admit=admit_event_v1,
        field_labels=labels,
        decode=to_core,
        encode=from_core,
        same_form=False,
        columns=(
            Column("Name", "string", lambda o: o["metadata"].get("name"), format="name"),
            Column("Reason", "string", lambda o: o.get("reason")),
            Column("Note", "string", lambda o: o.get("note")),
        ),
    )
