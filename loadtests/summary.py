"""From a run's observations to the numbers, series and metric-agreement checks every issuing
scenario reports (throughput, failover, chaos)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from .accounting import LONG_RUNNING_VERBS, emulator_endpoint
from .audit import Check, compare_counts
from .harness import KUBE_REQUESTS, ZEROSSL_REQUESTS, Observations
from .results import Target
from .sampling import CONTROLLER
from .stats import cumulative, distribution, per_issuance

KUBE_LOST_PER_STOP: Final = 40
LEASES: Final = ("leases",)
MAX_POINTS: Final = 400
"""Time series are thinned to about this many points."""


def issuance_summary(seen: Observations) -> dict[str, Any]:
    issued_at = seen.issued_at()
    issued = len(issued_at)
    first = min(seen.created.values(), default=seen.began)
    last = max(issued_at.values(), default=first)
    duration = max(last - first, 1e-9)
    controller = seen.usage.get(CONTROLLER)
    return {
        "requests": len(seen.created),
        "issued": issued,
        "not_issued": len(seen.created) - issued,
        "seconds_to_issue_all": round(last - first, 3),
        "issued_per_second": round(issued / duration, 2),
        "latency_s": {k: round(v, 3) for k, v in distribution(seen.latencies()).to_json().items()},
        "controller_cpu_seconds": round(controller.cpu_seconds, 2) if controller else 0.0,
        "controller_peak_rss_mib": round(controller.peak_rss_mib, 1) if controller else 0.0,
        "processes": {
            role: {k: round(v, 2) for k, v in usage.to_json().items()}
            for role, usage in seen.usage.items()
        },
        "kube_requests_per_issuance": _rounded(per_issuance(seen.kube.by_verb(), issued)),
        # Lease renewals are a cost per second of leadership, not per issuance: counted apart.
        "kube_writes_per_issuance": (
            round(seen.kube.writes(exclude=LEASES) / issued, 3) if issued else 0.0
        ),
        "lease_writes_per_second": round(
            (seen.kube.writes() - seen.kube.writes(exclude=LEASES)) / duration, 2
        ),
        "kube_writes_by_resource_per_issuance": _rounded(
            per_issuance(seen.kube.writes_by_resource(), issued)
        ),
        "kube_responses_by_code": seen.kube.by_code(),
        "zerossl_calls_per_issuance": round(seen.zerossl.total / issued, 3) if issued else 0.0,
        "zerossl_calls_by_endpoint_per_issuance": _rounded(
            per_issuance(dict(seen.zerossl.counts), issued)
        ),
        "zerossl_429s": seen.zerossl.throttled(),
        "order_create_409s": seen.kube.order_create_conflicts(),
        "reconciles_per_issuance": _exposed_per_issuance(seen.reconciles, issued),
        "draft_searches_per_issuance": _exposed_per_issuance(seen.draft_searches, issued),
        "watcher_relists": seen.watcher_relists,
        "failure_messages": _failure_messages(seen),
    }


def _failure_messages(seen: Observations) -> dict[str, int]:
    """How many requests ended with each terminal non-Issued Ready message."""
    counts: dict[str, int] = {}
    for finished in seen.finished.values():
        if finished.reason != "Issued":
            text = f"{finished.reason}: {finished.message}"
            counts[text] = counts.get(text, 0) + 1
    return dict(sorted(counts.items()))


def issuance_series(seen: Observations) -> dict[str, Any]:
    """Issued over time, every latency (ms precision) and the queue depths, for the plots."""
    origin = min(seen.created.values(), default=seen.began)
    curve = cumulative(seen.issued_at().values(), origin)
    step = max(1, len(curve) // MAX_POINTS)
    thinned = curve[::step] + ([curve[-1]] if curve and (len(curve) - 1) % step else [])
    depth_step = max(1, len(seen.depth) // MAX_POINTS)
    return {
        "issued_over_time": [[round(t, 3), n] for t, n in thinned],
        "latencies_s": [round(v, 3) for v in seen.latencies()],
        "queue_depth": [
            [round(s.at - origin, 2), dict(s.depths)] for s in seen.depth[::depth_step]
        ],
    }


def agreement_checks(seen: Observations, *, stops: int, workers: int, replicas: int) -> list[Check]:
    """The controller's ZeroSSL and Kubernetes request counters against the emulators' logs.

    Exact but for a stated slack: what a stopped replica did after its last scrape (up to
    one ZeroSSL call per worker plus the poller and the issuer check; up to
    ``KUBE_LOST_PER_STOP`` Kubernetes requests, as measured under load, graceful drains
    included), and lease traffic around the two sampling instants."""
    zerossl_check = "ZeroSSL calls: controller metrics agree with the emulator's log"
    kube_check = "Kubernetes requests: controller metrics agree with the API server's counts"
    checks = []
    if seen.controller_zerossl is None:
        checks.append(Check.skip(zerossl_check, not_exposed(ZEROSSL_REQUESTS)))
    else:
        controller_zerossl: dict[str, float] = {}
        for label, count in seen.controller_zerossl.items():
            key = emulator_endpoint(label)
            controller_zerossl[key] = controller_zerossl.get(key, 0.0) + count
        checks.append(
            compare_counts(
                zerossl_check,
                controller_zerossl,
                dict(seen.zerossl.counts),
                slack=stops * (workers + 2),
            )
        )
    if seen.controller_kube is None:
        checks.append(Check.skip(kube_check, not_exposed(KUBE_REQUESTS)))
    else:
        server = {k: v for k, v in seen.kube.by_verb().items() if k not in LONG_RUNNING_VERBS}
        controller = {k: v for k, v in seen.controller_kube.items() if k not in LONG_RUNNING_VERBS}
        checks.append(
            compare_counts(
                kube_check, controller, server, slack=stops * KUBE_LOST_PER_STOP + 4 * replicas
            )
        )
    return checks


def not_exposed(metric: str) -> str:
    """Why a check was skipped: the controller under test has no such metric."""
    return f"the controller under test does not expose {metric}"


def _exposed_per_issuance(
    counts: Mapping[str, float] | None, issued: int
) -> dict[str, float] | None:
    """Per issuance, rounded; None for a counter the controller does not expose."""
    return None if counts is None else _rounded(per_issuance(dict(counts), issued))


def _rounded(values: dict[str, float]) -> dict[str, float]:
    return {k: round(v, 3) for k, v in values.items()}


MAX_KUBE_WRITES = 5.0
"""Kubernetes writes an issuance may cost (docs/api.md, "Which writes crash safety needs")."""


def kube_writes_target(summary: dict[str, Any], most: float = MAX_KUBE_WRITES) -> Target:
    """The writes-per-issuance target of an :func:`issuance_summary` (Lease renewals apart)."""
    return Target(
        "Kubernetes writes per issuance (Lease renewals apart)",
        summary["kube_writes_per_issuance"],
        most,
        "writes",
    )
