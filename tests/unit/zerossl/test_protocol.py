from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from controller.zerossl.errors import ErrorKind, ZeroSSLError
from controller.zerossl.protocol import ROUTES, Endpoint, decode_response, parse_retry_after

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def test_every_endpoint_has_a_route_and_only_side_effect_free_ones_retry() -> None:
    assert set(ROUTES) == set(Endpoint)
    retryable = {e for e, r in ROUTES.items() if r.retryable}
    assert retryable == {
        Endpoint.GET,
        Endpoint.LIST,
        Endpoint.STATUS,
        Endpoint.DOWNLOAD,
        Endpoint.VALIDATE_CSR,
    }


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("120", 120.0),
        (" 0 ", 0.0),
        ("Sun, 01 Mar 2026 12:00:30 GMT", 30.0),
        ("Sun, 01 Mar 2026 11:00:00 GMT", 0.0),  # in the past
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, NOW) == expected


def decode(status: int, body: bytes | object, **kw: object) -> object:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return decode_response(Endpoint.GET, status, raw, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("status", "body", "kind", "code"),
    [
        (
            200,
            {"success": False, "error": {"code": 2803, "type": "certificate_not_found"}},
            ErrorKind.PERMANENT,
            2803,
        ),
        (200, {"success": False, "error": {"code": "2817", "type": "x"}}, ErrorKind.QUOTA, 2817),
        (
            200,
            {"error": {"code": 101, "type": "invalid_access_key", "info": None}},
            ErrorKind.ISSUER,
            101,
        ),
        (200, {"success": "0"}, ErrorKind.RETRYABLE, None),
        (
            500,
            {"success": False, "error": {"code": 111, "type": "internal_server_error"}},
            ErrorKind.RETRYABLE,
            111,
        ),
        (
            429,
            {"success": False, "error": {"code": 2803, "type": "certificate_not_found"}},
            ErrorKind.THROTTLED,
            2803,
        ),
        (429, b"<html>429</html>", ErrorKind.THROTTLED, None),
        (503, b"<html>503</html>", ErrorKind.RETRYABLE, None),
        (404, {"message": "not here"}, ErrorKind.RETRYABLE, None),
        (200, b"", ErrorKind.RETRYABLE, None),
        (200, b'{"id": "x"', ErrorKind.RETRYABLE, None),
        (200, [1, 2], ErrorKind.RETRYABLE, None),
    ],
)
def test_error_shapes(status: int, body: object, kind: ErrorKind, code: int | None) -> None:
    with pytest.raises(ZeroSSLError) as caught:
        decode(status, body)
    assert caught.value.kind is kind
    assert caught.value.code == code
    assert caught.value.http_status == status


def test_success_shapes_pass_through() -> None:
    assert decode(200, {"success": 1}) == {"success": 1}
    assert decode(200, {"success": True, "id": "x"}) == {"success": True, "id": "x"}
    assert decode(200, {"valid": False, "error": "-10 bad"}) == {"valid": False, "error": "-10 bad"}
    assert decode(201, {"id": "x"}) == {"id": "x"}


def test_error_carries_retry_after_and_list_details() -> None:
    body = {
        "success": False,
        "error": {"code": 2840, "type": "invalid_caa_records_detected", "details": ["a.example"]},
    }
    with pytest.raises(ZeroSSLError) as caught:
        decode(200, body, retry_after=3.0, certificate_id="abc")
    assert caught.value.retry_after == 3.0
    assert caught.value.certificate_id == "abc"
    assert "a.example: CAA records must allow sectigo.com" in caught.value.explanation
