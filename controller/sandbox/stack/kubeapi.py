"""A small JSON client for the stack's own calls to the API server (seeding, acting as
cert-manager, reading results): raw dicts in and out, resource paths found by discovery.

Invariants: every request is bounded by ``timeout``; 429 and 5xx answers (and, for reads,
connection errors) are retried a few times, honouring Retry-After up to a cap; any other failure
raises :class:`KubeError` naming the method, path and the server's Status (never the token).
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import Any, Final, Self

import aiohttp
import orjson

JSON = dict[str, Any]

APPLY_PATCH: Final = "application/apply-patch+yaml"
MERGE_PATCH: Final = "application/merge-patch+json"
FIELD_MANAGER: Final = "sandbox-stack"
_MANAGER: Final = {"fieldManager": FIELD_MANAGER}
_RETRIED_STATUS: Final = frozenset({429, 500, 502, 503, 504})
_ATTEMPTS: Final = 5
_MAX_RETRY_AFTER: Final = 2.0


class KubeError(Exception):
    """The API server refused a request."""

    def __init__(self, method: str, path: str, status: int, reason: str, message: str) -> None:
        super().__init__(f"{method} {path}: {status} {reason}: {message}")
        self.status = status
        self.reason = reason


@dataclass(frozen=True, slots=True)
class ResourceRef:
    """Where a kind is served: ``/api/v1`` or ``/apis/<group>/<version>``, plus its plural."""

    prefix: str
    plural: str
    namespaced: bool

    def path(
        self, namespace: str | None = None, name: str | None = None, subresource: str | None = None
    ) -> str:
        if self.namespaced and namespace is None and name is not None:
            raise ValueError(f"{self.plural} are namespaced: a namespace is required")
        parts = [self.prefix]
        if self.namespaced and namespace is not None:
            parts += ["namespaces", namespace]
        parts.append(self.plural)
        if name is not None:
            parts.append(name)
        if subresource is not None:
            parts.append(subresource)
        return "/".join(parts)


def _prefix(api_version: str) -> str:
    return f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"


class KubeAPI:
    """``async with KubeAPI(url, token, ca_pem) as kube: await kube.get("v1", "Secret", ...)``."""

    def __init__(
        self, url: str, token: str, ca_pem: bytes | None, *, timeout: float = 10.0
    ) -> None:
        self.url = url.rstrip("/")
        self._headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem is not None else False
        )
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None
        self._resources: dict[str, dict[str, ResourceRef]] = {}

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(trust_env=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    # --- raw requests ----------------------------------------------------------------------

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        params: dict[str, str] | None = None,
    ) -> Any:
        """The decoded JSON answer of a successful request; KubeError otherwise."""
        if self._session is None:
            raise RuntimeError("KubeAPI used outside its async with block")
        headers = dict(self._headers)
        data = None
        if body is not None:
            data = orjson.dumps(body)
            headers["Content-Type"] = content_type
        for attempt in range(1, _ATTEMPTS + 1):
            try:
                async with self._session.request(
                    method,
                    self.url + path,
                    data=data,
                    headers=headers,
                    params=params,
                    ssl=self._ssl,
                    timeout=self._timeout,
                ) as response:
                    raw = await response.read()
                    if response.status < 400:
                        return orjson.loads(raw) if raw else None
                    if response.status in _RETRIED_STATUS and attempt < _ATTEMPTS:
                        await asyncio.sleep(
                            _retry_delay(response.headers.get("Retry-After"), attempt)
                        )
                        continue
                    raise _error(method, path, response.status, raw)
            except (aiohttp.ClientConnectionError, TimeoutError):
                if method != "GET" or attempt == _ATTEMPTS:
                    raise
                await asyncio.sleep(_retry_delay(None, attempt))
        raise AssertionError("unreachable: the last attempt returns or raises")

    # --- discovery -------------------------------------------------------------------------

    async def resource(self, api_version: str, kind: str) -> ResourceRef:
        """Where ``kind`` is served; asks the server again when the kind is unknown (a CRD may
        have been registered since)."""
        known = self._resources.get(api_version, {})
        if kind not in known:
            known = await self._discover(api_version)
        try:
            return known[kind]
        except KeyError:
            raise LookupError(f"the API server does not serve {kind} in {api_version}") from None

    async def _discover(self, api_version: str) -> dict[str, ResourceRef]:
        prefix = _prefix(api_version)
        try:
            listing = await self.request("GET", prefix)
        except KubeError as exc:
            if exc.status != 404:
                raise
            listing = {"resources": []}
        found = {
            r["kind"]: ResourceRef(prefix, r["name"], bool(r["namespaced"]))
            for r in listing["resources"]
            if "/" not in r["name"]
        }
        self._resources[api_version] = found
        return found

    # --- objects ---------------------------------------------------------------------------

    async def _object_path(self, obj: JSON, subresource: str | None = None) -> str:
        ref = await self.resource(obj["apiVersion"], obj["kind"])
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") if ref.namespaced else None
        if ref.namespaced and not namespace:
            raise ValueError(f"{obj['kind']} {meta.get('name')!r} needs metadata.namespace")
        return ref.path(namespace, meta["name"], subresource)

    async def get(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> JSON | None:
        """The object, or None when it does not exist."""
        ref = await self.resource(api_version, kind)
        try:
            found: JSON = await self.request("GET", ref.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return None
            raise
        return found

    async def list_objects(
        self,
        api_version: str,
        kind: str,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
    ) -> list[JSON]:
        ref = await self.resource(api_version, kind)
        params = {"labelSelector": label_selector} if label_selector else None
        listing = await self.request("GET", ref.path(namespace), params=params)
        items: list[JSON] = listing["items"]
        return items

    async def create(self, obj: JSON) -> JSON:
        ref = await self.resource(obj["apiVersion"], obj["kind"])
        namespace = (obj.get("metadata") or {}).get("namespace") if ref.namespaced else None
        if ref.namespaced and not namespace:
            raise ValueError(f"{obj['kind']} needs metadata.namespace")
        created: JSON = await self.request("POST", ref.path(namespace), body=obj, params=_MANAGER)
        return created

    async def apply(self, obj: JSON, *, subresource: str | None = None) -> JSON:
        """Server-side apply as ``sandbox-stack`` (forced): create or converge the fields."""
        applied: JSON = await self.request(
            "PATCH",
            await self._object_path(obj, subresource),
            body=obj,
            content_type=APPLY_PATCH,
            params={**_MANAGER, "force": "true"},
        )
        return applied

    async def merge_patch(self, obj: JSON, *, subresource: str | None = None) -> JSON:
        """JSON merge patch of ``obj``'s fields onto the stored object (which must exist)."""
        patched: JSON = await self.request(
            "PATCH",
            await self._object_path(obj, subresource),
            body=obj,
            content_type=MERGE_PATCH,
            params=_MANAGER,
        )
        return patched

    async def replace_status(self, obj: JSON) -> JSON:
        """PUT ``obj`` to its status subresource (optimistic: carries resourceVersion)."""
        path = await self._object_path(obj, "status")
        replaced: JSON = await self.request("PUT", path, body=obj, params=_MANAGER)
        return replaced

    async def delete(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> bool:
        """True if the object was there (deletion may still wait on finalizers)."""
        ref = await self.resource(api_version, kind)
        try:
            await self.request("DELETE", ref.path(namespace, name))
        except KubeError as exc:
            if exc.status == 404:
                return False
            raise
        return True


def _retry_delay(retry_after: str | None, attempt: int) -> float:
    if retry_after is not None and retry_after.isdigit():
        return min(float(retry_after), _MAX_RETRY_AFTER)
    return min(0.05 * 2.0**attempt, _MAX_RETRY_AFTER)


def _error(method: str, path: str, status: int, raw: bytes) -> KubeError:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        body = None
    if isinstance(body, dict) and body.get("kind") == "Status":
        return KubeError(
            method, path, status, str(body.get("reason", "")), str(body.get("message", ""))
        )
    return KubeError(method, path, status, "", raw[:200].decode(errors="replace"))
