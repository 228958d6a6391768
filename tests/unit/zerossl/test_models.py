from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.zerossl.fields import as_bool, as_csv, as_int, as_time
from controller.zerossl.models import (
    Certificate,
    CertificateBundle,
    CertificatePage,
    CertificateStatus,
    CsrCheck,
    ResponseShapeError,
    VerificationStatus,
)
from tests.unit.zerossl.samples import MD5, SHA, certificate_json


def test_certificate_from_documented_shape() -> None:
    cert = Certificate.from_json(certificate_json())
    assert cert.status is CertificateStatus.DRAFT
    assert cert.domains == ("kamayi.com.pk", "www.kamayi.com.pk")
    assert cert.created == datetime(2020, 4, 29, 9, 4, 19, tzinfo=UTC)
    assert cert.expires is not None
    assert cert.expires.utcoffset() is not None
    assert cert.replacement_for is None
    assert cert.validation_type is None
    assert cert.csr_md5 == MD5
    main = cert.validation_for("KAMAYI.com.pk")
    assert main is not None
    assert main.emails == ("admin@kamayi.com.pk", "webmaster@kamayi.com.pk")
    assert main.file_path == f"/.well-known/pki-validation/{MD5}.txt"
    assert main.file_body == f"{SHA}\ncomodoca.com\n661862d3f04226a"
    assert main.cname_name == f"_{MD5}.kamayi.com.pk"
    www = cert.validation_for("www.kamayi.com.pk")
    assert www is not None
    assert www.csr_md5 == MD5  # from the CNAME name when there is no file URL
    assert www.file_path is None


def test_unknown_status_is_kept_not_fatal() -> None:
    cert = Certificate.from_json(certificate_json(status="on_hold_for_review"))
    assert cert.status is CertificateStatus.UNKNOWN
    assert cert.status_text == "on_hold_for_review"
    assert not cert.status.final
    assert not cert.status.unfinished


def test_nulls_and_empty_lists_are_tolerated() -> None:
    cert = Certificate.from_json(
        certificate_json(
            validation=[], created=None, expires="0000-00-00 00:00:00", additional_domains=None
        )
    )
    assert cert.validations == ()
    assert cert.created is None
    assert cert.expires is None
    assert cert.domains == ("kamayi.com.pk",)
    assert cert.csr_md5 is None


def test_certificate_without_id_is_a_shape_error() -> None:
    with pytest.raises(ResponseShapeError):
        Certificate.from_json({"status": "draft"})
    with pytest.raises(ResponseShapeError):
        Certificate.from_json(["not", "an", "object"])


def test_page_with_string_page_number() -> None:
    page = CertificatePage.from_json(
        {
            "total_count": 3,
            "result_count": 2,
            "page": "1",
            "limit": 2,
            "acmeUsageLevel": "LOW",
            "isAcmeLocked": False,
            "results": [certificate_json(), certificate_json(id="b2"), "garbage", {"id": None}],
        },
        page=1,
        limit=2,
    )
    assert [c.id for c in page.results] == ["a856a39a1c3ad0s8asa606g37667d221", "b2"]
    assert page.page == 1
    assert page.has_more
    last = CertificatePage.from_json(
        {"total_count": 3, "page": 2, "results": [{"id": "c"}]}, page=2, limit=2
    )
    assert not last.has_more
    empty = CertificatePage.from_json({"total_count": 5, "results": []}, page=9, limit=2)
    assert not empty.has_more


def test_verification_status() -> None:
    status = VerificationStatus.from_json(
        {
            "validation_completed": 0,
            "details": {"domain.com": {"method": "postmaster@domain.com", "status": "Email Sent"}},
        }
    )
    assert not status.completed
    assert status.domains[0].method == "postmaster@domain.com"
    assert status.domains[0].status == "Email Sent"
    assert VerificationStatus.from_json({"validation_completed": "1", "details": []}).completed


LEAF = "-----BEGIN CERTIFICATE-----\nTEVBRg==\n-----END CERTIFICATE-----"
INTER1 = "-----BEGIN CERTIFICATE-----\r\nSU5URVIx\r\n-----END CERTIFICATE-----\r\n"
INTER2 = "-----BEGIN CERTIFICATE-----\nSU5URVIy\n-----END CERTIFICATE-----\n\n\n"


def test_chain_is_leaf_then_intermediates_each_ending_in_one_newline() -> None:
    bundle = CertificateBundle.from_json(
        {"certificate.crt": LEAF, "ca_bundle.crt": INTER1 + INTER2}
    )
    assert bundle.chain_pem() == (
        "-----BEGIN CERTIFICATE-----\nTEVBRg==\n-----END CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\nSU5URVIx\n-----END CERTIFICATE-----\n"
        "-----BEGIN CERTIFICATE-----\nSU5URVIy\n-----END CERTIFICATE-----\n"
    )


def test_download_without_certificate_is_a_shape_error() -> None:
    with pytest.raises(ResponseShapeError):
        CertificateBundle.from_json({"ca_bundle.crt": INTER1})


def test_csr_check() -> None:
    ok = CsrCheck.from_json(
        {"valid": True, "error": None, "csrResponse": ["2048", "sigalg=sha256WithRSAEncryption"]}
    )
    assert ok.valid
    assert ok.error is None
    assert ok.properties == ("2048", "sigalg=sha256WithRSAEncryption")
    bad = CsrCheck.from_json({"valid": False, "error": "-10 The CSR cannot be decoded!; "})
    assert not bad.valid
    assert bad.error == "-10 The CSR cannot be decoded!;"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (True, True),
        (1, True),
        ("1", True),
        ("yes", True),
        ("TRUE", True),
        (False, False),
        (0, False),
        ("0", False),
        (None, False),
        ("no", False),
        (2, False),
        ([], False),
    ],
)
def test_as_bool(value: Any, expected: bool) -> None:
    assert as_bool(value) is expected


def test_scalar_readers() -> None:
    assert as_int("12") == 12
    assert as_int("x", 7) == 7
    assert as_int(True, 3) == 3
    assert as_csv("a, b,,c") == ("a", "b", "c")
    assert as_csv(["a", 1, None]) == ("a", "1")
    assert as_time("2026-01-02T03:04:05+02:00") == datetime(2026, 1, 2, 1, 4, 5, tzinfo=UTC)
    assert as_time("garbage") is None


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=12), children, max_size=4)
    ),
    max_leaves=25,
)
cert_keys = st.sampled_from([*sorted(certificate_json()), "validation", "results", "page"])


@given(st.dictionaries(cert_keys, json_values, max_size=8))
def test_tolerant_reader_never_breaks_on_odd_types(body: dict[str, Any]) -> None:
    body["id"] = "fixed"
    cert = Certificate.from_json(body)
    assert cert.id == "fixed"
    CertificatePage.from_json({"results": [body], **body}, page=1, limit=100)
    VerificationStatus.from_json(body)
    CsrCheck.from_json(body)
