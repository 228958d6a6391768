"""decide_certificate_request: issuer-lib's case list, the bad inputs, and the reporter rule."""

from __future__ import annotations

import base64
import itertools
from dataclasses import dataclass
from typing import Any

import pytest

from controller.issuer.actions import EnsureOrder
from controller.issuer.decide_request import (
    decide_certificate_request,
    nothing_to_decide,
    order_not_created,
    order_refused,
    order_view,
)
from controller.issuer.issuers import Issuer
from controller.issuer.orders import MAX_DOMAINS, MAX_REQUEST_LENGTH, Order
from controller.issuer.request import CertificateRequest
from tests.unit.issuer.admission import (
    admission_errors,
    certificate_request_status_errors,
    schema_of,
)
from tests.unit.issuer.factories import (
    APPROVED,
    CSR,
    DENIED,
    DNS_SOLVER,
    EMAIL_SOLVER,
    HTTP_SOLVER,
    NOW,
    condition,
    issuer_object,
    key,
    make_chain,
    make_csr,
    missigned_csr,
    order_object,
    order_ready,
    request_object,
)

PENDING = condition("Ready", "False", "Pending", "Waiting for issuer zerossl")
INITIALIZING = condition("Ready", "Unknown", "Initializing", "accepted")
CHAIN = make_chain(CSR)


@dataclass(frozen=True)
class Expect:
    reason: str | None  # the Ready reason written, None: no status written
    events: tuple[str, ...] = ()
    ensures_order: bool = False
    message: str = ""  # a fragment of the Ready message


def decide(
    request: dict[str, Any], issuer: dict[str, Any] | None, order: dict[str, Any] | None
) -> Any:
    return decide_certificate_request(
        CertificateRequest.from_object(request),
        Issuer.from_object(issuer) if issuer else None,
        Order.from_object(order) if order else None,
        NOW,
    )


_issuer = issuer_object


READY_ISSUER = _issuer()
ISSUED_ORDER = order_object(
    status={
        "conditions": [order_ready("Issued", status="True")],
        "certificateID": "c1",
        "certificate": CHAIN,
    }
)
WORKING = [APPROVED, PENDING]
WORKING_MESSAGE = condition(
    "Ready",
    "False",
    "Pending",
    "ZeroSSLOrder www is getting a certificate for www.example.com, example.com; "
    "its status has the steps",
)

