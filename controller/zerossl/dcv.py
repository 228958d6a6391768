"""Human messages for ZeroSSL's per-domain error ``details`` (conditions and Events show them).

``domain_control_validation_failed`` details are keyed by domain (or a www/non-www pair) and
hold either ``{"validation_successful": true}`` or entries keyed by domain (CNAME checks) or by
file URL (HTTP checks). CAA errors name the affected domains. Invariant: one short clause per
failing domain, at most :data:`MAX_CLAUSES` of them, never raising on an unexpected shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.zerossl.fields import as_bool, as_dict, as_str

MAX_CLAUSES = 10
CAA_TYPES = frozenset({"invalid_caa_records_detected", "caa_record_check_failed"})
DCV_TYPE = "domain_control_validation_failed"
_ENTRY_KEYS = frozenset({"cname_found", "record_correct", "target_host", "file_found"})
_ENTRY_KEYS |= {"error_slug", "error", "validation_successful"}


def describe_details(type_: str, details: Mapping[str, Any]) -> tuple[str, ...]:
    """One clause per failing domain for DCV and CAA errors; () for other errors."""
    if type_ == DCV_TYPE:
        clauses = [c for group, value in details.items() for c in _describe_group(group, value)]
    elif type_ in CAA_TYPES:
        clauses = [f"{domain}: CAA records must allow sectigo.com" for domain in _names(details)]
    else:
        return ()
    if len(clauses) > MAX_CLAUSES:
        extra = len(clauses) - MAX_CLAUSES
        clauses = [*clauses[:MAX_CLAUSES], f"and {extra} more"]
    return tuple(clauses)


def _names(details: Mapping[str, Any]) -> list[str]:
    names: list[str] = []
    for key, value in details.items():
        if isinstance(value, list):
            names.extend(s for item in value if (s := as_str(item)))
        else:
            names.append(key)
    return names


def _describe_group(group: str, value: Any) -> list[str]:
    entries = as_dict(value)
    if not entries or as_bool(entries.get("validation_successful")):
        return []
    if _ENTRY_KEYS & entries.keys():
        clause = _describe_entry(group, group, entries)
        return [clause] if clause else []
    return [c for key, entry in entries.items() if (c := _describe_entry(group, key, entry))]


def _describe_entry(group: str, key: str, value: Any) -> str | None:
    entry = as_dict(value)
    if as_bool(entry.get("validation_successful")):
        return None
    if "cname_found" in entry or "target_host" in entry:
        return _describe_cname(key, entry)
    if key.startswith(("http://", "https://")) or "error_slug" in entry:
        slug = as_str(entry.get("error_slug")) or "file check failed"
        info = as_str(entry.get("error_info"))
        where = f"file {key}" if key != group else "file"
        return f"{group}: {where} {slug}" + (f" ({info})" if info else "")
    return f"{group}: validation failed"


def _describe_cname(domain: str, entry: dict[str, Any]) -> str | None:
    host = as_str(entry.get("target_host")) or "_<MD5>"
    bare = domain.removeprefix("*.")
    name = host if host.lower().endswith("." + bare.lower()) else f"{host}.{bare}"
    if not as_bool(entry.get("cname_found")):
        return f"{domain}: CNAME {name} not found"
    if not as_bool(entry.get("record_correct")):
        actual = as_str(entry.get("actual_record")) or "nothing"
        expected = as_str(entry.get("target_record")) or "the ZeroSSL target"
        return f"{domain}: CNAME {name} points to {actual}, expected {expected}"
    return None
