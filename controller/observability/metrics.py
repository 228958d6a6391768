"""The metrics catalog: every Prometheus metric the controller exports, in one place.

Invariants: label values are bounded (endpoint names, verbs, status codes, reasons, issuer
references; never request names, domains or keys); counters are declared without ``_total``
(prometheus_client appends it); the process-wide default registry is the only module-level
mutable state in the project. ``docs/metrics.md`` documents each metric.
"""

from __future__ import annotations

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram

NS = "zerossl_issuer"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
ISSUANCE_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 21600, 86400)
# client-go / component-base workqueue buckets: 1 microsecond .. 1000 seconds.
WORKQUEUE_BUCKETS = tuple(10e-7 * 10**i for i in range(10))

registry: CollectorRegistry = REGISTRY

# --- ZeroSSL API -------------------------------------------------------------------------------
zerossl_requests = Counter(
    f"{NS}_zerossl_requests",
    "ZeroSSL API calls by endpoint and outcome (ok, or the error class).",
    ["endpoint", "outcome"],
)
zerossl_request_duration = Histogram(
    f"{NS}_zerossl_request_duration_seconds",
    "ZeroSSL API call latency by endpoint.",
    ["endpoint"],
    buckets=LATENCY_BUCKETS,
)
zerossl_limiter_wait = Histogram(
    f"{NS}_zerossl_limiter_wait_seconds",
    "Time spent waiting for a ZeroSSL token, per account (a fingerprint of its API key) and call "
    "priority (finish: work already at ZeroSSL, start: new certificates).",
    ["account", "priority"],
    buckets=(0.0, 0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0),
)
zerossl_limiter_tokens = Gauge(
    f"{NS}_zerossl_limiter_tokens",
    "Tokens available in the account's bucket (below 1 while calls wait for one).",
    ["account"],
)
zerossl_throttled = Counter(
    f"{NS}_zerossl_throttled",
    "Times ZeroSSL throttled an account (HTTP 429 or Retry-After) and its bucket paused.",
    ["account"],
)
zerossl_quota_exhausted = Gauge(
    f"{NS}_zerossl_quota_exhausted",
    "1 while the issuer's ZeroSSL account reports certificate_limit_reached (2817).",
    ["kind", "namespace", "name"],
)

draft_searches = Counter(
    f"{NS}_draft_searches",
    "Searches for a lost draft by how they were served (search: the order's own call; "
    "listing: one listing of the account shared by concurrent searches).",
    ["served_by"],
)

# --- Issuance ----------------------------------------------------------------------------------
certificate_cancels = Counter(
    f"{NS}_certificate_cancels",
    "Unfinished ZeroSSL certificates of failed or deleted orders, by outcome (cancelled: "
    "cancelled at ZeroSSL; skipped: left in the account, with a CancelSkipped Event).",
    ["outcome"],
)
issuance_duration = Histogram(
    f"{NS}_issuance_duration_seconds",
    "Time from CertificateRequest creation to Ready=True/Issued.",
    ["issuer_kind"],
    buckets=ISSUANCE_BUCKETS,
)
certificaterequest_outcomes = Counter(
    f"{NS}_certificaterequest_outcomes",
    "CertificateRequest Ready transitions written by this controller, by reason.",
    ["reason"],
)
orders = Gauge(
    f"{NS}_orders",
    "ZeroSSLOrders in the cache by ZeroSSL certificate status.",
    ["zerossl_status"],
)
oldest_pending_request = Gauge(
    f"{NS}_certificaterequest_oldest_pending_seconds",
    "Age of the oldest CertificateRequest of our issuers still pending (0: none).",
)
issuer_ready = Gauge(
    f"{NS}_issuer_ready",
    "1 if the issuer's Ready condition is True, else 0.",
    ["kind", "namespace", "name"],
)
solver_operations = Counter(
    f"{NS}_solver_operations",
    "Validation solver operations (present, cleanup, wait) by solver type and outcome.",
    ["solver", "operation", "outcome"],
)
http_solver_requests = Counter(
    f"{NS}_http_solver_requests",
    "Requests to the HTTP validation endpoint by outcome (served, not_found, rejected).",
    ["outcome"],
)

# --- Reconcile loop ----------------------------------------------------------------------------
reconcile_total = Counter(
    f"{NS}_reconcile",
    "Reconciles by controller and result (done, requeue, error).",
    ["controller", "result"],
)
reconcile_duration = Histogram(
    f"{NS}_reconcile_duration_seconds",
    "Reconcile latency by controller.",
    ["controller"],
    buckets=LATENCY_BUCKETS,
)

