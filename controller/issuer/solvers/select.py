"""Solver selection with cert-manager's ACME semantics, plus what each method can validate.

Invariants (cert-manager's ``solverpicker.Pick``, reached through a capability filter):
- A solver is a candidate for a name only if its method can validate that kind of name:
  wildcards need dns or email (no file validation for wildcards since CA/B Forum SC45), IPv4
  addresses need http (ZeroSSL validates IPs by file only), IPv6 is never possible (2843).
- A candidate's selector must match: every matchLabels pair on the request's labels, the name
  among dnsNames (if any; a wildcard is matched as written, "*.example.com"), the name inside
  one of dnsZones (if any; equal to the zone or below it). A solver without a selector, or
  with an empty one, matches every name.
- Among matches the most specific wins, compared in this order: a dnsNames match, then the
  number of labels of the longest matching zone, then the number of matchLabels; on a tie the
  earlier solver wins. Names and zones compare case-insensitively, trailing dots ignored.
- One order uses one ZeroSSL validation method: domains whose chosen solvers differ in method
  are reported, not guessed at.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from controller.issuer.spec import Method, Selector, Solver


class NameKind(StrEnum):
    DNS = "DNS name"
    WILDCARD = "wildcard name"
    IPV4 = "IPv4 address"
    IPV6 = "IPv6 address"


CAPABLE: dict[NameKind, frozenset[Method]] = {
    NameKind.DNS: frozenset(Method),
    NameKind.WILDCARD: frozenset({Method.DNS, Method.EMAIL}),
    NameKind.IPV4: frozenset({Method.HTTP}),
    NameKind.IPV6: frozenset(),
}


def name_kind(name: str) -> NameKind:
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return NameKind.WILDCARD if name.startswith("*.") else NameKind.DNS
    return NameKind.IPV4 if address.version == 4 else NameKind.IPV6


@dataclass(frozen=True, slots=True)
class NoSolver:
    """No solver can validate ``domain``; ``message`` says why, for the request's condition."""

    domain: str
    message: str


@dataclass(frozen=True, slots=True, order=True)
class _Specificity:
    dns_name: int
    zone_labels: int
    match_labels: int


def _labels(name: str) -> list[str]:
    return [label for label in name.lower().rstrip(".").split(".") if label]


def _zone_labels(zone: str, name: str) -> int:
    """Labels of ``zone`` if ``name`` is the zone or inside it, else 0."""
    zone_labels, name_labels = _labels(zone), _labels(name)
    if not zone_labels or len(zone_labels) > len(name_labels):
        return 0
    return len(zone_labels) if name_labels[-len(zone_labels) :] == zone_labels else 0


def _specificity(
    selector: Selector | None, name: str, labels: Mapping[str, str]
) -> _Specificity | None:
    """How specifically ``selector`` matches; None if it does not match."""
    if selector is None:
        return _Specificity(0, 0, 0)
    if any(labels.get(k) != v for k, v in selector.match_labels.items()):
        return None
    dns_name = 0
    if selector.dns_names:
        wanted = name.lower().rstrip(".")
        if all(d.lower().rstrip(".") != wanted for d in selector.dns_names):
            return None
        dns_name = 1
    zone = 0
    if selector.dns_zones:
        zone = max(_zone_labels(z, name) for z in selector.dns_zones)
        if zone == 0:
            return None
    return _Specificity(dns_name, zone, len(selector.match_labels))


def select_solver(
    domain: str, labels: Mapping[str, str], solvers: Sequence[Solver]
) -> Solver | NoSolver:
    """The solver for ``domain`` (a request carrying ``labels``), or why there is none."""
    kind = name_kind(domain)
    capable = CAPABLE[kind]
    if not capable:
        return NoSolver(domain, f"{domain}: ZeroSSL does not issue for IPv6 addresses")
    best: tuple[_Specificity, Solver] | None = None
    incapable: list[Solver] = []
    for solver in solvers:
        specificity = _specificity(solver.selector, domain, labels)
        if specificity is None:
            continue
        if solver.method not in capable:
            incapable.append(solver)
            continue
        if best is None or specificity > best[0]:
            best = (specificity, solver)
    if best is not None:
        return best[1]
    if incapable:
        used = ", ".join(f"solvers[{s.index}] ({s.method})" for s in incapable)
        needed = " or ".join(sorted(capable))
        return NoSolver(domain, f"{domain} ({kind}) needs a {needed} solver; only {used} match")
    return NoSolver(domain, f"no solver's selector matches {domain}")


@dataclass(frozen=True, slots=True)
class ValidationPlan:
    """The chosen solver of every domain, all of one ZeroSSL method."""

    choices: tuple[tuple[str, Solver], ...]

    @property
    def method(self) -> Method:
        return self.choices[0][1].method


def plan_validation(
    domains: Sequence[str], labels: Mapping[str, str], solvers: Sequence[Solver]
) -> ValidationPlan | NoSolver:
    """A solver per domain, or the first domain none fits (or that breaks method unity)."""
    choices: list[tuple[str, Solver]] = []
    for domain in domains:
        chosen = select_solver(domain, labels, solvers)
        if isinstance(chosen, NoSolver):
            return chosen
        if choices and chosen.method is not choices[0][1].method:
            first_domain, first = choices[0]
            return NoSolver(
                domain,
                f"ZeroSSL validates a certificate with one method, but {first_domain} got "
                f"solvers[{first.index}] ({first.method}) and {domain} got "
                f"solvers[{chosen.index}] ({chosen.method})",
            )
        choices.append((domain, chosen))
    return ValidationPlan(tuple(choices))
