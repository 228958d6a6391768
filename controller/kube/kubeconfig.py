"""Where the API server is and how to authenticate to it.

kubernetes-asyncio's loaders read the kubeconfig file or the in-cluster service account (host,
CA, client certificate and key, bearer token); :class:`KubeClient` then makes its own aiohttp
requests with the result (see kube-runtime.md §5 for why the generated client is not used).

Invariants: the credential is only reachable through ``ClusterConfig.authorization()`` and never
appears in ``repr``; the in-cluster token is re-read through the loader's refresh hook (every
minute, a tiny synchronous file read), so rotated service-account tokens are picked up.
"""

from __future__ import annotations

import os
import ssl
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

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


def _from_configuration(configuration: Any) -> ClusterConfig:
    """Translates a kubernetes-asyncio Configuration filled by one of its loaders."""
    host = str(configuration.host)
    context: ssl.SSLContext | None = None
    if host.startswith("https://"):
        context = ssl.create_default_context(cafile=configuration.ssl_ca_cert)
        if configuration.cert_file:
            context.load_cert_chain(configuration.cert_file, keyfile=configuration.key_file)
        if not configuration.verify_ssl:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE

    async def authorization() -> str | None:
        value: str | None = await configuration.get_api_key_with_prefix("BearerToken")
        return value

    has_credential = bool(configuration.api_key.get("BearerToken"))
    return ClusterConfig(
        host=host,
        ssl_context=context,
        server_hostname=configuration.tls_server_name or None,
        authorization=authorization if has_credential else None,
    )


async def load_kubeconfig(path: str | None = None, *, context: str | None = None) -> ClusterConfig:
    """Reads a kubeconfig file (default: $KUBECONFIG, then ~/.kube/config)."""
    configuration = k8s_client.Configuration()
    config_file = path or os.environ.get("KUBECONFIG") or None
    try:
        await k8s_config.load_kube_config(
            config_file=config_file,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, OSError) as exc:
        raise KubeConfigError(
            f"cannot load kubeconfig {config_file or '~/.kube/config'}: {exc}"
        ) from None
    return _from_configuration(configuration)


def load_incluster() -> ClusterConfig:
    """Reads the pod's service account (token, CA) and KUBERNETES_SERVICE_HOST/PORT."""
    configuration = k8s_client.Configuration()
    try:
        k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except k8s_config.ConfigException as exc:
        raise KubeConfigError(f"cannot load in-cluster configuration: {exc}") from None
    return _from_configuration(configuration)


async def load_cluster_config(kubeconfig: str | None = None) -> ClusterConfig:
    """An explicit kubeconfig or $KUBECONFIG wins; else in-cluster; else ~/.kube/config."""
    if kubeconfig or os.environ.get("KUBECONFIG"):
        return await load_kubeconfig(kubeconfig)
    if os.environ.get("KUBERNETES_SERVICE_HOST"):
        return load_incluster()
    return await load_kubeconfig()
