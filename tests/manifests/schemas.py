"""Offline schema checks for rendered manifests.

Built-in kinds validate against the Kubernetes OpenAPI schemas shipped by the
``kubernetes-validate`` package, strictly (an unknown field is an error). Custom resources
validate against the ``openAPIV3Schema`` of their CRD read as JSON Schema (draft 4, which
OpenAPI 3.0 schemas follow, e.g. a boolean ``exclusiveMinimum``) and closed the way
the API server's strict field validation closes it: an object schema with ``properties``
accepts no other field unless it says ``x-kubernetes-preserve-unknown-fields``. CEL rules
(``x-kubernetes-validations``) and ``format`` are not evaluated. ``structural_violations``
implements the API server's rules for structural CRD schemas.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import kubernetes_validate  # type: ignore[import-untyped]

from tests.manifests.render import MANIFESTS, ROOT, Object, kustomize, load_yaml_files

# The oldest Kubernetes minor the manifests promise to work on (1.x); every minor from there to
# the newest schema kubernetes-validate ships is checked.
MIN_KUBERNETES_MINOR = 29
KUBERNETES_VERSIONS = tuple(
    f"1.{minor}"
    for minor in range(
        MIN_KUBERNETES_MINOR, int(kubernetes_validate.latest_version().split(".")[1]) + 1
    )
)

Schema = dict[str, Any]

CERT_MANAGER_CRDS = ROOT / "controller" / "sandbox" / "crds"
MONITORING_SCHEMAS = Path(__file__).parent / "schemas" / "monitoring.coreos.com.yaml"
JUNCTORS = ("allOf", "anyOf", "oneOf", "not")
FORBIDDEN_IN_JUNCTORS = ("description", "type", "default", "additionalProperties", "nullable")


def describe(obj: Object) -> str:
    meta = obj.get("metadata") or {}
    where = f"{meta['namespace']}/" if meta.get("namespace") else ""
    return f"{obj.get('kind')} {where}{meta.get('name')}"


def builtin_errors(obj: Object, version: str) -> list[str]:
    """Schema errors of a built-in object for one Kubernetes version ([] when valid); raises
    ``kubernetes_validate.SchemaNotFoundError`` for a kind it has no schema for."""
    try:
        kubernetes_validate.validate(obj, version, strict=True)
    except kubernetes_validate.ValidationError as exc:
        path = ".".join(str(p) for p in exc.path) or "<root>"
        return [f"{describe(obj)} (Kubernetes {version}): {path}: {exc.message}"]
    return []


class CRDCatalog:
    """Validators for custom resources, one per (group, version, kind) the CRDs serve."""

    def __init__(self, crds: Iterable[Object]) -> None:
        self._kinds: dict[tuple[str, str, str], tuple[str, Any]] = {}
        for crd in crds:
            spec = crd["spec"]
            for version in spec["versions"]:
                closed = closed_schema(version["schema"]["openAPIV3Schema"])
                key = (spec["group"], version["name"], spec["names"]["kind"])
                self._kinds[key] = (spec["scope"], jsonschema.Draft4Validator(closed))

    def knows(self, obj: Object) -> bool:
        return _gvk(obj) in self._kinds

    def errors(self, obj: Object) -> list[str]:
        """Errors of a custom resource against its CRD ([] when valid)."""
        scope, validator = self._kinds[_gvk(obj)]
        # metadata is ObjectMeta, checked by the API server itself rather than the CRD schema.
        body = {k: v for k, v in obj.items() if k != "metadata"}
        problems = [
            f"{describe(obj)}: {'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in validator.iter_errors(body)
        ]
        meta = obj.get("metadata") or {}
        if not meta.get("name"):
            problems.append(f"{describe(obj)}: metadata.name is missing")
        if scope == "Cluster" and "namespace" in meta:
            problems.append(f"{describe(obj)}: cluster-scoped, but metadata.namespace is set")
        return problems


def _gvk(obj: Object) -> tuple[str, str, str]:
    group, _, version = str(obj.get("apiVersion", "")).rpartition("/")
    return group, version, str(obj.get("kind", ""))


def closed_schema(schema: Schema) -> Schema:
    """A JSON-Schema copy of a CRD schema with strict field validation's semantics."""
    closed = copy.deepcopy(schema)
    _close(closed, in_junctor=False)
    return closed


def _close(node: Schema, *, in_junctor: bool) -> None:
    if node.get("nullable") and isinstance(node.get("type"), str):
        node["type"] = [node["type"], "null"]
    if (
        not in_junctor
        and "properties" in node
        and "additionalProperties" not in node
        and not node.get("x-kubernetes-preserve-unknown-fields")
    ):
        node["additionalProperties"] = False
    for child, junctor in _children(node):
        _close(child, in_junctor=in_junctor or junctor)


def _children(node: Schema) -> Iterator[tuple[Schema, bool]]:
    """(child schema, reached through a junctor) for every direct sub-schema of ``node``."""
    for child in (node.get("properties") or {}).values():
        yield child, False
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            yield node[key], False
    for junctor in JUNCTORS:
        value = node.get(junctor)
        for child in [value] if isinstance(value, dict) else value or []:
            yield child, True


