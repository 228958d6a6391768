"""Secrets read on demand, kept only while the Secret's resourceVersion is unchanged.

Invariants:
- The Secret informer stores metadata only (no ``data``): Secret values are never kept for
  Secrets nobody references. :class:`SecretCache` GETs a Secret the first time it is read and
  again whenever the informer shows a new resourceVersion; a Secret the synced informer does
  not hold is absent without an API call.
- Every value read is registered with the redaction filter before it is returned, so it can
  never reach a log line, Event, span or exception message.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Mapping
from typing import Any

from controller.issuer.solvers.dns.errors import SecretUnavailable
from controller.kube.errors import NotFound
from controller.kube.objects import ObjectApi
from controller.kube.resource import SECRETS
from controller.kube.store import Store
from controller.observability.redact import register_secret


def strip_secret_data(obj: dict[str, Any]) -> dict[str, Any]:
    """The informer transform for Secrets: metadata (without managedFields) only."""
    meta = dict(obj.get("metadata") or {})
    meta.pop("managedFields", None)
    meta.pop("annotations", None)
    return {"apiVersion": "v1", "kind": "Secret", "metadata": meta}


class SecretCache:
    def __init__(
        self, api: ObjectApi, metadata: Store, synced: Callable[[], bool] | None = None
    ) -> None:
        self._api = api
        self._metadata = metadata
        self._synced = synced or (lambda: True)
        self._objects: dict[str, dict[str, Any]] = {}

    async def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        """The whole Secret object, or None when it does not exist."""
        key = f"{namespace}/{name}"
        meta = self._metadata.get_cached(key)  # the envelope is enough: no decode
        cached = self._objects.get(key)
        if meta is None and self._synced():
            self._objects.pop(key, None)
            return None
        version = meta.resource_version if meta is not None else None
        if cached is not None and version is not None and _version(cached) == version:
            return cached
        try:
            secret = await self._api.get(SECRETS, name, namespace)
        except NotFound:
            self._objects.pop(key, None)
            return None
        _register_values(secret)
        self._objects[key] = secret
        return secret

    async def read(self, namespace: str, name: str, key: str) -> str:
        """One decoded value (the solvers' ``SecretReader``).

        Raises SecretUnavailable, retryable: a missing Secret or key may be created later.
        """
        secret = await self.get(namespace, name)
        if secret is None:
            raise SecretUnavailable(f"Secret {namespace}/{name} not found", retryable=True)
        data = secret.get("data") or {}
        if key not in data:
            raise SecretUnavailable(f"Secret {namespace}/{name} has no key {key!r}", retryable=True)
        try:
            return base64.b64decode(str(data[key]), validate=True).decode().strip()
        except (binascii.Error, UnicodeDecodeError):
            raise SecretUnavailable(
                f"Secret {namespace}/{name} key {key!r} is not base64 text", retryable=True
            ) from None

    def forget(self, namespace: str, name: str) -> None:
        self._objects.pop(f"{namespace}/{name}", None)


def _version(obj: Mapping[str, Any]) -> str | None:
    version = (obj.get("metadata") or {}).get("resourceVersion")
    return str(version) if version is not None else None


def _register_values(secret: Mapping[str, Any]) -> None:
    for raw in (secret.get("data") or {}).values():
        try:
            register_secret(base64.b64decode(str(raw)).decode().strip())
        except (binascii.Error, UnicodeDecodeError):
            continue
    for raw in (secret.get("stringData") or {}).values():
        register_secret(str(raw).strip())
