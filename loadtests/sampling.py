"""Watching the system's processes while a run goes on.

- :class:`ProcessSampler`: CPU seconds and peak RSS per role (controller replicas, API server,
  emulator, the harness itself; on the real control plane also etcd and
  kube-controller-manager), from psutil and ``/proc/<pid>/status`` (VmHWM, the kernel's
  own peak, so short spikes between samples are not missed). A process that exits keeps the
  CPU time of its last sample; call :meth:`ProcessSampler.sample` right before killing one.
- :class:`ReplicaMetrics`: scrapes every running replica's ``/metrics``; keeps the latest
  scrape of each process (a restarted replica is a new process with fresh counters) and the
  work-queue depth over time. Counter deltas are taken against a baseline scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Final, NoReturn

import aiohttp
import psutil
from prometheus_client.parser import text_string_to_metric_families

from controller.sandbox.stack import Metrics, Stack

CONTROLLER: Final = "controller"
APISERVER: Final = "kube-apiserver"
EMULATOR: Final = "zerossl-emulator"
ETCD: Final = "etcd"
CONTROLLER_MANAGER: Final = "kube-controller-manager"
HARNESS: Final = "harness"
CONTROL_PLANE: Final = {
    "kube-apiserver": APISERVER,
    "etcd": ETCD,
    CONTROLLER_MANAGER: CONTROLLER_MANAGER,
}
"""The real control plane's binaries, by file name, and their roles."""
MIB: Final = 1024 * 1024
QUEUES: Final = ("certificaterequests", "zerosslorders", "zerosslissuers")


@dataclass(frozen=True, slots=True)
class Usage:
    """One role's resource use over the sampling window."""

    cpu_seconds: float
    peak_rss_mib: float
    processes: int

    def to_json(self) -> dict[str, float]:
        return asdict(self)


@dataclass(slots=True)
class _Tracked:
    role: str
    baseline_cpu: float
    cpu: float
    peak_rss: int


def role_of(cmdline: list[str]) -> str | None:
    """Which part of the stack a child process is, from its command line."""
    if cmdline and (role := CONTROL_PLANE.get(Path(cmdline[0]).name)):
        return role
    joined = " ".join(cmdline)
    if "controller.sandbox.stack.apiserver_child" in joined:
        return APISERVER
    if "controller.sandbox zerossl" in joined:
        return EMULATOR
    if "-m controller run" in joined:
        return CONTROLLER
    return None


