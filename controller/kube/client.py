"""Kubernetes API client: raw JSON in and out over one aiohttp session.

Invariants:
- Bodies are plain dicts encoded and decoded with orjson; no model classes on any path. A watch
  opened with ``lean=True`` decodes only its events' envelopes (msgspec) where it can and
  hands out their objects as trimmed bytes (:mod:`controller.kube.watchevents`).
- Every call (client-side throttling, retries and reading the body included) completes or
  fails within ``timeout`` seconds (client-go's request timeout). A watch is bounded instead by
  its connect timeout, the server-side ``timeoutSeconds`` and a client-side inactivity timeout.
- Every request first takes a token from the client-side bucket (QPS/burst).
- Retry rule, at most ``MAX_ATTEMPTS`` tries and never past the call's deadline:
  * the server refused the request without acting on it -> retried for every verb: HTTP 429,
    any 5xx carrying Retry-After (client-go's ``checkWait``), a connection that could not be
    opened (TLS failures excepted: they do not heal);
  * the outcome is unknown (5xx without Retry-After, connection lost after sending) -> retried
    only when repeating cannot do harm: reads, PUT (a repeat of an applied write answers 409
    since it carries the old resourceVersion, or rewrites the same content), DELETE (a repeat
    answers 404), merge and apply PATCHes. A create (POST) or a JSON patch is NOT retried then:
    the caller sees the error and re-reads (a repeated create would answer 409 AlreadyExists).
  A wait is the server's Retry-After, else 0.1 s doubling up to 5 s; plus up to 25 % jitter.
- Failures raise ``ApiError.from_status`` subclasses, or ``aiohttp.ClientError``/``TimeoutError``
  for transport faults. Credentials and bodies never reach logs, spans or exception messages.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Literal

import aiohttp
import orjson
from opentelemetry import trace

from controller.kube.errors import ApiError
from controller.kube.kubeconfig import ClusterConfig, load_cluster_config, load_kubeconfig
from controller.kube.metrics import NO_METRICS, MetricsProvider
from controller.kube.resource import Resource
from controller.kube.watchevents import WatchEvent, WatchProtocolError, decode_event, decode_lean
from controller.tokenbucket import TokenBucket

PatchType = Literal["merge", "json", "apply"]
JsonPatch = list[dict[str, Any]]
PATCH_CONTENT_TYPES: Mapping[str, str] = {
    "merge": "application/merge-patch+json",
    "json": "application/json-patch+json",
    "apply": "application/apply-patch+yaml",
}
MAX_ATTEMPTS = 10
MAX_WATCH_LINE = 16 << 20
DEFAULT_INACTIVITY_TIMEOUT = 90.0
_RETRY_BASE = 0.1
_RETRY_CAP = 5.0
_JITTER = 0.25
_tracer = trace.get_tracer(__name__)


@dataclass(frozen=True, slots=True)
class _Request:
    verb: str
    method: str
    path: str
    params: Mapping[str, str]
    body: bytes | None = None
    content_type: str | None = None
    repeatable: bool = True
    """True when repeating the request after an unknown outcome cannot do harm."""


class KubeClient:
    """One API server connection pool with client-side QPS, retries and per-call timeouts.

    Construct anywhere; the aiohttp session is opened on first use inside the running loop.
    Use as ``async with`` or call :meth:`close`. ``metrics`` receives the client's request
    metrics, and is the default provider of the informers that read through it.
    """

    def __init__(
        self,
        config: ClusterConfig,
        *,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        rng: random.Random | None = None,
        metrics: MetricsProvider = NO_METRICS,
    ) -> None:
        if timeout <= 0 or inactivity_timeout <= 0:
            raise ValueError("timeout and inactivity_timeout must be > 0")
        self.config = config
        self.timeout = timeout
        self.inactivity_timeout = inactivity_timeout
        self._bucket = TokenBucket(qps, burst)
        self._rng = rng or random.Random()  # noqa: S311 (retry jitter, not cryptography)
        self._session: aiohttp.ClientSession | None = None
        self.metrics = metrics
        self._throttle_wait = metrics.kube_throttle_wait()

    @classmethod
    def from_config(
        cls,
        config: ClusterConfig,
        *,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        metrics: MetricsProvider = NO_METRICS,
    ) -> KubeClient:
        """A client for an explicit configuration (tests, sandboxes)."""
        return cls(
            config,
            qps=qps,
            burst=burst,
            timeout=timeout,
            inactivity_timeout=inactivity_timeout,
            metrics=metrics,
        )

    @classmethod
    async def from_kubeconfig(
        cls,
        path: str,
        *,
        context: str | None = None,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
        inactivity_timeout: float = DEFAULT_INACTIVITY_TIMEOUT,
        metrics: MetricsProvider = NO_METRICS,
    ) -> KubeClient:
        """A client for the server of a kubeconfig file's (current) context."""
        config = await load_kubeconfig(path, context=context)
        return cls.from_config(
            config,
            qps=qps,
            burst=burst,
            timeout=timeout,
            inactivity_timeout=inactivity_timeout,
            metrics=metrics,
        )

    @classmethod
    async def connect(
        cls,
        kubeconfig: str | None = None,
        *,
        qps: float = 50.0,
        burst: int = 100,
        timeout: float = 30.0,
        metrics: MetricsProvider = NO_METRICS,
    ) -> KubeClient:
        """The production client: ``kubeconfig`` if given or in $KUBECONFIG, else in-cluster."""
        config = await load_cluster_config(kubeconfig)
        return cls(config, qps=qps, burst=burst, timeout=timeout, metrics=metrics)

    async def __aenter__(self) -> KubeClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=100, ssl=self.config.ssl_context if self.config.ssl_context else True
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                cookie_jar=aiohttp.DummyCookieJar(),  # the API server sets none
                timeout=aiohttp.ClientTimeout(total=None),
                headers={"Accept": "application/json", "User-Agent": "zerossl-issuer"},
            )
        return self._session

    # --- verbs ----------------------------------------------------------------------------------

    async def get(self, res: Resource, name: str, namespace: str | None = None) -> dict[str, Any]:
        path = res.path(_namespace(res, namespace), _name(name))
        return _expect_object(await self._call(_Request("get", "GET", path, {})))

    async def list(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
        limit: int | None = None,
        continue_: str | None = None,
        resource_version: str | None = None,
    ) -> dict[str, Any]:
        """One page; ``namespace=None`` on a namespaced resource lists all namespaces."""
        params = _query(
            labelSelector=label_selector,
            fieldSelector=field_selector,
            limit=str(limit) if limit else None,
            resourceVersion=resource_version,
        )
        if continue_:
            params["continue"] = continue_
        request = _Request("list", "GET", res.path(_collection_namespace(res, namespace)), params)
        return _expect_object(await self._call(request))

    async def create(
        self, res: Resource, body: dict[str, Any], namespace: str | None = None
    ) -> dict[str, Any]:
        metadata = body.get("metadata") or {}
        ns = _namespace(res, namespace or metadata.get("namespace"))
        request = _Request(
            "create", "POST", res.path(ns), {}, orjson.dumps(body), "application/json", False
        )
        name = metadata.get("name") or metadata.get("generateName")
        return _expect_object(await self._write(request, res, ns, name))

    async def replace(
        self,
        res: Resource,
        body: dict[str, Any],
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> dict[str, Any]:
        """PUT; the name comes from ``body.metadata.name``. Carry ``resourceVersion`` for a
        conditional update (409 Conflict when stale)."""
        metadata = body.get("metadata") or {}
        name = _name(metadata.get("name", ""))
        ns = _namespace(res, namespace or metadata.get("namespace"))
        path = res.path(ns, name, subresource)
        request = _Request("update", "PUT", path, {}, orjson.dumps(body), "application/json")
        return _expect_object(await self._write(request, res, ns, name))

    async def patch(
        self,
        res: Resource,
        name: str,
        patch: dict[str, Any] | JsonPatch,
        *,
        namespace: str | None = None,
        patch_type: PatchType = "merge",
        subresource: str | None = None,
        field_manager: str | None = None,
        force: bool = False,
    ) -> dict[str, Any]:
        """merge: RFC 7386 dict; json: RFC 6902 list of ops; apply: server-side apply (needs
        ``field_manager``; ``force`` takes over conflicting fields)."""
        if patch_type not in PATCH_CONTENT_TYPES:
            raise ValueError(f"patch_type must be one of {', '.join(PATCH_CONTENT_TYPES)}")
        if patch_type == "json" and not isinstance(patch, list):
            raise TypeError("a json patch is a list of operations")
        if patch_type != "json" and not isinstance(patch, dict):
            raise TypeError(f"a {patch_type} patch is an object")
        if patch_type == "apply" and not field_manager:
            raise ValueError("an apply patch needs a field_manager")
        ns = _namespace(res, namespace)
        params = _query(fieldManager=field_manager, force="true" if force else None)
        request = _Request(
            "patch",
            "PATCH",
            res.path(ns, _name(name), subresource),
            params,
            orjson.dumps(patch),
            PATCH_CONTENT_TYPES[patch_type],
            repeatable=patch_type != "json",
        )
        return _expect_object(await self._write(request, res, ns, name))

    async def delete(
        self,
        res: Resource,
        name: str,
        namespace: str | None = None,
        *,
        preconditions: dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """The deleted (or now terminating) object or a Status; 404 raises NotFound."""
        ns = _namespace(res, namespace)
        body = None
        if preconditions:
            options = {"apiVersion": "v1", "kind": "DeleteOptions", "preconditions": preconditions}
            body = orjson.dumps(options)
        path = res.path(ns, _name(name))
        request = _Request("delete", "DELETE", path, {}, body, "application/json" if body else None)
        return await self._write(request, res, ns, name)

    @asynccontextmanager
    async def watch(
        self,
        res: Resource,
        namespace: str | None = None,
        *,
        resource_version: str,
        timeout_seconds: int,
        allow_bookmarks: bool = True,
        label_selector: str | None = None,
        field_selector: str | None = None,
        inactivity_timeout: float | None = None,
        lean: bool = False,
    ) -> AsyncIterator[WatchStream]:
        """Opens one watch request and yields its event stream.

        The stream ends cleanly when the server closes it (``timeoutSeconds`` reached); it raises
        ``TimeoutError`` when no byte arrived for ``inactivity_timeout`` seconds,
        ``aiohttp.ClientError`` when the connection broke, and the ApiError of an ERROR event
        (``Gone`` for 410). Opening is not retried: the informer owns that policy. ``lean``: see
        :func:`~controller.kube.watchevents.decode_lean`.
        """
        params = _query(
            watch="true",
            resourceVersion=resource_version,
            timeoutSeconds=str(int(timeout_seconds)),
            allowWatchBookmarks="true" if allow_bookmarks else None,
            labelSelector=label_selector,
            fieldSelector=field_selector,
        )
        url = self.config.host + res.path(_collection_namespace(res, namespace))
        read_timeout = inactivity_timeout or self.inactivity_timeout
        client_timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=self.timeout, sock_read=read_timeout
        )
        async with asyncio.timeout(self.timeout):
            await self._throttle()
            response = await self._http().get(
                url,
                params=params,
                headers=await self._headers(None),
                timeout=client_timeout,
                server_hostname=self.config.server_hostname,
            )
        try:
            self.metrics.kube_requests("watch", str(response.status)).inc()
            if response.status != 200:
                async with asyncio.timeout(self.timeout):
                    raise _api_error(response.status, await response.read(), response.headers)
            yield WatchStream(response.content, lean=lean)
        finally:
            response.close()

    # --- machinery ------------------------------------------------------------------------------

    async def _write(
        self, request: _Request, res: Resource, namespace: str | None, name: str | None
    ) -> dict[str, Any] | None:
        attributes = {
            "k8s.resource": str(res),
            "k8s.namespace": namespace or "",
            "k8s.name": name or "",
        }
        with _tracer.start_as_current_span(f"kube.{request.verb}", attributes=attributes):
            return await self._call(request)

    async def _call(self, request: _Request) -> dict[str, Any] | None:
        url = self.config.host + request.path
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.timeout
        attempt = 0
        async with asyncio.timeout_at(deadline):
            while True:
                attempt += 1
                try:
                    return await self._attempt(request, url)
                except ApiError as exc:
                    retry = exc.retryable and (
                        exc.status == 429 or exc.retry_after is not None or request.repeatable
                    )
                    hint = exc.retry_after
                    error: Exception = exc
                except aiohttp.ClientSSLError:
                    raise  # a TLS misconfiguration does not heal by retrying
                except aiohttp.ClientConnectorError as exc:
                    retry, hint, error = True, None, exc
                except aiohttp.ClientError as exc:
                    retry, hint, error = request.repeatable, None, exc
                delay = self._retry_delay(attempt, hint)
                if not retry or attempt >= MAX_ATTEMPTS or loop.time() + delay >= deadline:
                    raise error
                await asyncio.sleep(delay)

    async def _attempt(self, request: _Request, url: str) -> dict[str, Any] | None:
        await self._throttle()
        started = time.perf_counter()
        code = "error"
        try:
            async with self._http().request(
                request.method,
                url,
                params=request.params,
                data=request.body,
                headers=await self._headers(request.content_type),
                server_hostname=self.config.server_hostname,
            ) as response:
                code = str(response.status)
                payload = await response.read()
                if response.status >= 300:
                    raise _api_error(response.status, payload, response.headers)
        finally:
            self.metrics.kube_requests(request.verb, code).inc()
            self.metrics.kube_request_duration(request.verb).observe(time.perf_counter() - started)
        if not payload:
            return None
        try:
            decoded = orjson.loads(payload)
        except orjson.JSONDecodeError:
            raise ApiError(response.status, "InvalidResponse", "response is not JSON") from None
        if not isinstance(decoded, dict):
            raise ApiError(response.status, "InvalidResponse", "response is not a JSON object")
        return decoded

    async def _throttle(self) -> None:
        self._throttle_wait.observe(await self._bucket.acquire())

    async def _headers(self, content_type: str | None) -> dict[str, str]:
        headers: dict[str, str] = {}
        if content_type:
            headers["Content-Type"] = content_type
        if self.config.authorization is not None:
            value = await self.config.authorization()
            if value:
                headers["Authorization"] = value
        return headers

    def _retry_delay(self, attempt: int, hint: float | None) -> float:
        floor = hint if hint is not None else min(_RETRY_BASE * 2.0 ** (attempt - 1), _RETRY_CAP)
        return floor * (1.0 + _JITTER * self._rng.random())


class WatchStream:
    """Watch events decoded from a chunked body, split on newlines (not ``readline``, whose
    buffer limit breaks on large objects). Yields :class:`WatchEvent` (full decodes, or lean
    ones when opened with ``lean=True``); an ERROR event raises its ApiError.

    For throughput, :meth:`next_lines` hands out the buffered lines in batches and
    :attr:`decode` turns one into its event: decode each just before using it, so that no
    batch of decoded objects is kept alive at once.
    """

    __slots__ = ("_carried", "_chunk", "_content", "_pos", "_tail", "decode")

    def __init__(self, content: aiohttp.StreamReader, *, lean: bool = False) -> None:
        self._content = content
        self._chunk = b""
        self._pos = 0
        self._tail: list[bytes] = []
        self._carried = 0
        self.decode: Callable[[bytes], WatchEvent] = decode_lean if lean else decode_event

    def __aiter__(self) -> WatchStream:
        return self

    async def __anext__(self) -> WatchEvent:
        lines = await self.next_lines(1)
        if not lines:
            raise StopAsyncIteration
        return self.decode(lines[0])

    async def next_lines(self, limit: int) -> list[bytes]:
        """The next 1 to ``limit`` non-blank lines: what is already buffered, else waits for
        more bytes; ``[]`` once the server closed the stream."""
        while True:
            lines = self._buffered(limit)
            if lines:
                return lines
            self._carry(self._chunk, self._pos)
            self._chunk, self._pos = await self._content.readany(), 0
            if not self._chunk:
                if self._carried:
                    line = b"".join(self._tail)
                    self._tail, self._carried = [], 0
                    return [line]
                return []

    def _buffered(self, limit: int) -> list[bytes]:
        """Up to ``limit`` complete lines from the current chunk (and the carried tail)."""
        lines: list[bytes] = []
        chunk, pos = self._chunk, self._pos
        while len(lines) < limit:
            end = chunk.find(b"\n", pos)
            if end < 0:
                break
            if self._tail:
                self._tail.append(chunk[pos:end])
                lines.append(b"".join(self._tail))
                self._tail, self._carried = [], 0
            elif end > pos:
                lines.append(chunk[pos:end])
            pos = end + 1  # (a blank keep-alive line is skipped)
        self._pos = pos
        return lines

    def _carry(self, chunk: bytes, pos: int) -> None:
        if pos >= len(chunk):
            return
        self._carried += len(chunk) - pos
        if self._carried > MAX_WATCH_LINE:
            raise WatchProtocolError(f"watch event larger than {MAX_WATCH_LINE} bytes")
        self._tail.append(chunk[pos:])


def _api_error(status: int, payload: bytes, headers: Mapping[str, str]) -> ApiError:
    body: dict[str, Any] | None = None
    try:
        decoded = orjson.loads(payload) if payload else None
    except orjson.JSONDecodeError:
        decoded = None
    if isinstance(decoded, dict):
        body = decoded
    elif payload:
        body = {"message": payload[:200].decode("utf-8", "replace")}
    return ApiError.from_status(status, body, _retry_after(headers.get("Retry-After")))


def _retry_after(value: str | None) -> float | None:
    """Retry-After in seconds (client-go reads the integer form only)."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if seconds >= 0 else None


def _query(**params: str | None) -> dict[str, str]:
    return {key: value for key, value in params.items() if value is not None}


def _namespace(res: Resource, namespace: str | None) -> str | None:
    if res.namespaced and not namespace:
        raise ValueError(f"{res} is namespaced: a namespace is required")
    if not res.namespaced and namespace:
        raise ValueError(f"{res} is cluster-scoped: no namespace allowed")
    return namespace


def _collection_namespace(res: Resource, namespace: str | None) -> str | None:
    """None on a namespaced resource means every namespace."""
    if not res.namespaced and namespace:
        raise ValueError(f"{res} is cluster-scoped: no namespace allowed")
    return namespace


def _name(name: str) -> str:
    if not name:
        raise ValueError("an object name is required")
    return name


def _expect_object(result: dict[str, Any] | None) -> dict[str, Any]:
    if result is None:
        raise ApiError(200, "InvalidResponse", "empty response where an object was expected")
    return result
