"""CustomResourceDefinitions: the apiextensions.k8s.io/v1 kind, and the resource types a CRD
serves once it is stored.

Invariant: a CRD that is stored can be served: every check that could fail while building its
resource types (names, versions, schemas, printer-column JSONPaths, CEL rules) runs in its
admission, so a bad CRD is a 422 and never half-registered.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from .catalog import Catalog
from .jsonpath import compile_path
from .meta import now_rfc3339
from .resources import (
    AGE_COLUMN,
    CREATED_AT,
    NAME_COLUMN,
    Admission,
    Column,
    FieldLabel,
    Obj,
    ResourceType,
    default_field_labels,
)
from .schema import SchemaError, Validator, compile_schema, map_list_keys
from .status import Cause
from .store import Store, object_key
from .watch import Event

GROUP = "apiextensions.k8s.io"
STORAGE = f"customresourcedefinitions.{GROUP}"


class CRDError(ValueError):
    def __init__(self, causes: list[Cause]) -> None:
        super().__init__("; ".join(f"{c.field}: {c.message}" for c in causes))
        self.causes = causes


def _first(path: Callable[[Any], list[Any]]) -> Callable[[Obj], Any]:
    def cell(obj: Obj) -> Any:
        found = path(obj)
        if not found:
            return None
        if len(found) == 1:
            return found[0]
        return ",".join(str(v) for v in found)

    return cell


def _columns(version: dict[str, Any], where: str) -> tuple[Column, ...]:
    specs = version.get("additionalPrinterColumns")
    if not specs:
        return (NAME_COLUMN, AGE_COLUMN)
    columns = [NAME_COLUMN]
    for i, spec in enumerate(specs):
        try:
            path = compile_path(str(spec["jsonPath"]))
        except (KeyError, ValueError) as exc:
            raise CRDError(
                [
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {exc}",
                        f"{where}.additionalPrinterColumns[{i}].jsonPath",
                    )
                ]
            ) from None
        columns.append(
            Column(
                str(spec.get("name", "")),
                str(spec.get("type", "string")),
                _first(path),
                int(spec.get("priority", 0)),
                str(spec.get("description", "")),
                str(spec.get("format", "")),
            )
        )
    return tuple(columns)


def _selectable(version: dict[str, Any], namespaced: bool, where: str) -> dict[str, FieldLabel]:
    labels = default_field_labels(namespaced)
    for i, spec in enumerate(version.get("selectableFields") or []):
        text = str((spec or {}).get("jsonPath", ""))
        try:
            path = compile_path(text)
        except ValueError as exc:
            raise CRDError(
                [
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {exc}",
                        f"{where}.selectableFields[{i}].jsonPath",
                    )
                ]
            ) from None
        labels[text.lstrip(".")] = _label(_first(path))
    return labels


def _label(cell: Callable[[Obj], Any]) -> FieldLabel:
    def label(obj: Obj) -> str | None:
        value = cell(obj)
        return None if value is None else str(value)

    return label


def _with_api_version(api_version: str) -> Callable[[Obj], Obj]:
    return lambda obj: {**obj, "apiVersion": api_version}


APPROVAL: Final = "api-approved.kubernetes.io"
"""The annotation a CRD in a Kubernetes-owned group must carry (apiextensions' validation)."""


def _protected(group: str) -> bool:
    """Whether ``group`` is Kubernetes' own (``k8s.io``, ``kubernetes.io`` and their subdomains)."""
    return any(group == d or group.endswith("." + d) for d in ("k8s.io", "kubernetes.io"))


def crd_types(crd: Obj) -> list[ResourceType]:
    """The resource types (one per served version) of a CRD; CRDError if it is invalid."""
    spec = crd.get("spec") or {}
    names = spec.get("names") or {}
    group, plural = spec.get("group"), names.get("plural")
    causes: list[Cause] = []
    for field_name, value in (
        ("spec.group", group),
        ("spec.names.plural", plural),
        ("spec.names.kind", names.get("kind")),
    ):
        if not value or not isinstance(value, str):
            causes.append(Cause("FieldValueRequired", "Required value", field_name))
    if spec.get("scope") not in ("Namespaced", "Cluster"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                'Unsupported value: supported values: "Cluster", "Namespaced"',
                "spec.scope",
            )
        )
    if causes:
        raise CRDError(causes)
    if crd["metadata"].get("name") != f"{plural}.{group}":
        raise CRDError(
            [
                Cause(
                    "FieldValueInvalid",
                    f'Invalid value: "{crd["metadata"].get("name")}"'
                    f': must be spec.names.plural+"."+spec.group',
                    "metadata.name",
                )
            ]
        )
    if _protected(str(group)) and not (crd["metadata"].get("annotations") or {}).get(APPROVAL):
        raise CRDError(
            [
                Cause(
                    "FieldValueRequired",
                    "Required value: protected groups must have approval annotation "
                    f'"{APPROVAL}", see https://github.com/kubernetes/enhancements/pull/1111',
                    f"metadata.annotations[{APPROVAL}]",
                )
            ]
        )
    versions = spec.get("versions") or []
    storage = [v.get("name") for v in versions if v.get("storage")]
    if len(storage) != 1:
        raise CRDError(
            [
                Cause(
                    "FieldValueInvalid",
                    "Invalid value: must have exactly one version marked as storage version",
                    "spec.versions",
                )
            ]
        )
    namespaced = spec["scope"] == "Namespaced"
    group, plural = str(group), str(plural)
    types = []
    for i, version in enumerate(versions):
        where = f"spec.versions[{i}]"
        raw_schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if raw_schema is None:
            raise CRDError(
                [
                    Cause(
                        "FieldValueRequired",
                        "Required value: schemas are required",
                        f"{where}.schema.openAPIV3Schema",
                    )
                ]
            )
        try:
            node = compile_schema(raw_schema, f"{where}.schema.openAPIV3Schema")
        except SchemaError as exc:
            raise CRDError(
                [
                    Cause(
                        "FieldValueInvalid",
                        f"Invalid value: {exc}",
                        f"{where}.schema.openAPIV3Schema",
                    )
                ]
            ) from None
        if not version.get("served", True):
            continue
        name = str(version["name"])
        is_storage = name == storage[0]
        types.append(
            ResourceType(
                group=group,
                version=name,
                plural=plural,
                singular=names.get("singular") or names["kind"].lower(),
                kind=names["kind"],
                namespaced=namespaced,
                storage=f"{plural}.{group}",
                short_names=tuple(names.get("shortNames") or ()),
                categories=tuple(names.get("categories") or ()),
                status_subresource="status" in (version.get("subresources") or {}),
                generation=True,
                unconditional_update=False,
                return_deleted_object=True,
                strategic_merge=False,
                field_labels=_selectable(version, namespaced, where),
                columns=_columns(version, where),
                admit=Validator(node),
                map_list_keys=map_list_keys(node),
                decode=_with_api_version(f"{group}/{storage[0]}"),
                encode=_with_api_version(f"{group}/{name}"),
                same_form=is_storage,
                crd_name=crd["metadata"]["name"],
                openapi_schema=raw_schema,
            )
        )
    return types


