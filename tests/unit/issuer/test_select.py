"""Solver selection: cert-manager's precedence, ties, wildcards, and method capability."""

from __future__ import annotations

from typing import Any

import pytest

from controller.issuer.solvers.select import (
    NameKind,
    NoSolver,
    ValidationPlan,
    name_kind,
    plan_validation,
    select_solver,
)
from controller.issuer.spec import Method, Selector, Solver

CONFIG: dict[Method, dict[str, Any]] = {
    Method.HTTP: {"none": {}},
    Method.DNS: {"route53": {}},
    Method.EMAIL: {"localPart": "admin"},
}


def solvers(*selectors: Selector | None, method: Method = Method.DNS) -> list[Solver]:
    return [Solver(i, method, CONFIG[method], s) for i, s in enumerate(selectors)]


def names(*values: str) -> Selector:
    return Selector(dns_names=values)


def zones(*values: str) -> Selector:
    return Selector(dns_zones=values)


def labels(**values: str) -> Selector:
    return Selector(match_labels=values)


LABELS = {"team": "a", "env": "prod"}


@pytest.mark.parametrize(
    ("domain", "candidates", "expected"),
    [
        pytest.param("a.example.com", [None], 0, id="no-selector-matches-all"),
        pytest.param("a.example.com", [Selector()], 0, id="empty-selector-matches-all"),
        pytest.param("a.example.com", [None, zones("example.com")], 1, id="zone-beats-match-all"),
        pytest.param(
            "a.example.com", [zones("example.com"), None], 0, id="zone-beats-later-match-all"
        ),
        pytest.param(
            "a.example.com",
            [zones("a.example.com"), names("a.example.com")],
            1,
            id="dnsnames-beat-zones",
        ),
        pytest.param(
            "a.b.example.com",
            [zones("example.com"), zones("b.example.com")],
            1,
            id="longest-zone-wins",
        ),
        pytest.param(
            "a.example.com",
            [zones("com", "example.com"), zones("example.com")],
            0,
            id="tie-first-wins",
        ),
        pytest.param(
            "a.example.com",
            [labels(team="a", env="prod"), zones("example.com")],
            1,
            id="zones-beat-labels",
        ),
        pytest.param(
            "a.example.com",
            [labels(team="a"), labels(team="a", env="prod")],
            1,
            id="more-labels-win",
        ),
        pytest.param(
            "a.example.com", [labels(team="a"), labels(env="prod")], 0, id="equal-labels-first-wins"
        ),
        pytest.param(
            "a.example.com",
            [
                Selector(dns_names=("a.example.com",), dns_zones=("example.com",)),
                Selector(dns_names=("a.example.com",), dns_zones=("a.example.com",)),
            ],
            1,
            id="both-dnsnames-then-longer-zone",
        ),
        pytest.param(
            "a.example.com",
            [
                names("a.example.com"),
                Selector(dns_names=("a.example.com",), match_labels={"team": "a"}),
            ],
            1,
            id="both-dnsnames-then-labels",
        ),
        pytest.param(
            "*.example.com",
            [names("*.example.com"), zones("example.com")],
            0,
            id="wildcard-by-name",
        ),
        pytest.param(
            "*.example.com", [names("example.com"), zones("example.com")], 1, id="wildcard-in-zone"
        ),
        pytest.param("A.Example.COM", [zones("example.com.")], 0, id="case-and-trailing-dot"),
        pytest.param("example.com", [zones("example.com")], 0, id="zone-apex"),
    ],
)
def test_precedence(domain: str, candidates: list[Selector | None], expected: int) -> None:
    chosen = select_solver(domain, LABELS, solvers(*candidates))
    assert isinstance(chosen, Solver)
    assert chosen.index == expected


@pytest.mark.parametrize(
    ("domain", "selector"),
    [
        pytest.param("a.example.com", zones("ample.com"), id="zone-is-label-aligned"),
        pytest.param("example.com", zones("a.example.com"), id="parent-not-in-child-zone"),
        pytest.param("a.example.com", names("b.example.com"), id="other-name"),
        pytest.param("a.example.com", labels(team="b"), id="label-value-differs"),
        pytest.param("a.example.com", labels(owner="x"), id="label-missing"),
        pytest.param(
            "a.example.com",
            Selector(dns_names=("a.example.com",), dns_zones=("example.org",)),
            id="all-parts-must-match",
        ),
    ],
)
def test_selector_does_not_match(domain: str, selector: Selector) -> None:
    result = select_solver(domain, LABELS, solvers(selector))
    assert isinstance(result, NoSolver)
    assert "no solver's selector matches" in result.message


@pytest.mark.parametrize(
    ("name", "kind"),
    [
        ("www.example.com", NameKind.DNS),
        ("*.example.com", NameKind.WILDCARD),
        ("203.0.113.7", NameKind.IPV4),
        ("2001:db8::1", NameKind.IPV6),
    ],
)
def test_name_kind(name: str, kind: NameKind) -> None:
    assert name_kind(name) is kind


def _mixed() -> list[Solver]:
    return [
        Solver(0, Method.HTTP, CONFIG[Method.HTTP], names("*.example.com", "203.0.113.7")),
        Solver(1, Method.DNS, CONFIG[Method.DNS], None),
        Solver(2, Method.EMAIL, CONFIG[Method.EMAIL], None),
    ]


@pytest.mark.parametrize(
    ("domain", "expected"),
    [
        pytest.param("*.example.com", 1, id="wildcard-skips-http-even-if-more-specific"),
        pytest.param("www.example.com", 1, id="plain-name-any-method"),
    ],
)
def test_capability_filter(domain: str, expected: int) -> None:
    chosen = select_solver(domain, {}, _mixed())
    assert isinstance(chosen, Solver)
    assert chosen.index == expected


def test_ip_only_by_http() -> None:
    chosen = select_solver("203.0.113.7", {}, _mixed())
    assert isinstance(chosen, Solver)
    assert chosen.method is Method.HTTP
    refused = select_solver("203.0.113.7", {}, _mixed()[1:])
    assert isinstance(refused, NoSolver)
    assert "needs a http solver; only solvers[1] (dns), solvers[2] (email) match" in refused.message


def test_ipv6_never() -> None:
    refused = select_solver("2001:db8::1", {}, _mixed())
    assert isinstance(refused, NoSolver)
    assert "IPv6" in refused.message


def test_plan_one_method_per_order() -> None:
    mixed = [
        Solver(0, Method.HTTP, CONFIG[Method.HTTP], names("www.example.com")),
        Solver(1, Method.DNS, CONFIG[Method.DNS], None),
    ]
    result = plan_validation(["www.example.com", "example.com"], {}, mixed)
    assert isinstance(result, NoSolver)
    assert result.domain == "example.com"
    assert "one method" in result.message
    plan = plan_validation(["a.example.com", "b.example.com"], {}, mixed[1:])
    assert isinstance(plan, ValidationPlan)
    assert plan.method is Method.DNS
    assert [d for d, _ in plan.choices] == ["a.example.com", "b.example.com"]


def test_plan_different_solvers_same_method() -> None:
    per_zone = [
        Solver(0, Method.DNS, {"cloudflare": {}}, zones("example.com")),
        Solver(1, Method.DNS, {"route53": {}}, zones("example.org")),
    ]
    plan = plan_validation(["example.com", "example.org"], {}, per_zone)
    assert isinstance(plan, ValidationPlan)
    assert [s.index for _, s in plan.choices] == [0, 1]
