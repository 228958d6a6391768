"""Fault injection and the /_emulator admin endpoints."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from controller.sandbox.zerossl import EndpointFaults, Faults, ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import (
    KEY,
    Api,
    FileServer,
    issue,
    make_csr,
    serve_files,
)

NEW = {"certificate_domains": "f.example.com", "strict_domains": "1"}


def new_certificate() -> dict[str, str]:
    return {**NEW, "certificate_csr": make_csr(["f.example.com"])}


async def test_server_errors_before_the_effect_change_nothing(
    api: Api, emulator: ZeroSSLEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.faults = Faults(endpoints={"create": EndpointFaults(server_error_rate=1.0)})
    status, body = await api.call("POST", "/certificates", data=new_certificate())
    assert status == 503
    assert "<center>nginx</center>" in body
    assert emulator.certificates() == []
    assert (await api.call("GET", "/certificates"))[0] == 200  # other endpoints unaffected
    assert [r.status for r in emulator.request_log.entries()] == [503, 200]


async def test_faults_after_the_effect_lose_the_answer(api: Api, emulator: ZeroSSLEmulator) -> None:
    emulator.faults = Faults(
        endpoints={"create": EndpointFaults(server_error_rate=1.0, after_effect=True)},
        server_error_status=502,
    )
    status, _ = await api.call("POST", "/certificates", data=new_certificate())
    assert status == 502
    (orphan,) = emulator.certificates()
    assert (orphan.status, orphan.domains) == ("draft", ("f.example.com",))


async def test_internal_error_111_with_http_200(api: Api, emulator: ZeroSSLEmulator) -> None:
    emulator.faults = Faults(endpoints={"*": EndpointFaults(internal_error_rate=1.0)})
    error = await api.error("GET", "/certificates")
    assert (error["code"], error["type"]) == (111, "internal_server_error")
    assert emulator.request_log.entries()[-1].error_code == 111


async def test_timeouts_hang_then_answer_504(
    api: Api, emulator: ZeroSSLEmulator, session: aiohttp.ClientSession
) -> None:
    emulator.faults = Faults(endpoints={"list": EndpointFaults(timeout_rate=1.0)}, hang_seconds=0.5)
    url = f"{emulator.url}/certificates"
    with pytest.raises(TimeoutError):
        async with session.get(
            url, params={"access_key": KEY}, timeout=aiohttp.ClientTimeout(total=0.1)
        ):
            pass
    status, body = await api.call("GET", "/certificates")
    assert status == 504
    assert "504 Gateway Timeout" in body


async def test_rates_are_drawn_per_request(api: Api, emulator: ZeroSSLEmulator) -> None:
    emulator.faults = Faults(endpoints={"list": EndpointFaults(server_error_rate=0.5)})
    statuses = [(await api.call("GET", "/certificates"))[0] for _ in range(100)]
    assert set(statuses) == {200, 503}


async def test_slow_validation_lets_a_cancel_land_first(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    created = await api.create(["slow.example.com"])
    serve_files(emulator, file_server, created)
    emulator.faults.validation_delay = 1.0
    verify = asyncio.create_task(
        api.call(
            "POST",
            f"/certificates/{created['id']}/challenges",
            data={"validation_method": "HTTP_CSR_HASH"},
        )
    )
    await asyncio.sleep(0.1)
    assert not verify.done()
    assert await api.ok("POST", f"/certificates/{created['id']}/cancel") == {"success": 1}
    status, body = await verify
    assert (status, body["error"]["code"]) == (200, 2830)
    assert emulator.certificate(created["id"]).status == "cancelled"


async def test_faults_over_admin_http(api: Api, emulator: ZeroSSLEmulator) -> None:
    config = {
        "endpoints": {"verify": {"server_error_rate": 0.25, "after_effect": True}},
        "hang_seconds": 5,
        "stuck_issuance": True,
    }
    status, body = await api.call("PUT", "/_emulator/faults", json=config)
    assert status == 200
    assert body["endpoints"]["verify"]["server_error_rate"] == 0.25
    assert emulator.faults.stuck_issuance is True
    assert (await api.call("GET", "/_emulator/faults"))[1] == body
    await api.call("DELETE", "/_emulator/faults")
    assert emulator.faults == Faults()


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"endpoints": {"nope": {}}}, "unknown endpoint 'nope'"),
        ({"endpoints": {"list": {"server_error_rate": 2}}}, "fault rates"),
        ({"endpoints": {"list": {"server_error_rate": "high"}}}, "server_error_rate"),
        ({"stuck_issuance": 1}, "stuck_issuance"),
        ({"hang_seconds": 10_000}, "hang_seconds"),
        ({"server_error_status": 404}, "5xx"),
        ({"surprise": True}, "unknown field 'surprise'"),
    ],
)
async def test_bad_fault_configs_are_400_with_the_reason(
    api: Api, emulator: ZeroSSLEmulator, config: dict[str, Any], message: str
) -> None:
    status, body = await api.call("PUT", "/_emulator/faults", json=config)
    assert status == 400
    assert message in body["error"]
    assert emulator.faults == Faults()


async def test_out_of_band_actions_and_state_dump(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    draft = await api.create(["oob.example.com"])
    issued = await issue(api, emulator, file_server, ["live.example.com"])

    status, view = await api.call("POST", f"/_emulator/certificates/{draft['id']}/cancel")
    assert (status, view["status"]) == (200, "cancelled")
    status, body = await api.call("POST", f"/_emulator/certificates/{draft['id']}/revoke")
    assert status == 409
    assert body["error"]["code"] == 2907
    status, view = await api.call("POST", f"/_emulator/certificates/{issued['id']}/revoke")
    assert view["status"] == "revoked"
    assert (await api.ok("GET", f"/certificates/{issued['id']}"))["status"] == "revoked"

    status, dump = await api.call("GET", "/_emulator/certificates")
    assert status == 200
    by_id = {c["id"]: c for c in dump["certificates"]}
    assert by_id[draft["id"]]["status"] == "cancelled"
    assert by_id[issued["id"]]["domains"] == ["live.example.com"]
    assert by_id[issued["id"]]["validation_type"] == "HTTP_CSR_HASH"
    assert len(by_id[issued["id"]]["csr_md5"]) == 32
    assert KEY not in str(dump)


async def test_configuration_over_admin_http(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    status, body = await api.call(
        "PUT", "/_emulator/accounts", json={"key": "late", "quota": 1, "paid": False}
    )
    assert status == 200
    assert "late" not in str(body)
    await api.create(["late.example.com"], key="late")
    created = await api.create(["routed.example.com"])
    route = {"domain": "routed.example.com", "target": f"127.0.0.1:{file_server.port}"}
    assert (await api.call("PUT", "/_emulator/resolve", json=route))[0] == 200
    serve_files(emulator, file_server, created)
    emulator.resolver.default = None  # only the explicit route remains
    assert (await api.call("PUT", "/_emulator/caa", json={"domain": "routed.example.com"}))[
        0
    ] == 200
    verify = {"validation_method": "HTTP_CSR_HASH"}
    path = f"/certificates/{created['id']}/challenges"
    assert (await api.error("POST", path, data=verify))["code"] == 2840
    caa_off = {"domain": "routed.example.com", "forbidden": False}
    await api.call("PUT", "/_emulator/caa", json=caa_off)
    assert (await api.ok("POST", path, data=verify))["status"] == "pending_validation"

    assert (await api.call("PUT", "/_emulator/dns", json={"server": "127.0.0.1:5353"}))[0] == 200
    assert (await api.call("PUT", "/_emulator/dns", json={"server": "nope"}))[0] == 400
    assert (await api.call("PUT", "/_emulator/resolve", json={"target": "x"}))[0] == 400
    status, ca = await api.call("GET", "/_emulator/ca")
    assert ca["root"] == emulator.root_pem
