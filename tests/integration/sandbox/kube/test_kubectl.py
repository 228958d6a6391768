"""The real kubectl against the sandbox: discovery, get (table, yaml), apply, describe,
delete, wait, get --watch, and RBAC denials."""

from __future__ import annotations

import asyncio
from pathlib import Path

import yaml

from controller.sandbox.kube import KubeAPIServer

from .conftest import Kubectl, Raw

REPO = Path(__file__).parents[4]


SECRET = """
apiVersion: v1
kind: Secret
metadata: {name: s1, namespace: default, labels: {app: demo}}
stringData: {key: VALUE}
"""
WIDGET = """
apiVersion: example.com/v1
kind: Widget
metadata: {name: w1, namespace: default}
spec: {color: COLOR}
"""


async def test_apply_get_describe_delete(kubectl: Kubectl) -> None:
    _, out, _ = await kubectl.run(
        "apply",
        "-f",
        "-",
        stdin=SECRET.replace("VALUE", "one") + "---" + WIDGET.replace("COLOR", "red"),
    )
    assert "secret/s1 created" in out
    assert "widget.example.com/w1 created" in out
    _, out, _ = await kubectl.run(
        "apply",
        "-f",
        "-",
        stdin=SECRET.replace("VALUE", "two") + "---" + WIDGET.replace("COLOR", "blue"),
    )
    assert "secret/s1 configured" in out
    assert "widget.example.com/w1 configured" in out
    _, out, _ = await kubectl.run("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "blue"))
    assert "widget.example.com/w1 unchanged" in out

    _, out, _ = await kubectl.run("get", "widgets")
    header, row = out.strip().splitlines()
    assert header.split() == ["NAME", "COLOR", "READY", "AGE"]
    assert row.split()[:2] == ["w1", "blue"]
    _, out, _ = await kubectl.run("get", "secret", "s1", "-o", "yaml")
    secret = yaml.safe_load(out)
    assert secret["data"] == {"key": "dHdv"}
    assert "kubectl.kubernetes.io/last-applied-configuration" in secret["metadata"]["annotations"]
    _, out, _ = await kubectl.run("get", "secrets", "-l", "app=demo", "-A")
    assert out.split()[:5] == ["NAMESPACE", "NAME", "TYPE", "DATA", "AGE"]

    _, out, _ = await kubectl.run("describe", "widget", "w1")
    assert "Color:   blue" in out
    assert "Events:" in out
    _, out, _ = await kubectl.run("delete", "widget", "w1")
    assert 'widget.example.com "w1" deleted' in out
    code, _, err = await kubectl.run("get", "widget", "w1", check=False)
    assert code == 1
    assert "NotFound" in err


async def test_strict_validation_through_kubectl(kubectl: Kubectl) -> None:
    bad = WIDGET.replace("COLOR", "red, bogus: 1")
    code, _, err = await kubectl.run("apply", "-f", "-", stdin=bad, check=False)
    assert code == 1
    assert 'unknown field "spec.bogus"' in err
    code, _, err = await kubectl.run(
        "apply", "-f", "-", stdin=WIDGET.replace("COLOR", "pink"), check=False
    )
    assert code == 1
    assert "spec.color: Unsupported value" in err


async def test_apply_crds_and_wait_established(kubectl: Kubectl) -> None:
    crds = sorted((REPO / "manifests/crds").glob("zerossl*.yaml"))
    args = [a for crd in crds for a in ("-f", str(crd))]
    _, out, _ = await kubectl.run("apply", *args)
    assert out.count("created") == len(crds)
    _, out, _ = await kubectl.run("apply", *args)
    assert out.count("unchanged") == len(crds)
    await kubectl.run(
        "wait",
        "--for=condition=Established",
        "--timeout=10s",
        "crd/zerosslorders.zerossl.issuer.dev",
    )
    _, out, _ = await kubectl.run("get", "zerosslorders")
    assert out == ""


async def test_describe_shows_events_from_both_event_apis(
    kubectl: Kubectl, api: KubeAPIServer
) -> None:
    await kubectl.run("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "red"))
    widget = api.get_object("example.com/v1", "Widget", "w1", "default")
    assert widget is not None
    api.create_object(
        {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"name": "w1.a", "namespace": "default"},
            "eventTime": "2026-01-01T00:00:00.000000Z",
            "reportingController": "tests/ctl",
            "reportingInstance": "i",
            "action": "Check",
            "reason": "Checked",
            "type": "Warning",
            "note": "looked at it",
            "regarding": {
                "apiVersion": "example.com/v1",
                "kind": "Widget",
                "name": "w1",
                "namespace": "default",
                "uid": widget["metadata"]["uid"],
            },
        }
    )
    _, out, _ = await kubectl.run("describe", "widget", "w1")
    assert "Warning  Checked" in out
    assert "looked at it" in out


async def test_wait_for_ready_condition(kubectl: Kubectl, raw: Raw) -> None:
    await kubectl.run("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "red"))
    waiting = asyncio.create_task(
        kubectl.run("wait", "--for=condition=Ready", "--timeout=20s", "widget/w1")
    )
    await asyncio.sleep(0.5)
    assert not waiting.done()
    await raw.call(
        "PATCH",
        "/apis/example.com/v1/namespaces/default/widgets/w1/status",
        {"status": {"conditions": [{"type": "Ready", "status": "True"}]}},
        content_type="application/merge-patch+json",
    )
    _, out, _ = await waiting
    assert "condition met" in out


async def test_get_watch_streams_changes(kubectl: Kubectl, raw: Raw) -> None:
    await kubectl.run("apply", "-f", "-", stdin=WIDGET.replace("COLOR", "red"))
    process = await kubectl.start("get", "widgets", "--watch")
    await asyncio.sleep(1.0)
    await raw.call(
        "PATCH",
        "/apis/example.com/v1/namespaces/default/widgets/w1",
        {"spec": {"color": "green"}},
        content_type="application/merge-patch+json",
    )
    await asyncio.sleep(1.0)
    process.terminate()
    out, _ = await process.communicate()
    lines = out.decode().strip().splitlines()
    assert lines[0].split() == ["NAME", "COLOR", "READY", "AGE"]
    assert [line.split()[1] for line in lines[1:]] == ["red", "green"]
