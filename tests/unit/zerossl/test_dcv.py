from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from controller.zerossl.dcv import MAX_CLAUSES, describe_details

DCV = "domain_control_validation_failed"

# The two examples of ZeroSSL's verify-domains documentation.
CNAME_DETAILS = {
    "domain.com": {
        "domain.com": {
            "cname_found": 0,
            "record_correct": 0,
            "target_host": "_2B449B729284AA7CB56014584F261FBF",
            "target_record": "A1063BBA157D.686A709A3.4BAD7A.CA.COM",
            "actual_record": "",
        },
        "www.domain.com": {
            "cname_found": 1,
            "record_correct": 0,
            "target_host": "_2B449B729284AA7CB56014584F261FBF",
            "target_record": "A1063BBA157D.686A709A3.4BAD7A.CA.COM",
            "actual_record": "OLD.TARGET.COM",
        },
    }
}
URL_ZERO = "http://zero.example.com/.well-known/pki-validation/E437B2F258578249498AA2A3708D6951.txt"
URL_ONE = "http://one.example.com/.well-known/pki-validation/E437B2F258578249498AA2A3708D6951.txt"
HTTP_DETAILS = {
    "zero.example-zero.com": {
        URL_ZERO: {
            "file_found": 0,
            "error": True,
            "error_slug": "wrong_file_content",
            "error_info": "The validation file was found, but the contents are wrong.",
        }
    },
    "one.example-one.com": {
        URL_ONE: {
            "file_found": 0,
            "error": True,
            "error_slug": "bad_response_code",
            "error_info": "Server responded with status code: 404",
        }
    },
    "example.com": {"validation_successful": True},
}


def test_cname_details() -> None:
    assert describe_details(DCV, CNAME_DETAILS) == (
        "domain.com: CNAME _2B449B729284AA7CB56014584F261FBF.domain.com not found",
        "www.domain.com: CNAME _2B449B729284AA7CB56014584F261FBF.www.domain.com points to "
        "OLD.TARGET.COM, expected A1063BBA157D.686A709A3.4BAD7A.CA.COM",
    )


def test_http_details_skip_successful_domains() -> None:
    assert describe_details(DCV, HTTP_DETAILS) == (
        f"zero.example-zero.com: file {URL_ZERO} wrong_file_content "
        "(The validation file was found, but the contents are wrong.)",
        f"one.example-one.com: file {URL_ONE} bad_response_code "
        "(Server responded with status code: 404)",
    )


def test_flat_entry_and_wildcard_cname() -> None:
    details = {"*.example.com": {"cname_found": "1", "record_correct": "1"}}
    assert describe_details(DCV, details) == ()
    details = {"*.example.com": {"cname_found": 0, "target_host": "_ABC.example.com"}}
    assert describe_details(DCV, details) == ("*.example.com: CNAME _ABC.example.com not found",)


def test_caa_details_as_mapping_or_list() -> None:
    expected = ("a.example: CAA records must allow sectigo.com",)
    assert describe_details("invalid_caa_records_detected", {"a.example": {}}) == expected
    assert describe_details("caa_record_check_failed", {"domains": ["a.example"]}) == expected


def test_other_errors_have_no_clauses() -> None:
    assert describe_details("certificate_not_found", {"x": 1}) == ()


def test_clauses_are_capped() -> None:
    details = {f"d{i}.example.com": {"cname_found": 0} for i in range(25)}
    clauses = describe_details(DCV, details)
    assert len(clauses) == MAX_CLAUSES + 1
    assert clauses[-1] == "and 15 more"


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=20,
)


@given(
    st.dictionaries(st.text(max_size=10), json_values, max_size=5),
    st.sampled_from([DCV, "caa_record_check_failed"]),
)
def test_never_raises_on_odd_shapes(details: dict[str, Any], type_: str) -> None:
    clauses = describe_details(type_, details)
    assert all(isinstance(c, str) and c for c in clauses)
