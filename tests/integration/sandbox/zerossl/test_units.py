"""The emulator's pure pieces: delay specs, fault drawing, the rate limiter, name rules."""

from __future__ import annotations

import random

import pytest

from controller.sandbox.zerossl import EndpointFaults, Faults, IssuanceDelay
from controller.sandbox.zerossl.errors import ApiError
from controller.sandbox.zerossl.faults import Fault
from controller.sandbox.zerossl.names import admin_emails, authorization_domains, parse_domains
from controller.sandbox.zerossl.ratelimit import RateLimiter
from controller.sandbox.zerossl.resolver import parse_address


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("zero", IssuanceDelay(0, 0)),
        ("0", IssuanceDelay(0, 0)),
        ("2.5", IssuanceDelay(2.5, 2.5)),
        ("fixed:3", IssuanceDelay(3, 3)),
        ("uniform:1:4", IssuanceDelay(1, 4)),
    ],
)
def test_issuance_delay_specs(spec: str, expected: IssuanceDelay) -> None:
    assert IssuanceDelay.parse(spec) == expected


@pytest.mark.parametrize("spec", ["", "soon", "fixed:", "uniform:5:1", "uniform:1", "-1", "zero:1"])
def test_bad_issuance_delay_specs(spec: str) -> None:
    with pytest.raises(ValueError, match="issuance delay"):
        IssuanceDelay.parse(spec)


def test_uniform_delay_samples_within_bounds() -> None:
    rng = random.Random(1)
    samples = [IssuanceDelay(1, 2).sample(rng) for _ in range(200)]
    assert all(1 <= s <= 2 for s in samples)
    assert len(set(samples)) > 100


def test_fault_draws_follow_the_rates() -> None:
    faults = EndpointFaults(server_error_rate=0.2, timeout_rate=0.3, internal_error_rate=0.1)
    rng = random.Random(3)
    draws = [faults.draw(rng) for _ in range(10_000)]
    shares = {kind: draws.count(kind) / len(draws) for kind in (*Fault, None)}
    assert shares[Fault.SERVER_ERROR] == pytest.approx(0.2, abs=0.02)
    assert shares[Fault.TIMEOUT] == pytest.approx(0.3, abs=0.02)
    assert shares[Fault.INTERNAL_ERROR] == pytest.approx(0.1, abs=0.02)
    assert shares[None] == pytest.approx(0.4, abs=0.02)


def test_specific_endpoint_faults_win_over_the_wildcard_and_phase_matters() -> None:
    faults = Faults(
        endpoints={
            "*": EndpointFaults(server_error_rate=1.0),
            "get": EndpointFaults(internal_error_rate=1.0, after_effect=True),
        }
    )
    rng = random.Random(0)
    assert faults.draw("list", rng, after_effect=False) is Fault.SERVER_ERROR
    assert faults.draw("get", rng, after_effect=False) is None
    assert faults.draw("get", rng, after_effect=True) is Fault.INTERNAL_ERROR
    assert Faults().draw("get", rng, after_effect=False) is None


def test_faults_round_trip_through_json() -> None:
    faults = Faults(
        endpoints={"create": EndpointFaults(timeout_rate=0.5)}, hang_seconds=2, stuck_issuance=True
    )
    assert Faults.from_json(faults.to_json(), {"create"}) == faults


def test_rate_limiter_refills_over_time() -> None:
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=2, clock=lambda: now[0])
    assert [limiter.allow("k") for _ in range(3)] == [True, True, False]
    assert limiter.allow("other")
    now[0] = 0.5  # one token back
    assert [limiter.allow("k") for _ in range(2)] == [True, False]
    now[0] = 100.0  # never more than the burst
    assert [limiter.allow("k") for _ in range(3)] == [True, True, False]


def test_authorization_domains_and_admin_emails() -> None:
    assert authorization_domains("*.a.b.example.com") == [
        "a.b.example.com",
        "b.example.com",
        "example.com",
    ]
    assert authorization_domains("example.com") == ["example.com"]
    assert admin_emails("www.example.com")[5:] == [
        "admin@example.com",
        "administrator@example.com",
        "hostmaster@example.com",
        "postmaster@example.com",
        "webmaster@example.com",
    ]
    assert admin_emails("192.0.2.1") == []


def test_domain_list_keeps_spelling_and_order() -> None:
    assert parse_domains(" A.example.com ,192.0.2.1", max_domains=5) == [
        "A.example.com",
        "192.0.2.1",
    ]
    with pytest.raises(ApiError) as too_many:
        parse_domains("a.example.com,b.example.com", max_domains=1)
    assert too_many.value.code == 2880
    with pytest.raises(ApiError) as numeric_tld:
        parse_domains("host.123", max_domains=1)
    assert numeric_tld.value.code == 2808


@pytest.mark.parametrize(
    ("text", "expected"),
    [("127.0.0.1:80", ("127.0.0.1", 80)), ("[::1]:8053", ("::1", 8053)), ("h:1", ("h", 1))],
)
def test_addresses(text: str, expected: tuple[str, int]) -> None:
    assert parse_address(text) == expected


@pytest.mark.parametrize("text", ["localhost", ":80", "h:0", "h:70000", "h:x"])
def test_bad_addresses(text: str) -> None:
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_address(text)
