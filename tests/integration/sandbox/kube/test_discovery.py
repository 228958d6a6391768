"""Discovery and OpenAPI documents."""

from __future__ import annotations

from pathlib import Path

from controller.sandbox.kube import KubeAPIServer

from .conftest import Raw

DATA = Path(__file__).parent / "data"


async def test_version_and_core_discovery(raw: Raw) -> None:
    status, version = await raw.call("GET", "/version")
    assert status == 200
    assert version["major"] == "1"
    _, api = await raw.call("GET", "/api")
    assert api["versions"] == ["v1"]
    _, core = await raw.call("GET", "/api/v1")
    by_name = {r["name"]: r for r in core["resources"]}
    assert by_name["secrets"]["namespaced"] is True
    assert by_name["namespaces"]["namespaced"] is False
    assert by_name["namespaces"]["shortNames"] == ["ns"]
    assert set(by_name["configmaps"]["verbs"]) >= {"get", "list", "watch", "create", "patch"}
    assert by_name["namespaces/status"]["verbs"] == ["get", "patch", "update"]


async def test_crd_groups_appear_and_disappear(api: KubeAPIServer, raw: Raw) -> None:
    api.register_crds([DATA / "widgets.yaml"])
    _, groups = await raw.call("GET", "/apis")
    widgets = next(g for g in groups["groups"] if g["name"] == "example.com")
    assert widgets["preferredVersion"]["version"] == "v1"
    assert [v["version"] for v in widgets["versions"]] == ["v1", "v1beta1"]
    _, resources = await raw.call("GET", "/apis/example.com/v1")
    names = {r["name"]: r for r in resources["resources"]}
    assert names["widgets"]["shortNames"] == ["wd"]
    assert names["widgets"]["kind"] == "Widget"
    assert "widgets/status" in names
    _, beta = await raw.call("GET", "/apis/example.com/v1beta1")
    assert [r["name"] for r in beta["resources"]] == ["widgets"], "no status subresource there"
    status, _ = await raw.call(
        "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    )
    assert status == 200
    status, _ = await raw.call("GET", "/apis/example.com/v1")
    assert status == 404


async def test_openapi_v3_declares_field_validation(api: KubeAPIServer, raw: Raw) -> None:
    api.register_crds([DATA / "widgets.yaml"])
    _, index = await raw.call("GET", "/openapi/v3")
    url = index["paths"]["apis/example.com/v1"]["serverRelativeURL"]
    _, document = await raw.call("GET", url)
    patch = document["paths"]["/apis/example.com/v1/namespaces/{namespace}/widgets/{name}"]["patch"]
    assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in patch[
        "parameters"
    ]
    schema = document["components"]["schemas"]["com.example.v1.Widget"]
    assert schema["properties"]["spec"]["required"] == ["color"]
    # v2: a protobuf document without models (kubectl's fallback; see openapi.py)
    status, body = await raw.call("GET", "/openapi/v2")
    assert status == 200
    assert raw.last_headers["Content-Type"] == (
        "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    )
    assert "2.0" in body
    assert "Kubernetes" in body


async def test_unknown_paths_are_404_status(raw: Raw) -> None:
    status, body = await raw.call("GET", "/apis/nope.example/v1/things")
    assert status == 404
    assert body["kind"] == "Status"
