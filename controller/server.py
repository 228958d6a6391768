"""The controller's HTTP endpoints, each on its own address from Settings.

- metrics (``metrics_addr``): ``/metrics``, the Prometheus registry in the text format, or
  OpenMetrics when the scraper asks for it; gzip when accepted.
- probes (``probe_addr``): ``/healthz`` (alias ``/livez``) fails while the event loop is stuck or
  a health check fails; ``/readyz`` passes once every readiness check passes. ``?verbose`` lists
  every check.
- solver (``solver_addr``): ``GET|HEAD /.well-known/pki-validation/<MD5>.txt``, answered with the
  exact bytes the lookup returns; every other path is a 404 and nothing ever redirects.

Invariants: handlers never block the event loop (exposition is rendered on a worker thread);
a check that raises counts as failing; port 0 picks a free port, and :meth:`Server.port` tells
which was bound.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Mapping
from typing import Final, Literal

from aiohttp import web
from prometheus_client import CollectorRegistry
from prometheus_client.exposition import choose_encoder

from controller.clock import Clock, SystemClock
from controller.config import Settings
from controller.observability import metrics
from controller.observability.redact import redact_text

log = logging.getLogger(__name__)

Check = Callable[[], bool]  # a cheap, non-blocking predicate; it runs on every probe request
SolverLookup = Callable[[str], bytes | None]  # "<MD5>.txt" -> the file's exact bytes, or None
Endpoint = Literal["metrics", "probe", "solver"]

VALIDATION_FILE: Final = re.compile(r"/\.well-known/pki-validation/([0-9A-F]{32}\.txt)")
LOOP_CHECK: Final = "event-loop"
_SHUTDOWN_TIMEOUT: Final = 5.0


def parse_address(address: str) -> tuple[str | None, int]:
    """``host:port`` to (host, port); an empty host (``:8080``) means every interface."""
    host, _, port = address.rpartition(":")
    return (host.strip("[]") or None), int(port)


class LoopLagMonitor:
    """Detects a stuck event loop: a heartbeat task ticks every ``interval`` seconds.

    Invariant: :meth:`healthy` is False once the last tick is older than ``threshold``, which
    happens only when the loop did not get to run the heartbeat for that long.
    """

    def __init__(
        self, *, interval: float = 0.5, threshold: float = 10.0, clock: Clock | None = None
    ) -> None:
        if not 0 < interval < threshold:
            raise ValueError("LoopLagMonitor needs 0 < interval < threshold")
        self._interval = interval
        self._threshold = threshold
        self._clock = clock or SystemClock()
        self._last_tick = self._clock.monotonic()

    async def run(self) -> None:
        """Ticks until cancelled."""
        while True:
            self._last_tick = self._clock.monotonic()
            await asyncio.sleep(self._interval)

    def stalled_for(self) -> float:
        """Seconds since the last heartbeat."""
        return self._clock.monotonic() - self._last_tick

    def healthy(self) -> bool:
        return self.stalled_for() <= self._threshold


def _evaluate(checks: Mapping[str, Check]) -> dict[str, bool]:
    results: dict[str, bool] = {}
    for name, check in checks.items():
        try:
            results[name] = bool(check())
        except Exception as error:
            log.warning(
                "%s check raised %s: %s", name, type(error).__name__, redact_text(str(error))
            )
            results[name] = False
    return results


def _probe_response(probe: str, results: Mapping[str, bool], verbose: bool) -> web.Response:
    """Kubernetes-style probe body: ``[+]name ok`` / ``[-]name failed`` lines, then a verdict."""
    passed = all(results.values())
    lines = [f"[+]{n} ok" if ok else f"[-]{n} failed" for n, ok in results.items()]
    if not passed or verbose:
        lines.append(f"{probe} check passed" if passed else f"{probe} check failed")
        text = "\n".join(lines) + "\n"
    else:
        text = "ok"
    return web.Response(status=200 if passed else 500, text=text)


class Server:
    """Metrics, probe and solver apps; use ``async with`` or :meth:`run` inside a TaskGroup."""

    def __init__(
        self,
        settings: Settings,
        *,
        health: Mapping[str, Check],
        readiness: Mapping[str, Check],
        solver_lookup: SolverLookup,
        registry: CollectorRegistry = metrics.registry,
        loop_monitor: LoopLagMonitor | None = None,
    ) -> None:
        self._addresses: dict[Endpoint, str] = {
            "metrics": settings.metrics_addr,
            "probe": settings.probe_addr,
            "solver": settings.solver_addr,
        }
        self._monitor = loop_monitor or LoopLagMonitor()
        self._health: dict[str, Check] = {LOOP_CHECK: self._monitor.healthy, **health}
        self._readiness = dict(readiness)
        self._lookup = solver_lookup
        self._registry = registry
        self._runners: dict[Endpoint, web.AppRunner] = {}
        self._monitor_task: asyncio.Task[None] | None = None

    def _apps(self) -> dict[Endpoint, web.Application]:
        metrics_app = web.Application()
        metrics_app.router.add_get("/metrics", self._metrics)
        probe_app = web.Application()
        for path in ("/healthz", "/livez"):
            probe_app.router.add_get(path, self._healthz)
        probe_app.router.add_get("/readyz", self._readyz)
        solver_app = web.Application()
        solver_app.router.add_route("*", "/{path:.*}", self._validation_file)
        return {"metrics": metrics_app, "probe": probe_app, "solver": solver_app}

    async def start(self) -> None:
        """Binds every endpoint and starts the loop monitor; on a bind error nothing stays open."""
        try:
            for endpoint, app in self._apps().items():
                runner = web.AppRunner(app, access_log=None, shutdown_timeout=_SHUTDOWN_TIMEOUT)
                await runner.setup()
                self._runners[endpoint] = runner
                host, port = parse_address(self._addresses[endpoint])
                try:
                    await web.TCPSite(runner, host, port).start()
                except OSError as error:
                    raise OSError(
                        error.errno, f"{endpoint} endpoint cannot listen on {host}:{port}: {error}"
                    ) from error
        except BaseException:
            await self.stop()
            raise
        self._monitor_task = asyncio.create_task(self._monitor.run(), name="loop-lag-monitor")
        log.info("listening", extra={"ports": {e: self.port(e) for e in self._runners}})

    async def stop(self) -> None:
        """Stops the monitor and closes every endpoint; idempotent."""
        if self._monitor_task is not None:
            self._monitor_task.cancel()
            await asyncio.gather(self._monitor_task, return_exceptions=True)
            self._monitor_task = None
        runners, self._runners = self._runners, {}
        for runner in runners.values():
            await runner.cleanup()

    async def __aenter__(self) -> Server:
        await self.start()
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.stop()

    async def run(self) -> None:
        """Serves until cancelled, then closes everything."""
        async with self:
            await asyncio.Event().wait()

    def port(self, endpoint: Endpoint) -> int:
        """The bound port of a started endpoint (KeyError before :meth:`start`).

        With an empty host and port 0, each address family may get its own port: this is the
        first socket's; give an explicit host when the port must be learned.
        """
        address = self._runners[endpoint].addresses[0]
        return int(address[1])

    async def _metrics(self, request: web.Request) -> web.Response:
        encode, content_type = choose_encoder(request.headers.get("Accept", ""))
        body = await asyncio.to_thread(encode, self._registry)
        response = web.Response(body=body, headers={"Content-Type": content_type})
        response.enable_compression()
        return response

    async def _healthz(self, request: web.Request) -> web.Response:
        results = _evaluate(self._health)
        if not results[LOOP_CHECK]:
            log.warning("event loop stalled for %.1fs", self._monitor.stalled_for())
        return _probe_response("healthz", results, "verbose" in request.query)

    async def _readyz(self, request: web.Request) -> web.Response:
        return _probe_response("readyz", _evaluate(self._readiness), "verbose" in request.query)

    async def _validation_file(self, request: web.Request) -> web.Response:
        match = VALIDATION_FILE.fullmatch(request.rel_url.raw_path)
        if match is None or request.method not in {"GET", "HEAD"}:
            metrics.http_solver_requests.labels("rejected").inc()
            log.debug(
                "validation request rejected: %s %s", request.method, request.rel_url.raw_path
            )
            if match is None:
                return web.Response(status=404, text="not found")
            return web.Response(status=405, headers={"Allow": "GET, HEAD"})
        file_name = match.group(1)
        body = self._lookup(file_name)
        if body is None:
            metrics.http_solver_requests.labels("not_found").inc()
            log.info("validation file %s not found", file_name)
            return web.Response(status=404, text="not found")
        metrics.http_solver_requests.labels("served").inc()
        log.debug("validation file %s served", file_name, extra={"remote": request.remote})
        return web.Response(
            body=body, content_type="text/plain", headers={"Cache-Control": "no-store"}
        )


async def serve(
    settings: Settings,
    health: Mapping[str, Check],
    readiness: Mapping[str, Check],
    solver_lookup: SolverLookup,
) -> None:
    """Runs every endpoint until cancelled (for a TaskGroup); see :class:`Server` for ports."""
    await Server(settings, health=health, readiness=readiness, solver_lookup=solver_lookup).run()
