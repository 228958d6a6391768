"""The CNAME record ZeroSSL's CNAME_CSR_HASH method asks for.

Invariant: ``name`` and ``target`` are lowercase, absolute (exactly one trailing dot) and valid
host names (letters, digits, hyphens, underscores; labels of 1..63 octets; at most 253 octets
without the final dot). A relative target is the classic pitfall (certmagic#304): a provider
would append its zone and ZeroSSL would see ``...comodoca.com.example.com``; here every target
is absolute, so no provider can do that.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.issuer.solvers.dns.errors import InvalidSolverSpec

_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_MAX_NAME = 253
_MAX_TTL = 86400


def absolute_name(raw: str, *, what: str = "name") -> str:
    """``raw`` as a lowercase absolute host name; InvalidSolverSpec if it is not one."""
    text = raw.strip().lower().rstrip(".")
    if not text:
        raise InvalidSolverSpec(f"the {what} is empty")
    if len(text) > _MAX_NAME:
        raise InvalidSolverSpec(f"the {what} {text!r} is longer than {_MAX_NAME} characters")
    bad = next((label for label in text.split(".") if not _LABEL.match(label)), None)
    if bad is not None:
        raise InvalidSolverSpec(f"the {what} {text!r} has an invalid label {bad!r}")
    return text + "."


def is_within(name: str, zone: str) -> bool:
    """True if absolute ``name`` equals absolute ``zone`` or lies under it."""
    return name == zone or name.endswith("." + zone)


@dataclass(frozen=True, slots=True)
class CNAMERecord:
    """``name`` CNAME ``target`` with ``ttl`` seconds; values are normalised on construction."""

    name: str
    target: str
    ttl: int = 60

    def __post_init__(self) -> None:
        object.__setattr__(self, "name", absolute_name(self.name, what="record name"))
        object.__setattr__(self, "target", absolute_name(self.target, what="record target"))
        if not 1 <= self.ttl <= _MAX_TTL:
            raise InvalidSolverSpec(f"the record TTL {self.ttl} is not within 1..{_MAX_TTL}")

    @classmethod
    def from_zerossl(cls, p1: str, p2: str, ttl: int = 60) -> CNAMERecord:
        """The record from ZeroSSL's ``cname_validation_p1`` (name) and ``_p2`` (target), used
        verbatim apart from case and the trailing dot."""
        return cls(p1, p2, ttl)

    def __str__(self) -> str:
        return f"{self.name} CNAME {self.target}"
