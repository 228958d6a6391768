"""CRD registration, structural-schema validation, CEL, status subresource, generation,
patch types and server-side apply on custom resources."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from kubernetes_asyncio import client
from kubernetes_asyncio.client.exceptions import ApiException

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.kube.status import StatusError

from .conftest import Raw

DATA = Path(__file__).parent / "data"
REPO = Path(__file__).parents[4]
WIDGETS = "/apis/example.com/v1/namespaces/default/widgets"
MERGE = "application/merge-patch+json"
APPLY = "application/apply-patch+yaml"


@pytest.fixture
def widgets(api: KubeAPIServer) -> KubeAPIServer:
    assert api.register_crds([DATA / "widgets.yaml"]) == ["widgets.example.com"]
    return api


def widget(name: str = "w", **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Widget",
        "metadata": {"name": name},
        "spec": {"color": "red", **spec},
    }


def causes(body: dict[str, Any]) -> dict[str, str]:
    return {c["field"]: c["message"] for c in body["details"]["causes"]}


async def test_project_and_cert_manager_crds_register(api: KubeAPIServer) -> None:
    names = api.register_crds([REPO / "controller/sandbox/crds", REPO / "manifests/crds"])
    assert "certificaterequests.cert-manager.io" in names
    assert "zerosslorders.zerossl.issuer.dev" in names
    crd = api.get_object(
        "apiextensions.k8s.io/v1", "CustomResourceDefinition", "certificaterequests.cert-manager.io"
    )
    assert {c["type"]: c["status"] for c in crd["status"]["conditions"]} == {
        "NamesAccepted": "True",
        "Established": "True",
    }


async def test_certificate_request_validation(api: KubeAPIServer, kube: client.ApiClient) -> None:
    api.register_crds([REPO / "controller/sandbox/crds"])
    custom = client.CustomObjectsApi(kube)
    body = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": "cr"},
        "spec": {
            "request": "LS0tLS1CRUdJTg==",
            "usages": ["digital signature"],
            "issuerRef": {
                "name": "zerossl",
                "kind": "ZeroSSLClusterIssuer",
                "group": "zerossl.issuer.dev",
            },
        },
    }
    created = await custom.create_namespaced_custom_object(
        "cert-manager.io", "v1", "default", "certificaterequests", body
    )
    assert created["metadata"]["generation"] == 1
    bad = {
        **body,
        "metadata": {"name": "bad"},
        "spec": {**body["spec"], "usages": ["teleport"], "request": None},
    }
    with pytest.raises(ApiException) as info:
        await custom.create_namespaced_custom_object(
            "cert-manager.io", "v1", "default", "certificaterequests", bad
        )
    assert info.value.status == 422
    assert "spec.usages[0]" in info.value.body
    assert "spec.request" in info.value.body


async def test_schema_rules(widgets: KubeAPIServer, raw: Raw) -> None:
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"color": "pink"}, "spec.color", "Unsupported value"),
        ({"size": 11}, "spec.size", "less than or equal to 10"),
        ({"size": "2"}, "spec.size", "must be of type integer"),
        ({"serial": "ab-1"}, "spec.serial", "should match"),
        ({"serial": "AB-1234567890"}, "spec.serial", "Too long"),
        ({"expires": "tomorrow"}, "spec.expires", "date-time"),
        ({"maxReplicas": 2**31}, "spec.maxReplicas", "int32"),
        ({"note": "x"}, "spec.note", "at least 2"),
        ({"port": 1.5}, "spec.port", "integer or string"),
        ({"tags": ["a", "b", "c", "d"]}, "spec.tags", "Too many"),
        ({"tags": ["a", "a"]}, "spec.tags[1]", "Duplicate"),
        ({"labels": {"k": "toolong"}}, "spec.labels.k", "Too long"),
        ({"size": 5, "maxReplicas": 2}, "spec", "maxReplicas must be at least size"),
    ]
    for spec, field, message in cases:
        status, body = await raw.call("POST", WIDGETS, widget(**spec))
        assert status == 422, spec
        assert field in causes(body), (spec, body["message"])
        assert message in causes(body)[field], (spec, causes(body))
    status, body = await raw.call("POST", WIDGETS, {**widget(), "spec": {}})
    assert status == 422
    assert causes(body) == {"spec.color": "Required value"}
    ok = widget(note=None, port="http", expires="2026-01-02T03:04:05Z", extra={"any": {"x": 1}})
    status, body = await raw.call("POST", WIDGETS, ok)
    assert status == 201, body
    assert body["spec"]["size"] == 3, "defaults are applied"
    assert body["spec"]["strict"] is True
    assert body["spec"]["extra"] == {"any": {"x": 1}}


async def test_unknown_fields_pruned_warned_or_rejected(widgets: KubeAPIServer, raw: Raw) -> None:
    status, body = await raw.call("POST", WIDGETS, widget(bogus=1))
    assert status == 201
    assert "bogus" not in body["spec"]
    assert 'unknown field \\"spec.bogus\\"' in raw.last_headers["Warning"]
    status, body = await raw.call(
        "POST", WIDGETS, widget("s", bogus=1), params={"fieldValidation": "Strict"}
    )
    assert status == 400
    assert 'unknown field "spec.bogus"' in body["message"]


async def test_transition_rule(widgets: KubeAPIServer, raw: Raw) -> None:
    await raw.call("POST", WIDGETS, widget(serial="AB-1"))
    status, body = await raw.call(
        "PATCH", f"{WIDGETS}/w", {"spec": {"serial": "AB-2"}}, content_type=MERGE
    )
    assert status == 422
    assert causes(body) == {"spec.serial": 'Invalid value: "object": serial is immutable'}
    status, _ = await raw.call("PATCH", f"{WIDGETS}/w", {"spec": {"size": 4}}, content_type=MERGE)
    assert status == 200


async def test_status_subresource_and_generation(widgets: KubeAPIServer, raw: Raw) -> None:
    status, created = await raw.call("POST", WIDGETS, {**widget(), "status": {"phase": "x"}})
    assert "status" not in created, "create drops status"
    assert created["metadata"]["generation"] == 1
    changed = {**created, "spec": {**created["spec"], "size": 4}, "status": {"phase": "main"}}
    _, updated = await raw.call("PUT", f"{WIDGETS}/w", changed)
    assert "status" not in updated, "the main endpoint ignores status"
    assert updated["metadata"]["generation"] == 2
    sneaky = {
        **updated,
        "spec": {"color": "blue"},
        "status": {"phase": "Ready"},
        "metadata": {**updated["metadata"], "labels": {"x": "y"}},
    }
    status, body = await raw.call("PUT", f"{WIDGETS}/w/status", sneaky)
    assert status == 200
    assert body["status"] == {"phase": "Ready"}
    assert body["spec"]["color"] == "red", "/status ignores spec"
    assert "labels" not in body["metadata"], "/status ignores metadata"
    assert body["metadata"]["generation"] == 2, "status writes never bump generation"
    _, body = await raw.call(
        "PATCH", f"{WIDGETS}/w", {"metadata": {"labels": {"a": "b"}}}, content_type=MERGE
    )
    assert body["metadata"]["generation"] == 2, "metadata edits never bump generation"
    status, body = await raw.call(
        "PATCH",
        f"{WIDGETS}/w/status",
        {"status": {"conditions": [{"type": "Ready", "status": "Maybe"}]}},
        content_type=MERGE,
    )
    assert status == 422
    assert "status.conditions[0].status" in causes(body)


async def test_custom_resource_patch_and_put_rules(widgets: KubeAPIServer, raw: Raw) -> None:
    _, created = await raw.call("POST", WIDGETS, widget())
    status, body = await raw.call(
        "PATCH",
        f"{WIDGETS}/w",
        {"spec": {"size": 2}},
        content_type="application/strategic-merge-patch+json",
    )
    assert status == 415
    assert body["reason"] == "UnsupportedMediaType"
    unversioned = {**created, "metadata": {"name": "w"}}
    status, body = await raw.call("PUT", f"{WIDGETS}/w", unversioned)
    assert status == 422
    assert "metadata.resourceVersion" in causes(body)
    status, body = await raw.call(
        "PATCH",
        f"{WIDGETS}/w",
        [{"op": "replace", "path": "/spec/color", "value": "green"}],
        content_type="application/json-patch+json",
    )
    assert status == 200
    assert body["spec"]["color"] == "green"


async def test_server_side_apply(widgets: KubeAPIServer, raw: Raw) -> None:
    config = (
        "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
        "spec: {color: red, size: 2, tags: [a]}\n"
    )
    status, body = await raw.call(
        "PATCH",
        f"{WIDGETS}/w",
        config.encode(),
        content_type=APPLY,
        params={"fieldManager": "alice"},
    )
    assert status == 201
    assert body["spec"]["size"] == 2
    managers = {m["manager"]: m for m in body["metadata"]["managedFields"]}
    assert managers["alice"]["operation"] == "Apply"
    assert "f:size" in managers["alice"]["fieldsV1"]["f:spec"]
    rival = config.replace("size: 2", "size: 5").replace(", tags: [a]", "")
    status, body = await raw.call(
        "PATCH", f"{WIDGETS}/w", rival.encode(), content_type=APPLY, params={"fieldManager": "bob"}
    )
    assert status == 409
    assert body["details"]["causes"][0]["field"] == ".spec.size"
    status, body = await raw.call(
        "PATCH",
        f"{WIDGETS}/w",
        rival.encode(),
        content_type=APPLY,
        params={"fieldManager": "bob", "force": "true"},
    )
    assert status == 200
    assert body["spec"]["size"] == 5
    # alice stops applying tags: the field she alone owned is removed
    shrunk = config.replace(", tags: [a]", "").replace("size: 2", "size: 5")
    status, body = await raw.call(
        "PATCH",
        f"{WIDGETS}/w",
        shrunk.encode(),
        content_type=APPLY,
        params={"fieldManager": "alice"},
    )
    assert status == 200
    assert "tags" not in body["spec"]
    status, _ = await raw.call("PATCH", f"{WIDGETS}/w", config.encode(), content_type=APPLY)
    assert status == 400, "fieldManager is required for apply"
    _, again = await raw.call(
        "PATCH",
        f"{WIDGETS}/w",
        shrunk.encode(),
        content_type=APPLY,
        params={"fieldManager": "alice"},
    )
    assert again["metadata"]["resourceVersion"] == body["metadata"]["resourceVersion"]


async def test_status_conditions_apply_by_key(widgets: KubeAPIServer, raw: Raw) -> None:
    await raw.call("POST", WIDGETS, widget())
    for manager, kind in (("a", "Ready"), ("b", "Synced")):
        config = (
            "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n"
            f"status: {{conditions: [{{type: {kind}, status: 'True'}}]}}\n"
        )
        status, body = await raw.call(
            "PATCH",
            f"{WIDGETS}/w/status",
            config.encode(),
            content_type=APPLY,
            params={"fieldManager": manager},
        )
        assert status == 200, body
    assert [c["type"] for c in body["status"]["conditions"]] == ["Ready", "Synced"]


async def test_printer_columns_table(widgets: KubeAPIServer, raw: Raw) -> None:
    await raw.call("POST", WIDGETS, widget())
    await raw.call(
        "PATCH",
        f"{WIDGETS}/w/status",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        content_type=MERGE,
    )
    status, body = await raw.call(
        "GET",
        WIDGETS,
        headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"},
    )
    assert status == 200
    assert body["kind"] == "Table"
    assert [c["name"] for c in body["columnDefinitions"]] == [
        "Name",
        "Color",
        "Ready",
        "Size",
        "Age",
    ]
    cells = body["rows"][0]["cells"]
    assert cells[:4] == ["w", "red", "True", 3]
    assert cells[4].endswith("s")
    assert body["rows"][0]["object"]["kind"] == "PartialObjectMetadata"


async def test_selectable_fields_and_versions(widgets: KubeAPIServer, raw: Raw) -> None:
    await raw.call("POST", WIDGETS, widget("r"))
    await raw.call("POST", WIDGETS, widget("b", color="blue"))
    _, listed = await raw.call("GET", WIDGETS, params={"fieldSelector": "spec.color=blue"})
    assert [i["metadata"]["name"] for i in listed["items"]] == ["b"]
    status, body = await raw.call("GET", "/apis/example.com/v1beta1/namespaces/default/widgets/b")
    assert status == 200
    assert body["apiVersion"] == "example.com/v1beta1"
    assert body["spec"]["color"] == "blue"


async def test_invalid_crds_are_rejected(api: KubeAPIServer, tmp_path: Path) -> None:
    source = (DATA / "widgets.yaml").read_text()
    unsupported = source.replace("self.maxReplicas >= self.size", "isURL(self.color)")
    (tmp_path / "a.yaml").write_text(unsupported)
    with pytest.raises(StatusError) as info:
        api.register_crds([tmp_path / "a.yaml"])
    assert info.value.code == 422
    assert "isURL" in info.value.message
    (tmp_path / "b.yaml").write_text(source.replace("'^[A-Z]{2}-[0-9]+$'", "'([a-'"))
    with pytest.raises(StatusError) as info:
        api.register_crds([tmp_path / "b.yaml"])
    assert "invalid regular expression" in info.value.message
    assert (
        api.get_object("apiextensions.k8s.io/v1", "CustomResourceDefinition", "widgets.example.com")
        is None
    )


async def test_deleting_a_crd_deletes_its_objects(widgets: KubeAPIServer, raw: Raw) -> None:
    await raw.call("POST", WIDGETS, widget())
    status, _ = await raw.call(
        "DELETE", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.com"
    )
    assert status == 200
    status, _ = await raw.call("GET", WIDGETS)
    assert status == 404


async def test_controller_style_calls_through_kubernetes_asyncio(
    widgets: KubeAPIServer, kube: client.ApiClient
) -> None:
    custom = client.CustomObjectsApi(kube)
    args = ("example.com", "v1", "default", "widgets")
    created = await custom.create_namespaced_custom_object(*args, widget())
    patched = await custom.patch_namespaced_custom_object_status(
        *args, "w", {"status": {"phase": "Ready"}}, _content_type=MERGE
    )
    assert patched["status"] == {"phase": "Ready"}
    assert patched["metadata"]["generation"] == created["metadata"]["generation"]
    stale = {**created, "spec": {"color": "green"}}
    with pytest.raises(ApiException) as info:
        await custom.replace_namespaced_custom_object(*args, "w", stale)
    assert info.value.status == 409
    response = await custom.list_namespaced_custom_object(*args, limit=1, _preload_content=False)
    assert response.status == 200
    response.release()
    await custom.delete_namespaced_custom_object(*args, "w")
    with pytest.raises(ApiException) as info:
        await custom.get_namespaced_custom_object(*args, "w")
    assert info.value.status == 404
