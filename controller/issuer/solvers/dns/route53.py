"""Amazon Route 53 (REST-XML API 2013-04-01), requests signed with botocore's SigV4.

Invariants: ``present`` UPSERTs the CNAME record set and returns once Route 53 reports the
change INSYNC (or raises a retryable :class:`TransportError` after ``insync_timeout``);
``cleanup`` DELETEs the record set only while it holds the record's target, and a record set
that is already gone is fine. The hosted zone is the configured id, else the public zone whose
name is the longest suffix of the record's name. Credentials: the spec's Secret refs, else the
ambient ``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``; web identity
(IRSA) and instance profiles are not supported. Only botocore's signer is used, never its
blocking HTTP; calls go through aiohttp, each bounded by ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import xml.etree.ElementTree as ET
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from urllib.parse import quote, urlencode

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from controller.issuer.solvers.dns.endpoints import ROUTE53_API_URL
from controller.issuer.solvers.dns.errors import (
    AuthenticationFailed,
    DNSProviderError,
    InvalidSolverSpec,
    RateLimited,
    TransportError,
    UpdateRefused,
    ZoneNotFound,
)
from controller.issuer.solvers.dns.protocols import SecretReader
from controller.issuer.solvers.dns.record import CNAMERecord
from controller.issuer.solvers.dns.spec import Fields, SecretRef
from controller.issuer.solvers.dns.webapi import Reply, WebApi
from controller.observability.redact import register_secret

VERSION = "/2013-04-01"
XMLNS = "https://route53.amazonaws.com/doc/2013-04-01/"
AUTH_CODES = frozenset(
    {
        "AccessDenied",
        "ExpiredToken",
        "IncompleteSignature",
        "InvalidClientTokenId",
        "MissingAuthenticationToken",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)
THROTTLE_CODES = frozenset({"Throttling", "ThrottlingException", "PriorRequestNotComplete"})
# Route 53 is global; its API is signed for one region per partition.
PARTITIONS = {
    "cn-": ("https://route53.amazonaws.com.cn", "cn-northwest-1"),
    "us-gov-": ("https://route53.us-gov.amazonaws.com", "us-gov-west-1"),
}
DEFAULT_SIGNING_REGION = "us-east-1"
INSYNC_TIMEOUT = 120.0
_POLL_FIRST, _POLL_MAX = 0.1, 5.0


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    access_key: str
    secret_key: str
    token: str | None = None


class Route53Provider:
    solver = "route53"

    def __init__(
        self,
        *,
        hosted_zone_id: str | None,
        access_key: SecretRef | None,
        secret_key: SecretRef | None,
        endpoint: str,
        signing_region: str,
        namespace: str,
        secrets: SecretReader,
        timeout: float,
        environ: Mapping[str, str] = os.environ,
        insync_timeout: float = INSYNC_TIMEOUT,
    ) -> None:
        self._zone_id = hosted_zone_id
        self._access_key = access_key
        self._secret_key = secret_key
        self._endpoint = endpoint.rstrip("/")
        self._region = signing_region
        self._namespace = namespace
        self._secrets = secrets
        self._timeout = timeout
        self._environ = environ
        self._insync_timeout = insync_timeout

    @classmethod
    def from_spec(
        cls,
        spec: Fields,
        *,
        namespace: str,
        secrets: SecretReader,
        timeout: float,
        endpoint: str,
        environ: Mapping[str, str] = os.environ,
    ) -> Route53Provider:
        access_key = spec.secret_ref("accessKeyIDSecretRef")
        secret_key = spec.secret_ref("secretAccessKeySecretRef")
        if (access_key is None) != (secret_key is None):
            raise InvalidSolverSpec(
                f"{spec.path}.accessKeyIDSecretRef and secretAccessKeySecretRef go together"
            )
        region = spec.text("region") or ""
        signing_region = DEFAULT_SIGNING_REGION
        for prefix, (partition_endpoint, partition_region) in PARTITIONS.items():
            if region.startswith(prefix):
                signing_region = partition_region
                if endpoint == ROUTE53_API_URL:
                    endpoint = partition_endpoint
        zone_id = spec.text("hostedZoneID")
        return cls(
            hosted_zone_id=zone_id.removeprefix("/hostedzone/") if zone_id else None,
            access_key=access_key,
            secret_key=secret_key,
            endpoint=endpoint,
            signing_region=signing_region,
            namespace=namespace,
            secrets=secrets,
            timeout=timeout,
            environ=environ,
        )

    async def present(self, record: CNAMERecord) -> None:
        async with self._client() as client:
            zone_id = self._zone_id or await client.find_zone(record)
            change = await client.change(zone_id, "UPSERT", record.name, record.ttl, record.target)
            await client.wait_insync(change, self._insync_timeout)

    async def cleanup(self, record: CNAMERecord) -> None:
        async with self._client() as client:
            zone_id = self._zone_id or await client.find_zone(record)
            current = await client.cname(zone_id, record.name)
            if current is None or record.target not in current[1]:
                return
            try:
                await client.change(zone_id, "DELETE", record.name, current[0], *current[1])
            except UpdateRefused:
                if await client.cname(zone_id, record.name) is not None:
                    raise

    async def credentials(self) -> AwsCredentials:
        """From the Secret refs, else the ambient environment."""
        if self._access_key is not None and self._secret_key is not None:
            return AwsCredentials(
                await self._access_key.read(self._secrets, self._namespace),
                await self._secret_key.read(self._secrets, self._namespace),
            )
        env = self._environ
        key, secret = env.get("AWS_ACCESS_KEY_ID"), env.get("AWS_SECRET_ACCESS_KEY")
        if key and secret:
            token = env.get("AWS_SESSION_TOKEN") or None
            for value in (secret, token):
                if value:
                    register_secret(value)
            return AwsCredentials(key, secret, token)
        if env.get("AWS_WEB_IDENTITY_TOKEN_FILE"):
            raise InvalidSolverSpec(
                "route53: web identity (IRSA) credentials are not supported; set "
                "accessKeyIDSecretRef and secretAccessKeySecretRef"
            )
        raise InvalidSolverSpec(
            "route53 has no credentials: set accessKeyIDSecretRef and secretAccessKeySecretRef, "
            "or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY in the controller's environment"
        )

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[_Client]:
        credentials = await self.credentials()
        async with WebApi.open("Route 53", self._timeout) as api:
            yield _Client(api, self._endpoint, self._region, credentials)


class _Client:
    """Signed calls for one operation."""

    def __init__(self, api: WebApi, endpoint: str, region: str, creds: AwsCredentials) -> None:
        self._api = api
        self._endpoint = endpoint
        self._signer = SigV4Auth(
            Credentials(creds.access_key, creds.secret_key, creds.token), "route53", region
        )

    async def call(
        self, method: str, path: str, *, params: dict[str, str] | None = None, body: bytes = b""
    ) -> ET.Element:
        url = self._endpoint + VERSION + path + (f"?{urlencode(params)}" if params else "")
        request = AWSRequest(
            method=method,
            url=url,
            data=body,
            headers={"Content-Type": "text/xml"} if body else {},
        )
        self._signer.add_auth(request)
        reply = await self._api.send(
            method, url, headers=dict(request.headers.items()), body=body or None
        )
        root = _parse(reply)
        if 200 <= reply.status < 300 and root is not None:
            return root
        raise _classify(reply, root)

    async def find_zone(self, record: CNAMERecord) -> str:
        """The public hosted zone whose name is the longest suffix of the record's name."""
        labels = record.name.rstrip(".").split(".")
        candidates = [".".join(labels[i:]) + "." for i in range(1, len(labels) - 1)]
        for candidate in candidates:
            root = await self.call(
                "GET", "/hostedzonesbyname", params={"dnsname": candidate, "maxitems": "10"}
            )
            for zone in _all(root, "HostedZone"):
                if _get(zone, "Name").lower() != candidate:
                    continue
                config = _first(zone, "Config")
                private = config is not None and _get(config, "PrivateZone") == "true"
                if not private:
                    return _get(zone, "Id").removeprefix("/hostedzone/")
        raise ZoneNotFound(
            f"no public Route 53 hosted zone for {record.name} (tried {', '.join(candidates)}): "
            "set hostedZoneID or check the credentials' route53:ListHostedZonesByName"
        )

    async def cname(self, zone_id: str, name: str) -> tuple[int, tuple[str, ...]] | None:
        """TTL and values of the CNAME record set at ``name``, or None."""
        params = {"name": name, "type": "CNAME", "maxitems": "1"}
        root = await self.call("GET", f"/hostedzone/{quote(zone_id)}/rrset", params=params)
        for rrset in _all(root, "ResourceRecordSet"):
            if _get(rrset, "Name").lower() == name and _get(rrset, "Type") == "CNAME":
                values = tuple(_get(r, "Value").lower() for r in _all(rrset, "ResourceRecord"))
                return int(_get(rrset, "TTL") or 0), values
        return None

    async def change(self, zone_id: str, action: str, name: str, ttl: int, *values: str) -> str:
        """Submits one change; returns the change id."""
        body = _change_batch(action, name, ttl, values)
        root = await self.call("POST", f"/hostedzone/{quote(zone_id)}/rrset/", body=body)
        info = _first(root, "ChangeInfo")
        return (_get(info, "Id") if info is not None else "").removeprefix("/change/")

    async def wait_insync(self, change_id: str, timeout: float) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        delay = _POLL_FIRST
        while True:
            root = await self.call("GET", f"/change/{quote(change_id)}")
            info = _first(root, "ChangeInfo")
            if info is not None and _get(info, "Status") == "INSYNC":
                return
            if loop.time() + delay > deadline:
                raise TransportError(
                    f"Route 53 change {change_id} was not INSYNC within {timeout:g}s"
                )
            await asyncio.sleep(delay)
            delay = min(delay * 2, _POLL_MAX)


