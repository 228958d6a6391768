"""DNS validation (ZeroSSL's CNAME_CSR_HASH): publish ``_<MD5>.<name> CNAME <target>`` through
a provider, wait until resolvers see it, remove it afterwards.

Providers: ``rfc2136`` (dynamic updates, TSIG), ``externalDNS`` (a DNSEndpoint object for
external-dns), ``cloudflare`` (API v4, token) and ``route53`` (REST-XML, SigV4 by botocore).
"""

from controller.issuer.solvers.dns.build import PROVIDER_FIELDS, build_dns_provider, provider_field
from controller.issuer.solvers.dns.endpoints import ProviderEndpoints
from controller.issuer.solvers.dns.errors import (
    AuthenticationFailed,
    DNSProviderError,
    InvalidSolverSpec,
    PropagationTimeout,
    RateLimited,
    SecretUnavailable,
    TransportError,
    UpdateRefused,
    ZoneNotFound,
)
from controller.issuer.solvers.dns.propagation import Propagation, wait_visible
from controller.issuer.solvers.dns.protocols import DNSProvider, ObjectWriter, SecretReader
from controller.issuer.solvers.dns.record import CNAMERecord

__all__ = [
    "PROVIDER_FIELDS",
    "AuthenticationFailed",
    "CNAMERecord",
    "DNSProvider",
    "DNSProviderError",
    "InvalidSolverSpec",
    "ObjectWriter",
    "Propagation",
    "PropagationTimeout",
    "ProviderEndpoints",
    "RateLimited",
    "SecretReader",
    "SecretUnavailable",
    "TransportError",
    "UpdateRefused",
    "ZoneNotFound",
    "build_dns_provider",
    "provider_field",
    "wait_visible",
]
