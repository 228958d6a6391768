"""HTTP file validation fetched for real from a test server, with the documented failure details."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
import yarl

from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import KEY, Api, FileServer

HTTP = {"validation_method": "HTTP_CSR_HASH"}


def file_of(created: dict[str, Any], domain: str) -> tuple[str, str, str, str]:
    """(host, path, content, url) of one domain's validation file."""
    entry = created["validation"]["other_methods"][domain]
    url = entry["file_validation_url_http"]
    parsed = yarl.URL(url)
    assert parsed.host is not None
    return parsed.host, parsed.path, "\n".join(entry["file_validation_content"]), url


async def verify_failure(api: Api, certificate_id: str) -> dict[str, Any]:
    error = await api.error("POST", f"/certificates/{certificate_id}/challenges", data=HTTP)
    assert (error["code"], error["type"]) == (0, "domain_control_validation_failed")
    assert (await api.ok("GET", f"/certificates/{certificate_id}"))["status"] == "draft"
    details: dict[str, Any] = error["details"]
    return details


async def test_correct_files_lead_to_pending_then_issued(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    names = ["web.example.com", "www.web.example.com"]
    created = await api.create(names)
    emulator.resolve_default("127.0.0.1", file_server.port)
    for name in names:
        host, path, content, _ = file_of(created, name)
        file_server.serve(host, path, content)

    verified = await api.ok("POST", f"/certificates/{created['id']}/challenges", data=HTTP)
    assert verified["status"] == "pending_validation"
    assert verified["validation_type"] == "HTTP_CSR_HASH"
    issued = await api.wait_status(created["id"], "issued")
    assert issued["fingerprint_sha1"]
    assert issued["signature_algorithm_properties"] == "ecdsa-with-SHA384:256"
    assert sorted(file_server.hits) == sorted(file_of(created, n)[:2] for n in names)


@pytest.mark.parametrize(
    ("status", "body", "headers", "slug", "info", "found"),
    [
        (404, "", {}, "bad_response_code", "Server responded with status code: 404", 0),
        (
            302,
            "",
            {"Location": "https://elsewhere.example.com/"},
            "bad_response_code",
            "Server responded with status code: 302",
            0,
        ),
        (
            200,
            "wrong",
            {},
            "wrong_file_content",
            "The validation file was found, but the contents are wrong.",
            1,
        ),
        (200, b"\xff\xfe\x00", {}, "bad_file_content", "The validation file can not be read.", 1),
        (
            200,
            "x" * 5000,
            {},
            "bad_file_content",
            "The validation file is larger than 4096 bytes.",
            1,
        ),
    ],
)
async def test_bad_answers_fail_with_details(
    api: Api,
    emulator: ZeroSSLEmulator,
    file_server: FileServer,
    status: int,
    body: str | bytes,
    headers: dict[str, str],
    slug: str,
    info: str,
    found: int,
) -> None:
    created = await api.create(["bad.example.com"])
    host, path, _, url = file_of(created, "bad.example.com")
    emulator.resolve("bad.example.com", "127.0.0.1", file_server.port)
    file_server.serve(host, path, body, status, **headers)

    details = await verify_failure(api, created["id"])
    assert details == {
        "bad.example.com": {
            url: {"file_found": found, "error": True, "error_slug": slug, "error_info": info}
        }
    }


async def test_content_must_match_exactly(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    created = await api.create(["exact.example.com"])
    host, path, content, url = file_of(created, "exact.example.com")
    emulator.resolve_default("127.0.0.1", file_server.port)
    file_server.serve(host, path, content + "\n")
    details = await verify_failure(api, created["id"])
    assert details["exact.example.com"][url]["error_slug"] == "wrong_file_content"
    # a failed verify leaves the certificate re-verifiable
    file_server.serve(host, path, content)
    verified = await api.ok("POST", f"/certificates/{created['id']}/challenges", data=HTTP)
    assert verified["status"] == "pending_validation"


async def test_only_failing_domains_carry_errors(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    created = await api.create(["good.example.com", "missing.example.com"])
    emulator.resolve_default("127.0.0.1", file_server.port)
    host, path, content, _ = file_of(created, "good.example.com")
    file_server.serve(host, path, content)
    details = await verify_failure(api, created["id"])
    assert details["good.example.com"] == {"validation_successful": True}
    (entry,) = details["missing.example.com"].values()
    assert entry["error_slug"] == "bad_response_code"


async def test_transport_failures(api: Api, emulator: ZeroSSLEmulator) -> None:
    created = await api.create(["nowhere.example.com"])
    _, _, _, url = file_of(created, "nowhere.example.com")
    unresolved = await verify_failure(api, created["id"])
    assert unresolved["nowhere.example.com"][url]["error_slug"] == "http_transport_failed"

    emulator.resolve("nowhere.example.com", "127.0.0.1", 1)  # nothing listens on port 1
    refused = await verify_failure(api, created["id"])
    assert refused["nowhere.example.com"][url]["error_slug"] == "http_transport_failed"


async def test_slow_servers_time_out(
    session: aiohttp.ClientSession, file_server: FileServer
) -> None:
    async with ZeroSSLEmulator(dcv_timeout=0.2) as z:
        z.add_account(KEY)
        api = Api(session, z.url)
        created = await api.create(["slow.example.com"])
        host, path, content, url = file_of(created, "slow.example.com")
        z.resolve_default("127.0.0.1", file_server.port)
        file_server.serve(host, path, content)
        file_server.delay = 1.0
        details = await verify_failure(api, created["id"])
        assert details["slow.example.com"][url]["error_slug"] == "timeout"


async def test_method_errors(api: Api) -> None:
    created = await api.create(["m.example.com"])
    path = f"/certificates/{created['id']}/challenges"
    assert (await api.error("POST", path))["code"] == 2828
    assert (await api.error("POST", path, data={"validation_method": "CARRIER_PIGEON"}))[
        "code"
    ] == 2827
    https = await api.error("POST", path, data={"validation_method": "HTTPS_CSR_HASH"})
    assert https["code"] == 2827
    assert "not emulated" in https["info"]

    wildcard = await api.create(["*.w.example.com"])
    wild = await api.error("POST", f"/certificates/{wildcard['id']}/challenges", data=HTTP)
    assert wild["code"] == 2829
    ip = await api.create(["198.51.100.4"])
    ip_cname = {"validation_method": "CNAME_CSR_HASH"}
    assert (await api.error("POST", f"/certificates/{ip['id']}/challenges", data=ip_cname))[
        "code"
    ] == 2829


async def test_caa_forbidding_sectigo_gives_2840(
    api: Api, emulator: ZeroSSLEmulator, file_server: FileServer
) -> None:
    created = await api.create(["caa.example.net"])
    emulator.forbid_caa("example.net")
    error = await api.error("POST", f"/certificates/{created['id']}/challenges", data=HTTP)
    assert (error["code"], error["type"]) == (2840, "invalid_caa_records_detected")
    assert error["details"]["caa.example.net"]["caa_check_failed"] is True
    assert file_server.hits == []


async def test_cancelled_certificates_cannot_be_verified(api: Api) -> None:
    created = await api.create(["gone.example.com"])
    await api.ok("POST", f"/certificates/{created['id']}/cancel")
    error = await api.error("POST", f"/certificates/{created['id']}/challenges", data=HTTP)
    assert error["code"] == 2830
