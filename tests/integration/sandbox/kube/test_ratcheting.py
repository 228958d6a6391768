"""CRD validation ratcheting of ``x-kubernetes-validations`` (KEP-4008, on by default since
Kubernetes 1.30): a failing rule on an unchanged value is a warning, not an error; transition
rules never ratchet."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.sandbox.kube import KubeAPIServer

from .conftest import Raw

GADGETS = "/apis/example.com/v1/namespaces/default/gadgets"
MERGE = "application/merge-patch+json"


def _crd(rules: bool) -> dict[str, Any]:
    """Gadgets; with ``rules``, the validations a later CRD version adds."""

    def validations(*specs: dict[str, str]) -> dict[str, Any]:
        return {"x-kubernetes-validations": list(specs)} if rules else {}

    item = {
        "type": "object",
        "required": ["name"],
        "properties": {"name": {"type": "string"}, "port": {"type": "integer"}},
        **validations({"rule": "self.port < 1000", "message": "port must be below 1000"}),
    }
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": "gadgets.example.com"},
        "spec": {
            "group": "example.com",
            "names": {"kind": "Gadget", "plural": "gadgets"},
            "scope": "Namespaced",
            "versions": [
                {
                    "name": "v1",
                    "served": True,
                    "storage": True,
                    "subresources": {"status": {}},
                    "schema": {
                        "openAPIV3Schema": {
                            "type": "object",
                            "properties": {
                                "spec": {
                                    "type": "object",
                                    "properties": {
                                        "name": {
                                            "type": "string",
                                            **validations(
                                                {
                                                    "rule": "self.size() <= 3",
                                                    "message": "name too long",
                                                }
                                            ),
                                        },
                                        "size": {"type": "integer"},
                                        "weight": {
                                            "type": "number",
                                            **validations(
                                                {"rule": "double(self) < 10.0", "message": "heavy"}
                                            ),
                                        },
                                        "counter": {
                                            "type": "object",
                                            "properties": {"count": {"type": "integer"}},
                                            **validations(
                                                {
                                                    "rule": "self.count > oldSelf.count",
                                                    "message": "count must grow",
                                                }
                                            ),
                                        },
                                        "ports": {
                                            "type": "array",
                                            "x-kubernetes-list-type": "map",
                                            "x-kubernetes-list-map-keys": ["name"],
                                            "items": item,
                                        },
                                        "hosts": {"type": "array", "items": copy.deepcopy(item)},
                                    },
                                },
                                "status": {
                                    "type": "object",
                                    "properties": {"phase": {"type": "string"}},
                                },
                            },
                        }
                    },
                }
            ],
        },
    }


@pytest.fixture
def gadgets(api: KubeAPIServer, tmp_path: Path) -> Any:
    """Registers gadgets without rules; call the result to add them (stored objects stay)."""
    (tmp_path / "v1.yaml").write_text(yaml.safe_dump(_crd(rules=False)))
    api.register_crds([tmp_path / "v1.yaml"])

    def tighten() -> None:
        (tmp_path / "v2.yaml").write_text(yaml.safe_dump(_crd(rules=True)))
        api.register_crds([tmp_path / "v2.yaml"])

    return tighten


def _gadget(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "example.com/v1",
        "kind": "Gadget",
        "metadata": {"name": name},
        "spec": spec,
    }


async def _stored(raw: Raw, spec: dict[str, Any]) -> dict[str, Any]:
    status, body = await raw.call("POST", GADGETS, _gadget("g", spec))
    assert status == 201, body
    return body


def _warnings(raw: Raw) -> str:
    return str(raw.last_headers.get("Warning", ""))


async def _patch(raw: Raw, spec: dict[str, Any], path: str = GADGETS + "/g") -> tuple[int, Any]:
    return await raw.call("PATCH", path, {"spec": spec}, content_type=MERGE)


async def test_a_failing_rule_on_an_unchanged_value_is_a_warning(gadgets: Any, raw: Raw) -> None:
    await _stored(raw, {"name": "toolong", "size": 1})
    gadgets()
    status, body = await _patch(raw, {"size": 2})
    assert status == 200, body
    assert body["spec"] == {"name": "toolong", "size": 2}
    assert 'spec.name: Invalid value: \\"string\\": name too long' in _warnings(raw)
    # creating the same value is an error: there is nothing to ratchet against
    status, body = await raw.call("POST", GADGETS, _gadget("h", {"name": "toolong"}))
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.name"


async def test_changing_the_failing_value_is_rejected(gadgets: Any, raw: Raw) -> None:
    await _stored(raw, {"name": "toolong"})
    gadgets()
    status, body = await _patch(raw, {"name": "stilltoolong"})
    assert status == 422
    assert body["details"]["causes"] == [
        {
            "reason": "FieldValueInvalid",
            "message": 'Invalid value: "string": name too long',
            "field": "spec.name",
        }
    ]
    status, body = await _patch(raw, {"name": "ok"})
    assert status == 200, body
    assert "Warning" not in raw.last_headers


async def test_transition_rules_never_ratchet(gadgets: Any, raw: Raw) -> None:
    await _stored(raw, {"counter": {"count": 1}, "size": 1})
    gadgets()
    # the counter is unchanged, but "count must grow" uses oldSelf: it still fails
    status, body = await _patch(raw, {"size": 2})
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.counter"
    assert "count must grow" in body["details"]["causes"][0]["message"]
    status, body = await _patch(raw, {"size": 2, "counter": {"count": 2}})
    assert status == 200, body


async def test_status_writes_ratchet_the_unchanged_spec(gadgets: Any, raw: Raw) -> None:
    await _stored(raw, {"name": "toolong"})
    gadgets()
    status, body = await raw.call(
        "PATCH", GADGETS + "/g/status", {"status": {"phase": "Ready"}}, content_type=MERGE
    )
    assert status == 200, body
    assert body["status"] == {"phase": "Ready"}
    assert "name too long" in _warnings(raw)


async def test_map_list_items_ratchet_by_key(gadgets: Any, raw: Raw) -> None:
    ports = [{"name": "a", "port": 2000}, {"name": "b", "port": 1}]
    await _stored(raw, {"ports": ports})
    gadgets()
    # b changes and stays valid; a is unchanged (found by its key, wherever it is in the list)
    status, body = await _patch(raw, {"ports": [{"name": "b", "port": 2}, ports[0]]})
    assert status == 200, body
    assert "spec.ports[1]: Invalid value" in _warnings(raw)
    # a changes: it is checked
    status, body = await _patch(raw, {"ports": [{"name": "a", "port": 3000}]})
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.ports[0]"


async def test_atomic_list_items_ratchet_only_with_the_whole_list(gadgets: Any, raw: Raw) -> None:
    hosts = [{"name": "a", "port": 2000}, {"name": "b", "port": 1}]
    await _stored(raw, {"hosts": hosts, "size": 1})
    gadgets()
    status, body = await _patch(raw, {"size": 2})
    assert status == 200, body
    assert "spec.hosts[0]: Invalid value" in _warnings(raw)
    # the list changed (item b), so its items have no old value to ratchet against
    status, body = await _patch(raw, {"hosts": [hosts[0], {"name": "b", "port": 2}]})
    assert status == 422
    assert body["details"]["causes"][0]["field"] == "spec.hosts[0]"


async def test_ratcheting_needs_the_very_same_value(gadgets: Any, raw: Raw) -> None:
    """20 and 20.0 are different values (apiextensions compares like reflect.DeepEqual)."""
    await _stored(raw, {"weight": 20, "size": 1})
    gadgets()
    status, _ = await _patch(raw, {"size": 2})
    assert status == 200
    assert "spec.weight: Invalid value" in _warnings(raw)
    status, body = await _patch(raw, {"weight": 20.0})
    assert status == 422, body
    assert body["details"]["causes"][0]["field"] == "spec.weight"
