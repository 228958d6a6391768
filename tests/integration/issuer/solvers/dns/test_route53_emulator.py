"""The Route 53 emulator's own contract: SigV4 checks, XML errors, Route 53's list order."""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator
from unittest import mock

import aiohttp
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from controller.sandbox.route53 import Route53Emulator

pytestmark = pytest.mark.integration
KEY_ID, SECRET = "AKIAEMULATOR0000002", "another/emulated/secret/key/0123456789ab"
NS = "{https://route53.amazonaws.com/doc/2013-04-01/}"


@pytest.fixture
async def emulator() -> AsyncIterator[Route53Emulator]:
    async with Route53Emulator() as r53:
        r53.add_credentials(KEY_ID, SECRET)
        yield r53


async def send(
    emulator: Route53Emulator,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    sign: bool = True,
    when: datetime.datetime | None = None,
) -> tuple[int, ET.Element]:
    url = emulator.url + "/2013-04-01" + path
    request = AWSRequest(method=method, url=url, data=body, headers={})
    if sign:
        signer = SigV4Auth(Credentials(KEY_ID, SECRET), "route53", "us-east-1")
        if when is None:
            signer.add_auth(request)
        else:
            with mock.patch("botocore.auth.get_current_datetime", return_value=when):
                signer.add_auth(request)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body or None, headers=dict(request.headers)) as reply,
    ):
        return reply.status, ET.fromstring(await reply.read())


def error_code(root: ET.Element) -> str:
    return root.findtext(f"{NS}Error/{NS}Code") or ""


def change(action: str, name: str, value: str) -> bytes:
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<ChangeResourceRecordSetsRequest xmlns="https://route53.amazonaws.com/doc/2013-04-01/">
<ChangeBatch><Changes><Change><Action>{action}</Action><ResourceRecordSet><Name>{name}</Name>
<Type>CNAME</Type><TTL>300</TTL><ResourceRecords><ResourceRecord><Value>{value}</Value>
</ResourceRecord></ResourceRecords></ResourceRecordSet></Change></Changes></ChangeBatch>
</ChangeResourceRecordSetsRequest>""".encode()


async def test_unsigned_and_stale_requests_are_refused(emulator: Route53Emulator) -> None:
    status, root = await send(emulator, "GET", "/hostedzonesbyname", sign=False)
    assert (status, error_code(root)) == (403, "MissingAuthenticationToken")
    old = datetime.datetime.now(datetime.UTC).replace(tzinfo=None) - datetime.timedelta(hours=1)
    status, root = await send(emulator, "GET", "/hostedzonesbyname", when=old)
    assert (status, error_code(root)) == (403, "SignatureDoesNotMatch")
    assert root.tag == f"{NS}ErrorResponse"
    status, _ = await send(emulator, "GET", "/hostedzonesbyname")
    assert status == 200


async def test_change_batches_are_checked_and_atomic(emulator: Route53Emulator) -> None:
    zone = emulator.add_zone("example.com")
    status, root = await send(
        emulator, "POST", f"/hostedzone/{zone}/rrset/", change("DELETE", "_a.example.com", "t.")
    )
    assert status == 400
    assert root.tag == f"{NS}InvalidChangeBatch"
    assert "but it was not found" in (root.findtext(f"{NS}Messages/{NS}Message") or "")

    status, root = await send(
        emulator, "POST", f"/hostedzone/{zone}/rrset", change("CREATE", "_a.Example.com.", "t.")
    )
    assert status == 200
    change_id = root.findtext(f"{NS}ChangeInfo/{NS}Id") or ""
    status, root = await send(emulator, "GET", change_id)
    assert root.findtext(f"{NS}ChangeInfo/{NS}Status") == "INSYNC"
    assert emulator.rrsets(zone)[("_a.example.com.", "CNAME")].values == ("t.",)


async def test_lists_start_at_the_given_name_in_route53_order(emulator: Route53Emulator) -> None:
    for name in ("b.example.org", "example.com", "a.example.org", "example.net"):
        emulator.add_zone(name)
    status, root = await send(emulator, "GET", "/hostedzonesbyname?dnsname=example.net&maxitems=2")
    assert status == 200
    names = [e.text for e in root.iter(f"{NS}Name")]
    assert names == ["example.net.", "a.example.org."]  # net < org; then by label, right to left
    assert root.findtext(f"{NS}IsTruncated") == "true"
    assert root.findtext(f"{NS}NextDNSName") == "b.example.org."
