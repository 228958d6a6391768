"""A scripted stand-in for api.zerossl.com: records requests, answers from a queue."""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web
from aiohttp.test_utils import TestServer

Answer = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    form: dict[str, str]
    content_type: str


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(
            body=orjson.dumps(body),
            status=status,
            content_type="application/json",
            headers=headers,
        )

    return answer


def raw_answer(
    body: bytes, status: int, content_type: str = "text/html", headers: dict[str, str] | None = None
) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, status=status, content_type=content_type, headers=headers)

    return answer


def error_answer(code: int, type_: str, details: Any = None, status: int = 200) -> Answer:
    error: dict[str, Any] = {"code": code, "type": type_}
    if details is not None:
        error["details"] = details
    return json_answer({"success": False, "error": error}, status=status)


def slow_answer(seconds: float) -> Answer:
    async def answer(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(seconds)
        return web.json_response({})

    return answer


NGINX_429 = b"<html><head><title>429 Too Many Requests</title></head><body>nginx</body></html>"
NGINX_502 = b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>"


@dataclass
class FakeZeroSSL:
    url: str = ""
    requests: list[Recorded] = field(default_factory=list)
    answers: deque[Answer] = field(default_factory=deque)

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        form = {k: str(v) for k, v in (await request.post()).items()}
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), form, request.content_type)
        )
        if not self.answers:
            return web.json_response(
                {"success": False, "error": {"code": 999, "type": "unscripted"}}
            )
        return await self.answers.popleft()(request)


@asynccontextmanager
async def fake_zerossl() -> AsyncIterator[FakeZeroSSL]:
    fake = FakeZeroSSL()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", fake._handle)
    server = TestServer(app)
    await server.start_server(access_log=None)  # the access log would show the key
    try:
        fake.url = str(server.make_url("")).rstrip("/")
        yield fake
    finally:
        await server.close()
