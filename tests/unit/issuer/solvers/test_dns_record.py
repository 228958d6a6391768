"""CNAMERecord normalisation, names, nameserver addresses and spec errors."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from controller.issuer.solvers.dns import CNAMERecord, InvalidSolverSpec, build_dns_provider
from controller.issuer.solvers.dns.nameserver import Nameserver
from controller.issuer.solvers.dns.record import is_within
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets

P1 = "_0F7041C2A1B5E0B6E4DC1CBB7F3F2DB3.www.Example.com"
P2 = (
    "1397FC3B58A8E8E2F06B8F6D6E6F1E9C.A53D9CE1F74CE9B8C4E5A9A1D0B7F7CC.661862d3f04226a.comodoca.com"
)


def test_from_zerossl_makes_both_names_absolute_and_lowercase() -> None:
    record = CNAMERecord.from_zerossl(P1, P2)
    assert record.name == P1.lower() + "."
    assert record.target == P2.lower() + "."
    assert record.ttl == 60


@pytest.mark.parametrize("suffix", ["", ".", "..", ". ", " "])
def test_trailing_dots_and_space_do_not_matter(suffix: str) -> None:
    assert CNAMERecord.from_zerossl(P1 + suffix, P2 + suffix) == CNAMERecord.from_zerossl(P1, P2)


@pytest.mark.parametrize(
    ("p1", "p2", "problem"),
    [
        ("", P2, "record name is empty"),
        (P1, "  ", "record target is empty"),
        ("_abc.*.example.com", P2, "invalid label '*'"),
        ("_abc..example.com", P2, "invalid label ''"),
        ("_abc.-x.example.com", P2, "invalid label '-x'"),
        (P1, "has space.comodoca.com", "invalid label 'has space'"),
        ("_" + "a" * 63 + ".example.com", P2, "invalid label"),
        (".".join(["abcdefghij"] * 24), P2, "longer than 253"),
    ],
)
def test_bad_names_are_rejected_clearly(p1: str, p2: str, problem: str) -> None:
    with pytest.raises(InvalidSolverSpec, match=problem.replace("*", r"\*")):
        CNAMERecord.from_zerossl(p1, p2)


@pytest.mark.parametrize("ttl", [0, -1, 86401])
def test_ttl_must_be_sane(ttl: int) -> None:
    with pytest.raises(InvalidSolverSpec, match="TTL"):
        CNAMERecord.from_zerossl(P1, P2, ttl)


_label = st.from_regex(r"[a-zA-Z0-9_]([a-zA-Z0-9_-]{0,10}[a-zA-Z0-9_])?", fullmatch=True)
_names = st.lists(_label, min_size=1, max_size=6).map(".".join)


@given(_names, _names, st.sampled_from(["", "."]))
def test_normalising_is_idempotent(name: str, target: str, dot: str) -> None:
    record = CNAMERecord.from_zerossl(name + dot, target)
    assert CNAMERecord(record.name, record.target, record.ttl) == record
    assert record.name.endswith(".")
    assert not record.name.endswith("..")
    assert record.name == record.name.lower()


@pytest.mark.parametrize(
    ("name", "zone", "inside"),
    [
        ("a.example.com.", "example.com.", True),
        ("example.com.", "example.com.", True),
        ("aexample.com.", "example.com.", False),
        ("example.com.", "a.example.com.", False),
    ],
)
def test_is_within_respects_label_boundaries(name: str, zone: str, inside: bool) -> None:
    assert is_within(name, zone) is inside


@pytest.mark.parametrize(
    ("text", "host", "port"),
    [
        ("ns1.example.com", "ns1.example.com", 53),
        ("10.0.0.1:5353", "10.0.0.1", 5353),
        ("[2001:db8::1]:5300", "2001:db8::1", 5300),
        ("[2001:db8::1]", "2001:db8::1", 53),
        ("2001:db8::1", "2001:db8::1", 53),
    ],
)
def test_nameserver_addresses(text: str, host: str, port: int) -> None:
    server = Nameserver.parse(text)
    assert (server.host, server.port) == (host, port)
    assert Nameserver.parse(str(server)) == server


@pytest.mark.parametrize("text", ["", ":53", "ns:", "ns:abc", "ns:70000", "[::1", "[::1]x"])
def test_bad_nameserver_addresses(text: str) -> None:
    with pytest.raises(InvalidSolverSpec, match="nameserver"):
        Nameserver.parse(text)


def build(spec: Any) -> object:
    return build_dns_provider(
        spec, namespace="ns", secrets=FakeSecrets(), owner={}, kube=None, timeout=1.0
    )


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({}, "dns needs exactly one of rfc2136, cloudflare, route53, externalDNS"),
        ({"rfc2136": {"nameserver": "a"}, "cloudflare": {}}, r"\(got rfc2136, cloudflare\)"),
        ({"rfc2136": "ns1"}, "dns.rfc2136 must be an object"),
        ({"rfc2136": {}}, "dns.rfc2136.nameserver is required"),
        ({"rfc2136": {"nameserver": 53}}, "dns.rfc2136.nameserver must be a string"),
        (
            {"rfc2136": {"nameserver": "a", "tsigKeyName": "k"}},
            "tsigKeyName and tsigSecretRef go together",
        ),
        (
            {"rfc2136": {"nameserver": "a", "tsigSecretRef": {"name": "s"}}},
            r"dns.rfc2136.tsigSecretRef.key is required",
        ),
        (
            {"rfc2136": {"nameserver": "a", "tsigAlgorithm": "HMACSHA384"}},
            "tsigAlgorithm 'HMACSHA384' is not one of",
        ),
        ({"rfc2136": {"nameserver": "a", "zone": "bad zone"}}, "the zone 'bad zone'"),
    ],
)
def test_bad_specs_name_the_field(spec: Any, problem: str) -> None:
    with pytest.raises(InvalidSolverSpec, match=problem) as caught:
        build(spec)
    assert not caught.value.retryable


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout"):
        build_dns_provider(
            {"rfc2136": {"nameserver": "a"}},
            namespace="ns",
            secrets=FakeSecrets(),
            owner={},
            kube=None,
            timeout=0,
        )
