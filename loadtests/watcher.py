"""``RequestWatcher``: the harness's own view of the run's CertificateRequests.

It lists, then watches, the requests carrying the run's label and records the moment each first
showed a terminal Ready condition (Issued, Failed or Denied), as seen by the harness. A watch
that ends, drops, times out or answers 410 is followed by a relist, so chaos on the API server
costs the watcher only a little precision: a request that finished while the watch was down is
stamped when the relist sees it.

Invariants: every HTTP call is bounded (``request_timeout`` for lists, the server's
``timeoutSeconds`` plus ``read_timeout`` of silence for watches); a finished request is stamped
once and never changes; only transport faults and API errors are retried, anything else
propagates.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any, Final, NoReturn

import aiohttp
import orjson

from controller.sandbox.stack import ApiServerAccess, find_condition

REQUESTS_PATH: Final = "/apis/cert-manager.io/v1/certificaterequests"
TERMINAL: Final = frozenset({"Issued", "Failed", "Denied"})
_RETRY_DELAY: Final = 0.2

JSON = dict[str, Any]


class WatchExpired(Exception):
    """The server answered a watch with 410: the resourceVersion is too old."""


class ApiUnavailable(Exception):
    """The server refused a list or watch (5xx, 429, ...); worth trying again."""


@dataclass(frozen=True, slots=True)
class Finished:
    """When (harness monotonic clock) and how a request first showed a terminal Ready."""

    at: float
    reason: str
    message: str


def terminal_state(obj: JSON) -> tuple[str, str] | None:
    """(reason, message) of the request's terminal Ready condition, if it has one."""
    ready = find_condition(obj, "Ready")
    if ready is None:
        return None
    reason = str(ready.get("reason") or "")
    if reason == "Issued" and ready.get("status") != "True":
        return None
    return (reason, str(ready.get("message") or "")) if reason in TERMINAL else None


def object_key(obj: JSON) -> str:
    meta = obj["metadata"]
    return f"{meta.get('namespace')}/{meta['name']}"


class RequestWatcher:
    """``tasks.create_task(watcher.run())``, then ``await watcher.wait_finished(keys, t)``."""

    def __init__(
        self,
        access: ApiServerAccess,
        label_selector: str,
        *,
        clock: Callable[[], float] = time.monotonic,
        watch_seconds: int = 60,
        read_timeout: float = 30.0,
        request_timeout: float = 60.0,
    ) -> None:
        self._access = access
        self._selector = label_selector
        self._clock = clock
        self._watch_seconds = watch_seconds
        self._read_timeout = read_timeout
        self._request_timeout = request_timeout
        self._ssl: ssl.SSLContext | bool = (
            ssl.create_default_context(cadata=access.ca_pem.decode()) if access.ca_pem else False
        )
        self._headers = {"Authorization": f"Bearer {access.admin_token}"}
        self._changed = asyncio.Event()
        self.finished: dict[str, Finished] = {}
        self.relists = 0
        """Lists made (the first one included)."""

    async def run(self) -> NoReturn:
        async with aiohttp.ClientSession(trust_env=False, headers=self._headers) as session:
            while True:
                try:
                    version = await self._list(session)
                    while True:
                        version = await self._watch(session, version)
                except (aiohttp.ClientError, TimeoutError, WatchExpired, ApiUnavailable):
                    await asyncio.sleep(_RETRY_DELAY)

    async def wait_finished(self, keys: Collection[str], timeout: float) -> None:
        """Until every key in ``keys`` has finished; TimeoutError saying how many have not."""
        wanted = set(keys)
        try:
            async with asyncio.timeout(timeout):
                while not wanted <= self.finished.keys():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            missing = sorted(wanted - self.finished.keys())
            raise TimeoutError(
                f"{len(missing)} of {len(wanted)} CertificateRequests had no terminal Ready "
                f"condition after {timeout:.0f}s (e.g. {', '.join(missing[:5])})"
            ) from None

    # --- list and watch --------------------------------------------------------------------

    async def _list(self, session: aiohttp.ClientSession) -> str:
        self.relists += 1
        async with session.get(
            self._access.url + REQUESTS_PATH,
            params={"labelSelector": self._selector},
            ssl=self._ssl,
            timeout=aiohttp.ClientTimeout(total=self._request_timeout),
        ) as response:
            body = await response.read()
            if response.status != 200:
                raise ApiUnavailable(f"list answered {response.status}")
        listing = orjson.loads(body)
        now = self._clock()
        for item in listing.get("items") or ():
            self._observe(item, now)
        return str(listing["metadata"]["resourceVersion"])

    async def _watch(self, session: aiohttp.ClientSession, version: str) -> str:
        """Follow one watch from ``version``; returns the last version seen when it ends."""
        params = {
            "watch": "1",
            "labelSelector": self._selector,
            "resourceVersion": version,
            "allowWatchBookmarks": "true",
            "timeoutSeconds": str(self._watch_seconds),
        }
        timeout = aiohttp.ClientTimeout(
            total=self._watch_seconds + self._read_timeout, sock_read=self._read_timeout
        )
        async with session.get(
            self._access.url + REQUESTS_PATH, params=params, ssl=self._ssl, timeout=timeout
        ) as response:
            if response.status == 410:
                raise WatchExpired()
            if response.status != 200:
                raise ApiUnavailable(f"watch answered {response.status}")
            async for line in response.content:
                if not line.strip():
                    continue
                event = orjson.loads(line)
                obj = event.get("object") or {}
                kind = event.get("type")
                if kind == "ERROR":
                    if obj.get("code") == 410:
                        raise WatchExpired()
                    raise ApiUnavailable(f"watch error event: {obj.get('message')}")
                version = str(obj.get("metadata", {}).get("resourceVersion") or version)
                if kind in ("ADDED", "MODIFIED"):
                    self._observe(obj, self._clock())
        return version

    def _observe(self, obj: JSON, now: float) -> None:
        key = object_key(obj)
        if key in self.finished:
            return
        state = terminal_state(obj)
        if state is not None:
            self.finished[key] = Finished(now, *state)
            self._changed.set()
