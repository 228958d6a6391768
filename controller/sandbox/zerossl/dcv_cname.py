"""CNAME validation done for real: query ``_<MD5>.<adn>`` CNAME at a configurable DNS server.

Every authorization domain name is tried, nearest first (Sectigo strips labels left to right).
Targets in DNS answers are absolute, so the comparison ignores case and the final dot only: a
relative target that got its zone appended (certmagic#304) fails, as with the real CA.
"""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.name
import dns.rdataclass
import dns.rdatatype

from controller.sandbox.zerossl.dcv import DomainCheck
from controller.sandbox.zerossl.model import DcvValues
from controller.sandbox.zerossl.names import authorization_domains
from controller.sandbox.zerossl.resolver import Address


class CnameCheck:
    """Queries ``server`` (None: nothing resolves); each query is bounded by ``timeout``."""

    def __init__(self, timeout: float) -> None:
        self.server: Address | None = None
        self._timeout = timeout

    async def check(self, domain: str, dcv: DcvValues) -> DomainCheck:
        expected = dcv.cname_target.lower()
        first: str | None = None
        for index, adn in enumerate(authorization_domains(domain)):
            actual = await self._lookup(dcv.cname_name(adn))
            if index == 0:
                first = actual
            if actual is not None and actual.lower() == expected:
                return DomainCheck(True, {domain: _entry(dcv, actual, correct=True)})
        return DomainCheck(False, {domain: _entry(dcv, first, correct=False)})

    async def _lookup(self, name: str) -> str | None:
        """The CNAME target of ``name`` without its final dot, or None (no record, no answer)."""
        if self.server is None:
            return None
        host, port = self.server
        qname = dns.name.from_text(name)
        query = dns.message.make_query(qname, dns.rdatatype.CNAME)
        try:
            response, _ = await dns.asyncquery.udp_with_fallback(
                query, host, timeout=self._timeout, port=port
            )
            rrset = response.find_rrset(
                response.answer, qname, dns.rdataclass.IN, dns.rdatatype.CNAME
            )
        except (dns.exception.DNSException, OSError, KeyError):
            return None
        target: dns.name.Name = rrset[0].target
        return str(target.to_text(omit_final_dot=True))


def _entry(dcv: DcvValues, actual: str | None, *, correct: bool) -> dict[str, object]:
    return {
        "cname_found": int(actual is not None),
        "record_correct": int(correct),
        "target_host": f"_{dcv.md5}",
        "target_record": dcv.cname_target.upper(),
        "actual_record": actual or "",
    }
