"""Whether a CertificateRequest can ever be issued by ZeroSSL, decided before any order exists.

Invariants: :func:`check_request` returns the CSR facts or raises :class:`PermanentError` with
a specific reason and a message saying what to change; nothing it rejects could succeed later
(the request's spec is immutable). On top of ``controller.zerossl.csr`` (PEM, signature, key
type and size, names, wildcard alone, IPv6) it refuses CA requests, a common name that is not
among the CSR's names, reserved top-level domains ZeroSSL refuses (2877), and requests the
ZeroSSLOrder schema would refuse (more than ``MAX_DOMAINS`` names, a CSR longer than
``MAX_REQUEST_LENGTH``): those are refused here, before any order or ZeroSSL call. The X.509 work
is :mod:`controller.zerossl.csr`'s, imported with the first CSR read: cryptography stays out of
a replica with nothing to issue (a standby, an idle leader).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.issuer.errors import PermanentError, camel_reason
from controller.issuer.orders import MAX_DOMAINS, MAX_REQUEST_LENGTH
from controller.issuer.request import CertificateRequest
from controller.issuer.solvers.select import NameKind, name_kind

if TYPE_CHECKING:
    from controller.zerossl.csr import CsrInfo

# Special-use and reserved names no public CA certifies (RFC 2606, 6761, 6762, 7686, 9476, and
# ICANN's reservation of .internal); ZeroSSL answers 2877 for them.
RESERVED_TLDS = frozenset(
    {"test", "example", "invalid", "localhost", "local", "onion", "alt", "internal"}
)
RESERVED_SUFFIXES = ("home.arpa",)


def _reserved(name: str) -> bool:
    bare = name.lower().rstrip(".")
    tld = bare.rsplit(".", 1)[-1]
    return tld in RESERVED_TLDS or any(
        bare == s or bare.endswith("." + s) for s in RESERVED_SUFFIXES
    )


def check_request(request: CertificateRequest) -> CsrInfo:
    """The CSR facts of a request ZeroSSL can issue; PermanentError otherwise."""
    pem = request.csr_pem()
    if pem is None:
        raise PermanentError("MalformedRequest", "spec.request is not base64-encoded PEM")
    if len(request.request) > MAX_REQUEST_LENGTH:
        raise PermanentError(
            "RequestTooLarge",
            f"the CSR is {len(request.request)} characters long in base64; a ZeroSSLOrder holds "
            f"at most {MAX_REQUEST_LENGTH} (use fewer names or a smaller key)",
        )
    if request.is_ca:
        raise PermanentError(
            "CARequested", "ZeroSSL issues only end-entity certificates; spec.isCA must be false"
        )
    from controller.zerossl import csr  # noqa: PLC0415 (cryptography loads on first use)

    try:
        info = csr.inspect_csr(pem)
        sans = csr.san_names(pem)
    except csr.CsrError as exc:
        raise PermanentError(camel_reason(exc.reason, "InvalidCSR"), str(exc)) from None
    if len(info.domains) > MAX_DOMAINS:
        raise PermanentError(
            "TooManyNames",
            f"the CSR has {len(info.domains)} distinct names; a ZeroSSL certificate order takes "
            f"at most {MAX_DOMAINS} (split them over several Certificates)",
        )
    if sans and info.common_name.lower() not in {n.lower() for n in sans}:
        raise PermanentError(
            "CommonNameNotInNames",
            f"the CSR's common name {info.common_name} is not among its subject alternative "
            "names; list it in dnsNames (or ipAddresses) of the Certificate too",
        )
    for name in info.domains:
        if name_kind(name) is not NameKind.IPV4 and _reserved(name):
            raise PermanentError(
                "UnsupportedTopLevelDomain",
                f"{name}: ZeroSSL does not issue for reserved top-level domains (2877)",
            )
    return info


def leaf_matches_csr(chain_pem: str, csr_pem: bytes) -> bool:
    """True if the chain's first certificate carries the CSR's public key.

    cert-manager fails the issuance of a certificate whose key differs from the CSR's; checking
    here turns that into a clear Failed reason. An unreadable chain does not match.
    """
    from controller.zerossl import csr  # noqa: PLC0415 (cryptography loads on first use)

    return csr.leaf_matches_csr(chain_pem, csr_pem)
