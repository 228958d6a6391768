"""Certificate quota: drafts, pending and issued count; cancel frees, revoke does not; expired
certificates count on free plans only."""

from __future__ import annotations

from typing import Any

from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import Api, FileServer, issue, make_csr


async def create_error(api: Api, key: str, name: str, **fields: str) -> Any:
    data = {"certificate_domains": name, "certificate_csr": make_csr([name]), **fields}
    return await api.error("POST", "/certificates", key=key, data=data)


async def test_free_plan_counts_drafts_and_cancel_frees(
    api: Api, emulator: ZeroSSLEmulator
) -> None:
    emulator.add_account("free", quota=3, paid=False)
    drafts = [await api.create([f"d{i}.example.com"], key="free") for i in range(3)]

    error = await create_error(api, "free", "d3.example.com")
    assert (error["code"], error["type"]) == (2817, "certificate_limit_reached")
    bad_input = await api.error(
        "POST", "/certificates", key="free", data={"certificate_domains": "d3.example.com"}
    )
    assert bad_input["code"] == 2819  # input errors come before the quota

    cancelled = await api.ok("POST", f"/certificates/{drafts[0]['id']}/cancel", key="free")
    assert cancelled == {"success": 1}
    await api.create(["d3.example.com"], key="free")  # the cancelled draft freed its slot
    assert (await create_error(api, "free", "d4.example.com"))["code"] == 2817


async def test_revoke_does_not_free_and_expired_counts_on_free_plans(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    emulator.add_account("free", quota=2, paid=False)
    issued = await issue(api, emulator, file_server, ["one.example.com"], key="free")
    revoked = await api.ok("POST", f"/certificates/{issued['id']}/revoke", key="free")
    assert revoked == {"success": 1}
    other = await issue(api, emulator, file_server, ["two.example.com"], key="free")
    emulator.expire(other["id"])
    assert (await api.ok("GET", f"/certificates/{other['id']}", key="free"))["status"] == "expired"

    assert (await create_error(api, "free", "three.example.com"))["code"] == 2817


async def test_paid_plans_do_not_count_expired(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    emulator.add_account("paid", quota=1, paid=True)
    issued = await issue(api, emulator, file_server, ["one.example.com"], key="paid")
    assert (await create_error(api, "paid", "two.example.com"))["code"] == 2817
    emulator.expire(issued["id"])
    await api.create(["two.example.com"], key="paid")


async def test_one_year_certificates_need_a_paid_plan(api: Api, emulator: ZeroSSLEmulator) -> None:
    emulator.add_account("free", quota=3, paid=False)
    error = await create_error(api, "free", "y.example.com", certificate_validity_days="365")
    assert error["code"] == 2807
    assert "paid" in error["info"]
    paid = await api.create(["y.example.com"], certificate_validity_days="365")
    assert paid["type"] == "4"
