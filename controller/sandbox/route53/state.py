"""The emulated Route 53 account: hosted zones, record sets and changes, with the API's rules.

Invariants: names are stored lowercase and absolute (final dot); a record set's name lies in its
zone; a change batch applies atomically (all changes or none); every change gets an id that
reads PENDING until its ``insync_at`` time, then INSYNC.
"""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field


class Route53Error(Exception):
    """An API error: HTTP status, error code and message (``batch`` for InvalidChangeBatch)."""

    def __init__(self, status: int, code: str, message: str, *, batch: bool = False) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.batch = batch


def absolute(name: str) -> str:
    return name.strip().lower().rstrip(".") + "."


def new_id(prefix: str) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return prefix + "".join(secrets.choice(alphabet) for _ in range(13))


def route53_order(name: str) -> tuple[str, ...]:
    """Route 53 lists names by their labels read right to left."""
    return tuple(reversed(name.rstrip(".").split(".")))


@dataclass
class RecordSet:
    name: str
    type: str
    ttl: int
    values: tuple[str, ...]


@dataclass
class HostedZone:
    id: str
    name: str
    private: bool
    rrsets: dict[tuple[str, str], RecordSet] = field(default_factory=dict)

    def contains(self, name: str) -> bool:
        return name == self.name or name.endswith("." + self.name)


@dataclass(frozen=True)
class Change:
    action: str
    rrset: RecordSet


@dataclass
class Account:
    zones: dict[str, HostedZone] = field(default_factory=dict)
    changes: dict[str, float] = field(default_factory=dict)  # change id -> insync_at

    def add_zone(self, name: str, *, private: bool = False) -> HostedZone:
        zone = HostedZone(new_id("Z"), absolute(name), private)
        zone.rrsets[(zone.name, "SOA")] = RecordSet(
            zone.name, "SOA", 900, (f"ns-1.awsdns.test. hostmaster.{zone.name} 1 7200 900 1 86400",)
        )
        zone.rrsets[(zone.name, "NS")] = RecordSet(zone.name, "NS", 172800, ("ns-1.awsdns.test.",))
        self.zones[zone.id] = zone
        return zone

    def zone(self, zone_id: str) -> HostedZone:
        zone = self.zones.get(zone_id.removeprefix("/hostedzone/"))
        if zone is None:
            raise Route53Error(404, "NoSuchHostedZone", f"No hosted zone found with ID: {zone_id}")
        return zone

    def apply(self, zone: HostedZone, changes: list[Change]) -> None:
        """Applies the batch atomically or raises InvalidChangeBatch naming every problem."""
        staged = dict(zone.rrsets)
        problems: list[str] = []
        for change in changes:
            rrset = change.rrset
            key = (rrset.name, rrset.type)
            if not zone.contains(rrset.name):
                problems.append(
                    f"RRSet with DNS name {rrset.name} is not permitted in zone {zone.name}"
                )
                continue
            current = staged.get(key)
            if change.action == "CREATE" and current is not None:
                problems.append(
                    f"Tried to create resource record set [name='{rrset.name}', "
                    f"type='{rrset.type}'] but it already exists"
                )
            elif change.action == "DELETE" and current != rrset:
                why = "it was not found" if current is None else "the values provided do not match"
                problems.append(
                    f"Tried to delete resource record set [name='{rrset.name}', "
                    f"type='{rrset.type}'] but {why}"
                )
            elif change.action == "DELETE":
                del staged[key]
            else:
                if rrset.type == "CNAME" and any(
                    n == rrset.name and t != "CNAME" for n, t in staged
                ):
                    problems.append(
                        f"RRSet of type CNAME with DNS name {rrset.name} is not permitted as it "
                        "conflicts with other records with the same DNS name"
                    )
                    continue
                staged[key] = rrset
        if problems:
            raise Route53Error(400, "InvalidChangeBatch", "; ".join(problems), batch=True)
        zone.rrsets = staged