def _change_batch(action: str, name: str, ttl: int, values: tuple[str, ...]) -> bytes:
    root = ET.Element("ChangeResourceRecordSetsRequest", xmlns=XMLNS)
    batch = ET.SubElement(root, "ChangeBatch")
    ET.SubElement(batch, "Comment").text = "zerossl-issuer DNS validation"
    change = ET.SubElement(ET.SubElement(batch, "Changes"), "Change")
    ET.SubElement(change, "Action").text = action
    rrset = ET.SubElement(change, "ResourceRecordSet")
    ET.SubElement(rrset, "Name").text = name
    ET.SubElement(rrset, "Type").text = "CNAME"
    ET.SubElement(rrset, "TTL").text = str(ttl)
    records = ET.SubElement(rrset, "ResourceRecords")
    for value in values:
        ET.SubElement(ET.SubElement(records, "ResourceRecord"), "Value").text = value
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root)


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _all(root: ET.Element, name: str) -> list[ET.Element]:
    return [e for e in root.iter() if _local(e.tag) == name]


def _first(root: ET.Element, name: str) -> ET.Element | None:
    found = _all(root, name)
    return found[0] if found else None


def _get(element: ET.Element, name: str) -> str:
    child = next((c for c in element if _local(c.tag) == name), None)
    return (child.text or "").strip() if child is not None else ""


def _parse(reply: Reply) -> ET.Element | None:
    try:
        return ET.fromstring(reply.body)  # noqa: S314 - expat >= 2.4.1 bounds entity expansion
    except ET.ParseError:
        return None


def _classify(reply: Reply, root: ET.Element | None) -> DNSProviderError:
    code, message = f"HTTP {reply.status}", ""
    if root is not None and _local(root.tag) == "InvalidChangeBatch":
        code = "InvalidChangeBatch"
        message = "; ".join(m.text or "" for m in _all(root, "Message"))
    elif root is not None and (error := _first(root, "Error")) is not None:
        code, message = _get(error, "Code") or code, _get(error, "Message")
    text = f"Route 53 answered {reply.status} {code}" + (f": {message}" if message else "")
    if reply.status == 429 or code in THROTTLE_CODES:
        return RateLimited(text, retry_after=reply.retry_after())
    if reply.status == 403 or code in AUTH_CODES:
        return AuthenticationFailed(f"{text} (check the AWS access key and its permissions)")
    if code == "NoSuchHostedZone":
        return ZoneNotFound(text)
    if reply.status >= 500 or root is None:
        return TransportError(text)
    return UpdateRefused(text)
