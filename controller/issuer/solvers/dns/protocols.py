"""What DNS providers are, and what they need from the rest of the controller."""

from __future__ import annotations

from typing import Protocol

from controller.issuer.solvers.dns.record import CNAMERecord
from controller.kube.objects import ObjectApi


class DNSProvider(Protocol):
    """Publishes and removes validation CNAMEs in one DNS service.

    ``present`` is an idempotent upsert: afterwards ``record.name`` has exactly the CNAME to
    ``record.target`` at the provider (an older target is replaced). ``cleanup`` is idempotent
    and removes the record only while it still points at ``record.target``; a missing record is
    fine. Both raise :class:`~controller.issuer.solvers.dns.errors.DNSProviderError`.
    """

    async def present(self, record: CNAMERecord) -> None: ...

    async def cleanup(self, record: CNAMERecord) -> None: ...


class SecretReader(Protocol):
    """Reads one key of a Secret as text.

    Raises :class:`~controller.issuer.solvers.dns.errors.SecretUnavailable` (retryable when the
    Secret may still appear) naming the Secret and key, never the value.
    """

    async def read(self, namespace: str, name: str, key: str) -> str: ...


ObjectWriter = ObjectApi
"""What the externalDNS provider writes DNSEndpoint objects through."""
