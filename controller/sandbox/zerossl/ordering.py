"""The checks of ``POST /certificates`` that need no state: domains, CSR, validity, CN rules.

Check order (first failure wins): missing domains 2812, missing CSR 2819, validity 2807 (365
days on a free plan too), the domain list (2808/2811/2809/2843/2823/2877/2880), the CSR 2818,
wildcard consistency 28181/28182, CN = first domain 2836, CSR names = domains 2818.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from controller.sandbox.zerossl.csr import Csr, CsrError, load_csr
from controller.sandbox.zerossl.errors import ApiError
from controller.sandbox.zerossl.names import is_wildcard, parse_domains, with_www_variants
from controller.sandbox.zerossl.rules import Rules

VALIDITY_DAYS = frozenset({90, 365})
TRUE_VALUES = frozenset({"1", "true", "yes"})


@dataclass(frozen=True, slots=True)
class OrderRequest:
    domains: tuple[str, ...]
    csr: Csr
    validity_days: int
    replacement_for: str


def parse_order(params: Mapping[str, str], *, paid: bool, rules: Rules) -> OrderRequest:
    raw_domains = params.get("certificate_domains", "").strip()
    if not raw_domains:
        raise ApiError(2812)
    pem = params.get("certificate_csr", "").strip()
    if not pem:
        raise ApiError(2819)
    validity = _validity(params.get("certificate_validity_days", "").strip() or "90", paid=paid)
    domains = parse_domains(raw_domains, max_domains=rules.max_domains)
    try:
        csr = load_csr(pem)
    except CsrError as exc:
        raise ApiError(2818, str(exc)) from exc
    _check_common_name(csr, domains, accept_empty_cn=rules.accept_empty_cn)
    requested = {d.lower() for d in domains}
    in_csr = {n.lower() for n in csr.names}
    if in_csr != requested:
        raise ApiError(
            2818,
            f"CSR names {sorted(in_csr)} differ from certificate_domains {sorted(requested)}",
        )
    strict = params.get("strict_domains", "").strip().lower() in TRUE_VALUES
    return OrderRequest(
        domains=tuple(domains if strict else with_www_variants(domains)),
        csr=csr,
        validity_days=validity,
        replacement_for=params.get("replacement_for_certificate", "").strip(),
    )


def _validity(raw: str, *, paid: bool) -> int:
    days = int(raw) if raw.isdigit() else 0
    if days not in VALIDITY_DAYS:
        raise ApiError(2807, f"{raw!r}: only 90 or 365")
    if days == 365 and not paid:
        raise ApiError(2807, "1-year certificates need a paid plan")
    return days


def _check_common_name(csr: Csr, domains: list[str], *, accept_empty_cn: bool) -> None:
    cn = csr.common_name
    wildcard_order = is_wildcard(domains[0])
    if cn is not None and is_wildcard(cn) and not wildcard_order:
        raise ApiError(28181)
    if cn is not None and wildcard_order and not is_wildcard(cn):
        raise ApiError(28182)
    if cn is None:
        if not accept_empty_cn:
            raise ApiError(2836, "the CSR has no common name")
    elif cn.lower() != domains[0].lower():
        raise ApiError(2836, f"CSR CN {cn!r} is not the first domain {domains[0]!r}")
