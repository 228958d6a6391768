"""Finding the zone of a name by asking its nameserver for SOA records, label by label.

Invariant: the zone returned is the nearest enclosing name (the name itself included) for which
the server answers NOERROR with an SOA owned by exactly that name; REFUSED or NXDOMAIN at a
level just moves one label up; SERVFAIL is a retryable :class:`TransportError`.
"""

from __future__ import annotations

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype

from controller.issuer.solvers.dns.errors import TransportError, ZoneNotFound
from controller.issuer.solvers.dns.exchange import exchange
from controller.issuer.solvers.dns.nameserver import Nameserver


async def find_zone(name: str, server: Nameserver, *, timeout: float) -> str:
    """The absolute, lowercase zone holding absolute ``name`` on ``server``."""
    candidate = dns.name.from_text(name)
    while len(candidate) > 1:  # the root is never a zone anyone updates
        query = dns.message.make_query(candidate, dns.rdatatype.SOA)
        query.flags &= ~dns.flags.RD
        answer = await exchange(server, query, timeout=timeout)
        rcode = answer.rcode()
        if rcode == dns.rcode.SERVFAIL:
            raise TransportError(f"nameserver {server} failed (SERVFAIL) on SOA {candidate}")
        if rcode == dns.rcode.NOERROR and _has_soa(answer, candidate):
            return str(candidate.to_text()).lower()
        candidate = candidate.parent()
    raise ZoneNotFound(
        f"nameserver {server} serves no zone containing {name} (no SOA answer for any parent); "
        "set the zone or check the nameserver"
    )


def _has_soa(answer: dns.message.Message, owner: dns.name.Name) -> bool:
    return any(
        rrset.name == owner
        and rrset.rdtype == dns.rdatatype.SOA
        and rrset.rdclass == dns.rdataclass.IN
        for rrset in answer.answer
    )
