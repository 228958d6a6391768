"""Replicas that configure themselves as in a pod: no kubeconfig, the ServiceAccount token and
CA at ``/var/run/secrets/kubernetes.io/serviceaccount``, ``KUBERNETES_SERVICE_HOST``/``_PORT``.

The replica's command runs in a mount namespace of its own (``unshare --mount``, root only)
with a private tmpfs over ``/run``, where the token and CA are copied: nothing is written to the
machine's ``/run``, and the replica's pid is the controller's (``sh`` execs it). Memory and
start-up figures then show what the controller loads in a cluster (it never reads a kubeconfig
there, so it never imports kubernetes-asyncio).
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import sys
from pathlib import Path
from typing import Final
from urllib.parse import urlsplit

from controller.sandbox.stack import ApiServerAccess, ControllerOptions

SERVICE_ACCOUNT: Final = "/var/run/secrets/kubernetes.io/serviceaccount"
# $0 is the directory holding token, ca.crt, host and port; "$@" is the controller's command.
_SCRIPT: Final = (
    "set -e; mount -t tmpfs tmpfs /run; "
    f"mkdir -p {SERVICE_ACCOUNT}; "
    f'cp "$0/token" "$0/ca.crt" {SERVICE_ACCOUNT}/; '
    'KUBERNETES_SERVICE_HOST=$(cat "$0/host"); KUBERNETES_SERVICE_PORT=$(cat "$0/port"); '
    "export KUBERNETES_SERVICE_HOST KUBERNETES_SERVICE_PORT; "
    'exec "$@"'
)


def supported() -> bool:
    """Root on Linux with ``unshare``: what a private mount namespace needs."""
    return sys.platform == "linux" and os.geteuid() == 0 and shutil.which("unshare") is not None


def in_cluster(options: ControllerOptions, directory: Path) -> ControllerOptions:
    """``options`` whose replicas read the service account that :func:`write_service_account`
    puts in ``directory`` (KUBECONFIG is emptied: the controller then looks in-cluster)."""
    command = ("unshare", "--mount", "--", "sh", "-c", _SCRIPT, str(directory), *options.command)
    return dataclasses.replace(options, command=command, env={**options.env, "KUBECONFIG": ""})


def write_service_account(directory: Path, access: ApiServerAccess, user: str) -> None:
    """The API server's address, CA and ``user``'s token, as the kubelet mounts them."""
    if access.ca_pem is None:
        raise ValueError("in-cluster configuration needs an API server serving TLS")
    url = urlsplit(access.url)
    if url.hostname is None or url.port is None:
        raise ValueError(f"API server URL without host and port: {access.url}")
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "host").write_text(url.hostname)
    (directory / "port").write_text(str(url.port))
    (directory / "ca.crt").write_bytes(access.ca_pem)
    token = directory / "token"
    token.write_text(access.token(user))
    token.chmod(0o600)