CASES = [
    # --- issuer-lib's conformance list ---------------------------------------------------------
    pytest.param(
        request_object(conditions=[]),
        READY_ISSUER,
        None,
        Expect(None),
        id="ignore-unless-approved-or-denied",
    ),
    pytest.param(
        request_object(group=""), READY_ISSUER, None, Expect(None), id="issuer-ref-empty-group"
    ),
    pytest.param(
        request_object(group="cert-manager.io", kind="Issuer"),
        READY_ISSUER,
        None,
        Expect(None),
        id="issuer-ref-unknown-group",
    ),
    pytest.param(
        request_object(kind="Issuer", conditions=[APPROVED, PENDING]),
        READY_ISSUER,
        None,
        Expect("Failed", ("IssuerKindUnknown",), message="ZeroSSLIssuer or ZeroSSLClusterIssuer"),
        id="issuer-ref-unknown-kind-of-our-group",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, condition("Ready", "True", "Issued")]),
        READY_ISSUER,
        None,
        Expect(None),
        id="already-ready",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, condition("Ready", "False", "Failed")]),
        READY_ISSUER,
        None,
        Expect(None),
        id="already-failed",
    ),
    pytest.param(
        request_object(conditions=[DENIED, condition("Ready", "False", "Denied")]),
        READY_ISSUER,
        None,
        Expect(None),
        id="already-denied",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, condition("InvalidRequest", "True")]),
        READY_ISSUER,
        None,
        Expect(None),
        id="invalid-request",
    ),
    pytest.param(
        request_object(conditions=[APPROVED]),
        READY_ISSUER,
        None,
        Expect(None, (), ensures_order=True),
        id="first-touch-creates-the-order-and-writes-nothing-no-initializing-no-pending",
    ),
    pytest.param(
        request_object(conditions=[DENIED]),
        READY_ISSUER,
        None,
        Expect("Denied", ("Denied",), message="policy: not allowed"),
        id="set-ready-denied",
    ),
    pytest.param(
        request_object(conditions=[DENIED, INITIALIZING]),
        READY_ISSUER,
        None,
        Expect("Denied", ("Denied",)),
        id="set-ready-denied-after-initializing",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, INITIALIZING]),
        None,
        None,
        Expect("Pending", ("IssuerNotFound",), message="does not exist"),
        id="set-ready-pending-missing-issuer",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, INITIALIZING]),
        _issuer(ready=None),
        None,
        Expect("Pending", ("IssuerNotReady",), message="not been checked yet"),
        id="set-ready-pending-issuer-has-no-ready-condition",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, INITIALIZING]),
        _issuer(ready="False", reason="InvalidAPIKey"),
        None,
        Expect("Pending", ("IssuerNotReady",), message="InvalidAPIKey"),
        id="set-ready-pending-issuer-is-not-ready",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, INITIALIZING]),
        _issuer(generation=2, observed_generation=1),
        None,
        Expect("Pending", ("IssuerNotReady",), message="spec changed"),
        id="set-ready-pending-issuer-ready-outdated",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, INITIALIZING]),
        READY_ISSUER,
        None,
        Expect("Pending", (), ensures_order=True, message="is getting"),
        id="create-order-replaces-a-ready-condition-that-no-longer-holds",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        order_object(status={"conditions": [order_ready("Validating", "ZeroSSL checks")]}),
        Expect("Pending", message="ZeroSSLOrder www is getting a certificate for"),
        id="a-pending-that-no-longer-holds-gets-the-working-message",
    ),
    pytest.param(
        request_object(conditions=[APPROVED]),
        READY_ISSUER,
        order_object(status={"conditions": [order_ready("Validating", "ZeroSSL checks")]}),
        Expect(None),
        id="routine-order-progress-writes-nothing-on-a-request-without-ready",
    ),
    pytest.param(
        request_object(conditions=[APPROVED]),
        READY_ISSUER,
        order_object(
            status={
                "conditions": [order_ready("Presenting", "publishing")],
                "retry": {"attempts": 1, "notBefore": "2026-03-01T12:05:00Z"},
            }
        ),
        Expect("Pending", ("OrderInProgress",), message="publishing"),
        id="an-order-in-trouble-is-mirrored-with-an-event-on-a-request-without-ready",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, WORKING_MESSAGE]),
        READY_ISSUER,
        order_object(status={"conditions": [order_ready("Validating", "ZeroSSL checks")]}),
        Expect(None),
        id="routine-order-progress-is-not-mirrored",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, WORKING_MESSAGE]),
        READY_ISSUER,
        order_object(status={"conditions": [order_ready("WaitingForIssuer", "quota used up")]}),
        Expect("Pending", message="WaitingForIssuer: quota used up"),
        id="order-waiting-for-its-issuer-is-mirrored",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, WORKING_MESSAGE]),
        READY_ISSUER,
        order_object(
            status={
                "conditions": [order_ready("Validating", "CAA forbids sectigo.com")],
                "verify": {"attempts": 2, "nextTime": "2026-03-01T12:05:00Z"},
            }
        ),
        Expect("Pending", message="CAA forbids sectigo.com"),
        id="order-not-validated-yet-is-mirrored",
    ),
    pytest.param(
        request_object(conditions=[APPROVED, WORKING_MESSAGE]),
        READY_ISSUER,
        order_object(
            solvers=[{"email": {}}],
            status={"conditions": [order_ready("WaitingForIssuance", "approval email to a@b")]},
        ),
        Expect("Pending", message="approval email to a@b"),
        id="order-waiting-for-an-approval-email-is-mirrored",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        order_object(
            status={
                "conditions": [order_ready("Creating", "ZeroSSL create failed, retrying")],
                "retry": {"attempts": 3, "notBefore": "2026-03-01T12:05:00Z"},
            }
        ),
        Expect("Pending", message="retrying"),
        id="retry-on-error-never-failed",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        order_object(status={"conditions": [order_ready("Failed", "ZeroSSL rejected the CSR")]}),
        Expect("Failed", ("OrderFailed",), message="ZeroSSL rejected the CSR"),
        id="fail-on-permanent-error",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        order_object(status={"conditions": [order_ready("Cancelled", "revoked out of band")]}),
        Expect("Failed", ("OrderFailed",), message="revoked out of band"),
        id="fail-on-cancelled-order",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        ISSUED_ORDER,
        Expect("Issued", ("Issued",), message="c1"),
        id="success-clusterissuer",
    ),
    pytest.param(
        request_object(kind="ZeroSSLIssuer", conditions=WORKING),
        _issuer(kind="ZeroSSLIssuer"),
        ISSUED_ORDER,
        Expect("Issued", ("Issued",)),
        id="success-issuer",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        _issuer(ready="False", reason="QuotaExhausted"),
        ISSUED_ORDER,
        Expect("Issued", ("Issued",)),
        id="finished-order-mirrored-while-issuer-not-ready",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        order_object(
            status={
                "conditions": [order_ready("Issued", status="True")],
                "certificateID": "c1",
                "certificate": make_chain(
                    make_csr("www.example.com", ["www.example.com"], key("ec256", 1))
                ),
            }
        ),
        Expect("Failed", ("CertificateMismatch",), message="does not match"),
        id="chain-key-mismatch",
    ),
    pytest.param(
        request_object(conditions=WORKING),
        READY_ISSUER,
        order_object(request_uid="uid-earlier"),
        Expect("Pending", message="earlier CertificateRequest"),
        id="stale-order-of-same-name",
    ),
    pytest.param(
        request_object(
            conditions=[
                APPROVED,
                WORKING_MESSAGE,
            ]
        ),
        READY_ISSUER,
        None,
        Expect(None, ensures_order=True),
        id="order-not-yet-in-cache-ensures-again-without-writing",
    ),
]


