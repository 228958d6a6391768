"""API types: issuerRef resolution, the Secret namespace rule, spec parsing, status round trips."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.issuer.api import (
    ForeignRef,
    IssuerKind,
    IssuerRef,
    UnknownKind,
    resolve_issuer_ref,
    secret_namespace,
)
from controller.issuer.issuers import AccountState, Issuer, IssuerStatus
from controller.issuer.orders import (
    Backoff,
    CnameRecord,
    CreateAttempt,
    HttpRecord,
    Order,
    OrderStatus,
    ValidationRecord,
    ValidationState,
)
from controller.issuer.request import CertificateRequest
from controller.issuer.spec import Method, SpecError, parse_issuer_spec
from controller.zerossl.models import ValidationMethod
from tests.unit.issuer.factories import NOW, issuer_object, request_object, with_changes


@pytest.mark.parametrize(
    ("group", "kind", "expected"),
    [
        pytest.param("", "", ForeignRef("cert-manager.io"), id="empty-group-is-cert-manager"),
        pytest.param("cert-manager.io", "Issuer", ForeignRef("cert-manager.io"), id="cert-manager"),
        pytest.param(
            "other.example.com", "ZeroSSLIssuer", ForeignRef("other.example.com"), id="other"
        ),
        pytest.param(
            "zerossl.issuer.dev",
            "",
            IssuerRef(IssuerKind.ISSUER, "z", "ns"),
            id="empty-kind-namespaced",
        ),
        pytest.param(
            "zerossl.issuer.dev",
            "ZeroSSLIssuer",
            IssuerRef(IssuerKind.ISSUER, "z", "ns"),
            id="issuer",
        ),
        pytest.param(
            "zerossl.issuer.dev",
            "ZeroSSLClusterIssuer",
            IssuerRef(IssuerKind.CLUSTER_ISSUER, "z", None),
            id="cluster-issuer",
        ),
        pytest.param("zerossl.issuer.dev", "Issuer", UnknownKind("Issuer", "z"), id="wrong-kind"),
    ],
)
def test_resolve_issuer_ref(group: str, kind: str, expected: object) -> None:
    assert resolve_issuer_ref(group, kind, "z", "ns") == expected


def test_secret_namespace_rule() -> None:
    assert secret_namespace(IssuerRef(IssuerKind.ISSUER, "z", "team-a"), "controller") == "team-a"
    assert (
        secret_namespace(IssuerRef(IssuerKind.CLUSTER_ISSUER, "z", None), "controller")
        == "controller"
    )


def test_unknown_kind_message_lists_our_kinds() -> None:
    message = UnknownKind("Issuer", "z").message
    assert "ZeroSSLIssuer or ZeroSSLClusterIssuer" in message


# --- issuer spec -------------------------------------------------------------------------------

SPEC: dict[str, Any] = issuer_object()["spec"]


def test_spec_defaults() -> None:
    spec = parse_issuer_spec({"apiKeySecretRef": {"name": "k"}, "solvers": [{"email": {}}]})
    assert (spec.api_key.key, spec.validity_days, spec.strict_domains) == ("api-key", 90, True)
    (solver,) = spec.solvers
    assert (solver.index, solver.method, solver.selector) == (0, Method.EMAIL, None)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"validityDays": 30}, "validityDays"),
        ({"validityDays": True}, "validityDays"),
        ({"strictDomains": "yes"}, "strictDomains"),
        ({"apiKeySecretRef": {"key": "x"}}, "apiKeySecretRef.name"),
        ({"solvers": []}, "spec.solvers"),
        ({"solvers": [{"http": {"none": {}}, "dns": {"route53": {}}}]}, "exactly one of http"),
        ({"solvers": [{"http": {}}]}, "exactly one of ingress"),
        ({"solvers": [{"dns": {"route53": {}, "cloudflare": {}}}]}, "exactly one of rfc2136"),
        ({"solvers": [{"email": {"localPart": "root"}}]}, "localPart"),
        ({"solvers": [{"email": {}, "selector": {"dnsZones": ["*.a.com"]}}]}, "dnsZones"),
        ({"solvers": [{"email": {}, "selector": {"matchLabels": {"a": 1}}}]}, "matchLabels"),
    ],
)
def test_spec_errors_name_the_field(changes: dict[str, Any], expected: str) -> None:
    with pytest.raises(SpecError, match=expected):
        parse_issuer_spec({**SPEC, **changes})


# --- issuer readiness (issuer-lib's circuit breaker) -------------------------------------------


@pytest.mark.parametrize(
    ("ready", "reason", "observed", "is_ready", "usable"),
    [
        pytest.param("True", "Checked", 2, True, True, id="ready"),
        pytest.param("True", "Checked", 1, False, False, id="ready-outdated"),
        pytest.param("False", "InvalidAPIKey", 2, False, False, id="not-ready"),
        pytest.param("False", "QuotaExhausted", 2, False, True, id="quota-only"),
        pytest.param("False", "QuotaExhausted", 1, False, False, id="quota-outdated"),
        pytest.param(None, "", 2, False, False, id="no-condition"),
    ],
)
def test_issuer_readiness(
    ready: str | None, reason: str, observed: int, is_ready: bool, usable: bool
) -> None:
    issuer = Issuer.from_object(
        issuer_object(generation=2, ready=ready, reason=reason, observed_generation=observed)
    )
    assert (issuer.ready, issuer.usable) == (is_ready, usable)


def test_invalid_spec_is_kept_not_raised() -> None:
    issuer = Issuer.from_object(with_changes(issuer_object(), spec__validityDays=7))
    assert issuer.spec is None
    assert issuer.spec_error is not None
    assert "validityDays" in issuer.spec_error


def test_namespaced_issuer_ref() -> None:
    issuer = Issuer.from_object(issuer_object(kind="ZeroSSLIssuer", namespace="team-a"))
    assert issuer.ref == IssuerRef(IssuerKind.ISSUER, "zerossl", "team-a")


# --- status round trips ------------------------------------------------------------------------

moments = st.integers(min_value=0, max_value=10**6).map(lambda s: NOW + timedelta(seconds=s))
texts = st.text(alphabet="abcXYZ019 .:-", min_size=1, max_size=20)


@given(
    quota=st.booleans(),
    retry=st.none() | moments,
    last=st.none() | moments,
    failures=st.integers(min_value=0, max_value=50),
    version=st.none() | texts,
)
def test_issuer_status_round_trip(
    quota: bool, retry: Any, last: Any, failures: int, version: str | None
) -> None:
    status = IssuerStatus(
        conditions=({"type": "Ready", "status": "True"},),
        last_check_time=last,
        next_check_time=retry,
        checked_secret_version=version,
        check_failures=failures,
        account=AccountState(quota, last, retry, "msg" if quota else ""),
    )
    assert IssuerStatus.from_dict(status.to_dict()) == status


records = st.builds(
    ValidationRecord,
    domain=texts,
    method=st.sampled_from(list(ValidationMethod)),
    solver_index=st.integers(min_value=0, max_value=5),
    state=st.sampled_from(list(ValidationState)),
    presented=st.booleans(),
    presented_time=st.none() | moments,
    http=st.none() | st.builds(HttpRecord, texts, texts, texts),
    cname=st.none() | st.builds(CnameRecord, texts, texts),
    email=st.none() | texts,
    last_error=st.none() | texts,
)


@given(
    cert_id=st.none() | texts,
    zerossl_status=st.none() | texts,
    attempt=st.none() | st.builds(CreateAttempt, moments, st.integers(min_value=1, max_value=9)),
    validations=st.lists(records, max_size=3).map(tuple),
    verify=st.none() | st.builds(Backoff, st.integers(min_value=0, max_value=9), moments),
    retry=st.none()
    | st.builds(Backoff, st.integers(min_value=1, max_value=9), moments, st.none() | texts),
    cancelled=st.booleans(),
    times=st.tuples(st.none() | moments, st.none() | moments, st.none() | moments),
)
def test_order_status_round_trip(
    cert_id: str | None,
    zerossl_status: str | None,
    attempt: CreateAttempt | None,
    validations: tuple[ValidationRecord, ...],
    verify: Backoff | None,
    retry: Backoff | None,
    cancelled: bool,
    times: tuple[Any, Any, Any],
) -> None:
    status = OrderStatus(
        conditions=({"type": "Ready", "status": "False", "reason": "Creating"},),
        certificate_id=cert_id,
        zerossl_status=zerossl_status,
        create_attempt=attempt,
        validations=validations,
        certificate="PEM" if cancelled else None,
        created_time=times[0],
        validated_time=times[1],
        issued_time=times[2],
        verify=verify,
        retry=retry,
        cancelled=cancelled,
        trace_context={"traceparent": "00-" + "a" * 32 + "-" + "b" * 16 + "-01"},
    )
    assert OrderStatus.from_dict(status.to_dict()) == status


def test_unreadable_order_spec_is_kept_as_an_error() -> None:
    order = Order.from_object(
        {"metadata": {"name": "x", "namespace": "d"}, "spec": {"domains": []}}
    )
    assert order.spec is None
    assert order.spec_error is not None


# --- the CertificateRequest view ---------------------------------------------------------------


def test_request_view_reads_the_fields() -> None:
    request = CertificateRequest.from_object(request_object(labels={"team": "a"}, is_ca=True))
    assert (request.namespace, request.name, request.uid) == ("default", "www", "uid-www")
    assert request.issuer_ref == IssuerRef(IssuerKind.CLUSTER_ISSUER, "zerossl", None)
    assert request.labels == {"team": "a"}
    assert request.is_ca
    pem = request.csr_pem()
    assert pem is not None
    assert pem.startswith(b"-----BEGIN CERTIFICATE REQUEST-----")


def test_request_with_bad_base64() -> None:
    request = CertificateRequest.from_object(with_changes(request_object(), spec__request="!!"))
    assert request.csr_pem() is None


def test_request_view_tolerates_an_empty_object() -> None:
    request = CertificateRequest.from_object({})
    assert (request.name, request.conditions, request.failure_time) == ("", (), None)
