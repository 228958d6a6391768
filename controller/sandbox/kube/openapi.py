"""Enough OpenAPI v3 for kubectl: the ``/openapi/v3`` index and one document per
group/version whose PATCH operations declare the ``fieldValidation`` parameter (so kubectl
validates server-side with ``fieldValidation=Strict``) and whose components carry each CRD
version's schema with its ``x-kubernetes-group-version-kind``.

``/openapi/v2`` is served as the real server's protobuf media type, but without models:
kubectl asks for it when v3 does not know a kind (``kubectl apply -f`` of a file whose kind no
API serves). With a document it finds no schema, skips client-side validation and reports
"no matches for kind" as against a real server; with a 404 it failed validation with "the
server could not find the requested resource" instead. kubectl computes strategic merge
patches from its compiled-in types when the document has no model, as it would anyway for
built-in kinds.
"""

from __future__ import annotations

import hashlib
from typing import Any

import orjson

from .catalog import Catalog
from .protobuf import field
from .resources import ResourceType

_PATCH_PARAMETERS = ("dryRun", "fieldManager", "fieldValidation", "force")


def _gv_path(group: str, version: str) -> str:
    return f"apis/{group}/{version}" if group else f"api/{version}"


def _gvk(rt: ResourceType) -> dict[str, str]:
    return {"group": rt.group, "version": rt.version, "kind": rt.kind}


def _schema_name(rt: ResourceType) -> str:
    group = ".".join(reversed(rt.group.split("."))) if rt.group else "io.k8s.api.core"
    return f"{group}.{rt.version}.{rt.kind}"


def group_version_document(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    types = catalog.resources(group, version)
    if not types:
        return None
    paths: dict[str, Any] = {}
    schemas: dict[str, Any] = {}
    for rt in types:
        base = f"/{_gv_path(group, version)}"
        if rt.namespaced:
            base += "/namespaces/{namespace}"
        patch = {
            "operationId": f"patch{rt.kind}",
            "x-kubernetes-action": "patch",
            "x-kubernetes-group-version-kind": _gvk(rt),
            "parameters": [
                {"name": p, "in": "query", "schema": {"type": "string"}} for p in _PATCH_PARAMETERS
            ],
            "responses": {"200": {"description": "OK"}},
        }
        paths[f"{base}/{rt.plural}/{{name}}"] = {"patch": patch}
        schema = {"type": "object", "x-kubernetes-group-version-kind": [_gvk(rt)]}
        if rt.openapi_schema is not None:
            schema = {**rt.openapi_schema, **schema}
        schemas[_schema_name(rt)] = schema
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": "v1.32.0"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


#: what the real server answers (the "@" of the requested type is a "." here)
V2_MEDIA_TYPE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def v2_document() -> bytes:
    """A gnostic ``openapi_v2.Document`` (swagger=1, info=2 {title=1, version=2}, paths=8)
    with no paths and no definitions."""
    info = field(1, "Kubernetes") + field(2, "v1.32.0")
    return field(1, "2.0") + field(2, info) + field(8, b"")


def index(catalog: Catalog) -> dict[str, Any]:
    entries: dict[str, Any] = {}
    pairs = {(rt.group, rt.version) for rt in catalog.all()}
    for group, version in sorted(pairs):
        document = group_version_document(catalog, group, version)
        digest = hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()
        path = _gv_path(group, version)
        entries[path] = {"serverRelativeURL": f"/openapi/v3/{path}?hash={digest[:32].upper()}"}
    return {"paths": entries}
