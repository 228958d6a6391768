"""Request counts from the real API server's audit log, in the emulator's terms.

The emulated API server counts every request as ``RequestKey(user, verb, resource label,
code)``; the real one writes an audit event per request (``--audit-log-path``, Metadata level).
This reads the log into the same keys, so a test can ask either world who was refused what.

Invariants: one count per request (long-running requests such as watches log a
``ResponseStarted`` and a ``ResponseComplete`` event under one ``auditID``: the last one read
wins); the resource label is ``<plural>[.<group>][/<subresource>]``, as the emulator labels it;
a request with no ``objectRef`` (discovery, ``/healthz``) is labelled by its path.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from controller.sandbox.kube.server import RequestKey


def resource_label(ref: dict[str, Any]) -> str:
    group, plural, subresource = ref.get("apiGroup"), ref["resource"], ref.get("subresource")
    base = f"{plural}.{group}" if group else plural
    return f"{base}/{subresource}" if subresource else base


def log_size(audit_log: Path) -> int:
    """Where the log ends now: pass it as ``since`` to count only later requests."""
    try:
        return audit_log.stat().st_size
    except FileNotFoundError:
        return 0


def request_counts(audit_log: Path, since: int = 0) -> dict[RequestKey, int]:
    """Every request the audit log holds after byte ``since``, counted once, by (user, verb,
    label, code)."""
    latest: dict[str, RequestKey] = {}
    try:
        with audit_log.open("rb") as log:
            log.seek(since)
            lines = log.read().splitlines()
    except FileNotFoundError:
        return {}
    for line in lines:
        if not line.strip():
            continue
        try:
            event = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue  # the line being written as we read
        ref = event.get("objectRef")
        label = resource_label(ref) if ref and ref.get("resource") else event["requestURI"]
        code = int((event.get("responseStatus") or {}).get("code", 0))
        user = (event.get("user") or {}).get("username", "")
        latest[event["auditID"]] = RequestKey(user, event["verb"], label, code)
    return dict(Counter(latest.values()))