@pytest.mark.parametrize(("request_obj", "issuer", "order", "expect"), CASES)
def test_decide(
    request_obj: dict[str, Any],
    issuer: dict[str, Any] | None,
    order: dict[str, Any] | None,
    expect: Expect,
) -> None:
    decision = decide(request_obj, issuer, order)
    assert decision.requeue_after is None
    assert tuple(e.reason for e in decision.events) == expect.events
    assert any(isinstance(a, EnsureOrder) for a in decision.actions) == expect.ensures_order
    if expect.reason is None:
        assert decision.status is None
        return
    assert decision.status is not None
    assert certificate_request_status_errors(decision.status) == []
    (ready,) = decision.status["conditions"]
    assert ready["reason"] == expect.reason
    assert expect.message in ready["message"]
    assert ("failureTime" in decision.status) == (expect.reason in ("Failed", "Denied"))


@pytest.mark.parametrize(("request_obj", "issuer", "order", "expect"), CASES)
def test_a_request_with_nothing_to_decide_needs_no_issuer_or_order(
    request_obj: dict[str, Any],
    issuer: dict[str, Any] | None,
    order: dict[str, Any] | None,
    expect: Expect,
) -> None:
    # The reconciler skips the lookups on nothing_to_decide: whatever the issuer and order,
    # the decision must then be nothing.
    if not nothing_to_decide(CertificateRequest.from_object(request_obj)):
        return  # decided in test_decide
    for found_issuer in (None, issuer, READY_ISSUER):
        for found_order in (None, order, ISSUED_ORDER):
            decision = decide(request_obj, found_issuer, found_order)
            assert decision.status is None
            assert decision.events == ()
            assert decision.actions == ()


def test_issued_writes_the_chain_base64() -> None:
    decision = decide(request_object(conditions=WORKING), READY_ISSUER, ISSUED_ORDER)
    assert decision.status is not None
    assert base64.b64decode(decision.status["certificate"]).decode() == CHAIN


# --- the reporter rule: an Event on entering Pending, a write only on change -------------------


def test_pending_to_pending_writes_without_event() -> None:
    request = request_object(conditions=[APPROVED, condition("Ready", "False", "Pending", "old")])
    decision = decide(request, None, None)
    assert decision.status is not None
    assert decision.events == ()


def test_unchanged_pending_writes_nothing() -> None:
    first = decide(request_object(conditions=[APPROVED, INITIALIZING]), None, None)
    assert first.status is not None
    again = decide(request_object(conditions=[APPROVED, *first.status["conditions"]]), None, None)
    assert again.empty


# --- the order it creates ----------------------------------------------------------------------


def ensured(request: dict[str, Any], issuer: dict[str, Any]) -> dict[str, Any]:
    decision = decide(request, issuer, None)
    (action,) = decision.actions
    assert isinstance(action, EnsureOrder)
    return dict(action.manifest)


