"""In-cluster configuration: the pod's service account, read directly (client-go's
``rest.InClusterConfig``): ``KUBERNETES_SERVICE_HOST``/``_PORT``, the mounted token and CA.

Invariants: the token is re-read at most once per ``refresh`` seconds (a tiny synchronous file
read), so rotated projected tokens are picked up; a missing or empty file, or unset variables,
raise :class:`KubeConfigError` naming what is missing; the token never appears in ``repr`` or
in a message.
"""

from __future__ import annotations

import os
import ssl
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from controller.kube.kubeconfig import ClusterConfig, KubeConfigError

SERVICE_HOST = "KUBERNETES_SERVICE_HOST"
SERVICE_PORT = "KUBERNETES_SERVICE_PORT"
SERVICE_ACCOUNT = Path("/var/run/secrets/kubernetes.io/serviceaccount")
TOKEN_REFRESH = 60.0


class ServiceAccountToken:
    """The ``Authorization`` value from the token file, cached for ``refresh`` seconds."""

    def __init__(
        self,
        path: Path,
        *,
        refresh: float = TOKEN_REFRESH,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._path = path
        self._refresh = refresh
        self._clock = clock
        self._value = self._read()
        self._read_at = clock()

    def __repr__(self) -> str:
        return f"ServiceAccountToken({str(self._path)!r})"

    def _read(self) -> str:
        try:
            token = self._path.read_text().strip()
        except OSError as exc:
            raise KubeConfigError(
                f"cannot load in-cluster configuration: token {self._path}: {exc.strerror}"
            ) from None
        if not token:
            raise KubeConfigError(f"cannot load in-cluster configuration: {self._path} is empty")
        return f"Bearer {token}"

    async def __call__(self) -> str:
        now = self._clock()
        if now - self._read_at >= self._refresh:
            self._value, self._read_at = self._read(), now
        return self._value


def load_incluster(
    *,
    environ: Mapping[str, str] = os.environ,
    directory: Path = SERVICE_ACCOUNT,
    refresh: float = TOKEN_REFRESH,
) -> ClusterConfig:
    """The API server's Service address, verified with the mounted CA, authorised by the
    mounted token; ``directory`` holds ``token`` and ``ca.crt``."""
    host, port = environ.get(SERVICE_HOST, ""), environ.get(SERVICE_PORT, "")
    if not host or not port:
        raise KubeConfigError(
            f"cannot load in-cluster configuration: {SERVICE_HOST} and {SERVICE_PORT} must be "
            "set (not running in a pod?)"
        )
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    token = ServiceAccountToken(directory / "token", refresh=refresh)
    ca = directory / "ca.crt"
    try:
        context = ssl.create_default_context(cafile=str(ca))
    except (OSError, ssl.SSLError) as exc:
        raise KubeConfigError(f"cannot load in-cluster configuration: CA {ca}: {exc}") from None
    return ClusterConfig(f"https://{host}:{port}", ssl_context=context, authorization=token)
