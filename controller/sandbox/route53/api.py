"""The HTTP face of the emulated Route 53: signature check, rate limit, operations."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from controller.sandbox.route53 import xmlio
from controller.sandbox.route53.sigv4 import verify
from controller.sandbox.route53.state import (
    Account,
    HostedZone,
    Route53Error,
    absolute,
    new_id,
    route53_order,
)
from controller.sandbox.zerossl.ratelimit import RateLimiter

V = "/2013-04-01"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_XML = "text/xml"


class Route53Api:
    """``requests`` counts (operation, status); ``credentials`` maps key id to (secret,
    token); changes are INSYNC ``insync_delay`` seconds after submission."""

    def __init__(self, account: Account, limiter: RateLimiter | None, insync_delay: float) -> None:
        self.account = account
        self.limiter = limiter
        self.insync_delay = insync_delay
        self.credentials: dict[str, tuple[str, str | None]] = {}
        self.requests: Counter[tuple[str, int]] = Counter()
        self._operations: dict[AbstractRoute, str] = {}

    def app(self) -> web.Application:
        app = web.Application(middlewares=[self._middleware])
        routes = [
            ("POST", V + "/hostedzone/{zone}/rrset", "ChangeResourceRecordSets", self.change),
            ("POST", V + "/hostedzone/{zone}/rrset/", "ChangeResourceRecordSets", self.change),
            ("GET", V + "/hostedzone/{zone}/rrset", "ListResourceRecordSets", self.list_rrsets),
            ("GET", V + "/hostedzone/{zone}", "GetHostedZone", self.get_zone),
            ("GET", V + "/hostedzonesbyname", "ListHostedZonesByName", self.zones_by_name),
            ("GET", V + "/change/{change}", "GetChange", self.get_change),
        ]
        for method, path, operation, handler in routes:
            self._operations[app.router.add_route(method, path, handler)] = operation
        return app

    @web.middleware
    async def _middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        operation = self._operations.get(request.match_info.route, "unknown")
        try:
            body = await request.read()
            headers = {k.lower(): v for k, v in request.headers.items()}
            verify(
                request.method,
                str(request.url),
                headers,
                body,
                secrets=self.credentials,
                now=datetime.now(UTC),
            )
            if self.limiter is not None and not self.limiter.allow("account"):
                raise Route53Error(400, "Throttling", "Rate exceeded")
            response = await handler(request)
        except Route53Error as error:
            response = web.Response(
                status=error.status, body=xmlio.error_body(error), content_type=_XML
            )
        except web.HTTPException as error:
            failure = Route53Error(error.status, "InvalidInput", error.reason)
            response = web.Response(
                status=error.status, body=xmlio.error_body(failure), content_type=_XML
            )
        self.requests[(operation, response.status)] += 1
        return response

    def _change_info(self, change_id: str) -> dict[str, object]:
        insync_at = self.account.changes[change_id]
        status = "INSYNC" if time.monotonic() >= insync_at else "PENDING"
        submitted = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        return {"Id": f"/change/{change_id}", "Status": status, "SubmittedAt": submitted}

    async def change(self, request: web.Request) -> web.Response:
        zone = self.account.zone(request.match_info["zone"])
        self.account.apply(zone, xmlio.parse_changes(await request.read()))
        change_id = new_id("C")
        self.account.changes[change_id] = time.monotonic() + self.insync_delay
        body = xmlio.document(
            "ChangeResourceRecordSetsResponse", {"ChangeInfo": self._change_info(change_id)}
        )
        return web.Response(body=body, content_type=_XML)

    async def get_change(self, request: web.Request) -> web.Response:
        change_id = request.match_info["change"].removeprefix("/change/")
        if change_id not in self.account.changes:
            raise Route53Error(
                404,
                "NoSuchChange",
                f"A change with the specified change ID does not exist: {change_id}",
            )
        body = xmlio.document("GetChangeResponse", {"ChangeInfo": self._change_info(change_id)})
        return web.Response(body=body, content_type=_XML)

    async def get_zone(self, request: web.Request) -> web.Response:
        zone = self.account.zone(request.match_info["zone"])
        body = xmlio.document("GetHostedZoneResponse", {"HostedZone": _zone_xml(zone)})
        return web.Response(body=body, content_type=_XML)

    async def zones_by_name(self, request: web.Request) -> web.Response:
        start = request.query.get("dnsname")
        limit = _max_items(request)
        zones = sorted(self.account.zones.values(), key=lambda z: (route53_order(z.name), z.id))
        if start:
            zones = [z for z in zones if route53_order(z.name) >= route53_order(absolute(start))]
        page = zones[:limit]
        fill: dict[str, object] = {
            "HostedZones": xmlio.items("HostedZone", (_zone_xml(z) for z in page)),
            "IsTruncated": len(zones) > limit,
            "MaxItems": limit,
        }
        if start:
            fill["DNSName"] = start
        if len(zones) > limit:
            fill["NextDNSName"] = zones[limit].name
            fill["NextHostedZoneId"] = zones[limit].id
        body = xmlio.document("ListHostedZonesByNameResponse", fill)
        return web.Response(body=body, content_type=_XML)

    async def list_rrsets(self, request: web.Request) -> web.Response:
        zone = self.account.zone(request.match_info["zone"])
        limit = _max_items(request)
        rrsets = sorted(zone.rrsets.values(), key=lambda r: (route53_order(r.name), r.type))
        name = request.query.get("name")
        if name:
            key = (route53_order(absolute(name)), request.query.get("type", ""))
            rrsets = [r for r in rrsets if (route53_order(r.name), r.type) >= key]
        page = rrsets[:limit]
        fill: dict[str, object] = {
            "ResourceRecordSets": xmlio.items("ResourceRecordSet", map(xmlio.rrset_xml, page)),
            "IsTruncated": len(rrsets) > limit,
            "MaxItems": limit,
        }
        if len(rrsets) > limit:
            fill["NextRecordName"] = rrsets[limit].name
            fill["NextRecordType"] = rrsets[limit].type
        body = xmlio.document("ListResourceRecordSetsResponse", fill)
        return web.Response(body=body, content_type=_XML)


def _zone_xml(zone: HostedZone) -> dict[str, object]:
    return {
        "Id": f"/hostedzone/{zone.id}",
        "Name": zone.name,
        "CallerReference": zone.id,
        "Config": {"PrivateZone": zone.private},
        "ResourceRecordSetCount": len(zone.rrsets),
    }


def _max_items(request: web.Request) -> int:
    raw = request.query.get("maxitems", "100")
    if not raw.isdigit() or not 1 <= int(raw) <= 300:
        raise Route53Error(400, "InvalidInput", "maxitems must be between 1 and 300")
    return int(raw)