def test_order_is_admitted_by_its_crd_and_owned_by_the_request() -> None:
    manifest = ensured(request_object(conditions=[APPROVED, INITIALIZING]), READY_ISSUER)
    assert admission_errors("zerosslorders", manifest) == []
    meta = manifest["metadata"]
    assert (meta["name"], meta["namespace"]) == ("www", "default")
    assert meta["finalizers"] == ["zerossl.issuer.dev/order-cleanup"]
    (owner,) = meta["ownerReferences"]
    assert (owner["kind"], owner["name"], owner["uid"], owner["controller"]) == (
        "CertificateRequest",
        "www",
        "uid-www",
        True,
    )
    spec = manifest["spec"]
    assert spec["domains"] == ["www.example.com", "example.com"]
    assert spec["validationMethod"] == "HTTP_CSR_HASH"
    assert spec["request"] == request_object()["spec"]["request"]
    assert [s["domain"] for s in spec["solvers"]] == spec["domains"]


def test_order_takes_validity_and_strictness_from_the_issuer() -> None:
    issuer = _issuer()
    issuer["spec"].update(validityDays=365, strictDomains=False)
    spec = ensured(request_object(conditions=[APPROVED, INITIALIZING]), issuer)["spec"]
    assert (spec["validityDays"], spec["strictDomains"]) == (365, False)


def test_solver_selection_per_domain_is_recorded() -> None:
    solvers = [
        {"selector": {"dnsNames": ["example.com"]}, "dns": {"route53": {"region": "eu-west-1"}}},
        {"selector": {"dnsZones": ["example.com"]}, **DNS_SOLVER},
    ]
    spec = ensured(request_object(conditions=[APPROVED, INITIALIZING]), _issuer(solvers=solvers))[
        "spec"
    ]
    assert {s["domain"]: s["solverIndex"] for s in spec["solvers"]} == {
        "www.example.com": 1,
        "example.com": 0,
    }
    assert spec["validationMethod"] == "CNAME_CSR_HASH"


# --- bad input: each a clear reason, nothing half-done ------------------------------------------

FRESH = [APPROVED, INITIALIZING]


def _names(count: int, prefix: str = "n") -> list[str]:
    """``count`` distinct names, the first equal to the CN ``n0.example.com`` when unprefixed."""
    return [f"{prefix}{i}.example.com" for i in range(count)]


def _csr_request(csr: bytes, **kwargs: Any) -> dict[str, Any]:
    return request_object(csr=csr, conditions=FRESH, **kwargs)


@pytest.mark.parametrize(
    ("request_obj", "event", "message"),
    [
        pytest.param(
            request_object(conditions=FRESH, csr=b"garbage"),
            "Malformed",
            "not a PEM",
            id="malformed-csr",
        ),
        pytest.param(
            {
                **request_object(conditions=FRESH),
                "spec": {**request_object()["spec"], "request": "%%%"},
            },
            "MalformedRequest",
            "base64",
            id="request-not-base64",
        ),
        pytest.param(
            _csr_request(missigned_csr()), "BadSignature", "signature", id="mis-signed-csr"
        ),
        pytest.param(
            _csr_request(make_csr("www.example.com", ["www.example.com"], key("rsa1024"))),
            "UnsupportedKey",
            "2048 or 4096",
            id="rsa-1024",
        ),
        pytest.param(
            _csr_request(make_csr("www.example.com", ["www.example.com"], key("ec521"))),
            "UnsupportedKey",
            "P-256",
            id="ec-p521",
        ),
        pytest.param(
            _csr_request(make_csr("www.example.com", ["www.example.com"], key("ed25519"))),
            "UnsupportedKey",
            "RSA",
            id="ed25519",
        ),
        pytest.param(
            _csr_request(make_csr(None, ["www.example.com"])),
            "MissingCommonName",
            "commonName",
            id="cn-missing",
        ),
        pytest.param(
            _csr_request(make_csr("api.example.com", ["www.example.com"])),
            "CommonNameNotInNames",
            "api.example.com",
            id="cn-not-among-names",
        ),
        pytest.param(
            _csr_request(make_csr("*.example.com", ["*.example.com", "example.com"])),
            "WildcardNotAlone",
            "only name",
            id="wildcard-mixed",
        ),
        pytest.param(
            _csr_request(make_csr("www.example.com", ["www.example.com", "2001:db8::1"])),
            "Ipv6",
            "IPv6",
            id="ipv6",
        ),
        pytest.param(
            _csr_request(make_csr("app.internal", ["app.internal"])),
            "UnsupportedTopLevelDomain",
            "2877",
            id="reserved-tld",
        ),
        pytest.param(
            _csr_request(make_csr("printer.home.arpa", ["printer.home.arpa"])),
            "UnsupportedTopLevelDomain",
            "2877",
            id="home-arpa",
        ),
        pytest.param(_csr_request(CSR, is_ca=True), "CARequested", "isCA", id="is-ca"),
        pytest.param(
            _csr_request(make_csr("n0.example.com", _names(MAX_DOMAINS + 1))),
            "TooManyNames",
            f"has 101 distinct names; a ZeroSSL certificate order takes at most {MAX_DOMAINS}",
            id="101-names",
        ),
        pytest.param(
            _csr_request(make_csr("n0.example.com", _names(700, "x" * 40))),
            "RequestTooLarge",
            f"a ZeroSSLOrder holds at most {MAX_REQUEST_LENGTH}",
            id="csr-over-the-order-limit",
        ),
        pytest.param(
            _csr_request(make_csr("www.example.com", ["www.example.com", "mailto:admin@x.org"])),
            "UnsupportedSan",
            "email address SANs are not supported: admin@x.org",
            id="email-san",
        ),
        pytest.param(
            _csr_request(make_csr("bücher.example.com", None)),
            "InternationalizedName",
            "use xn--bcher-kva.example.com",
            id="idn-common-name",
        ),
    ],
)
def test_bad_request_fails_with_a_clear_reason(
    request_obj: dict[str, Any], event: str, message: str
) -> None:
    decision = decide(request_obj, READY_ISSUER, None)
    assert decision.actions == ()
    assert decision.status is not None
    (ready,) = decision.status["conditions"]
    assert (ready["reason"], ready["status"]) == ("Failed", "False")
    assert message in ready["message"]
    assert [e.reason for e in decision.events] == [event]
    assert decision.events[0].type == "Warning"
    assert certificate_request_status_errors(decision.status) == []


