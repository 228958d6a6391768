"""Where the API server is and how to authenticate to it.

In a pod the service account is read directly (:mod:`controller.kube.incluster`: two files and
two environment variables); a kubeconfig file is read by kubernetes-asyncio's loader
(:mod:`controller.kube.kubeconfig_file`), imported only then: its generated client is most of
the process's memory, and in a cluster nothing else needs it. :class:`KubeClient` makes its own
aiohttp requests with the result (the generated client is never used for calls).

Invariant: the credential is only reachable through ``ClusterConfig.authorization()`` and never
appears in ``repr``.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

AuthProvider = Callable[[], Awaitable[str | None]]
"""Returns the value of the Authorization header (``Bearer ...``/``Basic ...``) or None."""


class KubeConfigError(Exception):
    """No usable cluster configuration was found; the message says where it looked."""


@dataclass(frozen=True, slots=True)
class ClusterConfig:
    """A reachable API server: base URL, TLS settings and a credential source."""

    host: str
    ssl_context: ssl.SSLContext | None = None
    server_hostname: str | None = None
    authorization: AuthProvider | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.host.startswith(("http://", "https://")):
            raise KubeConfigError(
                f"API server URL must start with http:// or https://: {self.host!r}"
            )
        object.__setattr__(self, "host", self.host.rstrip("/"))


async def load_kubeconfig(path: str | None = None, *, context: str | None = None) -> ClusterConfig:
    """Reads a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)."""
    from controller.kube.kubeconfig_file import read_kubeconfig  # noqa: PLC0415 (on use)

    return await read_kubeconfig(path or os.environ.get("KUBECONFIG") or None, context=context)


async def load_cluster_config(
    kubeconfig: str | None = None, *, environ: Mapping[str, str] = os.environ
) -> ClusterConfig:
    """An explicit kubeconfig or $KUBECONFIG wins; else in-cluster; else ~/.kube/config."""
    from controller.kube.incluster import SERVICE_HOST, load_incluster  # noqa: PLC0415 (cycle)

    if kubeconfig or environ.get("KUBECONFIG"):
        return await load_kubeconfig(kubeconfig or environ["KUBECONFIG"])
    if environ.get(SERVICE_HOST):
        return load_incluster(environ=environ)
    return await load_kubeconfig()
