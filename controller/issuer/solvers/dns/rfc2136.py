"""RFC 2136 dynamic updates, TSIG-signed when a key is configured.

Invariants: ``present`` replaces the CNAME RRset at the record's name (one update, so it is
idempotent); ``cleanup`` deletes only the RR pointing at the record's target, which also
succeeds when it is absent. Updates go over TCP. Rcodes map to errors: REFUSED/NOTAUTH →
:class:`UpdateRefused`, NOTZONE → :class:`ZoneNotFound`, SERVFAIL → retryable
:class:`TransportError`; TSIG BADSIG/BADKEY/BADTIME → :class:`AuthenticationFailed`.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass

import dns.name
import dns.rcode
import dns.rdatatype
import dns.tsig
import dns.update

from controller.issuer.solvers.dns.errors import (
    DNSProviderError,
    InvalidSolverSpec,
    TransportError,
    UpdateRefused,
    ZoneNotFound,
)
from controller.issuer.solvers.dns.exchange import exchange
from controller.issuer.solvers.dns.nameserver import Nameserver
from controller.issuer.solvers.dns.protocols import SecretReader
from controller.issuer.solvers.dns.record import CNAMERecord, absolute_name, is_within
from controller.issuer.solvers.dns.spec import Fields, SecretRef
from controller.issuer.solvers.dns.zones import find_zone

# The CRD's tsigAlgorithm enum.
TSIG_ALGORITHMS = {
    "HMACMD5": dns.tsig.HMAC_MD5,
    "HMACSHA1": dns.tsig.HMAC_SHA1,
    "HMACSHA256": dns.tsig.HMAC_SHA256,
    "HMACSHA512": dns.tsig.HMAC_SHA512,
}
DEFAULT_TSIG_ALGORITHM = "HMACSHA256"


@dataclass(frozen=True, slots=True)
class TsigKeyRef:
    """A TSIG key whose secret (base64) lives in a Secret."""

    name: dns.name.Name
    algorithm: dns.name.Name
    secret: SecretRef

    async def load(self, secrets: SecretReader, namespace: str) -> dns.tsig.Key:
        encoded = await self.secret.read(secrets, namespace)
        try:
            raw = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if not raw:
            raise InvalidSolverSpec(
                f"the TSIG secret in {self.secret.describe(namespace)} is not non-empty base64"
            )
        return dns.tsig.Key(self.name, raw, self.algorithm)


class RFC2136Provider:
    """CNAMEs by dynamic update to ``nameserver``; the zone is given or found by SOA lookup."""

    solver = "rfc2136"

    def __init__(
        self,
        nameserver: Nameserver,
        *,
        zone: str | None,
        tsig: TsigKeyRef | None,
        namespace: str,
        secrets: SecretReader,
        timeout: float,
    ) -> None:
        self._server = nameserver
        self._zone = zone
        self._tsig = tsig
        self._namespace = namespace
        self._secrets = secrets
        self._timeout = timeout

    @classmethod
    def from_spec(
        cls, spec: Fields, *, namespace: str, secrets: SecretReader, timeout: float
    ) -> RFC2136Provider:
        zone = spec.text("zone")
        key_name = spec.text("tsigKeyName")
        secret = spec.secret_ref("tsigSecretRef")
        if (key_name is None) != (secret is None):
            raise InvalidSolverSpec(f"{spec.path}.tsigKeyName and tsigSecretRef go together")
        algorithm = spec.text("tsigAlgorithm") or DEFAULT_TSIG_ALGORITHM
        if algorithm not in TSIG_ALGORITHMS:
            allowed = ", ".join(TSIG_ALGORITHMS)
            raise InvalidSolverSpec(
                f"{spec.path}.tsigAlgorithm {algorithm!r} is not one of {allowed}"
            )
        tsig = None
        if key_name is not None and secret is not None:
            name = dns.name.from_text(absolute_name(key_name, what="TSIG key name"))
            tsig = TsigKeyRef(name, TSIG_ALGORITHMS[algorithm], secret)
        return cls(
            Nameserver.parse(spec.required_text("nameserver")),
            zone=absolute_name(zone, what="zone") if zone else None,
            tsig=tsig,
            namespace=namespace,
            secrets=secrets,
            timeout=timeout,
        )

    async def present(self, record: CNAMERecord) -> None:
        zone, update = await self._update(record)
        update.replace(record.name, record.ttl, dns.rdatatype.CNAME, record.target)
        await self._send(update, zone, record)

    async def cleanup(self, record: CNAMERecord) -> None:
        zone, update = await self._update(record)
        update.delete(record.name, dns.rdatatype.CNAME, record.target)
        await self._send(update, zone, record)

    async def _update(self, record: CNAMERecord) -> tuple[str, dns.update.UpdateMessage]:
        zone = self._zone or await find_zone(record.name, self._server, timeout=self._timeout)
        if not is_within(record.name, zone):
            raise ZoneNotFound(f"{record.name} is not in the configured zone {zone}")
        key = await self._tsig.load(self._secrets, self._namespace) if self._tsig else None
        return zone, dns.update.UpdateMessage(zone, keyring=key)

    async def _send(self, update: dns.update.UpdateMessage, zone: str, record: CNAMERecord) -> None:
        answer = await exchange(self._server, update, timeout=self._timeout, tcp=True)
        rcode = answer.rcode()
        if rcode == dns.rcode.NOERROR:
            return
        name = dns.rcode.to_text(rcode)
        if rcode in (dns.rcode.REFUSED, dns.rcode.NOTAUTH):
            raise UpdateRefused(
                f"nameserver {self._server} refused the update for zone {zone} ({name}): "
                "check the TSIG key and update-policy"
            )
        if rcode == dns.rcode.NOTZONE:
            raise ZoneNotFound(f"nameserver {self._server} says {record.name} is not in {zone}")
        if rcode == dns.rcode.SERVFAIL:
            raise TransportError(f"nameserver {self._server} failed the update (SERVFAIL)")
        raise DNSProviderError(
            f"nameserver {self._server} answered {name} to the update of {record.name}"
        )