def test_the_name_and_size_limits_are_the_order_schemas() -> None:
    spec = schema_of("zerosslorders")["properties"]["spec"]["properties"]
    assert spec["domains"]["maxItems"] == MAX_DOMAINS == spec["solvers"]["maxItems"]
    assert spec["request"]["maxLength"] == MAX_REQUEST_LENGTH


def test_an_order_of_the_most_names_allowed_is_admitted() -> None:
    manifest = ensured(_csr_request(make_csr("n0.example.com", _names(MAX_DOMAINS))), READY_ISSUER)
    assert len(manifest["spec"]["domains"]) == MAX_DOMAINS
    assert admission_errors("zerosslorders", manifest) == []


def test_duplicate_names_collapse_to_one_domain() -> None:
    csr = make_csr("www.example.com", ["www.example.com", "WWW.example.com", "example.com"])
    spec = ensured(_csr_request(csr), READY_ISSUER)["spec"]
    assert spec["domains"] == ["www.example.com", "example.com"]


@pytest.mark.parametrize(
    ("csr", "solvers", "message"),
    [
        pytest.param(
            make_csr("*.example.com", ["*.example.com"]),
            [HTTP_SOLVER],
            "wildcard name) needs a dns or email solver",
            id="wildcard-with-http-only",
        ),
        pytest.param(
            make_csr("203.0.113.7", ["203.0.113.7"]),
            [DNS_SOLVER, EMAIL_SOLVER],
            "IPv4 address) needs a http solver",
            id="ip-with-dns-only",
        ),
        pytest.param(
            CSR,
            [{"selector": {"dnsZones": ["example.org"]}, **HTTP_SOLVER}],
            "no solver's selector matches www.example.com",
            id="no-selector-matches",
        ),
        pytest.param(
            CSR,
            [{"selector": {"dnsNames": ["example.com"]}, **DNS_SOLVER}, HTTP_SOLVER],
            "one method",
            id="mixed-methods",
        ),
    ],
)
def test_no_usable_solver_is_pending_not_failed(
    csr: bytes, solvers: list[dict[str, Any]], message: str
) -> None:
    decision = decide(_csr_request(csr), _issuer(solvers=solvers), None)
    assert decision.actions == ()
    assert decision.status is not None
    (ready,) = decision.status["conditions"]
    assert ready["reason"] == "Pending"
    assert message in ready["message"]
    assert [e.reason for e in decision.events] == ["NoSolver"]


def test_wildcard_goes_to_the_dns_solver_even_when_http_is_more_specific() -> None:
    solvers = [{"selector": {"dnsNames": ["*.example.com"]}, **HTTP_SOLVER}, DNS_SOLVER]
    csr = make_csr("*.example.com", ["*.example.com"])
    spec = ensured(_csr_request(csr), _issuer(solvers=solvers))["spec"]
    assert spec["validationMethod"] == "CNAME_CSR_HASH"
    assert spec["solvers"][0]["solverIndex"] == 1


