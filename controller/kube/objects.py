"""The object verbs of the Kubernetes API that components take as a parameter.

Invariant: :class:`~controller.kube.client.KubeClient` satisfies :class:`ObjectApi`
structurally, so a component that takes one (leader election, Secret reads, solver routing and
DNS objects) runs against the real client and against in-memory fakes in tests alike. Errors
are :class:`~controller.kube.errors.ApiError` subclasses.
"""

from __future__ import annotations

from typing import Any, Protocol

from controller.kube.resource import Resource


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
