"""managedFields bookkeeping: client-written managedFields and apply conflict messages."""

from __future__ import annotations

from typing import Any

import pytest

from controller.sandbox.kube import fields
from controller.sandbox.kube.apply import server_side_apply
from controller.sandbox.kube.status import StatusError

KEYS = fields.keys_lookup({"spec.ports": ("port", "protocol")})


def _entry(manager: str, operation: str, paths: fields.FieldSet) -> dict[str, Any]:
    return {
        "manager": manager,
        "operation": operation,
        "apiVersion": "v1",
        "fieldsType": "FieldsV1",
        "fieldsV1": fields.encode(paths),
    }


def _update(old: dict[str, Any], new: dict[str, Any], subresource: str | None = None) -> Any:
    return fields.record_update(
        old,
        new,
        manager="editor",
        subresource=subresource,
        status_subresource=True,
        keys_for=KEYS,
        api_version="v1",
    )


OLD = {
    "metadata": {"name": "x", "managedFields": [_entry("a", "Update", {("f:data", "f:k")})]},
    "data": {"k": "1"},
}


def test_a_write_starts_from_the_managed_fields_it_carries() -> None:
    carried = [_entry("b", "Apply", {("f:data", "f:k")})]
    new = {**OLD, "metadata": {"name": "x", "managedFields": carried}}
    assert [e["manager"] for e in _update(OLD, new)] == ["b"]
    assert _update(OLD, {**OLD, "metadata": {"name": "x", "managedFields": []}}) == []
    # subresource writes and writes without entries keep the stored ones
    assert [e["manager"] for e in _update(OLD, new, "status")] == ["a"]
    unusable = {**OLD, "metadata": {"name": "x", "managedFields": [{"manager": "c"}]}}
    assert [e["manager"] for e in _update(OLD, unusable)] == ["a"]


def _apply(old: dict[str, Any], config: dict[str, Any], manager: str) -> dict[str, Any]:
    return server_side_apply(
        old,
        config,
        manager=manager,
        force=False,
        subresource=None,
        status_subresource=True,
        keys_for=KEYS,
        api_version="v1",
    )


def test_conflict_messages_name_managers_and_paths_as_the_real_server() -> None:
    ports = ("f:spec", "f:ports", 'k:{"port":80,"protocol":"TCP"}', "f:name")
    old = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {
            "name": "svc",
            "managedFields": [
                _entry("ops", "Update", {("f:spec", "f:type"), ports}),
                _entry("ci", "Apply", {("f:spec", "f:sessionAffinity")}),
            ],
        },
        "spec": {
            "type": "ClusterIP",
            "sessionAffinity": "None",
            "ports": [{"port": 80, "protocol": "TCP", "name": "http"}],
        },
    }
    config = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "svc"},
        "spec": {
            "type": "NodePort",
            "sessionAffinity": "ClientIP",
            "ports": [{"port": 80, "protocol": "TCP", "name": "web"}],
        },
    }
    with pytest.raises(StatusError) as caught:
        _apply(old, config, "me")
    assert caught.value.code == 409
    assert caught.value.message == (
        "Apply failed with 3 conflicts: "
        'conflicts with "ci":\n- .spec.sessionAffinity\n'
        'conflicts with "ops" using v1:\n'
        '- .spec.ports[port=80,protocol="TCP"].name\n- .spec.type'
    )
    config["spec"] = {"type": "NodePort"}
    with pytest.raises(StatusError) as caught:
        _apply(old, config, "me")
    assert caught.value.message == (
        'Apply failed with 1 conflict: conflict with "ops" using v1: .spec.type'
    )
