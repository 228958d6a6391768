"""The app injects the product's catalog into the kube plumbing: the documented series (names
and labels unchanged, docs/metrics.md) are fed by the components the app builds."""

from __future__ import annotations

from prometheus_client import REGISTRY

from controller.app import Controller
from controller.config import load
from controller.kube.client import KubeClient
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.metrics import MetricsProvider
from controller.observability.metrics import KUBE_METRICS


def sample(metric: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(metric, labels) or 0.0


def test_the_catalog_is_a_kube_metrics_provider() -> None:
    provider: MetricsProvider = KUBE_METRICS  # mypy checks the structure; this checks names
    provider.queue_adds("catalog-probe").inc()
    assert sample("workqueue_adds_total", name="catalog-probe") == 1
    provider.informer_events("catalog.probe", "ADDED").inc(2)
    assert (
        sample("zerossl_issuer_informer_events_total", resource="catalog.probe", type="ADDED") == 2
    )


async def test_the_controllers_queues_elector_and_caches_report_to_the_catalog() -> None:
    kube = KubeClient(ClusterConfig("http://127.0.0.1:9"), metrics=KUBE_METRICS)
    settings = load({"ZEROSSL_ISSUER_LEASE_NAME": "wiring-probe"}, [])
    controller = Controller(settings, kube)
    before = sample("workqueue_adds_total", name="zerosslorders")
    controller.controllers.order_queue.add("ns/probe")
    assert sample("workqueue_adds_total", name="zerosslorders") == before + 1
    assert sample("leader_election_master_status", name="wiring-probe") == 0
    resource = "certificaterequests.cert-manager.io"
    assert (
        REGISTRY.get_sample_value("zerossl_issuer_informer_cached_objects", {"resource": resource})
        is not None
    )
