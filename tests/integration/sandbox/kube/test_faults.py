"""Fault injection (in-process and over HTTP), request counts, the CLI and its kubeconfig."""

from __future__ import annotations

import asyncio
import os
import signal
import stat
import sys
import time
from pathlib import Path

from kubernetes_asyncio import client, config

from controller.sandbox.kube import KubeAPIServer, RequestKey

from .conftest import Raw

CONFIGMAPS = "/api/v1/namespaces/default/configmaps"
DATA = Path(__file__).parent / "data"


async def test_error_injection_with_retry_after(api: KubeAPIServer, raw: Raw) -> None:
    api.faults.set_error("list", "configmaps", 1.0, status=429, retry_after=3)
    status, body = await raw.call("GET", CONFIGMAPS)
    assert status == 429
    assert raw.last_headers["Retry-After"] == "3"
    assert body["reason"] == "TooManyRequests"
    assert body["details"]["retryAfterSeconds"] == 3
    status, _ = await raw.call("GET", "/api/v1/namespaces/default/secrets")
    assert status == 200, "other resources are untouched"
    status, _ = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "c"}})
    assert status == 201, "other verbs are untouched"
    api.faults.clear()
    status, _ = await raw.call("GET", CONFIGMAPS)
    assert status == 200


async def test_error_rate_is_partial(api: KubeAPIServer, raw: Raw) -> None:
    api.faults.set_error("*", "*", 0.5, status=503)
    codes = [(await raw.call("GET", CONFIGMAPS))[0] for _ in range(200)]
    assert set(codes) == {200, 503}
    assert 50 < codes.count(503) < 150


async def test_latency_and_pause(api: KubeAPIServer, raw: Raw) -> None:
    api.faults.set_latency("get", "*", 0.3)
    started = time.monotonic()
    status, _ = await raw.call("GET", "/api/v1/namespaces/default")
    assert status == 200
    assert time.monotonic() - started >= 0.3
    api.faults.clear()
    api.faults.pause()
    pending = asyncio.create_task(raw.call("GET", CONFIGMAPS))
    await asyncio.sleep(0.2)
    assert not pending.done()
    api.faults.resume()
    status, _ = await asyncio.wait_for(pending, 2)
    assert status == 200


async def test_admin_endpoints(api: KubeAPIServer, raw: Raw) -> None:
    await raw.call("GET", CONFIGMAPS)
    status, body = await raw.call(
        "POST",
        "/_sandbox/faults",
        {
            "action": "set_error",
            "verb": "create",
            "resource": "configmaps",
            "rate": 1,
            "status": 500,
        },
    )
    assert status == 200
    assert body["errors"][0]["status"] == 500
    status, _ = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "c"}})
    assert status == 500
    status, body = await raw.call("POST", "/_sandbox/faults", {"action": "explode"})
    assert status == 400
    assert "unknown fault action" in body["message"]
    await raw.call("POST", "/_sandbox/faults", {"action": "clear"})
    status, body = await raw.call("GET", "/_sandbox/requests")
    rows = {
        (r["verb"], r["resource"], r["code"]): r["count"]
        for r in body["requests"]
        if r["user"] == "admin"
    }
    assert rows[("list", "configmaps", 200)] == 1
    assert rows[("create", "configmaps", 500)] == 1
    assert api.request_counts()[RequestKey("admin", "list", "configmaps", 200)] == 1
    await raw.call("DELETE", "/_sandbox/requests")
    assert api.request_counts() == {}


async def test_http_compact_and_drop_watches(api: KubeAPIServer, raw: Raw) -> None:
    _, first = await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "a"}})
    watching = asyncio.create_task(raw.watch(CONFIGMAPS, {"timeoutSeconds": "30"}))
    await asyncio.sleep(0.2)
    _, body = await raw.call("POST", "/_sandbox/faults", {"action": "drop_watches"})
    assert body == {"dropped": 1}
    assert [e["type"] for e in await asyncio.wait_for(watching, 2)] == ["ADDED"]
    await raw.call("POST", CONFIGMAPS, {"metadata": {"name": "b"}})
    await raw.call("POST", "/_sandbox/faults", {"action": "compact"})
    events = await raw.watch(
        CONFIGMAPS, {"resourceVersion": first["metadata"]["resourceVersion"], "timeoutSeconds": "5"}
    )
    assert events[0]["object"]["code"] == 410


async def test_cli_serves_until_sigterm(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "kc" / "config"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        "kube",
        "--port",
        "0",
        "--kubeconfig",
        str(kubeconfig),
        "--crds",
        str(DATA / "widgets.yaml"),
        "--bookmark-interval",
        "5",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.decode().strip() == str(kubeconfig)
        assert stat.S_IMODE(os.stat(kubeconfig).st_mode) == 0o600
        configuration = client.Configuration()
        await config.load_kube_config(
            config_file=str(kubeconfig), client_configuration=configuration
        )
        async with client.ApiClient(configuration) as api_client:
            custom = client.CustomObjectsApi(api_client)
            listed = await custom.list_namespaced_custom_object(
                "example.com", "v1", "default", "widgets"
            )
            assert listed["items"] == []
    finally:
        process.send_signal(signal.SIGTERM)
        code = await asyncio.wait_for(process.wait(), 30)
    assert code == 0


async def test_cli_rejects_bad_crds(tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(
        "apiVersion: apiextensions.k8s.io/v1\n"
        "kind: CustomResourceDefinition\nmetadata: {name: x}\n"
        "spec: {}\n"
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        "kube",
        "--port",
        "0",
        "--http",
        "--kubeconfig",
        str(tmp_path / "kc"),
        "--crds",
        str(tmp_path / "bad.yaml"),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), 30)
    assert process.returncode == 1
    assert "cannot register CRDs" in err.decode()
