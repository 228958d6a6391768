"""Legacy discovery documents (``/api``, ``/apis``, group and group/version resource lists).

Aggregated discovery (apidiscovery.k8s.io) is not offered: clients that ask for it get the
legacy ``application/json`` documents and fall back, as they do against older servers.
"""

from __future__ import annotations

import hashlib
from typing import Any

from .catalog import Catalog
from .resources import ResourceType

VERSION_INFO = {
    "major": "1",
    "minor": "32",
    "gitVersion": "v1.32.0-sandbox",
    "gitCommit": "0000000000000000000000000000000000000000",
    "gitTreeState": "clean",
    "buildDate": "2026-01-01T00:00:00Z",
    "goVersion": "go1.23.0",
    "compiler": "gc",
    "platform": "linux/amd64",
}


def api_versions(server_address: str) -> dict[str, Any]:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [
            {"clientCIDR": "0.0.0.0/0", "serverAddress": server_address}
        ],
    }


def _group(catalog: Catalog, name: str) -> dict[str, Any]:
    versions = [{"groupVersion": f"{name}/{v}", "version": v} for v in catalog.versions(name)]
    return {"name": name, "versions": versions, "preferredVersion": versions[0]}


def api_group_list(catalog: Catalog) -> dict[str, Any]:
    return {
        "kind": "APIGroupList",
        "apiVersion": "v1",
        "groups": [_group(catalog, g) for g in catalog.groups()],
    }


def api_group(catalog: Catalog, name: str) -> dict[str, Any] | None:
    if name not in catalog.groups():
        return None
    return {"kind": "APIGroup", "apiVersion": "v1", **_group(catalog, name)}


def _resource(rt: ResourceType) -> list[dict[str, Any]]:
    digest = hashlib.sha256(f"{rt.group}/{rt.version}/{rt.plural}".encode()).digest()
    main: dict[str, Any] = {
        "name": rt.plural,
        "singularName": rt.singular,
        "namespaced": rt.namespaced,
        "kind": rt.kind,
        "verbs": list(rt.verbs),
        "storageVersionHash": digest[:8].hex(),
    }
    if rt.short_names:
        main["shortNames"] = list(rt.short_names)
    if rt.categories:
        main["categories"] = list(rt.categories)
    out = [main]
    if rt.status_subresource:
        out.append(
            {
                "name": f"{rt.plural}/status",
                "singularName": "",
                "namespaced": rt.namespaced,
                "kind": rt.kind,
                "verbs": ["get", "patch", "update"],
            }
        )
    if rt.kind == "Namespace" and not rt.group:
        out.append(
            {
                "name": "namespaces/finalize",
                "singularName": "",
                "namespaced": False,
                "kind": "Namespace",
                "verbs": ["update"],
            }
        )
    return out


def api_resource_list(catalog: Catalog, group: str, version: str) -> dict[str, Any] | None:
    types = catalog.resources(group, version)
    if not types:
        return None
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": f"{group}/{version}" if group else version,
        "resources": [r for rt in types for r in _resource(rt)],
    }
