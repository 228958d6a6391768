"""Builders for the objects the decide functions read: CSRs, chains, requests, issuers, orders,
ZeroSSL certificates. Keys are cached per kind so tables stay fast."""

from __future__ import annotations

import base64
import copy
import functools
import ipaddress
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from controller.clock import rfc3339
from controller.issuer.api import IssuerKind, IssuerRef
from controller.issuer.orders import order_manifest
from controller.issuer.spec import parse_issuer_spec
from controller.zerossl.csr import inspect_csr
from controller.zerossl.models import Certificate

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
T0 = rfc3339(NOW - timedelta(hours=1))
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey


@functools.cache
def key(kind: str = "ec256", serial: int = 0) -> PrivateKey:
    del serial  # distinct cache entries for distinct keys of one kind
    if kind == "ec256":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "ec521":
        return ec.generate_private_key(ec.SECP521R1())
    if kind == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=int(kind.removeprefix("rsa")))


def _general_name(name: str) -> x509.GeneralName:
    """An IP address, an email address (``mailto:`` prefix) or a DNS name."""
    if name.startswith("mailto:"):
        return x509.RFC822Name(name.removeprefix("mailto:"))
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def make_csr(
    common_name: str | None, sans: list[str] | None = None, private_key: PrivateKey | None = None
) -> bytes:
    """A PEM CSR; ``sans`` None means the CN alone (no SAN extension)."""
    signer = private_key or key()
    subject = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)] if common_name else []
    builder = x509.CertificateSigningRequestBuilder().subject_name(x509.Name(subject))
    if sans is not None:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([_general_name(n) for n in sans]), critical=False
        )
    algorithm = None if isinstance(signer, ed25519.Ed25519PrivateKey) else hashes.SHA256()
    return builder.sign(signer, algorithm).public_bytes(Encoding.PEM)


def missigned_csr() -> bytes:
    """A CSR whose signature does not match its public key (one byte of the signature flipped)."""
    csr = x509.load_pem_x509_csr(make_csr("www.example.com", ["www.example.com"]))
    der = bytearray(csr.public_bytes(Encoding.DER))
    der[-5] ^= 0x01
    body = base64.encodebytes(bytes(der)).decode()
    return (
        f"-----BEGIN CERTIFICATE REQUEST-----\n{body}-----END CERTIFICATE REQUEST-----\n".encode()
    )


@functools.cache
def _ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test ZeroSSL CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(ca_key.public_key())
        .serial_number(1)
        .not_valid_before(NOW - timedelta(days=1))
        .not_valid_after(NOW + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    return ca_key, ca


def make_chain(csr_pem: bytes) -> str:
    """Leaf (for the CSR's public key and names) then the test CA, as ZeroSSL's download."""
    csr = x509.load_pem_x509_csr(csr_pem)
    ca_key, ca = _ca()
    leaf = (
        x509.CertificateBuilder()
        .subject_name(csr.subject)
        .issuer_name(ca.subject)
        .public_key(csr.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW)
        .not_valid_after(NOW + timedelta(days=90))
        .sign(ca_key, hashes.SHA256())
    )
    return "".join(c.public_bytes(Encoding.PEM).decode() for c in (leaf, ca))


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


CSR = make_csr("www.example.com", ["www.example.com", "example.com"])


def condition(
    type_: str, status: str, reason: str = "", message: str = "", **extra: Any
) -> dict[str, Any]:
    return {
        "type": type_,
        "status": status,
        "reason": reason or type_,
        "message": message,
        "lastTransitionTime": T0,
        **extra,
    }


APPROVED = condition("Approved", "True", "cert-manager.io", "approved by policy")
DENIED = condition("Denied", "True", "policy", "not allowed")


def request_object(
    *,
    name: str = "www",
    namespace: str = "default",
    uid: str = "uid-www",
    csr: bytes = CSR,
    group: str = "zerossl.issuer.dev",
    kind: str = "ZeroSSLClusterIssuer",
    issuer: str = "zerossl",
    conditions: list[dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    is_ca: bool = False,
    status: dict[str, Any] | None = None,
) -> dict[str, Any]:
    obj: dict[str, Any] = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {"name": name, "namespace": namespace, "uid": uid, "labels": labels or {}},
        "spec": {
            "request": b64(csr),
            "issuerRef": {"group": group, "kind": kind, "name": issuer},
            "isCA": is_ca,
        },
        "status": {
            "conditions": [APPROVED] if conditions is None else conditions,
            **(status or {}),
        },
    }
    return obj


HTTP_SOLVER: dict[str, Any] = {"http": {"ingress": {"ingressClassName": "nginx"}}}
DNS_SOLVER: dict[str, Any] = {"dns": {"externalDNS": {"labels": {"dns": "public"}}}}
EMAIL_SOLVER: dict[str, Any] = {"email": {"localPart": "admin"}}


def issuer_object(
    *,
    kind: str = "ZeroSSLClusterIssuer",
    name: str = "zerossl",
    namespace: str | None = None,
    generation: int = 1,
    solvers: list[dict[str, Any]] | None = None,
    ready: str | None = "True",
    reason: str = "Checked",
    observed_generation: int | None = None,
    status: dict[str, Any] | None = None,
    spec: dict[str, Any] | None = None,
) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "generation": generation, "uid": f"uid-{name}"}
    if kind == "ZeroSSLIssuer":
        meta["namespace"] = namespace or "default"
    conditions = []
    if ready is not None:
        observed = generation if observed_generation is None else observed_generation
        conditions.append(condition("Ready", ready, reason, "checked", observedGeneration=observed))
    return {
        "apiVersion": "zerossl.issuer.dev/v1alpha1",
        "kind": kind,
        "metadata": meta,
        "spec": spec
        or {
            "apiKeySecretRef": {"name": "zerossl", "key": "api-key"},
            "validityDays": 90,
            "strictDomains": True,
            "solvers": [HTTP_SOLVER] if solvers is None else solvers,
        },
        "status": {"conditions": conditions, **(status or {})},
    }


