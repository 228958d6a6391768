"""decide_order: every ZeroSSL state, issuer gates, the finalizer paths, and backoff windows."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.clock import rfc3339
from controller.issuer.actions import (
    AddFinalizer,
    AdoptOrCreate,
    AwaitIssuance,
    CancelAtZeroSSL,
    Cleanup,
    DeleteOrder,
    Download,
    Present,
    RemoveFinalizer,
    Verify,
    WaitPropagation,
    needs_write_ahead,
)
from controller.issuer.decide_order import OrderFacts, decide_order
from controller.issuer.issuers import Issuer
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.orders import Order
from controller.zerossl.models import ValidationMethod
from tests.unit.issuer.admission import admission_errors
from tests.unit.issuer.factories import (
    DNS_SOLVER,
    EMAIL_SOLVER,
    MD5,
    NOW,
    T0,
    issuer_object,
    order_object,
    order_ready,
    zerossl_certificate,
)

POLICY = OrderPolicy()
READY = Issuer.from_object(issuer_object())
QUOTA = Issuer.from_object(issuer_object(ready="False", reason="QuotaExhausted"))
BROKEN = Issuer.from_object(issuer_object(ready="False", reason="InvalidAPIKey"))
SOON = rfc3339(NOW + timedelta(seconds=40))
PAST = rfc3339(NOW - timedelta(seconds=1))
DOMAINS = ("www.example.com", "example.com")


def http_record(domain: str, state: str, presented: bool = False) -> dict[str, Any]:
    return {
        "domain": domain,
        "method": "HTTP_CSR_HASH",
        "solverIndex": 0,
        "state": state,
        "presented": presented,
        "http": {
            "url": f"http://{domain}/.well-known/pki-validation/{MD5}.txt",
            "path": f"/.well-known/pki-validation/{MD5}.txt",
            "content": "x\ncomodoca.com\nu",
        },
    }


def cname_record(
    domain: str, state: str, presented: bool = False, presented_time: str = T0
) -> dict[str, Any]:
    record = {
        "domain": domain,
        "method": "CNAME_CSR_HASH",
        "solverIndex": 0,
        "state": state,
        "presented": presented,
        "cname": {"name": f"_{MD5}.{domain}", "target": "a.b.u.comodoca.com"},
    }
    if presented:
        record["presentedTime"] = presented_time
    return record


def email_record(domain: str) -> dict[str, Any]:
    return {
        "domain": domain,
        "method": "EMAIL",
        "solverIndex": 0,
        "state": "Ready",
        "presented": False,
        "email": {"address": f"admin@{domain}"},
    }


def status(
    zerossl: str | None = "draft", reason: str = "Presenting", **extra: Any
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "conditions": [order_ready(reason)],
        "createAttempt": {"time": T0, "count": 1},
    }
    if zerossl:
        out.update(certificateID="c1", zerosslStatus=zerossl)
    out["validations"] = [http_record(d, "Pending") for d in DOMAINS]
    out.update(extra)
    return out


def decide(obj: dict[str, Any], issuer: Issuer | None = READY, **facts: Any) -> Any:
    decision = decide_order(Order.from_object(obj), OrderFacts(issuer=issuer, **facts), NOW, POLICY)
    if decision.status is not None:
        full = {**obj, "status": decision.status}
        assert admission_errors("zerosslorders", full) == []
    return decision


def kinds(decision: Any) -> list[type]:
    return [type(a) for a in decision.actions]


def ready_reason(decision: Any) -> str:
    (ready,) = [c for c in decision.status["conditions"] if c["type"] == "Ready"]
    return str(ready["reason"])


# --- creating: a plain create only for a fresh order ---------------------------------------------


def test_fresh_order_creates_without_search() -> None:
    decision = decide(order_object(), fresh=True)
    assert decision.status["createAttempt"] == {"time": rfc3339(NOW), "count": 1}
    assert ready_reason(decision) == "Creating"
    (action,) = decision.actions
    assert isinstance(action, AdoptOrCreate)
    assert (action.search_first, action.allow_create) == (False, True)
    assert action.domains == DOMAINS
    assert action.csr_md5 == MD5
    assert action.csr_pem.startswith("-----BEGIN CERTIFICATE REQUEST-----")
    assert not needs_write_ahead(action)  # no certificate of a fresh order can exist


def test_an_order_this_leader_did_not_create_searches_before_creating() -> None:
    # After a restart or a failover nothing is fresh: a create may have reached ZeroSSL
    # before the previous leader could record anything.
    (action,) = decide(order_object()).actions
    assert isinstance(action, AdoptOrCreate)
    assert (action.search_first, action.allow_create) == (True, True)


def test_an_earlier_attempt_searches_before_creating_again() -> None:
    obj = order_object(
        status={"createAttempt": {"time": T0, "count": 1}, "conditions": [order_ready("Creating")]}
    )
    decision = decide(obj, fresh=True)
    (action,) = decision.actions
    assert isinstance(action, AdoptOrCreate)
    assert action.search_first
    assert decision.status["createAttempt"]["count"] == 2


@pytest.mark.parametrize(
    ("issuer", "fragment"),
    [
        pytest.param(None, "does not exist", id="issuer-missing"),
        pytest.param(BROKEN, "InvalidAPIKey", id="issuer-not-ready"),
        pytest.param(QUOTA, "QuotaExhausted", id="quota-blocks-create"),
        pytest.param(
            Issuer.from_object(issuer_object(generation=2, observed_generation=1)),
            "Checked",
            id="issuer-outdated",
        ),
    ],
)
def test_no_create_without_a_ready_issuer(issuer: Issuer | None, fragment: str) -> None:
    decision = decide(order_object(), issuer)
    assert decision.actions == ()
    assert ready_reason(decision) == "WaitingForIssuer"
    assert fragment in decision.status["conditions"][0]["message"]
    assert decision.requeue_after == POLICY.issuer_wait
    assert "createAttempt" not in decision.status


def test_quota_does_not_stop_an_order_already_created() -> None:
    decision = decide(order_object(status=status()), QUOTA)
    assert kinds(decision) == [Present, Present]


@pytest.mark.parametrize("issuer", [None, BROKEN], ids=["missing", "invalid-key"])
def test_created_order_waits_for_an_unusable_issuer(issuer: Issuer | None) -> None:
    decision = decide(order_object(status=status()), issuer)
    assert decision.actions == ()
    assert ready_reason(decision) == "WaitingForIssuer"


def test_finalizer_is_added_before_any_zerossl_call() -> None:
    decision = decide(order_object(finalizers=[]))
    assert kinds(decision) == [AddFinalizer]
    assert decision.status is None


def test_request_gone_deletes_the_order() -> None:
    decision = decide(order_object(status=status()), request_gone=True)
    assert kinds(decision) == [DeleteOrder]


def test_retry_window_waits() -> None:
    obj = order_object(status=status(retry={"attempts": 2, "notBefore": SOON, "lastError": "x"}))
    decision = decide(obj)
    assert decision.empty
    assert decision.requeue_after == 40


def test_expired_retry_window_goes_on() -> None:
    obj = order_object(status=status(retry={"attempts": 2, "notBefore": PAST}))
    assert kinds(decide(obj)) == [Present, Present]


# --- every ZeroSSL status ----------------------------------------------------------------------


def test_draft_presents_every_pending_record() -> None:
    decision = decide(order_object(status=status()))
    presents = decision.actions
    assert [p.domain for p in presents] == list(DOMAINS)
    assert all(isinstance(p, Present) and p.http is not None for p in presents)
    assert presents[0].config == {"ingress": {"ingressClassName": "nginx"}}


def test_draft_waits_while_an_order_of_the_same_csr_validates_over_http() -> None:
    decision = decide(order_object(status=status()), http_turn="shop/twin")
    assert decision.actions == ()
    assert ready_reason(decision) == "WaitingForSameCSR"
    (ready,) = decision.status["conditions"]
    assert "ZeroSSLOrder shop/twin, which has the same CSR" in ready["message"]
    assert decision.requeue_after == POLICY.turn_recheck


def test_draft_waits_for_dns_propagation() -> None:
    obj = order_object(
        solvers=[DNS_SOLVER],
        status=status(validations=[cname_record(d, "Presented", presented=True) for d in DOMAINS]),
    )
    decision = decide(obj)
    assert kinds(decision) == [WaitPropagation, WaitPropagation]
    assert decision.actions[0].cname.name == f"_{MD5}.www.example.com"


def test_draft_verifies_when_every_record_is_ready() -> None:
    obj = order_object(status=status(validations=[http_record(d, "Ready", True) for d in DOMAINS]))
    decision = decide(obj)
    (verify,) = decision.actions
    assert verify == Verify("c1", ValidationMethod.HTTP_CSR_HASH, ())
    assert ready_reason(decision) == "Validating"


def test_email_verify_sends_one_address_per_domain() -> None:
    obj = order_object(
        solvers=[EMAIL_SOLVER], status=status(validations=[email_record(d) for d in DOMAINS])
    )
    (verify,) = decide(obj).actions
    assert verify.method is ValidationMethod.EMAIL
    assert verify.emails == ("admin@www.example.com", "admin@example.com")


def test_verify_backoff_window_waits() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    obj = order_object(status=status(validations=records, verify={"attempts": 3, "nextTime": SOON}))
    decision = decide(obj)
    assert decision.empty
    assert decision.requeue_after == 40


def test_pending_validation_goes_to_the_batch_poller() -> None:
    decision = decide(order_object(status=status("pending_validation", "Validating")))
    assert decision.actions == (AwaitIssuance("c1"),)
    assert ready_reason(decision) == "WaitingForIssuance"
    assert decision.status["validatedTime"] == rfc3339(NOW)
    assert decision.requeue_after == POLICY.await_recheck


def test_issued_is_downloaded() -> None:
    remote = zerossl_certificate(cert_id="c1", status="issued")
    decision = decide(
        order_object(status=status("pending_validation", "WaitingForIssuance")), remote=remote
    )
    assert decision.actions == (Download("c1"),)
    assert decision.status["zerosslStatus"] == "issued"


@pytest.mark.parametrize("final", ["cancelled", "revoked", "expired", "deleted"])
def test_out_of_band_final_state_cancels_the_order(final: str) -> None:
    remote = zerossl_certificate(cert_id="c1", status=final)
    decision = decide(
        order_object(status=status("pending_validation", "WaitingForIssuance")), remote=remote
    )
    assert decision.actions == ()
    assert ready_reason(decision) == "Cancelled"
    assert decision.status["zerosslStatus"] == final
    (event,) = decision.events
    assert (event.type, event.reason) == ("Warning", "Cancelled")
    assert "outside this controller" in event.note


def test_stale_poll_never_moves_the_status_back() -> None:
    remote = zerossl_certificate(cert_id="c1", status="draft")
    decision = decide(
        order_object(status=status("pending_validation", "WaitingForIssuance")), remote=remote
    )
    assert decision.actions == (AwaitIssuance("c1"),)


def test_view_of_another_certificate_is_ignored() -> None:
    remote = zerossl_certificate(cert_id="other", status="cancelled")
    decision = decide(order_object(status=status()), remote=remote)
    assert kinds(decision) == [Present, Present]


def test_unknown_zerossl_status_waits() -> None:
    decision = decide(order_object(status=status("on_hold_for_review")))
    assert decision.actions == ()
    assert decision.requeue_after == POLICY.issuer_wait
    assert "on_hold_for_review" in decision.status["conditions"][0]["message"]


def test_long_delays_stay_pending() -> None:
    old = rfc3339(NOW - timedelta(days=3))
    obj = order_object(status=status("pending_validation", "WaitingForIssuance", validatedTime=old))
    obj["status"]["conditions"][0]["message"] = "validation accepted; ZeroSSL is issuing c1"
    decision = decide(obj)
    assert decision.actions == (AwaitIssuance("c1"),)
    assert decision.status is None  # nothing changed: no write, no Event


# --- finished orders ---------------------------------------------------------------------------


def test_issued_order_cleans_up_what_was_presented() -> None:
    records = [
        http_record("www.example.com", "Valid", True),
        http_record("example.com", "Valid", False),
    ]
    obj = order_object(status=status("issued", "Issued", validations=records, certificate="PEM"))
    decision = decide(obj)
    (cleanup,) = decision.actions
    assert isinstance(cleanup, Cleanup)
    assert cleanup.domain == "www.example.com"


def test_settled_order_does_nothing() -> None:
    records = [http_record(d, "Valid", False) for d in DOMAINS]
    obj = order_object(status=status("issued", "Issued", validations=records, certificate="PEM"))
    assert decide(obj).empty


def test_failed_order_cancels_its_unfinished_certificate_first() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    obj = order_object(status=status("draft", "Failed", validations=records))
    (cancel,) = decide(obj).actions
    assert cancel == CancelAtZeroSSL("c1", "the order failed")
    cancelled = order_object(
        status=status("cancelled", "Failed", validations=records, cancelled=True)
    )
    assert kinds(decide(cancelled)) == [Cleanup, Cleanup]


def test_failed_order_gives_up_cancelling_after_the_attempts() -> None:
    retry = {"attempts": POLICY.cancel_attempts, "notBefore": PAST}
    obj = order_object(status=status("draft", "Failed", retry=retry))
    decision = decide(obj)
    assert decision.actions == ()
    assert decision.status["cancelled"] is True
    assert [e.reason for e in decision.events] == ["CancelSkipped"]


def test_unreadable_spec_fails() -> None:
    obj = order_object()
    obj["spec"]["request"] = "%%%"
    decision = decide_order(Order.from_object(obj), OrderFacts(READY), NOW)
    assert ready_reason(decision) == "Failed"
    assert "base64" in decision.status["conditions"][0]["message"]


def test_trace_context_is_copied_from_the_annotation() -> None:
    obj = order_object()
    parent = "00-" + "a" * 32 + "-" + "b" * 16 + "-01"
    obj["metadata"]["annotations"] = {"zerossl.issuer.dev/traceparent": parent}
    assert decide(obj).status["traceContext"] == {"traceparent": parent}


# --- deletion: cancel, clean up, let go ---------------------------------------------------------


def deleting(**kwargs: Any) -> dict[str, Any]:
    return order_object(deleting=True, **kwargs)


def test_deleting_cancels_an_unfinished_certificate() -> None:
    (action,) = decide(deleting(status=status())).actions
    assert action == CancelAtZeroSSL("c1", "the order is being deleted")


def test_deleting_after_a_lost_create_searches_without_creating() -> None:
    obj = deleting(
        status={"createAttempt": {"time": T0, "count": 1}, "conditions": [order_ready("Creating")]}
    )
    (action,) = decide(obj, fresh=True).actions
    assert isinstance(action, AdoptOrCreate)
    assert (action.search_first, action.allow_create) == (True, False)


def test_deleting_an_order_without_id_this_leader_did_not_create_searches() -> None:
    (action,) = decide(deleting(status={})).actions
    assert isinstance(action, AdoptOrCreate)
    assert (action.search_first, action.allow_create) == (True, False)


def test_deleting_a_fresh_order_or_one_searched_already_searches_nothing() -> None:
    assert kinds(decide(deleting(status={}), fresh=True)) == [RemoveFinalizer]
    assert kinds(decide(deleting(status={"cancelled": True}))) == [RemoveFinalizer]


def test_deleting_cleans_up_then_removes_the_finalizer() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    presented = deleting(
        status=status("cancelled", "Validating", validations=records, cancelled=True)
    )
    assert kinds(decide(presented)) == [Cleanup, Cleanup]
    clean = deleting(status=status("cancelled", "Validating", cancelled=True))
    assert kinds(decide(clean)) == [RemoveFinalizer]


def test_deleting_an_issued_order_cancels_nothing() -> None:
    obj = deleting(status=status("issued", "Issued", certificate="PEM"))
    assert kinds(decide(obj)) == [RemoveFinalizer]


def test_deleting_without_an_issuer_skips_the_cancel_and_goes_on() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    decision = decide(deleting(status=status(validations=records)), issuer=None)
    assert kinds(decision) == [Cleanup, Cleanup]
    assert decision.status["cancelled"] is True
    assert [e.reason for e in decision.events] == ["CancelSkipped"]


def test_deleting_without_an_issuer_cancels_with_the_known_account() -> None:
    # Its namespace is being deleted: issuer and Secret are gone, the account's client is known.
    decision = decide(deleting(status=status()), issuer=None, account_known=True)
    assert decision.actions == (CancelAtZeroSSL("c1", "the order is being deleted"),)
    assert decision.events == ()


def test_deleting_waits_out_a_cancel_backoff() -> None:
    decision = decide(deleting(status=status(retry={"attempts": 1, "notBefore": SOON})))
    assert decision.actions == ()
    assert decision.requeue_after == 40


def test_deleted_without_finalizer_is_left_alone() -> None:
    assert decide(deleting(status=status(), finalizers=[])).empty


def test_cleanup_backoff_is_respected_after_issuance() -> None:
    records = [http_record(d, "Valid", True) for d in DOMAINS]
    retry = {"attempts": 1, "notBefore": SOON, "lastError": "ingress API down"}
    obj = order_object(status=status("issued", "Issued", validations=records, retry=retry))
    decision = decide(obj)
    assert decision.actions == ()
    assert decision.requeue_after == 40
