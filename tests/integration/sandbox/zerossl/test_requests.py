"""Routing, access keys, rate limit and the request log."""

from __future__ import annotations

import aiohttp
import pytest

from controller.sandbox.zerossl import ZeroSSLEmulator, account_hash
from tests.integration.sandbox.zerossl.conftest import KEY, Api


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/nothing-here"),
        ("GET", "/certificates/abc/challenges"),  # verify is POST only
        ("GET", "/certificates/abc/revoke"),  # revoke is POST only
        ("PUT", "/certificates"),
        ("GET", "/validation/csr"),
    ],
)
async def test_wrong_path_or_method_is_104_with_http_200(api: Api, method: str, path: str) -> None:
    error = await api.error(method, path)
    assert (error["code"], error["type"]) == (104, "route_not_found")


async def test_access_key_errors(api: Api, emulator: ZeroSSLEmulator) -> None:
    missing = await api.error("GET", "/certificates", key=None)
    assert (missing["code"], missing["type"]) == (103, "invalid_api_function")
    unknown = await api.error("GET", "/certificates", key="who-knows")
    assert (unknown["code"], unknown["type"]) == (101, "invalid_access_key")
    emulator.add_account("sleepy", active=False)
    inactive = await api.error("GET", "/certificates", key="sleepy")
    assert (inactive["code"], inactive["type"]) == (102, "inactive_user")


async def test_certificates_of_other_accounts_are_not_found(
    api: Api, emulator: ZeroSSLEmulator
) -> None:
    mine = await api.create(["mine.example.com"])
    emulator.add_account("other")
    error = await api.error("GET", f"/certificates/{mine['id']}", key="other")
    assert (error["code"], error["type"]) == (2803, "certificate_not_found")


async def test_rate_limit_answers_429_html_past_the_limit(session: aiohttp.ClientSession) -> None:
    # one token per 100 s: nothing refills while the test runs
    async with ZeroSSLEmulator(rate_limit=0.01, rate_burst=3, retry_after=7) as z:
        z.add_account(KEY)
        api = Api(session, z.url)
        statuses = [(await api.call("GET", "/certificates"))[0] for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        async with session.get(z.url + "/certificates", params={"access_key": KEY}) as response:
            assert response.status == 429
            assert response.content_type == "text/html"
            assert response.headers["Retry-After"] == "7"
            assert "429 Too Many Requests" in await response.text()
        # the limit is per key: another key still passes
        z.add_account("second")
        assert (await api.call("GET", "/certificates", key="second"))[0] == 200
        assert z.request_log.counts_by_endpoint()["list"] == 7


async def test_retry_after_is_omitted_unless_configured(session: aiohttp.ClientSession) -> None:
    async with ZeroSSLEmulator(rate_limit=0.01, rate_burst=1) as z:
        z.add_account(KEY)
        for _ in range(2):
            async with session.get(z.url + "/certificates", params={"access_key": KEY}) as response:
                last = response.status, "Retry-After" in response.headers
        assert last == (429, False)


async def test_request_log_records_calls_without_the_key(
    api: Api, emulator: ZeroSSLEmulator
) -> None:
    created = await api.create(["log.example.com"])
    await api.ok("GET", f"/certificates/{created['id']}")
    await api.error("GET", "/certificates/unknown")
    await api.error("GET", "/certificates", key=None)

    assert emulator.request_log.counts_by_endpoint() == {"create": 1, "get": 2, "list": 1}
    records = emulator.request_log.entries()
    assert [(r.endpoint, r.method, r.status, r.error_code) for r in records] == [
        ("create", "POST", 200, None),
        ("get", "GET", 200, None),
        ("get", "GET", 200, 2803),
        ("list", "GET", 200, 103),
    ]
    assert records[1].certificate_id == created["id"]
    assert records[0].account == account_hash(KEY)
    assert records[3].account is None
    assert all(KEY not in str(r.to_json()) for r in records)
    status, over_http = await api.call("GET", "/_emulator/requests", params={"since": "2"})
    assert status == 200
    assert [e["seq"] for e in over_http["entries"]] == [3, 4]
    assert over_http["counts"]["get"] == 2
    assert KEY not in str(over_http)
    await api.call("DELETE", "/_emulator/requests")
    assert emulator.request_log.counts_by_endpoint() == {}
