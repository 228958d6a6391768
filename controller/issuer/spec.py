"""The issuer spec (shared by both issuer kinds), read from its JSON with clear errors.

Invariants: :func:`parse_issuer_spec` accepts exactly what the CRD admits (the CRD's defaults
applied here too, so a spec that bypassed admission reads the same) and raises
:class:`SpecError` naming the field otherwise. A solver's method body is kept verbatim in
``Solver.config``: orders copy it, and the solvers read their own settings from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from controller.zerossl.models import ValidationMethod

VALIDITY_DAYS = (90, 365)
DEFAULT_API_KEY = "api-key"
EMAIL_LOCAL_PARTS = ("admin", "administrator", "hostmaster", "postmaster", "webmaster")
HTTP_ROUTINGS = ("ingress", "gatewayHTTPRoute", "none")
DNS_PROVIDERS = ("rfc2136", "cloudflare", "route53", "externalDNS")


class SpecError(ValueError):
    """The spec is invalid; the message names the field."""


class Method(StrEnum):
    """A solver's validation method (the key of its body in the spec)."""

    HTTP = "http"
    DNS = "dns"
    EMAIL = "email"

    @property
    def zerossl(self) -> ValidationMethod:
        return _ZEROSSL_METHODS[self]


METHODS = tuple(Method)


_ZEROSSL_METHODS = {
    Method.HTTP: ValidationMethod.HTTP_CSR_HASH,
    Method.DNS: ValidationMethod.CNAME_CSR_HASH,
    Method.EMAIL: ValidationMethod.EMAIL,
}


@dataclass(frozen=True, slots=True)
class SecretKeyRef:
    name: str
    key: str


@dataclass(frozen=True, slots=True)
class Selector:
    """cert-manager's CertificateDNSNameSelector; every part empty matches every name."""

    dns_names: tuple[str, ...] = ()
    dns_zones: tuple[str, ...] = ()
    match_labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Solver:
    """One entry of ``spec.solvers``; ``selector`` is None when the entry has none."""

    index: int
    method: Method
    config: Mapping[str, Any]
    selector: Selector | None = None


@dataclass(frozen=True, slots=True)
class SolverSecret:
    """A Secret key a solver reads (TSIG key, API token...); ``field`` is its spec path."""

    field: str
    ref: SecretKeyRef


@dataclass(frozen=True, slots=True)
class IssuerSpec:
    api_key: SecretKeyRef
    validity_days: int
    strict_domains: bool
    solvers: tuple[Solver, ...]

    def solver_secrets(self) -> tuple[SolverSecret, ...]:
        """Every ``...SecretRef: {name, key}`` in the solvers' configs, in spec order."""
        found: list[SolverSecret] = []
        for solver in self.solvers:
            where = f"spec.solvers[{solver.index}].{solver.method}"
            found += _secret_refs(solver.config, where)
        return tuple(found)


def _secret_refs(config: Any, where: str) -> list[SolverSecret]:
    found: list[SolverSecret] = []
    if isinstance(config, Mapping):
        for name, value in config.items():
            path = f"{where}.{name}"
            if name.endswith("SecretRef") and isinstance(value, Mapping):
                secret, key = value.get("name"), value.get("key")
                if isinstance(secret, str) and secret and isinstance(key, str) and key:
                    found.append(SolverSecret(path, SecretKeyRef(secret, key)))
            else:
                found += _secret_refs(value, path)
    return found


def _object(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise SpecError(f"{where} must be an object")
    return value


def _string(value: Any, where: str, *, required: bool = True) -> str:
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value):
        raise SpecError(f"{where} must be a non-empty string")
    return value


def _strings(value: Any, where: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise SpecError(f"{where} must be a list of non-empty strings")
    return tuple(value)


def _exactly_one(body: Mapping[str, Any], choices: tuple[str, ...], where: str) -> str:
    present = [c for c in choices if body.get(c) is not None]
    if len(present) != 1:
        raise SpecError(f"{where} needs exactly one of {', '.join(choices)}")
    _object(body[present[0]], f"{where}.{present[0]}")
    return present[0]


def _selector(value: Any, where: str) -> Selector | None:
    if value is None:
        return None
    body = _object(value, where)
    labels = _object(body.get("matchLabels") or {}, f"{where}.matchLabels")
    if not all(isinstance(v, str) for v in labels.values()):
        raise SpecError(f"{where}.matchLabels values must be strings")
    zones = _strings(body.get("dnsZones"), f"{where}.dnsZones")
    if any(z.startswith("*") for z in zones):
        raise SpecError(f"{where}.dnsZones are zones, not wildcard names")
    return Selector(
        dns_names=_strings(body.get("dnsNames"), f"{where}.dnsNames"),
        dns_zones=zones,
        match_labels=dict(labels),
    )


def parse_method(entry: Mapping[str, Any], where: str) -> tuple[Method, Mapping[str, Any]]:
    """The one method of a solver (or an order's solver entry) and its body."""
    method = Method(_exactly_one(entry, METHODS, where))
    config = _object(entry[method], f"{where}.{method}")
    if method is Method.HTTP:
        _exactly_one(config, HTTP_ROUTINGS, f"{where}.http")
    elif method is Method.DNS:
        _exactly_one(config, DNS_PROVIDERS, f"{where}.dns")
    else:
        local = config.get("localPart", EMAIL_LOCAL_PARTS[0])
        if local not in EMAIL_LOCAL_PARTS:
            raise SpecError(
                f"{where}.email.localPart must be one of {', '.join(EMAIL_LOCAL_PARTS)}"
            )
        _string(config.get("domain"), f"{where}.email.domain", required=False)
    return method, config


def _solver(index: int, value: Any) -> Solver:
    where = f"spec.solvers[{index}]"
    entry = _object(value, where)
    method, config = parse_method(entry, where)
    return Solver(index, method, config, _selector(entry.get("selector"), f"{where}.selector"))


def parse_issuer_spec(spec: Any) -> IssuerSpec:
    """The typed spec; SpecError names the first invalid field."""
    body = _object(spec, "spec")
    ref = _object(body.get("apiKeySecretRef"), "spec.apiKeySecretRef")
    api_key = SecretKeyRef(
        name=_string(ref.get("name"), "spec.apiKeySecretRef.name"),
        key=_string(ref.get("key", DEFAULT_API_KEY), "spec.apiKeySecretRef.key"),
    )
    validity = body.get("validityDays", VALIDITY_DAYS[0])
    if isinstance(validity, bool) or validity not in VALIDITY_DAYS:
        raise SpecError(f"spec.validityDays must be 90 or 365, not {validity!r}")
    strict = body.get("strictDomains", True)
    if not isinstance(strict, bool):
        raise SpecError("spec.strictDomains must be true or false")
    raw_solvers = body.get("solvers")
    if not isinstance(raw_solvers, list) or not raw_solvers:
        raise SpecError("spec.solvers must list at least one solver")
    return IssuerSpec(
        api_key=api_key,
        validity_days=int(validity),
        strict_domains=strict,
        solvers=tuple(_solver(i, s) for i, s in enumerate(raw_solvers)),
    )
