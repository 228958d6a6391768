"""CNAME validation against a tiny in-test DNS server."""

from __future__ import annotations

from typing import Any

from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import Api, DnsServer

CNAME = {"validation_method": "CNAME_CSR_HASH"}


def record(created: dict[str, Any], domain: str) -> tuple[str, str]:
    entry = created["validation"]["other_methods"][domain]
    return entry["cname_validation_p1"], entry["cname_validation_p2"]


async def test_correct_records_lead_to_issuance(
    api: Api, emulator: ZeroSSLEmulator, dns_server: DnsServer
) -> None:
    emulator.set_dns_server("127.0.0.1", dns_server.port)
    created = await api.create(["dns.example.com", "www.dns.example.com"])
    for domain in ("dns.example.com", "www.dns.example.com"):
        name, target = record(created, domain)
        dns_server.add(name, target.upper() + ".")  # case does not matter, absolute target
    verified = await api.ok("POST", f"/certificates/{created['id']}/challenges", data=CNAME)
    assert verified["status"] == "pending_validation"
    assert verified["validation_type"] == "CNAME_CSR_HASH"
    await api.wait_status(created["id"], "issued")


async def test_missing_and_wrong_records_fail_with_details(
    api: Api, emulator: ZeroSSLEmulator, dns_server: DnsServer
) -> None:
    emulator.set_dns_server("127.0.0.1", dns_server.port)
    created = await api.create(["missing.example.com", "wrong.example.com"])
    wrong_name, target = record(created, "wrong.example.com")
    dns_server.add(wrong_name, "something.else.example.org.")

    error = await api.error("POST", f"/certificates/{created['id']}/challenges", data=CNAME)
    assert (error["code"], error["type"]) == (0, "domain_control_validation_failed")
    md5 = wrong_name.split(".")[0]
    assert error["details"] == {
        "missing.example.com": {
            "missing.example.com": {
                "cname_found": 0,
                "record_correct": 0,
                "target_host": md5,
                "target_record": target.upper(),
                "actual_record": "",
            }
        },
        "wrong.example.com": {
            "wrong.example.com": {
                "cname_found": 1,
                "record_correct": 0,
                "target_host": md5,
                "target_record": target.upper(),
                "actual_record": "something.else.example.org",
            }
        },
    }
    assert (await api.ok("GET", f"/certificates/{created['id']}"))["status"] == "draft"


async def test_relative_target_with_zone_appended_fails(
    api: Api, emulator: ZeroSSLEmulator, dns_server: DnsServer
) -> None:
    """certmagic#304: a target without final dot got the zone appended by the DNS server."""
    emulator.set_dns_server("127.0.0.1", dns_server.port)
    created = await api.create(["rel.example.com"])
    name, target = record(created, "rel.example.com")
    dns_server.add(name, target)  # relative: the server appends example.com.
    error = await api.error("POST", f"/certificates/{created['id']}/challenges", data=CNAME)
    entry = error["details"]["rel.example.com"]["rel.example.com"]
    assert (entry["cname_found"], entry["record_correct"]) == (1, 0)
    assert entry["actual_record"] == f"{target}.example.com"


async def test_record_at_a_parent_authorization_domain_is_accepted(
    api: Api, emulator: ZeroSSLEmulator, dns_server: DnsServer
) -> None:
    emulator.set_dns_server("127.0.0.1", dns_server.port)
    created = await api.create(["*.apps.example.com"])
    name, target = record(created, "*.apps.example.com")
    assert name.endswith(".apps.example.com")
    parent = name.removesuffix(".apps.example.com") + ".example.com"
    dns_server.add(parent, target + ".")
    verified = await api.ok("POST", f"/certificates/{created['id']}/challenges", data=CNAME)
    assert verified["status"] == "pending_validation"
    assert dns_server.queries[0].lower() == name.lower() + "."


async def test_no_dns_server_means_nothing_is_found(api: Api) -> None:
    created = await api.create(["nodns.example.com"])
    error = await api.error("POST", f"/certificates/{created['id']}/challenges", data=CNAME)
    assert error["details"]["nodns.example.com"]["nodns.example.com"]["cname_found"] == 0
