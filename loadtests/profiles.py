"""The runs each command makes, by profile.

- ``standard`` (``make bench``): every scenario of the issue at a size that fits in under 10
  minutes on two cores: 1,000-request throughput runs (limiter off and on), 1,000 requests
  waiting when the controller starts (a backlog), the 30-second
  issuance-delay run, a 60-second quota window, informer sync with 10,000 and 50,000
  requests, and 20 leader kills plus graceful stops.
- ``full``: the standard set plus 10,000-request throughput runs and the 5-minute quota run.
- ``small``: the same scenarios, tiny, to keep the harness working (``make test``).

``make chaos`` runs the chaos soak of the chosen profile (``standard``: 1,000 issuances).

Worlds (``--kube``): every run starts the emulated API server by default; ``real`` runs the
throughput and failover scenarios on the real control plane instead (etcd, kube-apiserver and
kube-controller-manager from ``make controlplane``), named ``<run>-real``; ``both`` runs each
of them on the emulator and then on the real server, back to back, so the two are measured
under the same load. Quota (the controller against the ZeroSSL emulator, the API server is not
what it measures), informer scale (seeded through the emulator's bulk path) and chaos (faults
injected through the emulator's ``/_sandbox/faults``) stay emulator-only.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Final, Literal

from .harness import SystemSettings
from .results import REAL_SUFFIX
from .scenarios import Scenario
from .scenarios.backlog import Backlog
from .scenarios.chaos import Chaos, ChaosFaults
from .scenarios.failover import Failover
from .scenarios.informer import InformerScale
from .scenarios.quota import QuotaUtilisation
from .scenarios.throughput import Throughput
from .summary import MAX_KUBE_WRITES

PROFILES: Final = ("small", "standard", "full")
World = Literal["emulator", "real", "both"]
WORLDS: Final[tuple[World, ...]] = ("emulator", "real", "both")
ONE_REPLICA: Final = SystemSettings(replicas=1)
HA: Final = SystemSettings(replicas=3)
LIMITER_ON: Final = {"zerossl_qps": 100.0, "zerossl_burst": 10, "rate_limit": 100.0}
"""The limiter "on": the controller's bucket and the emulator's enforced rate both at 100/s."""


PRODUCTION_LEASE: Final = {"lease_duration": 15.0, "renew_deadline": 10.0, "retry_period": 2.0}
"""The controller's default lease timings (the runs otherwise use the tests' short 4/3/0.5 s)."""


def throughput(requests: int, *, limiter: bool, label: str) -> Throughput:
    """10,000-request runs use the production lease timings: with the tests' 3 s renew
    deadline the lone replica on the real API server, on a shared two-core machine, once
    missed a renewal minutes into the run and exited, as it must, leaving no leader."""
    system = ONE_REPLICA.with_(**LIMITER_ON) if limiter else ONE_REPLICA
    if requests >= 10_000:
        system = system.with_(**PRODUCTION_LEASE)
    state = "on" if limiter else "off"
    return Throughput(
        name=f"throughput-{label}-limiter-{state}",
        title=f"{requests:,} requests, ZeroSSL limiter {state}, zero-latency emulators",
        requests=requests,
        system=system,
        max_seconds=120.0 if requests >= 10_000 else None,
        timeout=max(300.0, requests * 0.5),
    )


def delayed(requests: int, label: str) -> Throughput:
    """ZeroSSL takes 30 s to issue here, longer than the order's ``defer_max`` (30 s from the
    verify): the accepted validation is then written on its own, so that people see
    ``WaitingForIssuance`` while ZeroSSL takes its time. One write more than an issuance that
    finishes sooner, by design."""
    return Throughput(
        name=f"calls-{label}-delay-30s",
        title=f"{requests:,} concurrent orders, 30 s issuance delay: ZeroSSL calls per certificate",
        requests=requests,
        system=ONE_REPLICA.with_(issuance_delay="fixed:30", poll_interval=5.0),
        max_zerossl_calls=3.2,
        max_kube_writes=MAX_KUBE_WRITES + 1,
        timeout=max(300.0, requests * 0.5),
    )


def backlog(requests: int, label: str) -> Backlog:
    return Backlog(
        name=f"backlog-{label}",
        title=f"{requests:,} approved requests waiting when the controller starts, ZeroSSL "
        "limiter off (times from its start)",
        requests=requests,
        system=ONE_REPLICA,
        timeout=max(300.0, requests * 0.5),
    )


def quota(window: float, label: str) -> QuotaUtilisation:
    return QuotaUtilisation(
        name=f"quota-{label}",
        title=f"Limiter at R = emulator's limit, {window:.0f} s window",
        rate=20.0,
        window=window,
        system=ONE_REPLICA.with_(workers=16),
    )


def informer(sizes: tuple[int, ...], label: str) -> InformerScale:
    """Production lease timings: the new leader's initial pass over 50,000 cached requests
    keeps its event loop busy for seconds, longer than the short test timings allow."""
    return InformerScale(
        name=f"informer-{label}",
        title="Cache sync and memory with requests present",
        sizes=sizes,
        system=ONE_REPLICA.with_(namespaces=10, **PRODUCTION_LEASE),
    )


def failover(
    kills: int,
    graceful: int,
    label: str,
    system: SystemSettings = HA,
    pause: tuple[float, float] = (0.5, 2.5),
) -> Failover:
    return Failover(
        name=f"failover-{label}",
        title=f"{system.replicas} replicas under load, leader stopped {kills + graceful} times",
        system=system,
        kills=kills,
        graceful=graceful,
        feed_rate=10.0,
        pause=pause,
        seed=9,
    )


def _standard() -> list[Scenario]:
    return [
        throughput(1000, limiter=False, label="1k"),
        throughput(1000, limiter=True, label="1k"),
        delayed(1000, "1k"),
        backlog(1000, "1k"),
        quota(60.0, "60s"),
        informer((0, 10_000, 50_000), "10k-50k"),
        failover(20, 5, "20-kills"),
    ]


def _full() -> list[Scenario]:
    return [
        *_standard(),
        throughput(10_000, limiter=False, label="10k"),
        throughput(10_000, limiter=True, label="10k"),
        quota(300.0, "300s"),
    ]


def _small() -> list[Scenario]:
    small = SystemSettings(replicas=1, namespaces=2)
    return [
        Throughput("small-throughput", "30 requests", 30, small.with_(**LIMITER_ON)),
        Backlog("small-backlog", "30 requests waiting at start", 30, small, max_first_ready=None),
        QuotaUtilisation("small-quota", "R = 10/s, 4 s window", 10.0, 4.0, small, warmup=2.0),
        InformerScale("small-informer", "300 requests present", (0, 300), small),
        failover(1, 1, "small", small.with_(replicas=2), pause=(0.3, 1.0)),
    ]


def on_real(scenario: Throughput | Failover) -> Throughput | Failover:
    """The same run on the real control plane, named ``<run>-real``."""
    return replace(
        scenario,
        name=scenario.name + REAL_SUFFIX,
        title=f"{scenario.title}, real kube-apiserver",
        system=scenario.system.with_(kube_mode="real"),
    )


def in_worlds(scenarios: Sequence[Scenario], world: World) -> list[Scenario]:
    """``scenarios`` on the emulator, on the real control plane (the throughput and failover
    runs only), or both: each such run on the emulator directly followed by its real twin."""
    chosen: list[Scenario] = []
    for scenario in scenarios:
        if world != "real":
            chosen.append(scenario)
        if world != "emulator" and isinstance(scenario, Throughput | Failover):
            chosen.append(on_real(scenario))
    return chosen


BENCH: Final[dict[str, Callable[[], list[Scenario]]]] = {
    "small": _small,
    "standard": _standard,
    "full": _full,
}


def small_chaos() -> Chaos:
    return Chaos(
        name="small-chaos",
        title="30 requests under chaos, one leader kill",
        system=SystemSettings(replicas=2, namespaces=2),
        requests=30,
        feed_rate=6.0,
        # 10% Kubernetes errors: its few seconds of chaos make ~100 requests (5 writes per
        # issuance), so every run meets some (at the soak's 3%, about 1 run in 20 met none).
        faults=ChaosFaults(
            kube_error_rate=0.1, watch_drop_every=2.0, compact_every=3.0, kill_every=3.0
        ),
        settle_timeout=120.0,
    )


def soak() -> Chaos:
    return Chaos(
        name="chaos-soak-1k",
        title="1,000 issuances under chaos, leader killed every 15 s",
        system=HA,
        requests=1000,
        feed_rate=10.0,
    )


CHAOS: Final[dict[str, Callable[[], list[Scenario]]]] = {
    "small": lambda: [small_chaos()],
    "standard": lambda: [soak()],
    "full": lambda: [soak()],
}
