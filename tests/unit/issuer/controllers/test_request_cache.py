"""The CertificateRequest cache's transform: finished requests of ours are cached without their
CSR, chain and CA; unfinished ones whole; other issuers' requests as routing needs them; and a
request that leaves its finished state is cached whole again from the next event."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from controller.issuer.controllers.caches import Caches
from controller.issuer.decide_request import NOTHING, decide_certificate_request
from controller.issuer.issuers import Issuer
from controller.issuer.orders import Order
from controller.issuer.request import CertificateRequest
from controller.kube.client import KubeClient
from controller.kube.informer import trim_object
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.watchevents import WatchEvent
from tests.unit.issuer.factories import (
    APPROVED,
    CSR,
    DENIED,
    NOW,
    T0,
    b64,
    condition,
    issuer_object,
    make_chain,
    order_object,
    order_ready,
    request_object,
)

KEY = "default/www"
CHAIN = b64(make_chain(CSR))
CA = b64("-----BEGIN CERTIFICATE-----\nca\n-----END CERTIFICATE-----\n")
PENDING = condition("Ready", "False", "Pending", "ZeroSSLOrder www is getting a certificate")


def _caches() -> Caches:
    return Caches(KubeClient(ClusterConfig("http://127.0.0.1:9")), "zerossl-issuer-system")


def _request(conditions: list[dict[str, Any]], version: int = 1, **status: Any) -> dict[str, Any]:
    """A request as the API server sends it: managedFields, a CSR, and ``status``."""
    obj = request_object(conditions=conditions, status=status)
    obj["metadata"].update(
        resourceVersion=str(version),
        creationTimestamp=T0,
        annotations={"cert-manager.io/certificate-name": "www"},
        managedFields=[{"manager": "cert-manager", "operation": "Update"}],
    )
    obj["spec"]["usages"] = ["digital signature", "key encipherment"]
    return obj


def _without_csr_and_chain(obj: dict[str, Any]) -> dict[str, Any]:
    expected = trim_object(copy.deepcopy(obj))
    del expected["spec"]["request"]
    for field in ("certificate", "ca"):
        expected["status"].pop(field, None)
    return expected


def _cached(caches: Caches) -> dict[str, Any]:
    obj = caches.requests.store.get(KEY)
    assert obj is not None
    return obj


FINISHED = [
    pytest.param(
        _request([APPROVED, condition("Ready", "True", "Issued")], certificate=CHAIN, ca=CA),
        id="issued",
    ),
    pytest.param(
        _request([APPROVED, condition("Ready", "False", "Failed")], failureTime=T0),
        id="failed",
    ),
    pytest.param(
        _request([DENIED, condition("Ready", "False", "Denied")], failureTime=T0),
        id="denied",
    ),
    pytest.param(
        _request([APPROVED, condition("InvalidRequest", "True", "BadCSR"), PENDING]),
        id="invalid-request",
    ),
]

UNFINISHED = [
    pytest.param(_request([]), id="not-approved-yet"),
    pytest.param(_request([APPROVED]), id="approved"),
    pytest.param(_request([APPROVED, PENDING]), id="pending"),
    pytest.param(_request([APPROVED, condition("Ready", "Unknown", "Initializing")]), id="init"),
    pytest.param(_request([DENIED]), id="denied-not-yet-written-ready"),
    # failureTime alone is not terminal for the decider: it goes on and may read the CSR.
    pytest.param(_request([APPROVED, PENDING], failureTime=T0), id="failure-time-only"),
    pytest.param(_request([APPROVED, condition("InvalidRequest", "False", "Valid")]), id="valid"),
]


@pytest.mark.parametrize("obj", FINISHED)
def test_a_finished_request_is_cached_without_its_csr_chain_and_ca(obj: dict[str, Any]) -> None:
    caches = _caches()
    caches.requests.apply(WatchEvent("MODIFIED", copy.deepcopy(obj)))
    assert _cached(caches) == _without_csr_and_chain(obj)


@pytest.mark.parametrize("obj", UNFINISHED)
def test_an_unfinished_request_is_cached_whole(obj: dict[str, Any]) -> None:
    caches = _caches()
    caches.requests.apply(WatchEvent("ADDED", copy.deepcopy(obj)))
    assert _cached(caches) == trim_object(copy.deepcopy(obj))
    assert _cached(caches)["spec"]["request"] == b64(CSR)


def test_another_issuers_request_keeps_only_its_issuer_ref() -> None:
    caches = _caches()
    obj = request_object(
        group="cert-manager.io",
        kind="Issuer",
        conditions=[APPROVED, condition("Ready", "True", "Issued")],
        status={"certificate": CHAIN},
    )
    caches.requests.apply(WatchEvent("ADDED", copy.deepcopy(obj)))
    assert _cached(caches) == {
        "apiVersion": obj["apiVersion"],
        "kind": obj["kind"],
        "metadata": obj["metadata"],
        "spec": {"issuerRef": obj["spec"]["issuerRef"]},
    }


def test_malformed_conditions_are_not_finished_and_do_not_break_the_cache() -> None:
    caches = _caches()
    obj = _request([APPROVED])
    obj["status"]["conditions"] = ["Ready", 7, condition("Ready", "True", "Issued")]
    caches.requests.apply(WatchEvent("ADDED", copy.deepcopy(obj)))
    assert "request" not in _cached(caches)["spec"]  # the one well-formed condition counts
    obj["status"]["conditions"] = "Ready=True"
    caches.requests.apply(WatchEvent("MODIFIED", copy.deepcopy(obj)))
    assert _cached(caches)["spec"]["request"] == b64(CSR)


async def test_a_request_whose_status_is_reset_is_cached_whole_again() -> None:
    """The transform sees every event's whole object: nothing it dropped while the request was
    finished is missing once the request is unfinished again (watch event, then a relist)."""
    caches = _caches()
    issued = _request([APPROVED, condition("Ready", "True", "Issued")], certificate=CHAIN)
    await caches.requests.upsert([copy.deepcopy(issued)])
    assert "request" not in _cached(caches)["spec"]

    reset = _request([APPROVED], version=2)
    caches.requests.apply(WatchEvent("MODIFIED", copy.deepcopy(reset)))
    assert _cached(caches) == trim_object(copy.deepcopy(reset))

    issued_again = _request([APPROVED, condition("Ready", "True", "Issued")], 4, certificate=CHAIN)
    await caches.requests.upsert([copy.deepcopy(issued_again)])
    assert _cached(caches) == _without_csr_and_chain(issued_again)
    await caches.requests.upsert([_request([APPROVED], version=5)])
    assert _cached(caches)["spec"]["request"] == b64(CSR)


ISSUED_ORDER = order_object(
    status={
        "conditions": [order_ready("Issued", status="True")],
        "certificateID": "c1",
        "certificate": make_chain(CSR),
    }
)
FAILED_ORDER = order_object(status={"conditions": [order_ready("Failed")]})
WORKING_ORDER = order_object(status={"conditions": [order_ready("Validating")]})
STALE_ORDER = order_object(request_uid="uid-earlier")


@pytest.mark.parametrize("obj", FINISHED)
@pytest.mark.parametrize(
    "issuer",
    [None, issuer_object(), issuer_object(ready="False")],
    ids=["no-issuer", "ready", "not-ready"],
)
@pytest.mark.parametrize(
    "order",
    [None, ISSUED_ORDER, FAILED_ORDER, WORKING_ORDER, STALE_ORDER],
    ids=["no-order", "issued", "failed", "working", "stale"],
)
def test_what_is_dropped_is_never_read_a_finished_request_decides_nothing(
    obj: dict[str, Any], issuer: dict[str, Any] | None, order: dict[str, Any] | None
) -> None:
    """The reconciler decides a finished request from its cached (trimmed) form: nothing,
    whatever its issuer and order, as from the whole object; so it writes nothing."""
    caches = _caches()
    caches.requests.apply(WatchEvent("MODIFIED", copy.deepcopy(obj)))
    for form in (_cached(caches), obj):
        decision = decide_certificate_request(
            CertificateRequest.from_object(form),
            Issuer.from_object(issuer) if issuer else None,
            Order.from_object(order) if order else None,
            NOW,
        )
        assert decision == NOTHING
