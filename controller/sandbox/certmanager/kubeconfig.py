"""Reach an API server from a kubeconfig, as kubectl would: the current context's cluster
(``server``, ``certificate-authority(-data)``, ``insecure-skip-tls-verify``) and its user's
bearer token (``token`` or ``tokenFile``). Client certificates and exec plugins are not
supported (a ValueError says so)."""

from __future__ import annotations

import argparse
import base64
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from controller.sandbox.stack.kubeapi import KubeAPI


@dataclass(frozen=True, slots=True)
class Access:
    url: str
    token: str
    ca_pem: bytes | None

    def client(self) -> KubeAPI:
        return KubeAPI(self.url, self.token, self.ca_pem)


def default_path() -> Path:
    """``$KUBECONFIG`` (its first entry), else ``~/.kube/config``."""
    configured = os.environ.get("KUBECONFIG", "").split(os.pathsep)[0]
    return Path(configured) if configured else Path.home() / ".kube" / "config"


def add_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig to use (default: $KUBECONFIG, else ~/.kube/config)",
    )


def _named(entries: list[dict[str, Any]], name: str, what: str, path: Path) -> dict[str, Any]:
    for entry in entries or ():
        if entry.get("name") == name:
            found: dict[str, Any] = entry.get(what) or {}
            return found
    raise ValueError(f"{path}: no {what} named {name!r}")


def load(path: Path | None = None) -> Access:
    path = path or default_path()
    try:
        config = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ValueError(f"cannot read the kubeconfig {path}: {exc.strerror}") from None
    context_name = config.get("current-context")
    if not context_name:
        raise ValueError(f"{path}: no current-context")
    context = _named(config.get("contexts"), context_name, "context", path)
    cluster = _named(config.get("clusters"), context["cluster"], "cluster", path)
    user = _named(config.get("users"), context["user"], "user", path)
    if "token" in user:
        token = str(user["token"])
    elif "tokenFile" in user:
        token = Path(user["tokenFile"]).read_text().strip()
    else:
        raise ValueError(
            f"{path}: user {context['user']!r} has no token (only tokens are supported)"
        )
    ca_pem: bytes | None = None
    if "certificate-authority-data" in cluster:
        ca_pem = base64.b64decode(cluster["certificate-authority-data"])
    elif "certificate-authority" in cluster:
        ca_pem = Path(cluster["certificate-authority"]).read_bytes()
    elif not cluster.get("insecure-skip-tls-verify") and str(cluster["server"]).startswith("https"):
        raise ValueError(f"{path}: cluster {context['cluster']!r} names no certificate authority")
    return Access(str(cluster["server"]), token, ca_pem)
