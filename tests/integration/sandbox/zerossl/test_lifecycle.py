"""Get, list, cancel, revoke, download, validate CSR and the removed delete endpoint."""

from __future__ import annotations

import io
import zipfile

import aiohttp
import pytest

from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import KEY, Api, FileServer, issue, make_csr


async def test_get_returns_the_object_and_unknown_ids_give_2803(api: Api) -> None:
    created = await api.create(["get.example.com"])
    assert await api.ok("GET", f"/certificates/{created['id']}") == created
    error = await api.error("GET", "/certificates/ffffffffffffffffffffffffffffffff")
    assert (error["code"], error["type"]) == (2803, "certificate_not_found")


async def test_list_filters_searches_and_pages(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    drafts = [await api.create([f"list{i}.example.com"]) for i in range(5)]
    issued = await issue(
        api, emulator, file_server, ["issued.example.org", "www.issued.example.org"]
    )
    await api.ok("POST", f"/certificates/{drafts[0]['id']}/cancel")

    everything = await api.ok("GET", "/certificates")
    assert everything["total_count"] == 6
    assert everything["results"][0]["id"] == issued["id"]  # newest first
    assert everything["acmeUsageLevel"] == "LOW"
    assert everything["isAcmeLocked"] is False

    page = await api.ok(
        "GET", "/certificates", params={"certificate_status": "draft", "limit": "3", "page": "2"}
    )
    assert (page["total_count"], page["result_count"], page["page"], page["limit"]) == (4, 1, 2, 3)
    assert page["results"][0]["id"] == drafts[1]["id"]

    both = await api.ok("GET", "/certificates", params={"certificate_status": "issued,cancelled"})
    assert {c["id"] for c in both["results"]} == {issued["id"], drafts[0]["id"]}

    by_san = await api.ok("GET", "/certificates", params={"search": "www.issued.example.org"})
    assert [c["id"] for c in by_san["results"]] == [issued["id"]]
    by_type = await api.ok("GET", "/certificates", params={"certificate_type": "multiDomain90Days"})
    assert [c["id"] for c in by_type["results"]] == [issued["id"]]
    assert (await api.ok("GET", "/certificates", params={"certificate_type": "1"}))[
        "total_count"
    ] == 5

    expiring = await api.ok("GET", "/certificates", params={"certificate_status": "expiring_soon"})
    assert expiring["total_count"] == 0  # 90 days left

    capped = await api.ok("GET", "/certificates", params={"limit": "5000"})
    assert capped["limit"] == 1000


@pytest.mark.parametrize(
    "params",
    [{"limit": "0"}, {"page": "x"}, {"certificate_status": "bogus"}, {"certificate_type": "9"}],
)
async def test_list_rejects_bad_parameters(api: Api, params: dict[str, str]) -> None:
    assert (await api.error("GET", "/certificates", params=params))["code"] == 110


async def test_cancel_rules(api: Api, emulator: ZeroSSLEmulator, file_server: FileServer) -> None:
    draft = await api.create(["c.example.com"])
    assert await api.ok("POST", f"/certificates/{draft['id']}/cancel") == {"success": 1}
    assert (await api.ok("GET", f"/certificates/{draft['id']}"))["status"] == "cancelled"
    again = await api.error("POST", f"/certificates/{draft['id']}/cancel")
    assert again == {"code": 2834, "type": "certificate_cannot_be_cancelled", "info": None}
    issued = await issue(api, emulator, file_server, ["i.example.com"])
    not_cancellable = await api.error("POST", f"/certificates/{issued['id']}/cancel")
    assert (not_cancellable["code"], not_cancellable["type"]) == (
        2833,
        "certificate_cannot_be_cancelled",
    )


async def test_revoke_rules(api: Api, emulator: ZeroSSLEmulator, file_server: FileServer) -> None:
    draft = await api.create(["r.example.com"])
    assert (await api.error("POST", f"/certificates/{draft['id']}/revoke"))["code"] == 2907
    issued = await issue(api, emulator, file_server, ["i.example.com"])
    bad_reason = await api.error(
        "POST", f"/certificates/{issued['id']}/revoke", data={"reason": "boredom"}
    )
    assert bad_reason["code"] == 2906
    revoke = {"reason": "keyCompromise"}
    assert await api.ok("POST", f"/certificates/{issued['id']}/revoke", data=revoke) == {
        "success": 1
    }
    # revoking a revoked certificate still succeeds; lowercase reasons are accepted
    again = await api.ok(
        "POST", f"/certificates/{issued['id']}/revoke", data={"reason": "superseded"}
    )
    assert again == {"success": 1}
    assert (await api.ok("GET", f"/certificates/{issued['id']}"))["status"] == "revoked"
    assert (await api.error("GET", f"/certificates/{issued['id']}/download/return"))["code"] == 2860


async def test_download_inline_and_zip(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer, session: aiohttp.ClientSession
) -> None:
    draft = await api.create(["d.example.com"])
    not_issued = await api.error("GET", f"/certificates/{draft['id']}/download/return")
    assert (not_issued["code"], not_issued["type"]) == (2832, "certificate_not_issued")
    issued = await issue(api, emulator, file_server, ["z.example.com"])

    inline = await api.ok("GET", f"/certificates/{issued['id']}/download/return")
    assert set(inline) == {"certificate.crt", "ca_bundle.crt"}
    assert inline["certificate.crt"].startswith("-----BEGIN CERTIFICATE-----")
    assert inline["ca_bundle.crt"] == emulator.intermediate_pem

    async with session.get(
        f"{emulator.url}/certificates/{issued['id']}/download", params={"access_key": KEY}
    ) as response:
        assert response.status == 200
        assert response.content_type == "application/zip"
        archive = zipfile.ZipFile(io.BytesIO(await response.read()))
    assert {n: archive.read(n).decode() for n in archive.namelist()} == inline


async def test_validate_csr(api: Api) -> None:
    rsa = await api.ok(
        "POST", "/validation/csr", data={"csr": make_csr(["v.example.com"], key="rsa2048")}
    )
    assert rsa == {
        "valid": True,
        "error": None,
        "csrResponse": ["2048", "sigalg=sha256WithRSAEncryption"],
    }
    ec = await api.ok("POST", "/validation/csr", json={"csr": make_csr(["v.example.com"])})
    assert ec["csrResponse"] == ["256", "sigalg=ecdsa-with-SHA256"]
    broken = await api.ok(
        "POST", "/validation/csr", data={"csr": "-----BEGIN CERTIFICATE REQUEST-----"}
    )
    assert broken["valid"] is False
    assert broken["error"].startswith("-10 ")
    assert broken["csrResponse"] is None
    assert (await api.error("POST", "/validation/csr"))["code"] == 2819


async def test_delete_endpoint_is_removed(api: Api) -> None:
    created = await api.create(["del.example.com"])
    error = await api.error("DELETE", f"/certificates/{created['id']}")
    assert (error["code"], error["type"]) == (2835, "certificate_cannot_be_deleted")
    assert (await api.ok("GET", f"/certificates/{created['id']}"))["status"] == "draft"


async def test_email_endpoints_on_non_email_certificates(api: Api) -> None:
    created = await api.create(["n.example.com"])
    assert (await api.error("GET", f"/certificates/{created['id']}/status"))["code"] == 2838
    assert (await api.error("POST", f"/certificates/{created['id']}/challenges/email"))[
        "code"
    ] == 2837
