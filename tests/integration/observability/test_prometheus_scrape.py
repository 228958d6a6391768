"""A real Prometheus scrapes the controller's /metrics and evaluates the alert rules.

Proves the harness the issuance end-to-end test builds on: Prometheus (Debian's package) on
loopback, a scrape every second, and queries through its HTTP API with a bounded wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import aiohttp
import pytest
import pytest_asyncio
import yaml

from controller.server import Server
from tests.integration.observability.conftest import (
    VALIDATION_CONTENT,
    VALIDATION_FILE,
    serve_populated_catalog,
)
from tests.support import require_binary
from tests.unit.observability.catalog import RULES, catalog

T = TypeVar("T")
DEADLINE = 60.0
pytestmark = pytest.mark.asyncio(loop_scope="module")
JOB = "zerossl-issuer"
POD_NAMESPACE = "zerossl-issuer-system"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Prometheus:
    """A Prometheus process on loopback and a small client for its HTTP API."""

    def __init__(self, http: aiohttp.ClientSession, port: int) -> None:
        self.http = http
        self.base = f"http://127.0.0.1:{port}"

    async def get(self, path: str, **params: str) -> Any:
        async with self.http.get(f"{self.base}{path}", params=params) as response:
            response.raise_for_status()
            payload = await response.json()
        assert payload["status"] == "success", payload
        return payload["data"]

    async def query(self, promql: str) -> list[dict[str, Any]]:
        data = await self.get("/api/v1/query", query=promql)
        result: list[dict[str, Any]] = data["result"]
        return result


async def eventually(probe: Callable[[], Awaitable[T | None]], what: str) -> T:
    """Polls until the probe returns a value, for at most DEADLINE seconds."""
    deadline = time.monotonic() + DEADLINE
    while True:
        with contextlib.suppress(aiohttp.ClientError, AssertionError):
            value = await probe()
            if value is not None:
                return value
        if time.monotonic() > deadline:
            pytest.fail(f"Prometheus: timed out waiting for {what}")
        await asyncio.sleep(0.25)


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def populated_server() -> AsyncIterator[Server]:
    async with serve_populated_catalog() as server:
        yield server


@pytest_asyncio.fixture(loop_scope="module", scope="module")
async def prometheus(
    populated_server: Server, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Prometheus]:
    """One Prometheus for the module: starting one takes seconds."""
    binary = require_binary("prometheus")
    tmp_path = tmp_path_factory.mktemp("prometheus")
    config = {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {
                # As the ServiceMonitor configures it: job from the Service, honor_labels, and
                # the pod's namespace as a target label.
                "job_name": JOB,
                "honor_labels": True,
                "static_configs": [
                    {
                        "targets": [f"127.0.0.1:{populated_server.port('metrics')}"],
                        "labels": {"namespace": POD_NAMESPACE},
                    }
                ],
            }
        ],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    log = tmp_path / "prometheus.log"  # a file, not a pipe: nothing can fill up and block it
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            server = Prometheus(http, port)

            async def ready() -> bool | None:
                if process.returncode is not None:
                    pytest.fail(f"prometheus exited: {log.read_text(errors='replace')[-4000:]}")
                async with http.get(f"{server.base}/-/ready") as response:
                    return True if response.status == 200 else None

            await eventually(ready, "/-/ready")
            yield server
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), 15)
        except TimeoutError:
            process.kill()
            await process.wait()
        if process.returncode not in (0, -15):
            print(log.read_text(errors="replace")[-4000:])


def sample_name(family_name: str, kind: str) -> str:
    return f"{family_name}_bucket" if kind == "histogram" else family_name


async def test_prometheus_scrapes_every_catalog_family(
    prometheus: Prometheus, populated_server: Server
) -> None:
    async with (
        aiohttp.ClientSession() as http,
        http.get(
            f"http://127.0.0.1:{populated_server.port('solver')}"
            f"/.well-known/pki-validation/{VALIDATION_FILE}"
        ) as response,
    ):
        assert await response.read() == VALIDATION_CONTENT

    async def target_up() -> bool | None:
        rows = await prometheus.query(f'up{{job="{JOB}"}}')
        return True if rows and rows[0]["value"][1] == "1" else None

    await eventually(target_up, "the target to be up")

    expected = {sample_name(f.name, f.kind) for f in catalog().values()}

    async def all_families() -> set[str] | None:
        rows = await prometheus.query(f'count by (__name__) ({{job="{JOB}"}})')
        names = {row["metric"]["__name__"] for row in rows}
        return names if expected <= names else None

    names = await eventually(all_families, "every catalog family")
    assert {"process_resident_memory_bytes", "python_gc_collections_total"} <= names

    async def served() -> float | None:
        rows = await prometheus.query(
            f'zerossl_issuer_http_solver_requests_total{{job="{JOB}", outcome="served"}}'
        )
        return float(rows[0]["value"][1]) if rows else None

    assert await eventually(served, "the served solver request") >= 1


async def test_issuer_labels_survive_the_scrape(prometheus: Prometheus) -> None:
    async def issuers() -> dict[str, str | None] | None:
        rows = await prometheus.query(
            f'zerossl_issuer_issuer_ready{{job="{JOB}", name=~"check-namespaced|check-cluster"}}'
        )
        if len(rows) < 2:
            return None
        return {row["metric"]["kind"]: row["metric"].get("namespace") for row in rows}

    by_kind = await eventually(issuers, "the issuer series")
    assert by_kind["ZeroSSLIssuer"] == "check-team"
    assert "exported_namespace" not in str(by_kind)
    # A cluster issuer exposes namespace="": honor_labels keeps it empty (absent), rather than
    # filling in the pod's namespace from the target labels.
    assert by_kind["ZeroSSLClusterIssuer"] is None


async def test_prometheus_evaluates_every_alert_rule(prometheus: Prometheus) -> None:
    alerts = {
        rule["alert"]
        for group in yaml.safe_load(RULES.read_text())["groups"]
        for rule in group["rules"]
    }

    async def evaluated() -> list[dict[str, Any]] | None:
        data = await prometheus.get("/api/v1/rules")
        rules = [rule for group in data["groups"] for rule in group["rules"]]
        done = all(not rule["lastEvaluation"].startswith("0001-") for rule in rules)
        return rules if rules and done else None

    rules = await eventually(evaluated, "a rule evaluation")
    assert {rule["name"] for rule in rules} == alerts
    for rule in rules:
        assert rule["health"] == "ok", (rule["name"], rule.get("lastError"))
