"""The HTTP face of the emulated Cloudflare API: authentication, rate limit, envelope, routes."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from controller.sandbox.cloudflare.state import Account, CloudflareError, DnsRecord, Zone
from controller.sandbox.zerossl.ratelimit import RateLimiter

PREFIX = "/client/v4"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_TOKEN = web.RequestKey("token", str)


def envelope(result: Any, *, status: int = 200, info: dict[str, int] | None = None) -> web.Response:
    body: dict[str, Any] = {"success": True, "errors": [], "messages": [], "result": result}
    if info is not None:
        body["result_info"] = info
    return web.json_response(body, status=status)


def failure(error: CloudflareError, headers: dict[str, str] | None = None) -> web.Response:
    entry: dict[str, Any] = {"code": error.code, "message": error.message}
    if error.chain:
        entry["error_chain"] = error.chain
    body = {"success": False, "errors": [entry], "messages": [], "result": None}
    return web.json_response(body, status=error.status, headers=headers)


class CloudflareApi:
    """Routes under :data:`PREFIX`; ``requests`` counts (method, route, status)."""

    def __init__(self, account: Account, limiter: RateLimiter | None) -> None:
        self.account = account
        self.limiter = limiter
        self.requests: Counter[tuple[str, str, int]] = Counter()

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = [
            ("GET", "/zones", self.list_zones),
            ("GET", "/zones/{zone}/dns_records", self.list_records),
            ("POST", "/zones/{zone}/dns_records", self.create_record),
            ("GET", "/zones/{zone}/dns_records/{id}", self.get_record),
            ("PUT", "/zones/{zone}/dns_records/{id}", self.overwrite_record),
            ("PATCH", "/zones/{zone}/dns_records/{id}", self.update_record),
            ("DELETE", "/zones/{zone}/dns_records/{id}", self.delete_record),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, PREFIX + path, handler)
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        route = request.match_info.route.resource
        name = route.canonical.removeprefix(PREFIX) if route is not None else "unknown"
        try:
            request[_TOKEN] = self._authenticate(request)
            response = await handler(request)
        except CloudflareError as error:
            headers = None
            if error.status == 429 and self.limiter is not None:
                headers = {"Retry-After": str(math.ceil(1 / self.limiter.rate))}
            response = failure(error, headers)
        except web.HTTPException as error:
            response = failure(CloudflareError(error.status, 7000, error.reason))
        self.requests[(request.method, name, response.status)] += 1
        return response

    def _authenticate(self, request: web.Request) -> str:
        header = request.headers.get("Authorization")
        if header is None:
            raise CloudflareError(
                400, 9106, "Missing X-Auth-Key, X-Auth-Email or Authorization headers"
            )
        scheme, _, token = header.partition(" ")
        if scheme != "Bearer" or not token.strip():
            raise CloudflareError(
                400,
                6003,
                "Invalid request headers",
                [{"code": 6111, "message": "Invalid format for Authorization header"}],
            )
        token = token.strip()
        if token not in self.account.tokens:
            raise CloudflareError(403, 10000, "Authentication error")
        if self.limiter is not None and not self.limiter.allow(token):
            raise CloudflareError(
                429, 971, "Please wait and consider throttling your request speed"
            )
        return token

    def _zone(self, request: web.Request) -> Zone:
        return self.account.zone_for(request[_TOKEN], request.match_info["zone"])

    async def list_zones(self, request: web.Request) -> web.Response:
        wanted = request.query.get("name")
        zones = [
            z
            for z in self.account.zones.values()
            if self.account.visible(request[_TOKEN], z) and (wanted is None or z.name == wanted)
        ]
        return _page(request, [z.to_json() for z in zones], default_per_page=20)

    async def list_records(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        query = request.query
        name = query.get("name.exact") or query.get("name")
        rtype, content = query.get("type"), query.get("content")
        records = [
            r.to_json()
            for r in zone.records.values()
            if (name is None or r.name == name.lower().rstrip("."))
            and (rtype is None or r.type == rtype.upper())
            and (content is None or r.content == content)
        ]
        return _page(request, records, default_per_page=100)

    async def get_record(self, request: web.Request) -> web.Response:
        return envelope(self._record(request).to_json())

    async def create_record(self, request: web.Request) -> web.Response:
        record = self.account.write(self._zone(request), await _body(request))
        return envelope(record.to_json())

    async def overwrite_record(self, request: web.Request) -> web.Response:
        body = await _body(request)
        for required in ("type", "name", "content"):
            if required not in body:
                raise CloudflareError(400, 1004, "DNS Validation Error")
        zone = self._zone(request)
        return envelope(self.account.write(zone, body, request.match_info["id"]).to_json())

    async def update_record(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        record = self.account.write(zone, await _body(request), request.match_info["id"])
        return envelope(record.to_json())

    async def delete_record(self, request: web.Request) -> web.Response:
        zone = self._zone(request)
        self.account.delete(zone, request.match_info["id"])
        return envelope({"id": request.match_info["id"]})

    def _record(self, request: web.Request) -> DnsRecord:
        record = self._zone(request).records.get(request.match_info["id"])
        if record is None:
            raise CloudflareError(404, 81044, "Record does not exist.")
        return record


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        body = json.loads(await request.read() or b"{}")
    except ValueError:
        raise CloudflareError(400, 6007, "Malformed JSON in request body") from None
    if not isinstance(body, dict):
        raise CloudflareError(400, 6007, "Malformed JSON in request body")
    return body


def _page(request: web.Request, items: list[Any], *, default_per_page: int) -> web.Response:
    try:
        page = max(1, int(request.query.get("page", "1")))
        per_page = max(5, min(5000, int(request.query.get("per_page", str(default_per_page)))))
    except ValueError:
        raise CloudflareError(400, 1001, "Invalid page or per_page") from None
    chunk = items[(page - 1) * per_page : page * per_page]
    info = {
        "page": page,
        "per_page": per_page,
        "count": len(chunk),
        "total_count": len(items),
        "total_pages": max(1, math.ceil(len(items) / per_page)),
    }
    return envelope(chunk, info=info)
