"""Domain rules of ``certificate_domains`` and the names derived from a domain.

Names keep the spelling the client sent (they end up in the certificate exactly so); comparisons
are case-insensitive.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Sequence
from typing import Final

from controller.sandbox.zerossl.errors import ApiError

UNSUPPORTED_TLDS: Final = frozenset({"local", "localhost", "example", "invalid", "test"})
MAX_NAME_LENGTH: Final = 64
ADMIN_MAILBOXES: Final = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
_LABEL = re.compile(r"^(?!-)[a-z0-9-]{1,63}(?<!-)$", re.IGNORECASE)


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def is_wildcard(name: str) -> bool:
    return name.startswith("*.")


def base_domain(name: str) -> str:
    """The name without its wildcard label."""
    return name[2:] if is_wildcard(name) else name


def authorization_domains(name: str) -> list[str]:
    """The base domain and its parents down to two labels, nearest first (Sectigo's ADNs)."""
    labels = base_domain(name).split(".")
    return [".".join(labels[i:]) for i in range(max(len(labels) - 1, 1))]


def admin_emails(name: str) -> list[str]:
    """The five admin addresses of the domain and of each parent ADN."""
    if is_ip(name):
        return []
    return [f"{box}@{adn}" for adn in authorization_domains(name) for box in ADMIN_MAILBOXES]


def parse_domains(raw: str, *, max_domains: int) -> list[str]:
    """Split and check a ``certificate_domains`` value; raise the documented error otherwise."""
    domains = [part.strip() for part in raw.split(",")]
    if domains == [""]:
        raise ApiError(2812)
    seen: set[str] = set()
    for domain in domains:
        if domain.lower() in seen:
            raise ApiError(2811, f"{domain} is listed twice")
        seen.add(domain.lower())
        _check_name(domain)
    if len(domains) > 1 and any(is_wildcard(d) for d in domains):
        raise ApiError(2809)
    if len(domains) > max_domains:
        raise ApiError(2880, f"{len(domains)} names; at most {max_domains}")
    return domains


def with_www_variants(domains: Sequence[str]) -> list[str]:
    """``domains`` plus the www / non-www twin of each plain name (what non-strict mode adds)."""
    result = list(domains)
    present = {d.lower() for d in domains}
    for domain in domains:
        if is_ip(domain) or is_wildcard(domain):
            continue
        twin = domain[4:] if domain.lower().startswith("www.") else f"www.{domain}"
        if twin.count(".") >= 1 and twin.lower() not in present:
            present.add(twin.lower())
            result.append(twin)
    return result


def _check_name(name: str) -> None:
    if not name:
        raise ApiError(2808, "empty name in the list")
    if is_ip(name):
        if ipaddress.ip_address(name).version == 6:
            raise ApiError(2843)
        return
    if len(name) > MAX_NAME_LENGTH:
        raise ApiError(2823, f"{name[:20]}... is longer than {MAX_NAME_LENGTH} characters")
    labels = base_domain(name).split(".")
    if len(labels) < 2 or labels[-1].isdigit() or not all(_LABEL.match(lb) for lb in labels):
        raise ApiError(2808, f"{name!r} is not a valid domain name")
    if labels[-1].lower() in UNSUPPORTED_TLDS:
        raise ApiError(2877, f".{labels[-1]} is a reserved top-level domain")