CSR_INFO = inspect_csr(CSR)
MD5, SHA256 = CSR_INFO.hashes.md5, CSR_INFO.hashes.sha256


def zerossl_json(
    cert_id: str = "c1",
    status: str = "draft",
    domains: tuple[str, ...] = ("www.example.com", "example.com"),
    md5: str = MD5,
    sha256: str = SHA256,
) -> dict[str, Any]:
    """A certificate object as ZeroSSL returns it, validation data for every domain."""
    others = {
        d: {
            "file_validation_url_http": f"http://{d}/.well-known/pki-validation/{md5}.txt",
            "file_validation_url_https": f"https://{d}/.well-known/pki-validation/{md5}.txt",
            "file_validation_content": [sha256, "comodoca.com", "u1q2"],
            "cname_validation_p1": f"_{md5}.{d.removeprefix('*.')}",
            "cname_validation_p2": f"{sha256[:32]}.{sha256[32:]}.u1q2.comodoca.com",
        }
        for d in domains
    }
    emails = {
        d: [f"{p}@{d.removeprefix('*.')}" for p in ("admin", "hostmaster", "webmaster")]
        for d in domains
    }
    return {
        "id": cert_id,
        "type": "3",
        "common_name": domains[0],
        "additional_domains": ",".join(domains[1:]),
        "created": "2026-03-01 11:00:00",
        "expires": "2026-05-30 00:00:00",
        "status": status,
        "validation": {"email_validation": emails, "other_methods": others},
    }


def zerossl_certificate(**kwargs: Any) -> Certificate:
    return Certificate.from_json(zerossl_json(**kwargs))


def with_changes(obj: dict[str, Any], **paths: Any) -> dict[str, Any]:
    """A deep copy with ``a__b__c=value`` set (``__`` separates path parts)."""
    out = copy.deepcopy(obj)
    for path, value in paths.items():
        *parents, last = path.split("__")
        node = out
        for part in parents:
            node = node.setdefault(part, {})
        node[last] = value
    return out


def order_object(
    *,
    request_uid: str = "uid-www",
    solvers: list[dict[str, Any]] | None = None,
    status: dict[str, Any] | None = None,
    csr: bytes = CSR,
    deleting: bool = False,
    finalizers: list[str] | None = None,
) -> dict[str, Any]:
    """The ZeroSSLOrder the request controller creates for ``request_object()``, plus status."""
    spec = parse_issuer_spec(issuer_object(solvers=solvers)["spec"])
    info = inspect_csr(csr)
    manifest = order_manifest(
        namespace="default",
        request_name="www",
        request_uid=request_uid,
        issuer=IssuerRef(IssuerKind.CLUSTER_ISSUER, "zerossl", None),
        request=b64(csr),
        domains=info.domains,
        validity_days=spec.validity_days,
        strict_domains=spec.strict_domains,
        csr_md5=info.hashes.md5,
        csr_sha256=info.hashes.sha256,
        choices=[(d, spec.solvers[0]) for d in info.domains],
    )
    manifest["metadata"].update(uid="uid-order", generation=1)
    if finalizers is not None:
        manifest["metadata"]["finalizers"] = finalizers
    if deleting:
        manifest["metadata"]["deletionTimestamp"] = T0
    manifest["status"] = status or {}
    return manifest


def order_ready(reason: str, message: str = "", status: str = "False") -> dict[str, Any]:
    return condition("Ready", status, reason, message or reason, observedGeneration=1)
