"""The HTTP endpoints: /metrics negotiation, probe logic, loop-lag detection, validation solver."""

from __future__ import annotations

import asyncio
import dataclasses
import gzip
import socket
import time
from collections.abc import AsyncIterator, Mapping

import aiohttp
import pytest

from controller.clock import FakeClock
from controller.config import Settings
from controller.observability import metrics
from controller.server import Check, Endpoint, LoopLagMonitor, Server, parse_address, serve

MD5 = "0F70760EEC50DF6725F9592F26D7B0F3"
CONTENT = (
    b"1397F9DA233B277153AE0B68083EFAC7A53D6958F296128163058EA67EBB88CC\ncomodoca.com\n661862d3f"
)
LOOPBACK = dataclasses.replace(
    Settings(), metrics_addr="127.0.0.1:0", probe_addr="127.0.0.1:0", solver_addr="127.0.0.1:0"
)


class Harness:
    """A started Server with switchable checks and a recorded validation-file lookup."""

    def __init__(self) -> None:
        self.files = {f"{MD5}.txt": CONTENT}
        self.lookups: list[str] = []
        self.leader_healthy = True
        self.synced = False
        self.clock = FakeClock()
        # The heartbeat ticks once at start, then not for 30 real seconds: only the fake clock
        # decides whether the loop looks stalled.
        self.monitor = LoopLagMonitor(interval=30.0, threshold=60.0, clock=self.clock)
        self.server = Server(
            LOOPBACK,
            health={"leader-election": lambda: self.leader_healthy},
            readiness={"informers-synced": lambda: self.synced},
            solver_lookup=self.lookup,
            loop_monitor=self.monitor,
        )

    def lookup(self, file_name: str) -> bytes | None:
        self.lookups.append(file_name)
        return self.files.get(file_name)

    def url(self, endpoint: Endpoint, path: str) -> str:
        return f"http://127.0.0.1:{self.server.port(endpoint)}{path}"


@pytest.fixture
async def harness() -> AsyncIterator[Harness]:
    running = Harness()
    async with running.server:
        await asyncio.sleep(0)  # lets the heartbeat take its first tick before the test runs
        yield running


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        yield session


def solver_count(outcome: str) -> float:
    value = metrics.registry.get_sample_value(
        "zerossl_issuer_http_solver_requests_total", {"outcome": outcome}
    )
    return value or 0.0


