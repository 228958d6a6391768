"""One controller replica: ``python -m controller run`` as a child process, configured through
``ZEROSSL_ISSUER_*`` variables like a Pod of the Deployment, on ports picked for it.

Invariants: a replica gets fresh loopback ports on every start; a start that fails because a
port was taken meanwhile is retried with new ports; a start that fails otherwise leaves no
process behind and raises :class:`ReplicaStartError` with the exit status and the tail of
stderr. Every start first writes ``<logdir>/command.sh``, which starts it the same way by hand
(see :mod:`.handstart`).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

from . import handstart
from .metrics import Metrics
from .ports import LOOPBACK, PortAllocator, address_in_use
from .process import ManagedProcess, ProcessFailed, inherited_environment

ENV_PREFIX: Final = "ZEROSSL_ISSUER_"
CONTROLLER_COMMAND: Final = (sys.executable, "-m", "controller", "run")
PORT_ATTEMPTS: Final = 3
_READY_POLL: Final = 0.1
_HTTP_TIMEOUT: Final = 5.0


class ReplicaStartError(ProcessFailed):
    """A replica exited, or did not become ready in time, while starting."""


@dataclass(frozen=True, slots=True)
class ControllerOptions:
    """How every replica runs: the command, its settings, and the stack's patience.

    Timings default short so that tests see leader changes and polls within seconds; ``env``
    adds or overrides variables (it wins over everything the stack sets).
    """

    command: tuple[str, ...] = CONTROLLER_COMMAND
    namespace: str = "zerossl-issuer-system"
    service_account: str = "zerossl-issuer"
    cluster_resource_namespace: str | None = None
    """Default: :attr:`namespace`."""
    leader_elect: bool = True
    lease_name: str = "zerossl-issuer"
    lease_duration: float = 4.0
    renew_deadline: float = 3.0
    retry_period: float = 0.5
    poll_interval: float = 0.5
    workers: int = 4
    zerossl_qps: float = 50.0
    zerossl_burst: int = 50
    log_level: str = "info"
    env: Mapping[str, str] = field(default_factory=dict)
    ready_timeout: float = 30.0
    stop_grace: float = 10.0

    @property
    def secret_namespace(self) -> str:
        """Where ZeroSSLClusterIssuers read their Secrets."""
        return self.cluster_resource_namespace or self.namespace


@dataclass(frozen=True, slots=True)
class Ports:
    metrics: int
    probe: int
    solver: int


class Replica:
    def __init__(
        self,
        index: int,
        options: ControllerOptions,
        *,
        kubeconfig: Path,
        zerossl_url: str,
        logdir: Path,
        ports: PortAllocator,
        cwd: Path | None = None,
        solver_registry: Path | None = None,
    ) -> None:
        self.index = index
        self.name = f"replica-{index}"
        self.options = options
        self.kubeconfig = kubeconfig
        self.zerossl_url = zerossl_url
        self.logdir = logdir
        self.cwd = cwd
        self.solver_registry = solver_registry
        self._allocator = ports
        self._ports: Ports | None = None
        self._process: ManagedProcess | None = None

    # --- state -----------------------------------------------------------------------------

    @property
    def ports(self) -> Ports:
        if self._ports is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._ports

    @property
    def process(self) -> ManagedProcess:
        if self._process is None:
            raise RuntimeError(f"{self.name} was never started")
        return self._process

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.running

    @property
    def pid(self) -> int | None:
        return None if self._process is None else self._process.pid

    @property
    def returncode(self) -> int | None:
        return None if self._process is None else self._process.returncode

    @property
    def stdout_path(self) -> Path:
        return self.logdir / "stdout.log"

    @property
    def stderr_path(self) -> Path:
        return self.logdir / "stderr.log"

    @property
    def solver_address(self) -> tuple[str, int]:
        return LOOPBACK, self.ports.solver

    @property
    def metrics_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.metrics}/metrics"

    @property
    def probe_url(self) -> str:
        return f"http://{LOOPBACK}:{self.ports.probe}"

    @property
    def command_script(self) -> Path:
        """The script that starts this replica again by hand (see :mod:`.handstart`)."""
        return self.logdir / handstart.SCRIPT_NAME

    def environment(self, ports: Ports) -> dict[str, str]:
        """The inherited environment (without ``ZEROSSL_ISSUER_*`` and ``KUBECONFIG``) plus
        :meth:`settings`."""
        env = inherited_environment([ENV_PREFIX, "KUBECONFIG"])
        env.update(self.settings(ports))
        return env

    def settings(self, ports: Ports) -> dict[str, str]:
        """What the stack sets in the replica's environment; ``options.env`` wins."""
        o = self.options
        settings = {
            "METRICS_ADDR": f"{LOOPBACK}:{ports.metrics}",
            "PROBE_ADDR": f"{LOOPBACK}:{ports.probe}",
            "SOLVER_ADDR": f"{LOOPBACK}:{ports.solver}",
            "NAMESPACE": o.namespace,
            "POD_NAME": self.name,
            "LEADER_ELECT": "true" if o.leader_elect else "false",
            "LEASE_NAME": o.lease_name,
            "LEASE_DURATION": str(o.lease_duration),
            "RENEW_DEADLINE": str(o.renew_deadline),
            "RETRY_PERIOD": str(o.retry_period),
            "CLUSTER_RESOURCE_NAMESPACE": o.secret_namespace,
            "ZEROSSL_API_URL": self.zerossl_url,
            "POLL_INTERVAL": str(o.poll_interval),
            "WORKERS": str(o.workers),
            "ZEROSSL_QPS": str(o.zerossl_qps),
            "ZEROSSL_BURST": str(o.zerossl_burst),
            "LOG_FORMAT": "json",
            "LOG_LEVEL": o.log_level,
        }
        env = {ENV_PREFIX + k: v for k, v in settings.items()}
        env.update(KUBECONFIG=str(self.kubeconfig), PYTHONUNBUFFERED="1")
        env.update(o.env)
        return env

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self, *, ready: bool = True) -> None:
        """Start the process; with ``ready``, wait until ``/readyz`` passes (retrying with new
        ports if one was taken)."""
        if self.running:
            raise RuntimeError(f"{self.name} is already running")
        for attempt in range(1, PORT_ATTEMPTS + 1):
            ports = Ports(*self._allocator.allocate(3))
            process = ManagedProcess(
                self.name,
                self.options.command,
                logdir=self.logdir,
                env=self.environment(ports),
                cwd=self.cwd,
            )
            self._ports, self._process = ports, process
            handstart.write_script(
                self.logdir,
                handstart.render_script(
                    self.name,
                    self.options.command,
                    self.settings(ports),
                    cwd=self.cwd,
                    registry=self.solver_registry,
                ),
            )
            await process.start()
            if not ready:
                return
            try:
                await self.wait_ready(self.options.ready_timeout)
                return
            except ReplicaStartError:
                await process.stop(self.options.stop_grace)
                taken = address_in_use(process.stderr_of_this_run())
                if not taken or attempt == PORT_ATTEMPTS:
                    raise

    async def wait_ready(self, timeout: float) -> None:
        """Until ``/readyz`` answers 200; ReplicaStartError if the process exits first or
        ``timeout`` passes."""
        process = self.process
        last = "no answer yet"
        try:
            async with asyncio.timeout(timeout):
                while True:
                    if not process.running:
                        raise ReplicaStartError(process.describe_exit("before it was ready"))
                    try:
                        status, body = await http_get(f"{self.probe_url}/readyz")
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        last = f"{type(exc).__name__}"
                    else:
                        if status == 200:
                            return
                        last = f"{status} {body.strip()[:300]}"
                    await asyncio.sleep(_READY_POLL)
        except TimeoutError:
            raise ReplicaStartError(
                f"{self.name} was not ready within {timeout}s (last /readyz: {last}); "
                + process.stderr_tail()
            ) from None

    async def ready(self) -> bool:
        """Whether ``/readyz`` passes now."""
        with contextlib.suppress(aiohttp.ClientError, TimeoutError):
            status, _ = await http_get(f"{self.probe_url}/readyz")
            return status == 200
        return False

    async def kill(self) -> int:
        """SIGKILL (a node failure) and reap; returns the exit status."""
        self.process.send_signal(signal.SIGKILL)
        return await self.process.wait(self.options.stop_grace)

    async def terminate(self, timeout: float | None = None) -> int:
        """SIGTERM (a Pod deletion) and wait for the exit (TimeoutError past ``timeout``,
        default ``stop_grace``; the process keeps running then)."""
        self.process.send_signal(signal.SIGTERM)
        return await self.wait_exit(self.options.stop_grace if timeout is None else timeout)

    async def wait_exit(self, timeout: float) -> int:
        """The exit status once the process exits; TimeoutError past ``timeout``."""
        return await self.process.wait(timeout)

    async def stop(self) -> int | None:
        """SIGTERM, SIGKILL after ``stop_grace``; a no-op for a replica never started."""
        if self._process is None:
            return None
        return await self._process.stop(self.options.stop_grace)

    async def restart(self, *, ready: bool = True) -> None:
        """Stop (gracefully) and start again, as a Pod restart does."""
        await self.stop()
        await self.start(ready=ready)

    # --- observation -----------------------------------------------------------------------

    async def scrape_metrics(self) -> Metrics:
        status, text = await http_get(self.metrics_url)
        if status != 200:
            raise RuntimeError(f"{self.name}: GET /metrics answered {status}: {text[:300]}")
        return Metrics(text)

    def json_logs(self) -> list[dict[str, Any]]:
        """Every JSON-object line the replica wrote to stdout or stderr (all runs)."""
        records: list[dict[str, Any]] = []
        for path in (self.stdout_path, self.stderr_path):
            if not path.exists():
                continue
            for line in path.read_bytes().splitlines():
                if not line.startswith(b"{"):
                    continue
                with contextlib.suppress(orjson.JSONDecodeError):
                    record = orjson.loads(line)
                    if isinstance(record, dict):
                        records.append(record)
        return records


async def http_get(url: str, timeout: float = _HTTP_TIMEOUT) -> tuple[int, str]:
    """(status, body) of one bounded GET."""
    async with (
        aiohttp.ClientSession(trust_env=False) as session,
        session.get(url, timeout=aiohttp.ClientTimeout(total=timeout)) as response,
    ):
        return response.status, await response.text()
