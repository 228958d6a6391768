"""Email validation: the wait names the addresses, a resend annotation is honoured once, and a
verify that is not accepted yet explains itself in one Event per new explanation."""

from __future__ import annotations

from typing import Any

from controller.issuer.actions import (
    ActionFailed,
    AwaitIssuance,
    EmailResent,
    ResendEmail,
    Verified,
    Verify,
)
from controller.issuer.api import RESEND_EMAIL_ANNOTATION
from controller.zerossl.models import ValidationMethod
from tests.unit.issuer.factories import EMAIL_SOLVER, order_object, zerossl_certificate
from tests.unit.issuer.test_decide_order import (
    DOMAINS,
    cname_record,
    decide,
    email_record,
    ready_reason,
    status,
)
from tests.unit.issuer.test_order_outcomes import error, ready, record

ADDRESSES = "admin@www.example.com, admin@example.com"


def waiting_order(annotation: str | None = None, resent: str | None = None) -> dict[str, Any]:
    extra: dict[str, Any] = {"validations": [email_record(d) for d in DOMAINS]}
    if resent:
        extra["emailResend"] = resent
    obj = order_object(
        solvers=[EMAIL_SOLVER], status=status("pending_validation", "Validating", **extra)
    )
    if annotation:
        obj["metadata"]["annotations"] = {RESEND_EMAIL_ANNOTATION: annotation}
    return obj


def test_waiting_for_approval_names_the_addresses() -> None:
    decision = decide(waiting_order())
    assert ready_reason(decision) == "WaitingForIssuance"
    (ready_condition,) = [c for c in decision.status["conditions"] if c["type"] == "Ready"]
    assert f"waiting for the approval email to {ADDRESSES}" in ready_condition["message"]
    (event,) = decision.events
    assert ADDRESSES in event.note


def test_verified_email_order_says_whom_it_waits_for() -> None:
    obj = waiting_order()
    obj["status"]["zerosslStatus"] = "draft"
    decision = record(obj, Verified(zerossl_certificate(status="pending_validation")))
    assert ADDRESSES in ready(decision)["message"]


def test_a_new_resend_annotation_resends_once() -> None:
    decision = decide(waiting_order(annotation="2026-11-23T10:00"))
    assert decision.actions == (ResendEmail("c1", "2026-11-23T10:00"), AwaitIssuance("c1"))
    resent = record(waiting_order(annotation="2026-11-23T10:00"), EmailResent("2026-11-23T10:00"))
    assert resent.status["emailResend"] == "2026-11-23T10:00"
    (event,) = resent.events
    assert event.reason == "EmailResent"
    assert ADDRESSES in event.note
    # Honoured already: no second resend for the same value.
    again = decide(waiting_order(annotation="2026-11-23T10:00", resent="2026-11-23T10:00"))
    assert again.actions == (AwaitIssuance("c1"),)


def test_a_failed_resend_is_reported_and_not_repeated() -> None:
    obj = waiting_order(annotation="again")
    failure = ActionFailed(ResendEmail("c1", "again"), error(2837, "failed_resending_email"))
    decision = record(obj, failure)
    assert decision.status["emailResend"] == "again"
    assert [e.reason for e in decision.events] == ["EmailResendFailed"]
    assert ready(decision)["reason"] == "Validating"  # the order itself carries on


def test_resend_annotation_is_ignored_for_other_methods() -> None:
    obj = order_object(status=status("pending_validation", "Validating"))
    obj["metadata"]["annotations"] = {RESEND_EMAIL_ANNOTATION: "x"}
    assert decide(obj).actions == (AwaitIssuance("c1"),)


def test_each_new_verify_explanation_is_one_warning_event() -> None:
    records = [cname_record(d, "Ready", True) for d in DOMAINS]
    obj = order_object(status=status(validations=records))
    caa = error(
        2840,
        "invalid_caa_records_detected",
        details={"www.example.com": "CAA", "example.com": "CAA"},
    )
    verify = Verify("c1", ValidationMethod.CNAME_CSR_HASH)
    first = record(obj, ActionFailed(verify, caa))
    (event,) = [e for e in first.events if e.reason == "ValidationNotYetAccepted"]
    assert event.type.value == "Warning"
    assert "sectigo.com" in event.note
    # The same explanation on the next attempt: no new Event.
    second = record({**obj, "status": first.status}, ActionFailed(verify, caa))
    assert second.events == ()
