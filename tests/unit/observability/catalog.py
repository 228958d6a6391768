"""The metric catalog as data, and the metric names a PromQL expression refers to."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.metrics import MetricWrapperBase

from controller.observability import metrics

ROOT = Path(__file__).resolve().parents[3]
MONITORING = ROOT / "manifests" / "monitoring"
RULES = MONITORING / "rules" / "zerossl-issuer.rules.yaml"
DOCS = ROOT / "docs"

# Families the process, platform and GC collectors of prometheus_client register by default.
_DEFAULT_COLLECTOR_PREFIXES = ("process_", "python_")
_OUR_PREFIXES = ("zerossl_issuer_", "workqueue_", "leader_election_", *_DEFAULT_COLLECTOR_PREFIXES)
_IDENTIFIER = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_SAMPLE_SUFFIX = re.compile(r"_(bucket|sum|count)$")


@dataclass(frozen=True, slots=True)
class Family:
    name: str  # as exposed: counters end in _total
    kind: str  # counter, gauge or histogram
    labels: tuple[str, ...]
    metric: MetricWrapperBase


def _kind(metric: MetricWrapperBase) -> str:
    for cls, kind in ((Counter, "counter"), (Gauge, "gauge"), (Histogram, "histogram")):
        if isinstance(metric, cls):
            return kind
    raise TypeError(f"unexpected metric type {type(metric).__name__}")


def catalog() -> dict[str, Family]:
    """Every metric object declared in controller/observability/metrics.py, by exposed name."""
    families = {}
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            [described] = value.describe()
            kind = _kind(value)
            name = described.name + ("_total" if kind == "counter" else "")
            families[name] = Family(name, kind, tuple(value._labelnames), value)
    return families


def default_collector_families() -> set[str]:
    """Names of the process/platform/GC families in the default registry, as exposed."""
    names = set()
    for family in metrics.registry.collect():
        if family.name.startswith(_DEFAULT_COLLECTOR_PREFIXES):
            names |= {sample.name for sample in family.samples}
    return names


def referenced_families(promql: str) -> set[str]:
    """Metric names in an expression, with histogram sample suffixes folded into the family."""
    names = set()
    for token in _IDENTIFIER.findall(re.sub(r'"[^"]*"', '""', promql)):
        if token.startswith(_OUR_PREFIXES):
            names.add(_SAMPLE_SUFFIX.sub("", token))
    return names
