"""Every rendered object validates offline: built-in kinds against the Kubernetes OpenAPI
schemas of every supported minor version, custom resources against their CRDs, and the CRDs
themselves are structural."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.manifests.render import OVERLAYS, Object, load_yaml_files, overlay
from tests.manifests.schemas import (
    KUBERNETES_VERSIONS,
    MONITORING_SCHEMAS,
    CRDCatalog,
    builtin_errors,
    closed_schema,
    crd_violations,
    project_crds,
    structural_violations,
    validation_errors,
)


def _distinct(objects: list[Object]) -> list[Object]:
    unique = {yaml.safe_dump(o, sort_keys=True): o for o in objects}
    return list(unique.values())


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_overlay_objects_validate(version: str) -> None:
    # The overlays share most objects; each distinct rendering is validated once.
    objects = _distinct([o for name in OVERLAYS for o in overlay(name)])
    assert validation_errors(objects, version) == []


def test_crds_are_structural() -> None:
    crds = project_crds()
    assert {c["spec"]["names"]["kind"] for c in crds} == {
        "ZeroSSLIssuer",
        "ZeroSSLClusterIssuer",
        "ZeroSSLOrder",
    }
    for crd in crds:
        assert crd_violations(crd) == []


def test_vendored_monitoring_schemas_are_structural() -> None:
    for crd in load_yaml_files([MONITORING_SCHEMAS]):
        assert crd_violations(crd) == []


# The checks themselves catch what they claim to.

INT_OR_STRING = {
    "x-kubernetes-int-or-string": True,
    "anyOf": [{"type": "integer"}, {"type": "string"}],
}


@pytest.mark.parametrize(
    ("schema", "expected"),
    [
        (
            {"type": "object", "properties": {"a": {"description": "x"}}},
            "<root>.a: type is missing",
        ),
        ({"type": "string"}, "<root>: type must be object"),
        (
            {"type": "object", "properties": {"a": {"type": "array"}}},
            "<root>.a: an array needs exactly one items schema",
        ),
        (
            {
                "type": "object",
                "properties": {"a": {"type": "string"}},
                "additionalProperties": {"type": "string"},
            },
            "mutually exclusive",
        ),
        (
            {"type": "object", "anyOf": [{"type": "object", "required": ["a"]}]},
            "<root>.anyOf[0]: type is not allowed in a junctor",
        ),
        (
            {"type": "object", "oneOf": [{"properties": {"b": {"type": "string"}}}]},
            "property b is not specified outside the junctor",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "a": {"type": "object", "x-kubernetes-preserve-unknown-fields": False}
                },
            },
            "x-kubernetes-preserve-unknown-fields must be true or unset",
        ),
        (
            {
                "type": "object",
                "properties": {
                    "metadata": {"type": "object", "properties": {"labels": {"type": "object"}}}
                },
            },
            "metadata: only name and generateName may be restricted",
        ),
    ],
)
def test_structural_rules(schema: dict[str, Any], expected: str) -> None:
    assert any(expected in p for p in structural_violations(schema)), structural_violations(schema)


def test_structural_accepts_int_or_string_and_preserved_fields() -> None:
    schema = {
        "type": "object",
        "properties": {
            "port": INT_OR_STRING,
            "raw": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            "anything": {"x-kubernetes-preserve-unknown-fields": True},
        },
    }
    assert structural_violations(schema) == []


def _crd(schema: dict[str, Any], scope: str = "Namespaced") -> Object:
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "things.example.dev"},
        "spec": {
            "group": "example.dev",
            "scope": scope,
            "names": {"kind": "Thing", "plural": "things"},
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "schema": {"openAPIV3Schema": schema},
                }
            ],
        },
    }


SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["size"],
            "properties": {
                "size": {"type": "integer", "minimum": 1},
                "port": INT_OR_STRING,
                "extra": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
            },
        },
    },
}


def _thing(spec: dict[str, Any], **meta: str) -> Object:
    return {
        "apiVersion": "example.dev/v1",
        "kind": "Thing",
        "metadata": {"name": "t", **meta},
        "spec": spec,
    }


def test_custom_resources_are_checked_strictly() -> None:
    catalog = CRDCatalog([_crd(SCHEMA)])
    assert catalog.errors(_thing({"size": 2, "port": "http", "extra": {"free": 1}})) == []
    assert "'sise' was unexpected" in " ".join(catalog.errors(_thing({"size": 2, "sise": 3})))
    assert "0 is less than the minimum" in " ".join(catalog.errors(_thing({"size": 0})))
    assert "'size' is a required property" in " ".join(catalog.errors(_thing({})))
    assert not catalog.knows({"apiVersion": "example.dev/v2", "kind": "Thing"})


def test_cluster_scoped_resources_have_no_namespace() -> None:
    catalog = CRDCatalog([_crd(SCHEMA, scope="Cluster")])
    assert "cluster-scoped" in " ".join(catalog.errors(_thing({"size": 1}, namespace="x")))


def test_closed_schema_leaves_the_input_alone() -> None:
    closed = closed_schema(SCHEMA)
    assert closed["properties"]["spec"]["additionalProperties"] is False
    assert "additionalProperties" not in SCHEMA["properties"]["spec"]
    assert "additionalProperties" not in closed["properties"]["spec"]["properties"]["extra"]


def test_crd_level_rules() -> None:
    crd = _crd(SCHEMA)
    assert crd_violations(crd) == []
    crd["metadata"]["name"] = "thing.example.dev"
    crd["spec"]["versions"][0]["storage"] = False
    crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["status"] = {
        "type": "object"
    }
    found = " ".join(crd_violations(crd))
    assert "name must be <plural>.<group>" in found
    assert "exactly one storage version" in found
    assert "status without the status subresource" in found


def test_builtin_validation_is_strict() -> None:
    service = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "s"},
        "spec": {"ports": [{"port": "eighty"}], "selectr": {}},
    }
    found = " ".join(builtin_errors(service, KUBERNETES_VERSIONS[-1]))
    assert found, "an invalid Service validated"
