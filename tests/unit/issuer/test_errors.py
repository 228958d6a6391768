"""intent_for: every ZeroSSL error kind (and the codes that pick issuer reasons) to one intent;
solver_intent: every solver fault to a pending intent."""

from __future__ import annotations

import pytest

from controller.issuer.conditions import IssuerReason
from controller.issuer.decision import EventType
from controller.issuer.errors import (
    MISCONFIGURED_WAIT,
    IssuerError,
    PendingError,
    PermanentError,
    camel_reason,
    describe,
    intent_for,
    solver_intent,
)
from controller.issuer.solvers.dns.errors import AuthenticationFailed, RateLimited, TransportError
from controller.issuer.solvers.http import RoutingError
from controller.observability.redact import register_secret
from controller.zerossl.errors import ErrorKind, ZeroSSLError, classify


def zerossl_error(code: int | None, type_: str, **kwargs: object) -> ZeroSSLError:
    return ZeroSSLError(classify(code, type_), endpoint="create", code=code, type_=type_, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("code", "type_", "intent", "reason"),
    [
        pytest.param(
            101, "invalid_access_key", IssuerError, IssuerReason.INVALID_API_KEY, id="101"
        ),
        pytest.param(
            103, "invalid_api_function", IssuerError, IssuerReason.INVALID_API_KEY, id="103"
        ),
        pytest.param(102, "inactive_user", IssuerError, IssuerReason.INACTIVE_ACCOUNT, id="102"),
        pytest.param(
            2804,
            "cannot_issue_certificate_unpaid_upgrade_invoices",
            IssuerError,
            IssuerReason.ACCOUNT_RESTRICTED,
            id="2804-unpaid",
        ),
        pytest.param(
            2817, "certificate_limit_reached", IssuerError, IssuerReason.QUOTA_EXHAUSTED, id="2817"
        ),
        pytest.param(
            2877,
            "certificate_unsupported_top_level_domain",
            PermanentError,
            "CertificateUnsupportedTopLevelDomain",
            id="2877-permanent",
        ),
        pytest.param(2836, "csr_cn_is_invalid", PermanentError, "CsrCnIsInvalid", id="2836"),
        pytest.param(0, "domain_control_validation_failed", PendingError, None, id="0-not-yet"),
        pytest.param(2831, "certificate_not_ready_to_validate", PendingError, None, id="2831"),
        pytest.param(111, "internal_server_error", PendingError, None, id="111-retryable"),
        pytest.param(9999, "brand_new_error", PendingError, None, id="unknown-is-retryable"),
    ],
)
def test_zerossl_errors_map_to_one_intent(
    code: int, type_: str, intent: type[Exception], reason: str | None
) -> None:
    result = intent_for(zerossl_error(code, type_))
    assert type(result) is intent
    if reason is not None:
        assert not isinstance(result, PendingError)
        assert result.reason == reason
    if isinstance(result, PendingError):
        assert result.requeue_after is None


@pytest.mark.parametrize("kind", list(ErrorKind))
def test_every_error_kind_has_an_intent(kind: ErrorKind) -> None:
    result = intent_for(ZeroSSLError(kind, endpoint="verify", code=1, type_="x"))
    expected = {
        ErrorKind.PERMANENT: PermanentError,
        ErrorKind.ISSUER: IssuerError,
        ErrorKind.QUOTA: IssuerError,
        ErrorKind.RETRYABLE: PendingError,
        ErrorKind.NOT_YET: PendingError,
        ErrorKind.THROTTLED: PendingError,
    }[kind]
    assert type(result) is expected


def test_throttling_keeps_retry_after() -> None:
    error = ZeroSSLError(ErrorKind.THROTTLED, endpoint="list", http_status=429, retry_after=42.0)
    result = intent_for(error)
    assert isinstance(result, PendingError)
    assert result.requeue_after == 42.0


@pytest.mark.parametrize(
    "intent",
    [
        PendingError("later", 3.0),
        PermanentError("BadCSR", "no"),
        IssuerError(IssuerReason.INVALID_API_KEY, "x"),
    ],
)
def test_intents_pass_through(intent: Exception) -> None:
    assert intent_for(intent) is intent  # type: ignore[arg-type]


def test_message_names_code_and_never_the_key() -> None:
    key = "c0ffee00c0ffee00c0ffee00c0ffee00"
    register_secret(key)
    error = zerossl_error(2811, "duplicate_domains_in_array", message=f"bad ?access_key={key}")
    text = describe(error)
    assert "error 2811 duplicate_domains_in_array" in text
    assert key not in text
    assert key not in intent_for(error).args[0]


@pytest.mark.parametrize(
    ("slug", "expected"),
    [
        ("certificate_limit_reached", "CertificateLimitReached"),
        ("missing_common_name", "MissingCommonName"),
        ("", "Fallback"),
        ("2843_ipv6", "Fallback"),
    ],
)
def test_camel_reason(slug: str, expected: str) -> None:
    assert camel_reason(slug, "Fallback") == expected


@pytest.mark.parametrize(
    ("fault", "requeue_after"),
    [
        pytest.param(RateLimited("slow down", retry_after=7.0), 7.0, id="rate-limited"),
        pytest.param(TransportError("reset", retryable=True), None, id="transport"),
        pytest.param(RoutingError("conflict", "busy", retryable=True), None, id="routing"),
    ],
)
def test_a_transient_solver_fault_backs_off_without_an_event(
    fault: RateLimited | TransportError | RoutingError, requeue_after: float | None
) -> None:
    intent, event = solver_intent("a.example.com", fault)
    assert isinstance(intent, PendingError)
    assert intent.requeue_after == requeue_after
    assert intent.message == fault.message
    assert event is None


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        pytest.param(AuthenticationFailed("token refused"), "SolverAuthFailed", id="dns"),
        pytest.param(
            RoutingError("invalid_spec", "no file", retryable=False),
            "SolverInvalidSpec",
            id="http",
        ),
    ],
)
def test_a_misconfigured_solver_waits_long_with_a_warning(
    fault: AuthenticationFailed | RoutingError, reason: str
) -> None:
    intent, event = solver_intent("a.example.com", fault)
    assert isinstance(intent, PendingError)
    assert intent.requeue_after == MISCONFIGURED_WAIT
    assert event is not None
    assert (event.type, event.reason) == (EventType.WARNING, reason)
    assert event.note == intent.message
    assert intent.message.startswith("a.example.com: ")
    assert intent.message.endswith("fix the solver spec or its Secret")
