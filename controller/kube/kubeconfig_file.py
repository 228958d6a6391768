"""Kubeconfig files, read by kubernetes-asyncio's loader (contexts, exec and auth-provider
plugins, client certificates): imported only when the controller runs from a kubeconfig.

Invariant: the loader's configuration is translated once into a :class:`ClusterConfig`; its
token refresh hook stays behind ``authorization()``.
"""

from __future__ import annotations

import ssl
from typing import Any

from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config

from controller.kube.kubeconfig import ClusterConfig, KubeConfigError


async def read_kubeconfig(path: str | None, *, context: str | None = None) -> ClusterConfig:
    """The server and credential of ``path``'s context (None: ``~/.kube/config``)."""
    configuration = k8s_client.Configuration()
    try:
        await k8s_config.load_kube_config(
            config_file=path,
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except (k8s_config.ConfigException, OSError) as exc:
        raise KubeConfigError(f"cannot load kubeconfig {path or '~/.kube/config'}: {exc}") from None
    return _from_configuration(configuration)


def _from_configuration(configuration: Any) -> ClusterConfig:
    """Translates a kubernetes-asyncio Configuration filled by its loader."""
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
