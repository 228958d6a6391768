"""The emulated Cloudflare account: zones, DNS records and API tokens, with the API's rules.

Invariants: names are stored lowercase without the final dot; a record's name lies in its zone;
at most one CNAME exists per name (and a CNAME never shares its name with another record);
every violation raises :class:`CloudflareError` carrying the HTTP status and error code the
real API uses.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any


class CloudflareError(Exception):
    def __init__(
        self, status: int, code: int, message: str, chain: list[dict[str, Any]] | None = None
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.chain = chain or []


def normalise(name: str) -> str:
    return name.strip().lower().rstrip(".")


def new_id() -> str:
    return secrets.token_hex(16)


@dataclass
class DnsRecord:
    id: str
    zone_id: str
    zone_name: str
    type: str
    name: str
    content: str
    ttl: int
    proxied: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "zone_id": self.zone_id,
            "zone_name": self.zone_name,
            "type": self.type,
            "name": self.name,
            "content": self.content,
            "ttl": self.ttl,
            "proxied": self.proxied,
            "proxiable": self.type in ("A", "AAAA", "CNAME"),
        }


@dataclass
class Zone:
    id: str
    name: str
    records: dict[str, DnsRecord] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "status": "active", "type": "full"}

    def contains(self, name: str) -> bool:
        return name == self.name or name.endswith("." + self.name)


@dataclass
class Account:
    zones: dict[str, Zone] = field(default_factory=dict)  # by id
    tokens: dict[str, frozenset[str] | None] = field(default_factory=dict)  # zone names; None=all

    def add_zone(self, name: str) -> Zone:
        zone = Zone(new_id(), normalise(name))
        self.zones[zone.id] = zone
        return zone

    def zone_by_name(self, name: str) -> Zone | None:
        wanted = normalise(name)
        return next((z for z in self.zones.values() if z.name == wanted), None)

    def visible(self, token: str, zone: Zone) -> bool:
        scope = self.tokens[token]
        return scope is None or zone.name in scope

    def zone_for(self, token: str, zone_id: str) -> Zone:
        zone = self.zones.get(zone_id)
        if zone is None:
            raise CloudflareError(
                404,
                7003,
                f"Could not route to /zones/{zone_id}, perhaps your object identifier is invalid?",
            )
        if not self.visible(token, zone):
            raise CloudflareError(403, 10000, "Authentication error")
        return zone

    def write(self, zone: Zone, body: dict[str, Any], record_id: str | None = None) -> DnsRecord:
        """Creates (``record_id`` None) or overwrites a record from a request body."""
        current = zone.records.get(record_id) if record_id else None
        if record_id and current is None:
            raise CloudflareError(404, 81044, "Record does not exist.")
        rtype = str(body.get("type") or (current.type if current else "")).upper()
        name = normalise(str(body.get("name") or (current.name if current else "")))
        content = str(body.get("content") or (current.content if current else ""))
        ttl = body.get("ttl", current.ttl if current else 1)
        if not rtype or not name or not content:
            raise CloudflareError(400, 1004, "DNS Validation Error")
        if not zone.contains(name):
            raise CloudflareError(400, 1004, "DNS Validation Error")
        if not isinstance(ttl, int) or not (ttl == 1 or 60 <= ttl <= 86400):
            raise CloudflareError(400, 9021, "Invalid TTL. Must be between 60 and 86400 seconds")
        clash = any(
            r.name == name and r.id != record_id and "CNAME" in (r.type, rtype)
            for r in zone.records.values()
        )
        if clash:
            raise CloudflareError(
                400, 81053, "An A, AAAA, or CNAME record with that host already exists."
            )
        record = DnsRecord(
            record_id or new_id(),
            zone.id,
            zone.name,
            rtype,
            name,
            normalise(content) if rtype == "CNAME" else content,
            ttl,
            bool(body.get("proxied", current.proxied if current else False)),
        )
        zone.records[record.id] = record
        return record

    def delete(self, zone: Zone, record_id: str) -> None:
        if zone.records.pop(record_id, None) is None:
            raise CloudflareError(404, 81044, "Record does not exist.")
