"""What the server knows about one REST resource (one group/version/plural view of a storage).

Invariant: objects in a storage are kept in the storage form; a :class:`ResourceType` is a view
on exactly one storage and converts between the two with ``decode``/``encode`` (identity for
most resources; core/v1 and events.k8s.io/v1 Events share one storage, and every served version
of a CRD views the same storage).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .status import Cause

Obj = dict[str, Any]
FieldLabel = Callable[[Obj], "str | None"]
Converter = Callable[[Obj], Obj]

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")


@dataclass(frozen=True, slots=True)
class Column:
    """One server-side table column (``meta.k8s.io/v1 TableColumnDefinition``)."""

    name: str
    type: str
    cell: Callable[[Obj], Any]
    priority: int = 0
    description: str = ""
    format: str = ""
    #: date cells are shown as ages ("5m"); False keeps the timestamp ("Created At")
    relative: bool = True

    def definition(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "type": self.type,
            "format": self.format,
            "description": self.description,
            "priority": self.priority,
        }


@dataclass(frozen=True, slots=True)
class Admission:
    """Result of admitting one object: field problems (422), unknown (pruned) fields, and
    warnings (ratcheted validation failures)."""

    causes: list[Cause] = field(default_factory=list)
    unknown_fields: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


Admit = Callable[[Obj, "Obj | None"], Admission]


def _identity(obj: Obj) -> Obj:
    return obj


def _admit_anything(obj: Obj, old: Obj | None) -> Admission:
    return Admission()


def _name(obj: Obj) -> str | None:
    value = obj["metadata"].get("name")
    return value if isinstance(value, str) else None


def _namespace(obj: Obj) -> str | None:
    value = obj["metadata"].get("namespace")
    return value if isinstance(value, str) else None


def default_field_labels(namespaced: bool) -> dict[str, FieldLabel]:
    labels: dict[str, FieldLabel] = {"metadata.name": _name}
    if namespaced:
        labels["metadata.namespace"] = _namespace
    return labels


def creation_timestamp(obj: Obj) -> Any:
    return obj["metadata"].get("creationTimestamp")


NAME_COLUMN = Column(
    "Name", "string", _name, format="name", description="Name must be unique within a namespace."
)
CREATED_AT = Column(
    "Created At",
    "date",
    creation_timestamp,
    description="The object's creation time.",
    relative=False,
)
AGE_COLUMN = Column(
    "Age",
    "date",
    creation_timestamp,
    description="CreationTimestamp is the object's creation time.",
)


@dataclass(frozen=True, slots=True)
class ResourceType:
    group: str
    version: str
    plural: str
    singular: str
    kind: str
    namespaced: bool
    storage: str
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    verbs: tuple[str, ...] = ALL_VERBS
    status_subresource: bool = False
    #: metadata.generation is maintained (CRs and spec/status kinds)
    generation: bool = False
    #: a PUT without metadata.resourceVersion is allowed
    unconditional_update: bool = True
    #: a PUT of a missing object creates it
    create_on_update: bool = False
    #: DELETE answers with the object (CRs) instead of a Success Status
    return_deleted_object: bool = False
    #: application/strategic-merge-patch+json is accepted (built-in kinds only)
    strategic_merge: bool = True
    #: metadata.name rule: "subdomain" (most kinds), "label" (namespaces), "path" (RBAC)
    name_rule: str = "subdomain"
    field_labels: Mapping[str, FieldLabel] = field(default_factory=dict)
    columns: tuple[Column, ...] = (NAME_COLUMN, AGE_COLUMN)
    admit: Admit = _admit_anything
    #: list of x-kubernetes-list-map-keys per dotted field path (server-side apply)
    map_list_keys: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    decode: Converter = _identity
    encode: Converter = _identity
    #: whether decode/encode are identities (lets hot paths skip them)
    same_form: bool = True
    #: the CRD this type came from (None for built-ins)
    crd_name: str | None = None
    #: the openAPIV3Schema served under /openapi/v3 (CRD versions)
    openapi_schema: dict[str, Any] | None = None

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def list_kind(self) -> str:
        return f"{self.kind}List"

    def field_label(self, name: str) -> FieldLabel | None:
        if name in self.field_labels:
            return self.field_labels[name]
        return default_field_labels(self.namespaced).get(name)


def v1_type(group: str, plural: str, kind: str, namespaced: bool, **kw: Any) -> ResourceType:
    """A built-in ``v1`` resource of ``group`` stored under ``plural[.group]``."""
    return ResourceType(
        group=group,
        version="v1",
        plural=plural,
        singular=kind.lower(),
        kind=kind,
        namespaced=namespaced,
        storage=f"{plural}.{group}" if group else plural,
        **kw,
    )