def peak_rss(pid: int) -> int | None:
    """The process's peak resident set size in bytes (Linux VmHWM), if readable."""
    with contextlib.suppress(OSError, ValueError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return None


class ProcessSampler:
    """Samples this process and its children every ``interval`` seconds from :meth:`run`."""

    def __init__(self, interval: float = 0.5) -> None:
        self._interval = interval
        self._me = psutil.Process()
        self._started = time.time()
        self._tracked: dict[int, _Tracked] = {}
        self._processes: dict[int, psutil.Process] = {os.getpid(): self._me}

    def restart(self) -> None:
        """Count from now: forget earlier samples and take a fresh one."""
        self._started = time.time()
        self._tracked.clear()
        self.sample()

    def sample(self) -> None:
        for child in self._me.children():
            if child.pid not in self._processes:
                with contextlib.suppress(psutil.Error):
                    role = role_of(child.cmdline())
                    if role is not None:
                        self._processes[child.pid] = child
        for pid, process in list(self._processes.items()):
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    rss = process.memory_info().rss
                    born = process.create_time()
            except psutil.Error:
                del self._processes[pid]  # gone: its last sample stands
                continue
            cpu = times.user + times.system
            tracked = self._tracked.get(pid)
            if tracked is None:
                role = HARNESS if pid == os.getpid() else role_of(process.cmdline()) or "other"
                baseline = 0.0 if born >= self._started else cpu
                tracked = self._tracked[pid] = _Tracked(role, baseline, cpu, 0)
            tracked.cpu = cpu
            tracked.peak_rss = max(tracked.peak_rss, rss, peak_rss(pid) or 0)

    async def run(self) -> NoReturn:
        while True:
            self.sample()
            await asyncio.sleep(self._interval)

    def usage(self) -> dict[str, Usage]:
        """Per role: CPU seconds used in the window (summed over its processes), the highest
        peak RSS of any one of them, and how many processes it had."""
        cpu: dict[str, float] = defaultdict(float)
        rss: dict[str, int] = defaultdict(int)
        count: dict[str, int] = defaultdict(int)
        for tracked in self._tracked.values():
            cpu[tracked.role] += tracked.cpu - tracked.baseline_cpu
            rss[tracked.role] = max(rss[tracked.role], tracked.peak_rss)
            count[tracked.role] += 1
        return {role: Usage(cpu[role], rss[role] / MIB, count[role]) for role in sorted(cpu)}


@dataclass(frozen=True, slots=True)
class DepthSample:
    at: float
    depths: Mapping[str, float]


class ReplicaMetrics:
    """Latest ``/metrics`` scrape of every replica process, plus the work-queue depth series
    (summed over replicas: only the leader's queues fill)."""

    def __init__(
        self,
        stack: Stack,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._stack = stack
        self._interval = interval
        self._clock = clock
        self.latest: dict[int, Metrics] = {}
        self.baseline: dict[int, Metrics] = {}
        self.depth: list[DepthSample] = []

    async def scrape_all(self) -> None:
        running = [r for r in self._stack.replicas if r.running and r.pid is not None]
        scrapes = await asyncio.gather(
            *(r.scrape_metrics() for r in running), return_exceptions=True
        )
        depths: dict[str, float] = dict.fromkeys(QUEUES, 0.0)
        for replica, scrape in zip(running, scrapes, strict=True):
            if isinstance(scrape, aiohttp.ClientError | TimeoutError | RuntimeError):
                continue  # dying or not serving yet: its previous scrape stands
            if isinstance(scrape, BaseException):
                raise scrape
            assert replica.pid is not None
            self.latest[replica.pid] = scrape
            for queue, depth in _by_label(scrape, "workqueue_depth", "name").items():
                if queue in depths:
                    depths[queue] += depth
        self.depth.append(DepthSample(self._clock(), depths))

    async def mark_baseline(self) -> None:
        """Count from now: scrape every replica and restart the depth series."""
        await self.scrape_all()
        self.baseline = dict(self.latest)
        self.depth.clear()

    async def run(self) -> NoReturn:
        while True:
            await self.scrape_all()
            await asyncio.sleep(self._interval)

    def exposed_delta(self, name: str, *labels: str) -> dict[str, float] | None:
        """:meth:`counter_delta`, or None when no replica's latest scrape has the metric
        ``name`` at all (a controller of another commit may not expose it)."""
        family = name.removesuffix("_total")
        for scrape in self.latest.values():
            if any(f.name == family for f in text_string_to_metric_families(scrape.text)):
                return self.counter_delta(name, *labels)
        return None

    def counter_delta(self, name: str, *labels: str) -> dict[str, float]:
        """Sum over replica processes of counter ``name`` since the baseline, by the values
        of ``labels`` (joined with "/")."""
        totals: dict[str, float] = defaultdict(float)
        for pid, scrape in self.latest.items():
            before = _by_label(self.baseline.get(pid), name, *labels)
            for value, count in _by_label(scrape, name, *labels).items():
                totals[value] += count - before.get(value, 0.0)
        return dict(totals)


def _by_label(scrape: Metrics | None, name: str, *labels: str) -> dict[str, float]:
    out: dict[str, float] = defaultdict(float)
    if scrape is not None:
        for sample in scrape.samples(name):
            out["/".join(sample.labels.get(label, "") for label in labels)] += sample.value
    return out
