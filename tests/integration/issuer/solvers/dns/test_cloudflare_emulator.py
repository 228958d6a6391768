"""The Cloudflare emulator's own contract: envelope, auth errors, record rules, pagination."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from controller.sandbox.cloudflare import CloudflareEmulator

pytestmark = pytest.mark.integration
AUTH = {"Authorization": "Bearer good"}


@pytest.fixture
async def api() -> AsyncIterator[tuple[CloudflareEmulator, aiohttp.ClientSession]]:
    async with CloudflareEmulator() as emulator, aiohttp.ClientSession() as session:
        emulator.add_token("good")
        yield emulator, session


async def call(
    session: aiohttp.ClientSession,
    emulator: CloudflareEmulator,
    method: str,
    path: str,
    headers: dict[str, str] | None = AUTH,
    **kwargs: Any,
) -> tuple[int, Any]:
    async with session.request(method, emulator.url + path, headers=headers, **kwargs) as reply:
        return reply.status, await reply.json()


@pytest.mark.parametrize(
    ("headers", "status", "code"),
    [
        ({}, 400, 9106),
        ({"Authorization": "Token good"}, 400, 6003),
        ({"Authorization": "Bearer nope"}, 403, 10000),
    ],
)
async def test_authentication_errors(
    api: tuple[CloudflareEmulator, aiohttp.ClientSession],
    headers: dict[str, str],
    status: int,
    code: int,
) -> None:
    emulator, session = api
    got, body = await call(session, emulator, "GET", "/zones", headers=headers)
    assert got == status
    assert body["success"] is False
    assert body["errors"][0]["code"] == code
    assert body["result"] is None


async def test_records_follow_the_apis_rules(
    api: tuple[CloudflareEmulator, aiohttp.ClientSession],
) -> None:
    emulator, session = api
    zone = emulator.add_zone("Example.COM.")
    records = f"/zones/{zone}/dns_records"
    cname = {"type": "CNAME", "name": "_a.example.com.", "content": "T.Example.net.", "ttl": 60}

    status, body = await call(session, emulator, "POST", records, json=cname)
    assert status == 200
    assert body["success"] is True
    assert body["result"]["name"] == "_a.example.com"
    assert body["result"]["content"] == "t.example.net"

    status, body = await call(session, emulator, "POST", records, json=cname)
    assert (status, body["errors"][0]["code"]) == (400, 81053)
    bad_ttl = {**cname, "name": "_b.example.com", "ttl": 30}
    status, body = await call(session, emulator, "POST", records, json=bad_ttl)
    assert (status, body["errors"][0]["code"]) == (400, 9021)
    outside = {**cname, "name": "_b.example.org"}
    status, body = await call(session, emulator, "POST", records, json=outside)
    assert (status, body["errors"][0]["code"]) == (400, 1004)

    status, body = await call(session, emulator, "DELETE", f"{records}/{'0' * 32}")
    assert (status, body["errors"][0]["code"]) == (404, 81044)
    status, body = await call(session, emulator, "GET", f"/zones/{'0' * 32}/dns_records")
    assert (status, body["errors"][0]["code"]) == (404, 7003)


async def test_listing_filters_and_pages(
    api: tuple[CloudflareEmulator, aiohttp.ClientSession],
) -> None:
    emulator, session = api
    zone = emulator.add_zone("example.com")
    for i in range(7):
        body = {"type": "CNAME", "name": f"_{i}.example.com", "content": "t.example.net"}
        await call(session, emulator, "POST", f"/zones/{zone}/dns_records", json=body)

    status, body = await call(
        session, emulator, "GET", f"/zones/{zone}/dns_records?per_page=5&page=2"
    )
    assert status == 200
    assert body["result_info"] == {
        "page": 2,
        "per_page": 5,
        "count": 2,
        "total_count": 7,
        "total_pages": 2,
    }
    status, body = await call(
        session, emulator, "GET", f"/zones/{zone}/dns_records?type=CNAME&name=_3.example.com"
    )
    assert [r["name"] for r in body["result"]] == ["_3.example.com"]
    status, body = await call(session, emulator, "GET", "/zones?name=example.com")
    assert [z["id"] for z in body["result"]] == [zone]
