from __future__ import annotations

import pytest

from controller.observability.redact import register_secret
from controller.zerossl.errors import RULES, ErrorKind, TransportError, ZeroSSLError, classify

K = ErrorKind


@pytest.mark.parametrize(
    ("code", "type_", "kind"),
    [
        (0, "domain_control_validation_failed", K.NOT_YET),
        (2831, "certificate_not_ready_to_validate", K.NOT_YET),
        (2817, "certificate_limit_reached", K.QUOTA),
        (101, "invalid_access_key", K.ISSUER),
        (102, "inactive_user", K.ISSUER),
        (2804, "cannot_issue_certificate_unpaid_upgrade_invoices", K.ISSUER),
        (2836, "csr_cn_is_invalid", K.PERMANENT),
        (2809, "wildcard_domains_not_allowed_in_multidomain_certificate", K.PERMANENT),
        (111, "internal_server_error", K.RETRYABLE),
        # The type wins over the code: 2834 observed with the type of 2833.
        (2834, "certificate_cannot_be_cancelled", K.PERMANENT),
        (2834, "failed_cancelling_certificate", K.RETRYABLE),
        # 2841 is documented twice; the type decides, the bare code is ambiguous.
        (2841, "certificate_creation_locked_unpaid_invoices", K.ISSUER),
        (2841, "caa_record_check_failed", K.NOT_YET),
        (2841, "", K.RETRYABLE),
        # Code alone, type alone.
        (2803, "", K.PERMANENT),
        (None, "certificate_limit_reached", K.QUOTA),
        # Unknown: retryable, never terminal.
        (99999, "brand_new_error", K.RETRYABLE),
        (None, "", K.RETRYABLE),
    ],
)
def test_classify(code: int | None, type_: str, kind: ErrorKind) -> None:
    assert classify(code, type_) is kind


def test_rows_sharing_a_type_agree_on_the_kind() -> None:
    kinds: dict[str, set[ErrorKind]] = {}
    for rule in RULES:
        kinds.setdefault(rule.type, set()).add(rule.kind)
    assert {t: k for t, k in kinds.items() if len(k) > 1} == {}


# The reference's own classification (§9), refined: its "permanent" codes must never be
# retried blindly, its "retryable" ones must never be terminal.
REFERENCE_PERMANENT = [101, 102, *range(2805, 2813), 2817, 2818, 2819, 28181, 28182, 2836]
REFERENCE_PERMANENT += [2839, 2843, 2874, 2877, 2880]
REFERENCE_RETRYABLE = [0, 111, 2820, 2821, 2826, 2831, 2840]


@pytest.mark.parametrize("code", REFERENCE_PERMANENT)
def test_reference_permanent_codes_are_not_retried(code: int) -> None:
    assert classify(code, "") in {K.PERMANENT, K.ISSUER, K.QUOTA}


@pytest.mark.parametrize("code", REFERENCE_RETRYABLE)
def test_reference_retryable_codes_are_not_terminal(code: int) -> None:
    assert classify(code, "") in {K.RETRYABLE, K.NOT_YET}


def test_error_text_is_informative() -> None:
    error = ZeroSSLError(
        K.QUOTA,
        endpoint="create",
        code=2817,
        type_="certificate_limit_reached",
        http_status=200,
    )
    text = str(error)
    assert "zerossl create: quota" in text
    assert "2817 certificate_limit_reached" in text
    assert "HTTP 200" in text
    assert "quota is used up" in text
    assert error.hint in text


def test_error_text_and_args_are_redacted() -> None:
    key = "k3y-in-a-message-0123456789"
    register_secret(key)
    error = TransportError(
        endpoint="get",
        message=f"cannot connect to https://api.zerossl.com/certificates?access_key={key} ({key})",
    )
    assert key not in str(error)
    assert key not in repr(error)
    assert key not in error.message
    assert "access_key=REDACTED" in str(error)
    assert error.kind is K.RETRYABLE


def test_dcv_explanation_names_each_failing_domain() -> None:
    details = {
        "example.com": {
            "example.com": {
                "cname_found": 0,
                "record_correct": 0,
                "target_host": "_2B449B729284AA7CB56014584F261FBF",
                "target_record": "A10.B20.C30.COMODOCA.COM",
                "actual_record": "",
            }
        }
    }
    error = ZeroSSLError(
        K.NOT_YET,
        endpoint="verify",
        code=0,
        type_="domain_control_validation_failed",
        details=details,
    )
    assert error.explanation == (
        "domain control validation failed; "
        "example.com: CNAME _2B449B729284AA7CB56014584F261FBF.example.com not found"
    )
    assert error.explanation in str(error)


def test_caa_explanation() -> None:
    error = ZeroSSLError(
        K.NOT_YET,
        endpoint="verify",
        code=2840,
        type_="invalid_caa_records_detected",
        details={"example.com": {"caa": "letsencrypt.org"}},
    )
    assert "example.com: CAA records must allow sectigo.com" in error.explanation
