"""Settings: one frozen object built once at start from ZEROSSL_ISSUER_* variables and flags.

Invariants: every setting has exactly one environment variable (``ZEROSSL_ISSUER_<NAME>``) and
one flag (``--<name-with-dashes>``) of the same meaning; a flag wins over the variable; a bad
value raises :class:`ConfigError` whose message names the variable. Leader-election timings
satisfy ``lease_duration > renew_deadline > 1.2 * retry_period`` (client-go's rule).
"""

from __future__ import annotations

import argparse
import dataclasses
import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PREFIX = "ZEROSSL_ISSUER_"
SERVICE_ACCOUNT_NAMESPACE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


class ConfigError(ValueError):
    """A setting is malformed or inconsistent; the message names the variable."""


def _positive_int(raw: str) -> int:
    value = int(raw)
    if value < 1:
        raise ValueError("must be a whole number >= 1")
    return value


def _positive_float(raw: str) -> float:
    value = float(raw)
    if not value > 0:
        raise ValueError("must be a number > 0")
    return value


def _non_negative_float(raw: str) -> float:
    value = float(raw)
    if value < 0:
        raise ValueError("must be a number >= 0")
    return value


def _boolean(raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _address(raw: str) -> str:
    """host:port, with an empty host meaning all interfaces; port 0 lets the OS choose."""
    host, sep, port = raw.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError("must be host:port, e.g. :8080 or 127.0.0.1:8080")
    del host
    return raw


def _addresses(raw: str) -> tuple[str, ...]:
    """Comma-separated host or host:port list (port 53 when omitted); empty means system."""
    out = []
    for item in filter(None, (part.strip() for part in raw.split(","))):
        host, sep, port = item.rpartition(":")
        if sep and host and not port.isdigit():
            raise ValueError(f"{item!r} is not host or host:port")
        out.append(item if sep and host else f"{item}:53")
    return tuple(out)


def _choice(*allowed: str) -> Callable[[str], str]:
    def parse(raw: str) -> str:
        value = raw.strip().lower()
        if value not in allowed:
            raise ValueError(f"must be one of {', '.join(allowed)}")
        return value

    return parse


def _text(raw: str) -> str:
    if not raw.strip():
        raise ValueError("must not be empty")
    return raw.strip()


def _url(raw: str) -> str:
    value = raw.strip().rstrip("/")
    if not value.startswith(("http://", "https://")):
        raise ValueError("must be an http:// or https:// URL")
    return value


@dataclass(frozen=True, slots=True)
class Settings:
    """Every tunable of the controller. Defaults are production defaults."""

    workers: int = 8
    zerossl_qps: float = 2.0
    zerossl_burst: int = 5
    zerossl_api_url: str = "https://api.zerossl.com"
    zerossl_timeout: float = 30.0
    kube_qps: float = 50.0
    kube_burst: int = 100
    kube_timeout: float = 30.0
    leader_elect: bool = True
    lease_name: str = "zerossl-issuer"
    namespace: str = "zerossl-issuer-system"
    pod_name: str = ""
    lease_duration: float = 15.0
    renew_deadline: float = 10.0
    retry_period: float = 2.0
    cluster_resource_namespace: str = "zerossl-issuer-system"
    metrics_addr: str = ":8080"
    probe_addr: str = ":8081"
    solver_addr: str = ":8089"
    poll_interval: float = 15.0
    issuer_check_interval: float = 300.0
    quota_retry: float = 900.0
    dns_propagation_timeout: float = 300.0
    dns_propagation_interval: float = 5.0
    dns_resolvers: tuple[str, ...] = ()
    cloudflare_api_url: str = "https://api.cloudflare.com/client/v4"
    route53_api_url: str = "https://route53.amazonaws.com"
    log_level: str = "info"
    log_format: str = "json"

    @property
    def identity(self) -> str:
        """The leader-election identity: the pod name, else host name and pid."""
        return self.pod_name or default_identity()


def default_identity() -> str:
    """This process's identity when no pod name is set: ``<host name>_<pid>``."""
    return f"{os.uname().nodename}_{os.getpid()}"


@dataclass(frozen=True, slots=True)
class _Spec:
    field: str
    parse: Callable[[str], Any]
    help: str

    @property
    def env(self) -> str:
        return PREFIX + self.field.upper()

    @property
    def flag(self) -> str:
        return "--" + self.field.replace("_", "-")


SPECS: tuple[_Spec, ...] = (
    _Spec("workers", _positive_int, "concurrent reconcile workers per controller"),
    _Spec("zerossl_qps", _positive_float, "ZeroSSL requests per second per account"),
    _Spec("zerossl_burst", _positive_int, "ZeroSSL token-bucket burst per account"),
    _Spec("zerossl_api_url", _url, "ZeroSSL API base URL"),
    _Spec("zerossl_timeout", _positive_float, "timeout of one ZeroSSL call, seconds"),
    _Spec("kube_qps", _positive_float, "Kubernetes API requests per second (client side)"),
    _Spec("kube_burst", _positive_int, "Kubernetes API client-side burst"),
    _Spec("kube_timeout", _positive_float, "timeout of one Kubernetes API call, seconds"),
    _Spec("leader_elect", _boolean, "elect one active replica through a Lease"),
    _Spec("lease_name", _text, "name of the leader-election Lease"),
    _Spec("namespace", _text, "namespace of the Lease (the controller's own namespace)"),
    _Spec("pod_name", _text, "this replica's identity (downward API metadata.name)"),
    _Spec("lease_duration", _positive_float, "Lease duration, seconds"),
    _Spec("renew_deadline", _positive_float, "time the leader keeps retrying renewal, seconds"),
    _Spec("retry_period", _positive_float, "time between election attempts, seconds"),
    _Spec("cluster_resource_namespace", _text, "where ZeroSSLClusterIssuers read Secrets"),
    _Spec("metrics_addr", _address, "listen address of /metrics"),
    _Spec("probe_addr", _address, "listen address of /healthz and /readyz"),
    _Spec("solver_addr", _address, "listen address of the HTTP validation solver"),
    _Spec("poll_interval", _positive_float, "interval between batch polls of pending orders"),
    _Spec("issuer_check_interval", _positive_float, "periodic issuer re-check, seconds"),
    _Spec("quota_retry", _positive_float, "wait before re-checking a used-up quota, seconds"),
    _Spec("dns_propagation_timeout", _positive_float, "max wait for a DNS record to appear"),
    _Spec("dns_propagation_interval", _positive_float, "interval between DNS visibility checks"),
    _Spec("dns_resolvers", _addresses, "host:port resolvers that must see a record before verify"),
    _Spec("cloudflare_api_url", _url, "Cloudflare API base URL (for API proxies and tests)"),
    _Spec("route53_api_url", _url, "Route 53 API endpoint (for VPC endpoints and tests)"),
    _Spec("log_level", _choice("debug", "info", "warning", "error"), "log level"),
    _Spec("log_format", _choice("json", "console"), "log format"),
)

ENV_VARS: frozenset[str] = frozenset(spec.env for spec in SPECS)


def _default_namespace() -> str | None:
    try:
        return SERVICE_ACCOUNT_NAMESPACE.read_text().strip() or None
    except OSError:
        return None


def argument_parser() -> argparse.ArgumentParser:
    """Flags for every setting; each defaults to None so the environment can fill it."""
    parser = argparse.ArgumentParser(add_help=False)
    for spec in SPECS:
        parser.add_argument(
            spec.flag, dest=spec.field, default=None, help=f"{spec.help} [{spec.env}]"
        )
    return parser


def load(environ: Mapping[str, str] | None = None, argv: Sequence[str] = ()) -> Settings:
    """Builds Settings from flags, then variables, then defaults; raises ConfigError."""
    env = os.environ if environ is None else environ
    flags = vars(argument_parser().parse_args(list(argv)))
    values: dict[str, Any] = {}
    for spec in SPECS:
        raw = flags.get(spec.field)
        source = spec.flag
        if raw is None:
            raw = env.get(spec.env)
            source = spec.env
        if raw is None:
            continue
        try:
            values[spec.field] = spec.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}={raw!r}: {exc}") from None
    if "namespace" not in values and (ns := _default_namespace()):
        values["namespace"] = ns
    if "cluster_resource_namespace" not in values and "namespace" in values:
        values["cluster_resource_namespace"] = values["namespace"]
    if not values.get("pod_name"):
        values["pod_name"] = default_identity()  # the effective value, as `config` shows it
    settings = dataclasses.replace(Settings(), **values)
    _check_election(settings)
    return settings


def _check_election(s: Settings) -> None:
    if not s.lease_duration > s.renew_deadline:
        raise ConfigError(
            f"{PREFIX}LEASE_DURATION ({s.lease_duration}) must be greater than "
            f"{PREFIX}RENEW_DEADLINE ({s.renew_deadline})"
        )
    if not s.renew_deadline > 1.2 * s.retry_period:
        raise ConfigError(
            f"{PREFIX}RENEW_DEADLINE ({s.renew_deadline}) must be greater than 1.2 x "
            f"{PREFIX}RETRY_PERIOD ({s.retry_period})"
        )
