"""Cloudflare (API v4) with a scoped API token read from a Secret.

Invariants: the zone is the configured one, else the longest suffix of the record's name that
the token can see; ``present`` leaves exactly one CNAME at the name pointing at the target
(created, or an existing one overwritten); ``cleanup`` deletes only CNAMEs pointing at the
target. Names travel without the final dot, as Cloudflare stores them (it treats every name as
absolute). Errors: 401/403 and the token codes (6003, 6111, 9106, 9109, 10000) →
:class:`AuthenticationFailed`; 429 → :class:`RateLimited` with ``Retry-After``; 5xx →
:class:`TransportError`; an unknown zone → :class:`ZoneNotFound`; other refusals →
:class:`UpdateRefused`. The token travels only in the Authorization header and is registered
for redaction when read.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote, urlencode

import orjson

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
from controller.issuer.solvers.dns.record import CNAMERecord, absolute_name, is_within
from controller.issuer.solvers.dns.spec import Fields, SecretRef
from controller.issuer.solvers.dns.webapi import Reply, WebApi

AUTH_CODES = frozenset({6003, 6111, 9106, 9109, 10000})
RECORD_MISSING = 81044


class CloudflareProvider:
    solver = "cloudflare"

    def __init__(
        self,
        token: SecretRef,
        *,
        zone: str | None,
        namespace: str,
        secrets: SecretReader,
        timeout: float,
        api_url: str,
    ) -> None:
        self._token = token
        self._zone = zone
        self._namespace = namespace
        self._secrets = secrets
        self._timeout = timeout
        self._api_url = api_url.rstrip("/")

    @classmethod
    def from_spec(
        cls,
        spec: Fields,
        *,
        namespace: str,
        secrets: SecretReader,
        timeout: float,
        api_url: str,
    ) -> CloudflareProvider:
        token = spec.secret_ref("apiTokenSecretRef")
        if token is None:
            raise InvalidSolverSpec(f"{spec.path}.apiTokenSecretRef is required")
        zone = spec.text("zone")
        return cls(
            token,
            zone=absolute_name(zone, what="zone") if zone else None,
            namespace=namespace,
            secrets=secrets,
            timeout=timeout,
            api_url=api_url,
        )

    async def present(self, record: CNAMERecord) -> None:
        async with self._client() as client:
            zone_id = await client.zone_id(record, self._zone)
            existing = await client.cnames(zone_id, record)
            content = record.target.rstrip(".")
            if any(str(r.get("content", "")).lower() == content for r in existing):
                return
            body = {
                "type": "CNAME",
                "name": record.name.rstrip("."),
                "content": content,
                "ttl": record.ttl,
                "proxied": False,
            }
            records = f"/zones/{quote(zone_id)}/dns_records"
            if existing:
                path = f"{records}/{quote(str(existing[0]['id']))}"
                await client.call("PUT", path, body=body, what=f"updating {record.name}")
            else:
                await client.call("POST", records, body=body, what=f"creating {record.name}")

    async def cleanup(self, record: CNAMERecord) -> None:
        async with self._client() as client:
            zone_id = await client.zone_id(record, self._zone)
            content = record.target.rstrip(".")
            for found in await client.cnames(zone_id, record):
                if str(found.get("content", "")).lower() == content:
                    path = f"/zones/{quote(zone_id)}/dns_records/{quote(str(found['id']))}"
                    await client.call(
                        "DELETE", path, what=f"deleting {record.name}", missing_ok=True
                    )

    @contextlib.asynccontextmanager
    async def _client(self) -> AsyncIterator[_Client]:
        token = await self._token.read(self._secrets, self._namespace)
        async with WebApi.open("Cloudflare", self._timeout) as api:
            yield _Client(api, self._api_url, token)


class _Client:
    """One operation's calls with one token over one HTTP session."""

    def __init__(self, api: WebApi, base: str, token: str) -> None:
        self._api = api
        self._base = base
        self._headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}

    async def call(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        what: str,
        missing_ok: bool = False,
    ) -> Any:
        """The envelope's ``result``; None for a missing record when ``missing_ok``."""
        url = self._base + path + (f"?{urlencode(params)}" if params else "")
        data = orjson.dumps(body) if body is not None else None
        reply = await self._api.send(method, url, headers=self._headers, body=data)
        try:
            parsed = orjson.loads(reply.body)
        except orjson.JSONDecodeError:
            parsed = None
        if 200 <= reply.status < 300 and isinstance(parsed, dict) and parsed.get("success"):
            return parsed.get("result")
        codes, detail = _errors(parsed, reply.status)
        if missing_ok and reply.status == 404 and RECORD_MISSING in codes:
            return None
        raise _classify(reply, codes, f"Cloudflare failed {what} ({detail})")

    async def zone_id(self, record: CNAMERecord, configured: str | None) -> str:
        """The id of ``configured``, else of the longest suffix of the name the token sees."""
        if configured is not None:
            if not is_within(record.name, configured):
                raise ZoneNotFound(f"{record.name} is not in the configured zone {configured}")
            candidates = [configured]
        else:
            labels = record.name.rstrip(".").split(".")
            candidates = [".".join(labels[i:]) + "." for i in range(1, len(labels) - 1)]
        for zone in candidates:
            found = await self.call(
                "GET", "/zones", params={"name": zone.rstrip(".")}, what=f"looking up zone {zone}"
            )
            if isinstance(found, list) and found and isinstance(found[0], dict):
                return str(found[0]["id"])
        raise ZoneNotFound(
            f"the Cloudflare token sees no zone for {record.name} (tried "
            f"{', '.join(candidates)}): check the zone and the token's Zone.Read permission"
        )

    async def cnames(self, zone_id: str, record: CNAMERecord) -> list[dict[str, Any]]:
        params = {"type": "CNAME", "name": record.name.rstrip("."), "per_page": "100"}
        path = f"/zones/{quote(zone_id)}/dns_records"
        found = await self.call("GET", path, params=params, what=f"listing {record.name}")
        return [r for r in found if isinstance(r, dict)] if isinstance(found, list) else []


def _errors(parsed: object, status: int) -> tuple[frozenset[int], str]:
    """The error codes and a ``code: message`` summary of an envelope's ``errors``."""
    errors = parsed.get("errors") if isinstance(parsed, dict) else None
    entries = [e for e in errors if isinstance(e, dict)] if isinstance(errors, list) else []
    codes = frozenset(e["code"] for e in entries if isinstance(e.get("code"), int))
    detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in entries)
    return codes, detail or f"HTTP {status}"


def _classify(reply: Reply, codes: frozenset[int], message: str) -> DNSProviderError:
    if reply.status == 429:
        return RateLimited(message, retry_after=reply.retry_after())
    if reply.status in (401, 403) or codes & AUTH_CODES:
        return AuthenticationFailed(f"{message}: check the API token and its DNS edit permission")
    if reply.status >= 500 or reply.status < 400:
        return TransportError(message)
    if reply.status == 404:
        return ZoneNotFound(message)
    return UpdateRefused(message)
