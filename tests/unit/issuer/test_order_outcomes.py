"""record_outcome: every outcome, and every error class on every kind of action."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from controller.clock import rfc3339
from controller.issuer.actions import (
    ActionFailed,
    AdoptOrCreate,
    CancelAtZeroSSL,
    CancelledAtZeroSSL,
    CertificateObtained,
    CleanedUp,
    Cleanup,
    Download,
    Downloaded,
    FlagIssuer,
    NoDraftFound,
    Present,
    Presented,
    Propagated,
    Verified,
    Verify,
)
from controller.issuer.api import IssuerKind, IssuerRef
from controller.issuer.conditions import IssuerReason
from controller.issuer.errors import IssuerError, PendingError, PermanentError
from controller.issuer.order_outcomes import record_outcome
from controller.issuer.order_steps import OrderPolicy
from controller.issuer.orders import Order
from controller.issuer.spec import Method
from controller.zerossl.errors import ErrorKind, ZeroSSLError, classify
from controller.zerossl.models import ValidationMethod
from tests.unit.issuer.admission import admission_errors
from tests.unit.issuer.factories import (
    CSR,
    DNS_SOLVER,
    EMAIL_SOLVER,
    MD5,
    NOW,
    T0,
    make_chain,
    order_object,
    order_ready,
    zerossl_certificate,
)
from tests.unit.issuer.test_decide_order import DOMAINS, cname_record, http_record, status

POLICY = OrderPolicy()
VERIFY = Verify("c1", ValidationMethod.HTTP_CSR_HASH)
CREATE = AdoptOrCreate(DOMAINS, "pem", MD5, "S" * 64, 90, True, search_first=False)


def record(obj: dict[str, Any], outcome: Any) -> Any:
    decision = record_outcome(Order.from_object(obj), outcome, NOW, POLICY)
    if decision.status is not None:
        assert admission_errors("zerosslorders", {**obj, "status": decision.status}) == []
    return decision


def error(code: int, type_: str, **kwargs: Any) -> ZeroSSLError:
    return ZeroSSLError(classify(code, type_), endpoint="x", code=code, type_=type_, **kwargs)


def ready(decision: Any) -> dict[str, Any]:
    (condition,) = [c for c in decision.status["conditions"] if c["type"] == "Ready"]
    return dict(condition)


CREATING = {"conditions": [order_ready("Creating")], "createAttempt": {"time": T0, "count": 1}}


# --- certificates obtained ---------------------------------------------------------------------


def test_created_certificate_is_recorded_with_http_records() -> None:
    decision = record(
        order_object(status=CREATING), CertificateObtained(zerossl_certificate(), adopted=False)
    )
    status = decision.status
    assert (status["certificateID"], status["zerosslStatus"]) == ("c1", "draft")
    assert status["createdTime"] == rfc3339(NOW)
    first = status["validations"][0]
    assert first["http"]["path"] == f"/.well-known/pki-validation/{MD5}.txt"
    assert first["http"]["content"].endswith("\ncomodoca.com\nu1q2")
    assert (first["state"], first["method"]) == ("Pending", "HTTP_CSR_HASH")
    assert ready(decision)["reason"] == "Presenting"
    assert "created" in ready(decision)["message"]
    assert decision.events == ()  # routine steps: no Event (the request has the Normal ones)


def test_adopted_draft_says_so() -> None:
    decision = record(
        order_object(status=CREATING), CertificateObtained(zerossl_certificate(), adopted=True)
    )
    assert "adopted the lost draft" in ready(decision)["message"]


def test_dns_records_use_zerossl_cname_verbatim() -> None:
    decision = record(
        order_object(solvers=[DNS_SOLVER], status=CREATING),
        CertificateObtained(zerossl_certificate(), adopted=False),
    )
    cname = decision.status["validations"][0]["cname"]
    assert cname["name"] == f"_{MD5}.www.example.com"
    assert cname["target"].endswith(".u1q2.comodoca.com")


def test_email_records_are_ready_with_the_address() -> None:
    decision = record(
        order_object(solvers=[EMAIL_SOLVER], status=CREATING),
        CertificateObtained(zerossl_certificate(), adopted=False),
    )
    states = [(v["state"], v["email"]["address"]) for v in decision.status["validations"]]
    assert states == [("Ready", "admin@www.example.com"), ("Ready", "admin@example.com")]


def test_email_address_not_offered_fails_but_keeps_the_id() -> None:
    solvers = [{"email": {"localPart": "postmaster"}}]
    decision = record(
        order_object(solvers=solvers, status=CREATING),
        CertificateObtained(zerossl_certificate(), adopted=False),
    )
    assert decision.status["certificateID"] == "c1"
    assert ready(decision)["reason"] == "Failed"
    assert "postmaster@www.example.com" in ready(decision)["message"]


def test_zerossl_adding_a_www_variant_uses_its_twins_solver() -> None:
    certificate = zerossl_certificate(
        domains=("www.example.com", "example.com", "www.www.example.com")
    )
    decision = record(
        order_object(status=CREATING), CertificateObtained(certificate, adopted=False)
    )
    assert [v["domain"] for v in decision.status["validations"]][-1] == "www.www.example.com"


def test_zerossl_adding_an_unknown_name_fails() -> None:
    certificate = zerossl_certificate(
        domains=("www.example.com", "example.com", "shop.example.org")
    )
    decision = record(
        order_object(status=CREATING), CertificateObtained(certificate, adopted=False)
    )
    assert ready(decision)["reason"] == "Failed"
    assert decision.status["certificateID"] == "c1"


def test_no_draft_found_clears_the_marker() -> None:
    decision = record(order_object(deleting=True, status=CREATING), NoDraftFound())
    assert "createAttempt" not in decision.status
    assert decision.status["cancelled"] is True  # nothing at ZeroSSL to cancel: search no more


# --- presenting, propagation, verification, download, cancel, cleanup -------------------------


def test_presented_http_is_ready_and_dns_waits_for_propagation() -> None:
    http = record(order_object(status=status()), Presented("www.example.com"))
    first = http.status["validations"][0]
    assert (first["state"], first["presented"], first["presentedTime"]) == (
        "Ready",
        True,
        rfc3339(NOW),
    )
    dns = order_object(
        solvers=[DNS_SOLVER],
        status=status(validations=[cname_record(d, "Pending") for d in DOMAINS]),
    )
    assert record(dns, Presented("example.com")).status["validations"][1]["state"] == "Presented"


def _propagating(presented_time: str) -> dict[str, Any]:
    records = [
        cname_record(d, "Presented", presented=True, presented_time=presented_time) for d in DOMAINS
    ]
    return order_object(solvers=[DNS_SOLVER], status=status(validations=records))


def test_visible_record_becomes_ready() -> None:
    decision = record(_propagating(T0), Propagated("example.com", visible=True))
    assert decision.status["validations"][1]["state"] == "Ready"


def test_invisible_record_is_checked_again_without_a_write() -> None:
    just_now = rfc3339(NOW - timedelta(seconds=10))
    decision = record(
        _propagating(just_now), Propagated("example.com", visible=False, detail="NXDOMAIN")
    )
    assert decision.status is None
    assert decision.requeue_after == POLICY.propagation_interval


def test_propagation_timeout_asks_zerossl_anyway() -> None:
    long_ago = rfc3339(NOW - timedelta(seconds=POLICY.propagation_timeout + 1))
    decision = record(
        _propagating(long_ago), Propagated("example.com", visible=False, detail="NXDOMAIN")
    )
    validation = decision.status["validations"][1]
    assert validation["state"] == "Ready"
    assert "NXDOMAIN" in validation["lastError"]


def test_per_solver_propagation_timeout() -> None:
    solvers = [{"dns": {"externalDNS": {}, "propagation": {"timeoutSeconds": 5}}}]
    records = [
        cname_record(
            d, "Presented", presented=True, presented_time=rfc3339(NOW - timedelta(seconds=6))
        )
        for d in DOMAINS
    ]
    obj = order_object(solvers=solvers, status=status(validations=records))
    assert (
        record(obj, Propagated("example.com", visible=False)).status["validations"][1]["state"]
        == "Ready"
    )


def test_verified_waits_for_issuance() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    obj = order_object(status=status(validations=records, verify={"attempts": 2, "nextTime": T0}))
    decision = record(obj, Verified(zerossl_certificate(status="pending_validation")))
    assert decision.status["zerosslStatus"] == "pending_validation"
    assert {v["state"] for v in decision.status["validations"]} == {"Valid"}
    assert "verify" not in decision.status
    assert ready(decision)["reason"] == "WaitingForIssuance"


def test_downloaded_is_issued() -> None:
    chain = make_chain(CSR)
    obj = order_object(status=status("issued", "WaitingForIssuance"))
    decision = record(obj, Downloaded(chain))
    assert decision.status["certificate"] == chain
    assert decision.status["issuedTime"] == rfc3339(NOW)
    assert (ready(decision)["reason"], ready(decision)["status"]) == ("Issued", "True")
    assert decision.events == ()  # the CertificateRequest's Issued Event says it


def test_cancelled_at_zerossl() -> None:
    decision = record(order_object(status=status(reason="Failed")), CancelledAtZeroSSL())
    assert (decision.status["cancelled"], decision.status["zerosslStatus"]) == (True, "cancelled")


def test_cleaned_up() -> None:
    records = [http_record(d, "Valid", True) for d in DOMAINS]
    decision = record(
        order_object(status=status("issued", "Issued", validations=records)),
        CleanedUp("example.com"),
    )
    assert [v["presented"] for v in decision.status["validations"]] == [True, False]


# --- failures: only permanent errors fail -------------------------------------------------------

DCV_DETAILS = {
    "www.example.com": {
        f"http://www.example.com/.well-known/pki-validation/{MD5}.txt": {
            "file_found": 0,
            "error": True,
            "error_slug": "bad_response_code",
        }
    }
}


def test_verify_not_yet_backs_off_and_names_the_domain() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    obj = order_object(status=status(validations=records))
    failure = error(0, "domain_control_validation_failed", details=DCV_DETAILS)
    first = record(obj, ActionFailed(VERIFY, failure))
    assert first.status["verify"] == {
        "attempts": 1,
        "nextTime": rfc3339(NOW + timedelta(seconds=15)),
    }
    assert first.requeue_after == 15
    assert "bad_response_code" in first.status["validations"][0]["lastError"]
    assert "lastError" not in first.status["validations"][1]
    assert ready(first)["reason"] == "Validating"
    again = record({**obj, "status": first.status}, ActionFailed(VERIFY, failure))
    assert again.status["verify"]["attempts"] == 2
    assert again.requeue_after == 30


def test_verify_backoff_is_capped() -> None:
    obj = order_object(status=status(verify={"attempts": 20, "nextTime": T0}))
    decision = record(obj, ActionFailed(VERIFY, error(2831, "certificate_not_ready_to_validate")))
    assert decision.requeue_after == POLICY.verify_backoff_cap


def test_throttled_honours_retry_after() -> None:
    throttled = ZeroSSLError(
        ErrorKind.THROTTLED, endpoint="verify", http_status=429, retry_after=120.0
    )
    decision = record(order_object(status=status()), ActionFailed(VERIFY, throttled))
    assert decision.requeue_after == 120


def test_huge_retry_after_is_capped() -> None:
    throttled = ZeroSSLError(ErrorKind.THROTTLED, endpoint="create", retry_after=86400.0)
    decision = record(order_object(status=CREATING), ActionFailed(CREATE, throttled))
    assert decision.requeue_after == POLICY.throttle_cap


@pytest.mark.parametrize(
    ("action", "failure"),
    [
        pytest.param(CREATE, error(111, "internal_server_error"), id="create-5xx"),
        pytest.param(
            Download("c1"), error(2860, "certificate_not_downloadable"), id="download-not-yet"
        ),
        pytest.param(
            CancelAtZeroSSL("c1", "x"), error(2834, "failed_cancelling_certificate"), id="cancel"
        ),
        pytest.param(CREATE, PendingError("connection reset"), id="transport"),
    ],
)
def test_transient_failures_back_off_and_never_fail(action: Any, failure: Any) -> None:
    obj = order_object(status=status(reason="Creating"))
    first = record(obj, ActionFailed(action, failure))
    assert first.status["retry"]["attempts"] == 1
    assert first.requeue_after == POLICY.retry_backoff
    assert ready(first)["reason"] == "Creating"
    second = record({**obj, "status": first.status}, ActionFailed(action, failure))
    assert second.requeue_after == 2 * POLICY.retry_backoff
    assert ready(second)["reason"] == "Creating"


@pytest.mark.parametrize(
    ("action", "failure", "fragment"),
    [
        pytest.param(
            CREATE, error(2818, "invalid_certificate_csr"), "rejected the CSR", id="create-csr"
        ),
        pytest.param(
            CREATE, error(2877, "certificate_unsupported_top_level_domain"), "TLD", id="tld"
        ),
        pytest.param(VERIFY, error(2827, "invalid_validation_method"), "2827", id="verify-method"),
        pytest.param(
            Download("c1"), error(2803, "certificate_not_found"), "2803", id="download-gone"
        ),
        pytest.param(
            Present("www.example.com", Method.HTTP, 0, {}),
            PermanentError("ZoneNotFound", "no zone"),
            "no zone",
            id="solver",
        ),
    ],
)
def test_permanent_errors_fail_the_order(action: Any, failure: Any, fragment: str) -> None:
    obj = order_object(status=status(reason="Validating", retry={"attempts": 2, "notBefore": T0}))
    decision = record(obj, ActionFailed(action, failure))
    assert ready(decision)["reason"] == "Failed"
    assert fragment in ready(decision)["message"]
    assert "retry" not in decision.status
    assert [e.type for e in decision.events] == ["Warning"]


@pytest.mark.parametrize(
    ("failure", "reason"),
    [
        pytest.param(
            error(2817, "certificate_limit_reached"), IssuerReason.QUOTA_EXHAUSTED, id="quota"
        ),
        pytest.param(error(101, "invalid_access_key"), IssuerReason.INVALID_API_KEY, id="bad-key"),
        pytest.param(error(102, "inactive_user"), IssuerReason.INACTIVE_ACCOUNT, id="inactive"),
    ],
)
def test_account_errors_flag_the_issuer_and_wait(
    failure: ZeroSSLError, reason: IssuerReason
) -> None:
    decision = record(order_object(status=CREATING), ActionFailed(CREATE, failure))
    (flag,) = decision.actions
    assert flag == FlagIssuer(
        IssuerRef(IssuerKind.CLUSTER_ISSUER, "zerossl", None), reason, flag.message
    )
    assert ready(decision)["reason"] == "WaitingForIssuer"
    assert decision.status["retry"]["attempts"] == 1


def test_solver_credential_errors_retry_without_flagging_the_issuer() -> None:
    present = Present("www.example.com", Method.DNS, 0, {})
    failure = IssuerError(IssuerReason.ACCOUNT_RESTRICTED, "route53: access denied")
    decision = record(order_object(status=status()), ActionFailed(present, failure))
    assert decision.actions == ()
    assert decision.status["retry"]["lastError"] == "route53: access denied"
    assert decision.status["validations"][0]["lastError"] == "route53: access denied"


def test_cannot_be_cancelled_counts_as_cancelled() -> None:
    failure = error(2833, "certificate_cannot_be_cancelled")
    decision = record(
        order_object(status=status(reason="Failed")),
        ActionFailed(CancelAtZeroSSL("c1", "x"), failure),
    )
    assert decision.status["cancelled"] is True


def test_permanent_cleanup_failure_gives_the_record_up() -> None:
    records = [http_record(d, "Valid", True) for d in DOMAINS]
    obj = order_object(status=status("issued", "Issued", validations=records))
    cleanup = Cleanup("example.com", Method.HTTP, 0, {})
    decision = record(obj, ActionFailed(cleanup, PermanentError("Gone", "ingress class removed")))
    assert decision.status["validations"][1]["presented"] is False
    assert [e.reason for e in decision.events] == ["CleanupFailed"]


# --- conditions stay true while they stand: an absolute next time, never "in 5s" ---------------


def test_a_retry_says_what_failed_and_when_it_is_tried_next() -> None:
    present = Present("www.example.com", Method.DNS, 0, {})
    failure = PendingError("Secret iss/cf not found")
    decision = record(order_object(status=status()), ActionFailed(present, failure))
    next_time = rfc3339(NOW + timedelta(seconds=decision.requeue_after))
    assert ready(decision)["message"] == (
        f"publishing the validation of www.example.com failed (attempt 1, next at {next_time}): "
        "Secret iss/cf not found"
    )


def test_verify_not_yet_names_the_next_attempt_time() -> None:
    records = [http_record(d, "Ready", True) for d in DOMAINS]
    obj = order_object(status=status(validations=records))
    failure = error(0, "domain_control_validation_failed", details=DCV_DETAILS)
    message = ready(record(obj, ActionFailed(VERIFY, failure)))["message"]
    next_time = rfc3339(NOW + timedelta(seconds=15))
    assert message.startswith(f"ZeroSSL has not validated yet (attempt 1, next at {next_time}): ")
    assert " in 15s" not in message
