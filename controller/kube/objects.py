"""The object verbs of the Kubernetes API that components take as a parameter.

Invariant: :class:`~controller.kube.client.KubeClient` satisfies :class:`ObjectApi`
structurally, so a component that takes one (leader election, Secret reads, solver routing and
DNS objects) runs against the real client and against in-memory fakes in tests alike. Errors
are :class:`~controller.kube.errors.ApiError` subclasses. :class:`WatchApi` is the one watch
verb, for the components that take it separately (leader election watches its Lease).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

from controller.kube.resource import Resource
from controller.kube.watchevents import WatchEvent


class ObjectApi(Protocol):
    async def get(
        self, res: Resource, name: str, namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]: ...

    async def replace(
        self,
        res: Resource,
        body: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]: ...

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: dict[str, str] | None = None,
    ) -> dict[str, Any] | None: ...


class WatchApi(Protocol):
    """``KubeClient.watch``: one watch request whose events are iterated until the server ends
    it; an ERROR event raises its ApiError (``Gone`` for 410)."""

    def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        field_selector: str | None = None,
        inactivity_timeout: float | None = None,
    ) -> AbstractAsyncContextManager[AsyncIterator[WatchEvent]]: ...