def test_match_labels_come_from_the_request() -> None:
    solvers = [HTTP_SOLVER, {"selector": {"matchLabels": {"team": "dns"}}, **DNS_SOLVER}]
    labelled = ensured(_csr_request(CSR, labels={"team": "dns"}), _issuer(solvers=solvers))
    plain = ensured(_csr_request(CSR), _issuer(solvers=solvers))
    assert labelled["spec"]["validationMethod"] == "CNAME_CSR_HASH"
    assert plain["spec"]["validationMethod"] == "HTTP_CSR_HASH"


# --- the order's create, as the act layer reports it --------------------------------------------


def test_an_order_refused_as_invalid_fails_the_request() -> None:
    request = CertificateRequest.from_object(request_object(conditions=FRESH))
    decision = order_refused(request, "spec.domains: Too many: 150", NOW)
    assert decision.status is not None
    (ready,) = decision.status["conditions"]
    assert (ready["reason"], ready["message"]) == (
        "Failed",
        "the API server refused to create ZeroSSLOrder www for this request: "
        "spec.domains: Too many: 150",
    )
    assert decision.status["failureTime"]
    assert [(e.type, e.reason) for e in decision.events] == [("Warning", "OrderRejected")]
    assert certificate_request_status_errors(decision.status) == []


def test_an_order_not_created_yet_is_pending_and_written_once() -> None:
    request = CertificateRequest.from_object(request_object(conditions=FRESH))
    decision = order_not_created(request, "503 ServiceUnavailable", NOW)
    assert decision.status is not None
    (ready,) = decision.status["conditions"]
    assert (ready["reason"], ready["message"]) == (
        "Pending",
        "could not create ZeroSSLOrder www yet (503 ServiceUnavailable); retrying with backoff",
    )
    again = CertificateRequest.from_object(
        request_object(conditions=[APPROVED, *decision.status["conditions"]])
    )
    assert order_not_created(again, "503 ServiceUnavailable", NOW).empty


def _order_states() -> list[dict[str, Any]]:
    """Orders across what a request reads: every Ready reason, with and without a backoff, a
    "not yet" from verify, a chain; owned by this request or an earlier one of its name;
    validated over HTTP or by email."""
    reasons = [
        "Creating",
        "Validating",
        "WaitingForIssuance",
        "WaitingForIssuer",
        "WaitingForSameCSR",
        "Issued",
        "Failed",
        "Cancelled",
    ]
    states: list[dict[str, Any]] = []
    for reason, message, retry, verify, chain, owner, solvers in itertools.product(
        reasons,
        ("first words", "other words"),
        (False, True),
        (False, True),
        (False, True),
        ("uid-www", "uid-earlier"),
        ([{"http": {"none": {}}}], [{"email": {}}]),
    ):
        status: dict[str, Any] = {"conditions": [order_ready(reason, message)]}
        if retry:
            status["retry"] = {"attempts": 2, "notBefore": "2030-01-01T00:00:00Z"}
        if verify:
            status["verify"] = {"attempts": 1, "nextTime": "2030-01-01T00:00:00Z"}
        if chain:
            status.update(certificateID="c1", certificate=CHAIN)
        states.append(order_object(request_uid=owner, solvers=solvers, status=status))
    return states


def test_orders_the_request_reads_alike_yield_the_same_decision() -> None:
    # The request's watch of its order wakes it only when order_view changes: sound only if
    # equal views give equal decisions, whatever the request shows.
    requests = [
        request_object(conditions=[APPROVED]),
        request_object(conditions=WORKING),
        request_object(conditions=[APPROVED, WORKING_MESSAGE]),
    ]
    by_view: dict[tuple[Any, ...], list[dict[str, Any]]] = {}
    for order in _order_states():
        by_view.setdefault(order_view(order), []).append(order)
    assert len(by_view) > 20  # the states do differ in what the request reads
    for orders in by_view.values():
        for request in requests:
            first, *others = (decide(request, READY_ISSUER, order) for order in orders)
            for other in others:
                assert (other.status, other.events, other.actions) == (
                    first.status,
                    first.events,
                    first.actions,
                )


def test_routine_steps_leave_the_view_alone_and_the_end_changes_it() -> None:
    working = [
        order_object(status={"conditions": [order_ready(r, r)]})
        for r in ("Creating", "Validating", "WaitingForIssuance")
    ]
    assert len({order_view(order) for order in working}) == 1
    assert order_view(working[0])[0] == "working"
    assert order_view(ISSUED_ORDER)[0] == "finished"
    assert order_view(None) == ("absent",)