async def raw_get(port: int, target: str, method: str = "GET") -> tuple[int, bytes]:
    """Sends the request target verbatim (no client-side URL normalisation)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"{method} {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        response = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = response.partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


@pytest.mark.parametrize(
    ("address", "expected"),
    [(":8080", (None, 8080)), ("127.0.0.1:0", ("127.0.0.1", 0)), ("[::1]:9090", ("::1", 9090))],
)
def test_parse_address(address: str, expected: tuple[str | None, int]) -> None:
    assert parse_address(address) == expected


# --- /metrics ----------------------------------------------------------------------------------


async def test_metrics_text_format_by_default(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    await raw_get(harness.server.port("solver"), f"/.well-known/pki-validation/{MD5}.txt")
    async with http.get(harness.url("metrics", "/metrics")) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/plain; version=0.0.4")
        body = await response.text()
    assert 'zerossl_issuer_http_solver_requests_total{outcome="served"}' in body
    assert "# TYPE process_resident_memory_bytes gauge" in body
    assert "# EOF" not in body


async def test_metrics_openmetrics_when_asked(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    accept = "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"
    async with http.get(harness.url("metrics", "/metrics"), headers={"Accept": accept}) as response:
        assert response.headers["Content-Type"].startswith("application/openmetrics-text")
        body = await response.text()
    assert body.endswith("# EOF\n")


async def test_metrics_gzip_when_accepted(harness: Harness, http: aiohttp.ClientSession) -> None:
    async with http.get(
        harness.url("metrics", "/metrics"),
        headers={"Accept-Encoding": "gzip"},
        auto_decompress=False,
    ) as response:
        assert response.headers["Content-Encoding"] == "gzip"
        body = gzip.decompress(await response.read())
    assert b"# TYPE zerossl_issuer_http_solver_requests_total counter" in body


async def test_metrics_endpoint_serves_only_metrics(harness: Harness) -> None:
    status, _ = await raw_get(harness.server.port("metrics"), "/healthz")
    assert status == 404


# --- probes ------------------------------------------------------------------------------------


async def test_healthz_ok_then_failing_check(harness: Harness, http: aiohttp.ClientSession) -> None:
    for path in ("/healthz", "/livez"):
        async with http.get(harness.url("probe", path)) as response:
            assert (response.status, await response.text()) == (200, "ok")
    harness.leader_healthy = False
    async with http.get(harness.url("probe", "/healthz")) as response:
        assert response.status == 500
        assert await response.text() == (
            "[+]event-loop ok\n[-]leader-election failed\nhealthz check failed\n"
        )


async def test_healthz_verbose_lists_checks(harness: Harness, http: aiohttp.ClientSession) -> None:
    async with http.get(harness.url("probe", "/healthz?verbose")) as response:
        assert response.status == 200
        assert await response.text() == (
            "[+]event-loop ok\n[+]leader-election ok\nhealthz check passed\n"
        )


async def test_readyz_passes_once_caches_synced(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    async with http.get(harness.url("probe", "/readyz")) as response:
        assert response.status == 500
        assert "[-]informers-synced failed" in await response.text()
    harness.synced = True
    async with http.get(harness.url("probe", "/readyz")) as response:
        assert (response.status, await response.text()) == (200, "ok")


async def test_a_check_that_raises_fails_the_probe(http: aiohttp.ClientSession) -> None:
    def broken() -> bool:
        raise RuntimeError("lease cache gone")

    checks: Mapping[str, Check] = {"leader-election": broken}
    async with Server(LOOPBACK, health=checks, readiness={}, solver_lookup=dict().get) as server:
        url = f"http://127.0.0.1:{server.port('probe')}"
        async with http.get(f"{url}/healthz") as response:
            assert response.status == 500
        async with http.get(f"{url}/readyz") as response:
            assert response.status == 200  # no readiness checks: ready


async def test_healthz_fails_while_the_loop_is_stalled(
    harness: Harness, http: aiohttp.ClientSession
) -> None:
    harness.clock.advance(61.0)  # the heartbeat last ran 61 s ago (threshold 60 s)
    async with http.get(harness.url("probe", "/healthz")) as response:
        assert response.status == 500
        assert "[-]event-loop failed" in await response.text()


async def test_loop_monitor_recovers_when_the_heartbeat_runs() -> None:
    clock = FakeClock()
    monitor = LoopLagMonitor(interval=0.01, threshold=2.0, clock=clock)
    assert monitor.healthy()
    clock.advance(2.5)
    assert not monitor.healthy()
    assert monitor.stalled_for() == pytest.approx(2.5)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(monitor.run())
        await asyncio.sleep(0.05)
        assert monitor.healthy()
        task.cancel()


async def test_loop_monitor_sees_a_blocking_call() -> None:
    monitor = LoopLagMonitor(interval=0.01, threshold=0.2)
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(monitor.run())
        await asyncio.sleep(0.02)
        time.sleep(0.3)  # the point: a call that blocks the loop
        assert not monitor.healthy()
        assert monitor.stalled_for() >= 0.3
        task.cancel()


def test_loop_monitor_rejects_bad_timing() -> None:
    with pytest.raises(ValueError, match="interval < threshold"):
        LoopLagMonitor(interval=1.0, threshold=1.0)


# --- HTTP validation solver --------------------------------------------------------------------


async def test_solver_serves_exact_bytes(harness: Harness, http: aiohttp.ClientSession) -> None:
    before = solver_count("served")
    url = harness.url("solver", f"/.well-known/pki-validation/{MD5}.txt?cache-bust=1")
    async with http.get(url, allow_redirects=False) as response:
        assert response.status == 200
        assert response.headers["Content-Type"] == "text/plain"
        assert response.headers["Cache-Control"] == "no-store"
        assert await response.read() == CONTENT
    assert harness.lookups == [f"{MD5}.txt"]
    assert solver_count("served") == before + 1


async def test_solver_head(harness: Harness, http: aiohttp.ClientSession) -> None:
    async with http.head(harness.url("solver", f"/.well-known/pki-validation/{MD5}.txt")) as r:
        assert r.status == 200
        assert r.headers["Content-Length"] == str(len(CONTENT))
        assert await r.read() == b""


async def test_solver_unknown_file_is_not_found(harness: Harness) -> None:
    before = solver_count("not_found")
    status, _ = await raw_get(
        harness.server.port("solver"), f"/.well-known/pki-validation/{'A' * 32}.txt"
    )
    assert status == 404
    assert harness.lookups == [f"{'A' * 32}.txt"]
    assert solver_count("not_found") == before + 1


@pytest.mark.parametrize(
    "target",
    [
        f"/.well-known/pki-validation/{MD5.lower()}.txt",
        f"/.well-known/pki-validation/{MD5}.TXT",
        f"/.well-known/pki-validation/{MD5}.txt/",
        f"/.well-known/pki-validation/{MD5[:-1]}.txt",
        f"/.well-known/pki-validation/{MD5}0.txt",
        f"/.well-known/pki-validation/{MD5}",
        f"//.well-known/pki-validation/{MD5}.txt",
        f"/.well-known//pki-validation/{MD5}.txt",
        f"/.well-known/pki-validation/../pki-validation/{MD5}.txt",
        f"/.well-known/pki-validation/%2E%2E/{MD5}.txt",
        f"/.well-known%2Fpki-validation%2F{MD5}.txt",
        f"/.well-known/pki-validation/%30{MD5[1:]}.txt",
        f"/x/.well-known/pki-validation/{MD5}.txt",
        "/.well-known/pki-validation/",
        "/",
        "/metrics",
    ],
)
async def test_solver_rejects_anything_but_the_exact_path(harness: Harness, target: str) -> None:
    before = solver_count("rejected")
    status, _ = await raw_get(harness.server.port("solver"), target)
    assert status == 404
    assert harness.lookups == []
    assert solver_count("rejected") == before + 1


async def test_solver_allows_only_get_and_head(harness: Harness) -> None:
    status, _ = await raw_get(
        harness.server.port("solver"), f"/.well-known/pki-validation/{MD5}.txt", method="POST"
    )
    assert status == 405
    assert harness.lookups == []


# --- lifecycle ---------------------------------------------------------------------------------


async def test_each_endpoint_gets_its_own_port(harness: Harness) -> None:
    ports = {harness.server.port(e) for e in ("metrics", "probe", "solver")}
    assert len(ports) == 3
    assert 0 not in ports


async def test_bind_failure_names_the_endpoint_and_closes_the_rest() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        settings = dataclasses.replace(LOOPBACK, probe_addr=f"127.0.0.1:{port}")
        server = Server(settings, health={}, readiness={}, solver_lookup=dict().get)
        with pytest.raises(OSError, match=f"probe endpoint cannot listen on 127.0.0.1:{port}"):
            await server.start()
        with pytest.raises(KeyError):
            server.port("metrics")
        await server.stop()


async def test_serve_runs_until_cancelled(http: aiohttp.ClientSession) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings = dataclasses.replace(LOOPBACK, probe_addr=f"127.0.0.1:{port}")
    async with asyncio.TaskGroup() as tg:
        task = tg.create_task(serve(settings, {}, {}, dict().get))
        for _ in range(100):
            try:
                async with http.get(f"http://127.0.0.1:{port}/healthz") as response:
                    assert response.status == 200
                    break
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.02)
        else:
            pytest.fail("serve() never answered /healthz")
        task.cancel()
    with pytest.raises(aiohttp.ClientConnectionError):
        async with http.get(f"http://127.0.0.1:{port}/healthz"):
            pass
