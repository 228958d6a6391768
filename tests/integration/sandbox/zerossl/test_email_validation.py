"""EMAIL validation: admin addresses only, status endpoint, resend, approval over admin HTTP."""

from __future__ import annotations

from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import Api, DnsServer


async def test_email_errors(api: Api) -> None:
    created = await api.create(["mail.example.com", "www.mail.example.com"])
    path = f"/certificates/{created['id']}/challenges"
    missing = await api.error("POST", path, data={"validation_method": "EMAIL"})
    assert (missing["code"], missing["type"]) == (2824, "missing_validation_emails")
    one_for_two = await api.error(
        "POST", path, data={"validation_method": "EMAIL", "validation_email": "admin@example.com"}
    )
    assert one_for_two["code"] == 2825
    whois = await api.error(
        "POST",
        path,
        data={
            "validation_method": "EMAIL",
            "validation_email": "owner@example.com,admin@example.com",
        },
    )
    assert whois["code"] == 2825
    assert "owner@example.com" in whois["info"]


async def test_approval_flow_with_status_and_resend(api: Api, emulator: ZeroSSLEmulator) -> None:
    created = await api.create(["mail.example.com", "www.mail.example.com"])
    emails = "postmaster@mail.example.com,admin@example.com"
    verified = await api.ok(
        "POST",
        f"/certificates/{created['id']}/challenges",
        data={"validation_method": "EMAIL", "validation_email": emails},
    )
    assert (verified["status"], verified["validation_type"]) == ("pending_validation", "EMAIL")
    assert verified["validation_emails"] == emails

    status = await api.ok("GET", f"/certificates/{created['id']}/status")
    assert status == {
        "validation_completed": 0,
        "details": {
            "mail.example.com": {"method": "postmaster@mail.example.com", "status": "Email Sent"},
            "www.mail.example.com": {"method": "admin@example.com", "status": "Email Sent"},
        },
    }
    resend = f"/certificates/{created['id']}/challenges/email"
    assert await api.ok("POST", resend) == {"success": 1}
    assert await api.ok("GET", resend) == {"success": 1}
    assert emulator.certificate(created["id"]).emails_sent == 3

    code, view = await api.call(
        "POST", f"/_emulator/approve-email/{created['id']}", params={"domain": "mail.example.com"}
    )
    assert code == 200
    assert view["status"] == "pending_validation"
    status = await api.ok("GET", f"/certificates/{created['id']}/status")
    assert status["details"]["mail.example.com"]["status"] == "Approved"
    assert status["validation_completed"] == 0

    emulator.approve_email(created["id"], "www.mail.example.com")
    await api.wait_status(created["id"], "issued")
    final = await api.ok("GET", f"/certificates/{created['id']}/status")
    assert final["validation_completed"] == 1
    assert (await api.error("POST", resend))["code"] == 2837  # nothing left to resend


async def test_approving_what_is_not_waiting_is_a_conflict(api: Api) -> None:
    created = await api.create(["x.example.com"])
    code, body = await api.call("POST", f"/_emulator/approve-email/{created['id']}")
    assert code == 409
    assert "not waiting for email approval" in body["error"]
    code, _ = await api.call("POST", "/_emulator/approve-email/unknown")
    assert code == 404


async def test_switching_from_email_to_cname(
    api: Api, emulator: ZeroSSLEmulator, dns_server: DnsServer
) -> None:
    created = await api.create(["switch.example.com"])
    path = f"/certificates/{created['id']}/challenges"
    await api.ok(
        "POST",
        path,
        data={"validation_method": "EMAIL", "validation_email": "admin@switch.example.com"},
    )
    emulator.set_dns_server("127.0.0.1", dns_server.port)
    entry = created["validation"]["other_methods"]["switch.example.com"]
    dns_server.add(entry["cname_validation_p1"], entry["cname_validation_p2"] + ".")
    switched = await api.ok("POST", path, data={"validation_method": "CNAME_CSR_HASH"})
    assert switched["validation_type"] == "CNAME_CSR_HASH"
    assert switched["validation_emails"] is None
    await api.wait_status(created["id"], "issued")