# --- Work queue (client-go names and semantics) ------------------------------------------------
workqueue_depth = Gauge("workqueue_depth", "Current depth of the work queue.", ["name"])
workqueue_adds = Counter("workqueue_adds", "Adds handled by the work queue.", ["name"])
workqueue_queue_duration = Histogram(
    "workqueue_queue_duration_seconds",
    "Seconds an item stays in the queue before being requested.",
    ["name"],
    buckets=WORKQUEUE_BUCKETS,
)
workqueue_work_duration = Histogram(
    "workqueue_work_duration_seconds",
    "Seconds processing an item from the queue takes.",
    ["name"],
    buckets=WORKQUEUE_BUCKETS,
)
workqueue_unfinished_work = Gauge(
    "workqueue_unfinished_work_seconds",
    "Seconds of work in progress not yet observed by work_duration.",
    ["name"],
)
workqueue_longest_running = Gauge(
    "workqueue_longest_running_processor_seconds",
    "Seconds the longest-running processor has been running.",
    ["name"],
)
workqueue_retries = Counter("workqueue_retries", "Retries handled by the work queue.", ["name"])

# --- Informers ---------------------------------------------------------------------------------
informer_relists = Counter(f"{NS}_informer_relists", "Full relists by resource.", ["resource"])
informer_watch_restarts = Counter(
    f"{NS}_informer_watch_restarts",
    "Watch streams restarted, by resource and reason (timeout, closed, gone, error).",
    ["resource", "reason"],
)
informer_events = Counter(
    f"{NS}_informer_events",
    "Watch events received, by resource and type.",
    ["resource", "type"],
)
informer_cached_objects = Gauge(
    f"{NS}_informer_cached_objects", "Objects in the informer cache.", ["resource"]
)

# --- Kubernetes API client ---------------------------------------------------------------------
kube_requests = Counter(
    f"{NS}_kube_requests",
    "Kubernetes API requests by verb and HTTP status code.",
    ["verb", "code"],
)
kube_request_duration = Histogram(
    f"{NS}_kube_request_duration_seconds",
    "Kubernetes API request latency by verb.",
    ["verb"],
    buckets=LATENCY_BUCKETS,
)
kube_throttle_wait = Histogram(
    f"{NS}_kube_client_throttle_wait_seconds",
    "Time spent in the client-side Kubernetes QPS limiter.",
    buckets=(0.0, 0.001, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0),
)
events_emitted = Counter(
    f"{NS}_kube_events",
    "Kubernetes Events recorded by type and fate (created, series, dropped, failed, "
    "namespace_gone).",
    ["type", "fate"],
)

# --- Leader election ---------------------------------------------------------------------------
leader_status = Gauge(
    "leader_election_master_status",
    "1 if this replica holds the leader Lease, else 0.",
    ["name"],
)
leader_transitions = Counter(
    f"{NS}_leader_election_transitions",
    "Leadership changes observed by this replica.",
    ["name"],
)
leader_slowpath = Counter(
    "leader_election_slowpath",
    "Lease renewals that had to take the slow path (GET then PUT).",
    ["name"],
)


class KubeCatalog:
    """The catalog as the kube plumbing's metrics provider (the app injects it): it names the
    series, the plumbing only counts (``controller.kube.metrics.MetricsProvider``)."""

    def queue_depth(self, queue: str) -> Gauge:
        return workqueue_depth.labels(queue)

    def queue_adds(self, queue: str) -> Counter:
        return workqueue_adds.labels(queue)

    def queue_latency(self, queue: str) -> Histogram:
        return workqueue_queue_duration.labels(queue)

    def queue_work_duration(self, queue: str) -> Histogram:
        return workqueue_work_duration.labels(queue)

    def queue_unfinished_work(self, queue: str) -> Gauge:
        return workqueue_unfinished_work.labels(queue)

    def queue_longest_running(self, queue: str) -> Gauge:
        return workqueue_longest_running.labels(queue)

    def queue_retries(self, queue: str) -> Counter:
        return workqueue_retries.labels(queue)

    def informer_relists(self, resource: str) -> Counter:
        return informer_relists.labels(resource)

    def informer_watch_restarts(self, resource: str, reason: str) -> Counter:
        return informer_watch_restarts.labels(resource, reason)

    def informer_events(self, resource: str, event_type: str) -> Counter:
        return informer_events.labels(resource, event_type)

    def informer_cached_objects(self, resource: str) -> Gauge:
        return informer_cached_objects.labels(resource)

    def kube_requests(self, verb: str, code: str) -> Counter:
        return kube_requests.labels(verb, code)

    def kube_request_duration(self, verb: str) -> Histogram:
        return kube_request_duration.labels(verb)

    def kube_throttle_wait(self) -> Histogram:
        return kube_throttle_wait

    def events_emitted(self, event_type: str, fate: str) -> Counter:
        return events_emitted.labels(event_type, fate)

    def leader_status(self, lease: str) -> Gauge:
        return leader_status.labels(lease)

    def leader_transitions(self, lease: str) -> Counter:
        return leader_transitions.labels(lease)

    def leader_slowpath(self, lease: str) -> Counter:
        return leader_slowpath.labels(lease)

    def reconciles(self, controller: str, result: str) -> Counter:
        return reconcile_total.labels(controller, result)

    def reconcile_duration(self, controller: str) -> Histogram:
        return reconcile_duration.labels(controller)


KUBE_METRICS = KubeCatalog()
