"""What one resolver answers for a validation CNAME: a server asked directly, or the system's
resolver configuration (dnspython, loaded by the first propagation wait).

Invariants: a probe never raises for an unhelpful answer (no answer, an error, another
target): it says what it got, and :func:`~controller.issuer.solvers.dns.propagation.wait_visible`
decides; each query is bounded by the timeout it is given.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.resolver

from controller.issuer.solvers.dns.errors import DNSProviderError, InvalidSolverSpec
from controller.issuer.solvers.dns.exchange import exchange
from controller.issuer.solvers.dns.nameserver import Nameserver


@dataclass(frozen=True, slots=True)
class Answer:
    """What one resolver said: the CNAME target (absolute, lowercase) or None, and in words."""

    target: str | None
    detail: str


Probe = Callable[[str, float], Coroutine[Any, Any, Answer]]


def server_probe(server: Nameserver) -> Probe:
    async def ask(name: str, timeout: float) -> Answer:
        qname = dns.name.from_text(name)
        try:
            message = await exchange(
                server, dns.message.make_query(qname, dns.rdatatype.CNAME), timeout=timeout
            )
        except DNSProviderError as error:
            return Answer(None, f"nothing ({error.message})")
        if message.rcode() != dns.rcode.NOERROR:
            return Answer(None, dns.rcode.to_text(message.rcode()))
        for rrset in message.answer:
            if rrset.name == qname and rrset.rdtype == dns.rdatatype.CNAME:
                return _cname(rrset[0].target)
        return Answer(None, "no CNAME")

    return ask


def system_resolver() -> dns.asyncresolver.Resolver:
    """dnspython's default resolver (``/etc/resolv.conf``), read once per process."""
    return dns.asyncresolver.get_default_resolver()


def system_probe() -> Probe:
    try:
        resolver = system_resolver()
    except dns.resolver.NoResolverConfiguration:
        raise InvalidSolverSpec(
            "no DNS resolvers are configured and the system has none: set the resolvers"
        ) from None

    async def ask(name: str, timeout: float) -> Answer:
        try:
            result = await resolver.resolve(
                name, dns.rdatatype.CNAME, lifetime=timeout, raise_on_no_answer=False
            )
        except dns.resolver.NXDOMAIN:
            return Answer(None, "NXDOMAIN")
        except dns.resolver.LifetimeTimeout:
            return Answer(None, f"nothing within {timeout:g}s")
        except dns.exception.DNSException as error:
            return Answer(None, f"an error ({error})")
        if result.rrset is None:
            return Answer(None, "no CNAME")
        return _cname(result.rrset[0].target)

    return ask


def _cname(target: dns.name.Name) -> Answer:
    text = str(target.to_text()).lower()
    return Answer(text, f"CNAME {text}")
