"""Route 53's XML: reading change batches, writing responses and errors."""

from __future__ import annotations

import secrets
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from typing import Any

from controller.sandbox.route53.state import Change, RecordSet, Route53Error, absolute

NS = "https://route53.amazonaws.com/doc/2013-04-01/"
ACTIONS = frozenset({"CREATE", "UPSERT", "DELETE"})


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    return next((c for c in element if _local(c.tag) == name), None)


def _text(element: ET.Element, name: str) -> str:
    child = _child(element, name)
    if child is None or not (child.text or "").strip():
        raise Route53Error(400, "InvalidInput", f"Missing element {name}")
    return (child.text or "").strip()


def parse_changes(body: bytes) -> list[Change]:
    """The changes of a ChangeResourceRecordSetsRequest body."""
    try:
        root = ET.fromstring(body)  # noqa: S314 - expat >= 2.4.1 bounds entity expansion
    except ET.ParseError:
        raise Route53Error(400, "InvalidInput", "Malformed XML") from None
    batch = _child(root, "ChangeBatch")
    changes = _child(batch, "Changes") if batch is not None else None
    if changes is None or len(changes) == 0:
        raise Route53Error(400, "InvalidInput", "ChangeBatch needs at least one Change")
    out = []
    for change in changes:
        action = _text(change, "Action")
        if action not in ACTIONS:
            raise Route53Error(400, "InvalidInput", f"Invalid Action {action}")
        rrset = _child(change, "ResourceRecordSet")
        if rrset is None:
            raise Route53Error(400, "InvalidInput", "Missing element ResourceRecordSet")
        records = _child(rrset, "ResourceRecords")
        values = tuple(_text(r, "Value") for r in records) if records is not None else ()
        try:
            ttl = int(_text(rrset, "TTL"))
        except ValueError:
            raise Route53Error(400, "InvalidInput", "TTL must be a number") from None
        if not values:
            raise Route53Error(400, "InvalidInput", "ResourceRecords must not be empty")
        rtype = _text(rrset, "Type")
        out.append(Change(action, RecordSet(absolute(_text(rrset, "Name")), rtype, ttl, values)))
    return out


def document(root: str, fill: dict[str, Any]) -> bytes:
    """``<root xmlns=NS>`` with nested elements from dicts/lists/scalars."""
    element = ET.Element(root, xmlns=NS)
    _fill(element, fill)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(element)


def _fill(parent: ET.Element, value: Any) -> None:
    if isinstance(value, dict):
        for name, child in value.items():
            if isinstance(child, list):
                container = ET.SubElement(parent, name)
                for item_name, item in child:
                    _fill(ET.SubElement(container, item_name), item)
            else:
                _fill(ET.SubElement(parent, name), child)
    else:
        parent.text = str(value).lower() if isinstance(value, bool) else str(value)


def rrset_xml(rrset: RecordSet) -> dict[str, Any]:
    return {
        "Name": rrset.name,
        "Type": rrset.type,
        "TTL": rrset.ttl,
        "ResourceRecords": [("ResourceRecord", {"Value": v}) for v in rrset.values],
    }


def items(name: str, values: Iterable[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return [(name, v) for v in values]


def error_body(error: Route53Error) -> bytes:
    request_id = secrets.token_hex(16)
    if error.batch:
        messages = [("Message", m) for m in error.message.split("; ")]
        return document("InvalidChangeBatch", {"Messages": messages, "RequestId": request_id})
    fault = "Receiver" if error.status >= 500 else "Sender"
    return document(
        "ErrorResponse",
        {
            "Error": {"Type": fault, "Code": error.code, "Message": error.message},
            "RequestId": request_id,
        },
    )