def _admit_crd(obj: Obj, old: Obj | None) -> Admission:
    try:
        crd_types(obj)
    except CRDError as exc:
        return Admission(exc.causes)
    names = (obj.get("spec") or {}).get("names") or {}
    accepted = {**names, "listKind": names.get("listKind") or f"{names.get('kind')}List"}
    accepted.setdefault("singular", str(names.get("kind", "")).lower())
    previous = {c.get("type"): c for c in ((old or {}).get("status") or {}).get("conditions") or []}

    def condition(kind: str, reason: str, message: str) -> dict[str, str]:
        since = previous.get(kind, {}).get("lastTransitionTime") or now_rfc3339()
        return {
            "type": kind,
            "status": "True",
            "lastTransitionTime": since,
            "reason": reason,
            "message": message,
        }

    stored = [v["name"] for v in obj["spec"]["versions"] if v.get("storage")]
    obj["status"] = {
        "acceptedNames": accepted,
        "conditions": [
            condition("NamesAccepted", "NoConflicts", "no conflicts found"),
            condition(
                "Established", "InitialNamesAccepted", "the initial names have been accepted"
            ),
        ],
        "storedVersions": sorted(
            set(((old or {}).get("status") or {}).get("storedVersions") or []) | set(stored)
        ),
    }
    return Admission()


def crd_resource_type() -> ResourceType:
    return ResourceType(
        group=GROUP,
        version="v1",
        plural="customresourcedefinitions",
        singular="customresourcedefinition",
        kind="CustomResourceDefinition",
        namespaced=False,
        storage=STORAGE,
        short_names=("crd", "crds"),
        status_subresource=True,
        generation=True,
        admit=_admit_crd,
        columns=(NAME_COLUMN, CREATED_AT),
    )


class CRDController:
    """Keeps the catalog in step with stored CRDs; deleting a CRD deletes its objects."""

    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog
        store.on_write(self.observe)

    def observe(self, storage: str, event: Event) -> None:
        if storage != STORAGE:
            return
        name = event.obj["metadata"]["name"]
        self.catalog.remove_crd(name)
        if event.type == "DELETED":
            # the CRD's name is its storage: plural.group
            for obj in self.store.objects(name):
                self.store.remove(name, object_key(obj))
            self.store.drop_storage(name)
            return
        for rt in crd_types(event.obj):
            self.catalog.add(rt)
