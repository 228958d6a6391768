"""``build_dns_provider``: the provider a ``dns`` solver spec names, observed and ready to use.

Invariants: building never does I/O (Secrets are read by each operation, so a rotated key is
picked up without rebuilding); a spec naming zero or several providers, or a malformed field,
raises :class:`InvalidSolverSpec` at once; a provider's library (dnspython for rfc2136,
botocore for route53) is imported when the first such provider is built, never before.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.issuer.solvers.dns.cloudflare import CloudflareProvider
from controller.issuer.solvers.dns.endpoints import ProviderEndpoints
from controller.issuer.solvers.dns.errors import InvalidSolverSpec
from controller.issuer.solvers.dns.externaldns import ExternalDNSProvider
from controller.issuer.solvers.dns.observed import ObservedProvider
from controller.issuer.solvers.dns.protocols import DNSProvider, ObjectWriter, SecretReader
from controller.issuer.solvers.dns.spec import Fields

PROVIDER_FIELDS = ("rfc2136", "cloudflare", "route53", "externalDNS")
REAL_ENDPOINTS = ProviderEndpoints()


def provider_field(spec: Mapping[str, Any]) -> str:
    """Which provider the ``dns`` spec uses (also the ``solver`` metric label)."""
    named = [field for field in PROVIDER_FIELDS if spec.get(field) is not None]
    if len(named) != 1:
        raise InvalidSolverSpec(
            f"dns needs exactly one of {', '.join(PROVIDER_FIELDS)}"
            + (f" (got {', '.join(named)})" if named else "")
        )
    return named[0]


def build_dns_provider(
    spec: Mapping[str, Any],
    *,
    namespace: str,
    secrets: SecretReader,
    owner: Mapping[str, Any],
    kube: ObjectWriter | None,
    timeout: float,
    endpoints: ProviderEndpoints = REAL_ENDPOINTS,
) -> DNSProvider:
    """The provider for the issuer's ``dns`` solver ``spec``.

    ``namespace`` is where the issuer's Secrets are read; ``owner`` is the ZeroSSLOrder the
    records are for; ``kube`` is needed by externalDNS only; ``timeout`` bounds each network
    call (seconds); ``endpoints`` points the HTTP providers at other API URLs (emulators).
    """
    if not timeout > 0:
        raise ValueError("timeout must be > 0")
    fields = Fields.of(spec, "dns")
    kind = provider_field(fields.data)
    config = Fields.of(fields.data[kind], f"dns.{kind}")
    inner: DNSProvider
    # rfc2136 (dnspython) and route53 (botocore's signer) load their library on first use.
    if kind == "rfc2136":
        from controller.issuer.solvers.dns.rfc2136 import RFC2136Provider  # noqa: PLC0415

        inner = RFC2136Provider.from_spec(
            config, namespace=namespace, secrets=secrets, timeout=timeout
        )
    elif kind == "cloudflare":
        inner = CloudflareProvider.from_spec(
            config,
            namespace=namespace,
            secrets=secrets,
            timeout=timeout,
            api_url=endpoints.cloudflare,
        )
    elif kind == "route53":
        from controller.issuer.solvers.dns.route53 import Route53Provider  # noqa: PLC0415

        inner = Route53Provider.from_spec(
            config,
            namespace=namespace,
            secrets=secrets,
            timeout=timeout,
            endpoint=endpoints.route53,
        )
    else:  # externalDNS
        inner = ExternalDNSProvider.from_spec(config, kube=kube, owner=owner)
    return ObservedProvider(inner, kind)