def structural_violations(schema: Schema) -> list[str]:
    """Why a CRD version's openAPIV3Schema is not structural ([] when it is)."""
    problems: list[str] = []
    if schema.get("type") != "object":
        problems.append("<root>: type must be object")
    metadata = (schema.get("properties") or {}).get("metadata")
    if isinstance(metadata, dict):
        extra = set(metadata.get("properties") or {}) - {"name", "generateName"}
        if extra or set(metadata) - {"type", "properties", "description"}:
            problems.append("metadata: only name and generateName may be restricted")
    _check_node(schema, "<root>", problems)
    return problems


def _check_node(node: Schema, path: str, problems: list[str]) -> None:
    for flag in ("int-or-string", "preserve-unknown-fields"):
        if node.get(f"x-kubernetes-{flag}") not in (None, True):
            problems.append(f"{path}: x-kubernetes-{flag} must be true or unset")
    int_or_string = node.get("x-kubernetes-int-or-string") is True
    preserve = node.get("x-kubernetes-preserve-unknown-fields") is True
    if int_or_string and "type" in node:
        problems.append(f"{path}: x-kubernetes-int-or-string forbids type")
    if not node.get("type") and not int_or_string and not preserve:
        problems.append(f"{path}: type is missing")
    if "properties" in node and "additionalProperties" in node:
        problems.append(f"{path}: properties and additionalProperties are mutually exclusive")
    if node.get("type") == "array" and not isinstance(node.get("items"), dict):
        problems.append(f"{path}: an array needs exactly one items schema")
    for junctor in JUNCTORS:
        if junctor in node:
            _check_junctor(node, node[junctor], f"{path}.{junctor}", problems, int_or_string)
    for name, child in (node.get("properties") or {}).items():
        _check_node(child, f"{path}.{name}", problems)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            _check_node(node[key], f"{path}.{key}", problems)


def _check_junctor(
    owner: Schema, value: Any, path: str, problems: list[str], int_or_string: bool
) -> None:
    branches = [value] if isinstance(value, dict) else list(value)
    if int_or_string and _is_int_or_string_pattern(path, branches):
        return
    for index, branch in enumerate(branches):
        where = f"{path}[{index}]"
        problems.extend(
            f"{where}: {key} is not allowed in a junctor"
            for key in FORBIDDEN_IN_JUNCTORS
            if key in branch
        )
        problems.extend(
            f"{where}: {key} is not allowed in a junctor"
            for key in branch
            if key.startswith("x-kubernetes-")
        )
        for name in branch.get("properties") or {}:
            if name not in (owner.get("properties") or {}):
                problems.append(f"{where}: property {name} is not specified outside the junctor")
        if "items" in branch and "items" not in owner:
            problems.append(f"{where}: items is not specified outside the junctor")
        for junctor in JUNCTORS:
            if junctor in branch:
                _check_junctor(
                    owner, branch[junctor], f"{where}.{junctor}", problems, int_or_string
                )


def _is_int_or_string_pattern(path: str, branches: list[Schema]) -> bool:
    integer_or_string = [{"type": "integer"}, {"type": "string"}]
    return path.endswith("anyOf") and sorted(branches, key=str) == sorted(
        integer_or_string, key=str
    )


def crd_violations(crd: Object) -> list[str]:
    """Why a CRD would be rejected or misbehave: structural schemas, naming, versions."""
    spec = crd["spec"]
    name = crd["metadata"]["name"]
    problems: list[str] = []
    if name != f"{spec['names']['plural']}.{spec['group']}":
        problems.append(f"{name}: name must be <plural>.<group>")
    storage = [v["name"] for v in spec["versions"] if v.get("storage")]
    if len(storage) != 1:
        problems.append(f"{name}: exactly one storage version is required, found {storage}")
    for version in spec["versions"]:
        schema = (version.get("schema") or {}).get("openAPIV3Schema")
        if schema is None:
            problems.append(f"{name}/{version['name']}: openAPIV3Schema is missing")
            continue
        problems += [f"{name}/{version['name']}: {p}" for p in structural_violations(schema)]
        has_status = "status" in (schema.get("properties") or {})
        if has_status and "status" not in (version.get("subresources") or {}):
            problems.append(f"{name}/{version['name']}: status without the status subresource")
    return problems


def project_crds() -> list[Object]:
    """The CRDs manifests/crds builds (this project's own kinds)."""
    return [o for o in kustomize(MANIFESTS / "crds") if o["kind"] == "CustomResourceDefinition"]


@functools.cache
def project_catalog() -> CRDCatalog:
    """Our CRDs, cert-manager's (as the sandbox serves them) and the monitoring subsets."""
    vendored = load_yaml_files([*sorted(CERT_MANAGER_CRDS.glob("*.yaml")), MONITORING_SCHEMAS])
    return CRDCatalog([*project_crds(), *vendored])


def validation_errors(objects: Iterable[Object], version: str) -> list[str]:
    """Every schema error of the objects for one Kubernetes version; an object no schema
    covers is an error too."""
    problems: list[str] = []
    for obj in objects:
        try:
            problems += builtin_errors(obj, version)
        except kubernetes_validate.SchemaNotFoundError:
            if project_catalog().knows(obj):
                problems += project_catalog().errors(obj)
            else:
                problems.append(f"no schema for {obj.get('apiVersion')} {obj.get('kind')}")
    return problems
