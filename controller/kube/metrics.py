"""The metrics provider: what kube/ reports, never under which names (client-go's
``workqueue.MetricsProvider``, ``tools/metrics`` and ``leaderelection.MetricsProvider``).

Invariants: a component asks its provider for the handle of each label set it reports, once
where it can, and only updates handles afterwards; the provider alone names the metrics (the
app injects the product's catalog, whose names are the documented contract); a component built
without a provider reports nothing (:data:`NO_METRICS`). Label values are bounded: queue,
resource, verb, code, reason, event type, fate, Lease and controller names.
"""

from __future__ import annotations

from typing import Final, Protocol


class CounterMetric(Protocol):
    def inc(self, amount: float = 1) -> None: ...


class GaugeMetric(Protocol):
    def inc(self, amount: float = 1) -> None: ...

    def dec(self, amount: float = 1) -> None: ...

    def set(self, value: float) -> None: ...


class HistogramMetric(Protocol):
    def observe(self, amount: float) -> None: ...


class QueueMetricsProvider(Protocol):
    """A work queue's series, labelled by the queue's name (client-go semantics)."""

    def queue_depth(self, queue: str) -> GaugeMetric: ...

    def queue_adds(self, queue: str) -> CounterMetric: ...

    def queue_latency(self, queue: str) -> HistogramMetric: ...

    def queue_work_duration(self, queue: str) -> HistogramMetric: ...

    def queue_unfinished_work(self, queue: str) -> GaugeMetric: ...

    def queue_longest_running(self, queue: str) -> GaugeMetric: ...

    def queue_retries(self, queue: str) -> CounterMetric: ...


class InformerMetricsProvider(Protocol):
    """An informer's series, labelled by its resource (``plural.group``)."""

    def informer_relists(self, resource: str) -> CounterMetric: ...

    def informer_watch_restarts(self, resource: str, reason: str) -> CounterMetric: ...

    def informer_events(self, resource: str, event_type: str) -> CounterMetric: ...

    def informer_cached_objects(self, resource: str) -> GaugeMetric: ...


class ClientMetricsProvider(Protocol):
    """API requests by verb and HTTP status code, and the client-side limiter's waits."""

    def kube_requests(self, verb: str, code: str) -> CounterMetric: ...

    def kube_request_duration(self, verb: str) -> HistogramMetric: ...

    def kube_throttle_wait(self) -> HistogramMetric: ...


class EventMetricsProvider(Protocol):
    """Events recorded by type (Normal, Warning) and fate (created, series, dropped, failed,
    namespace_gone)."""

    def events_emitted(self, event_type: str, fate: str) -> CounterMetric: ...


class LeaderMetricsProvider(Protocol):
    """A Lease's holder status, leadership changes and slow-path renewals."""

    def leader_status(self, lease: str) -> GaugeMetric: ...

    def leader_transitions(self, lease: str) -> CounterMetric: ...

    def leader_slowpath(self, lease: str) -> CounterMetric: ...


class WorkerMetricsProvider(Protocol):
    """Reconciles by controller and result (done, requeue, error), and their latency."""

    def reconciles(self, controller: str, result: str) -> CounterMetric: ...

    def reconcile_duration(self, controller: str) -> HistogramMetric: ...


class MetricsProvider(
    QueueMetricsProvider,
    InformerMetricsProvider,
    ClientMetricsProvider,
    EventMetricsProvider,
    LeaderMetricsProvider,
    WorkerMetricsProvider,
    Protocol,
):
    """Everything kube/ reports; each component takes only its own part."""


class _Discarded:
    """A handle that records nothing."""

    def inc(self, amount: float = 1) -> None:
        pass

    def dec(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass

    def observe(self, amount: float) -> None:
        pass


_DISCARDED: Final = _Discarded()


class NoMetrics:
    """The provider of a component nobody scrapes: every handle discards."""

    def queue_depth(self, queue: str) -> GaugeMetric:
        return _DISCARDED

    def queue_adds(self, queue: str) -> CounterMetric:
        return _DISCARDED

    def queue_latency(self, queue: str) -> HistogramMetric:
        return _DISCARDED

    def queue_work_duration(self, queue: str) -> HistogramMetric:
        return _DISCARDED

    def queue_unfinished_work(self, queue: str) -> GaugeMetric:
        return _DISCARDED

    def queue_longest_running(self, queue: str) -> GaugeMetric:
        return _DISCARDED

    def queue_retries(self, queue: str) -> CounterMetric:
        return _DISCARDED

    def informer_relists(self, resource: str) -> CounterMetric:
        return _DISCARDED

    def informer_watch_restarts(self, resource: str, reason: str) -> CounterMetric:
        return _DISCARDED

    def informer_events(self, resource: str, event_type: str) -> CounterMetric:
        return _DISCARDED

    def informer_cached_objects(self, resource: str) -> GaugeMetric:
        return _DISCARDED

    def kube_requests(self, verb: str, code: str) -> CounterMetric:
        return _DISCARDED

    def kube_request_duration(self, verb: str) -> HistogramMetric:
        return _DISCARDED

    def kube_throttle_wait(self) -> HistogramMetric:
        return _DISCARDED

    def events_emitted(self, event_type: str, fate: str) -> CounterMetric:
        return _DISCARDED

    def leader_status(self, lease: str) -> GaugeMetric:
        return _DISCARDED

    def leader_transitions(self, lease: str) -> CounterMetric:
        return _DISCARDED

    def leader_slowpath(self, lease: str) -> CounterMetric:
        return _DISCARDED

    def reconciles(self, controller: str, result: str) -> CounterMetric:
        return _DISCARDED

    def reconcile_duration(self, controller: str) -> HistogramMetric:
        return _DISCARDED


NO_METRICS: Final[MetricsProvider] = NoMetrics()
