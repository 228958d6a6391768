"""Watch events decoded from the lines of a watch stream: in full (orjson), or lean (the
envelope and a few metadata fields only, with msgspec).

The API server writes each event as one compact line ``{"type":"ADDED","object":{...}}`` (Go's
encoder: ``type`` first, no whitespace). A lean decode checks that prefix, decodes the object
text after it (the line minus prefix and final ``}``) with msgspec into a small typed schema
(``metadata.{resourceVersion,name,namespace,uid,annotations,managedFields}``; everything else
is skipped, still validated) and keeps the object's bytes, with ``metadata.managedFields`` cut
out of them: no Python object is built for the object's content. An informer whose objects are
only routed by key never parses a spec.

Invariants:
- Full decoding (``decode_event``) yields ``WatchEvent.obj``, the event's object as a dict; an
  ERROR event raises its ApiError, anything that is not a ``{type, object}`` JSON object raises
  WatchProtocolError.
- A lean event (``WatchEvent.cached`` set) is produced only when the line is exactly
  ``{"type":"<ADDED|MODIFIED|DELETED>","object":`` + X + ``}`` where X is one JSON object
  (msgspec accepts nothing after it, so the line has exactly these two members) with str
  ``resourceVersion`` and ``name``, str or absent ``namespace``/``uid``, no last-applied
  annotation; the line is valid UTF-8 (msgspec does not check strings it skips, so it is
  checked apart unless the line is ASCII); and metadata's ``managedFields`` is absent or cut
  exactly (below). Then ``cached.raw`` decodes to exactly
  what the full path stores, ``trim_object(full decode)``, and the envelope fields equal what
  ``CachedObject.encode`` reads from it. A lean BOOKMARK carries only its resourceVersion.
  Every other line takes the full path, so its errors are exactly those of the full path.
  One difference is left: a number beyond float64's range (``1e999``), which orjson rejects
  and msgspec skips; Go's encoder cannot write one, so an API server never sends it.
- The cut: msgspec gives the exact text T of metadata's ``managedFields`` value. The first
  ``"managedFields"`` of the line must be followed by ``:`` and T, preceded by ``{``/``,``
  and followed by ``,``/``}``, and no other ``"managedFields"`` may follow T. That member and
  one adjacent comma are removed, and the bytes kept must hold no ``\\u`` escape. Why it is
  metadata's: metadata's key is not inside T, so it is in the bytes kept, hence written
  literally; an unescaped ``"managedFields"`` is always a whole string token; the first one is
  followed by ``:``, so it is a key; it is the only one outside T, so it is metadata's.
  The API server never writes duplicate keys (for those, msgspec and orjson both read the
  last; a duplicate ``object`` member fails the X check).
"""

from __future__ import annotations

import re
from typing import Any

import msgspec
import orjson

from controller.kube.cached import LAST_APPLIED, CachedObject
from controller.kube.errors import ApiError


class WatchProtocolError(ValueError):
    """The watch stream carried something that is not a watch event (or an oversized line)."""


class WatchEvent:
    """One watch event: ``obj`` (full decode) or ``cached`` (lean, already trimmed) or, for a
    lean BOOKMARK, neither; ``resource_version`` is set on lean events only."""

    __slots__ = ("cached", "obj", "resource_version", "type")

    def __init__(
        self,
        type: str,
        obj: dict[str, Any] | None = None,
        cached: CachedObject | None = None,
        resource_version: str | None = None,
    ) -> None:
        self.type = type
        self.obj = obj
        self.cached = cached
        self.resource_version = resource_version

    def as_dict(self) -> dict[str, Any]:
        """``{"type", "object"}`` as a full decode gives it (decodes a lean event's object)."""
        if self.obj is not None:
            return {"type": self.type, "object": self.obj}
        if self.cached is not None:
            return {"type": self.type, "object": self.cached.decode()}
        meta = {"resourceVersion": self.resource_version}
        return {"type": self.type, "object": {"metadata": meta}}


def decode_event(line: bytes | memoryview) -> WatchEvent:
    """The full decode of one line (orjson)."""
    try:
        event = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise WatchProtocolError(f"watch line is not JSON: {exc}") from None
    if not isinstance(event, dict) or not isinstance(event.get("object"), dict):
        raise WatchProtocolError("watch line is not a {type, object} event")
    event_type = event.get("type")
    if event_type == "ERROR":
        status = event["object"]
        code = status.get("code")
        raise ApiError.from_status(code if isinstance(code, int) else 500, status)
    return WatchEvent(event_type, event["object"])  # type: ignore[arg-type]


_PREFIXES = {
    kind: b'{"type":"' + kind.encode() + b'","object":'
    for kind in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK")
}
_BY_INITIAL = {prefix[9]: (kind, prefix) for kind, prefix in _PREFIXES.items()}
_MANAGED = b'"managedFields"'
_COMMA, _COLON, _OPEN, _CLOSE = b",:{}"
_UNICODE_ESCAPE = re.compile(rb"\\u")
_ABSENT = msgspec.Raw()
# ValidationError is a DecodeError; invalid UTF-8 in a string it decodes: UnicodeDecodeError
_LEAN_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


class _Metadata(msgspec.Struct):
    """The metadata fields a lean decode reads (the others are skipped, still validated)."""

    resourceVersion: str
    name: str | None = None
    namespace: str | None = None
    uid: str | None = None
    annotations: dict[str, msgspec.Raw] | None = None
    managedFields: msgspec.Raw = _ABSENT


class _Object(msgspec.Struct):
    metadata: _Metadata


_decode_object = msgspec.json.Decoder(_Object).decode


def decode_lean(line: bytes | memoryview) -> WatchEvent:
    """The lean decode of one line where possible, else the full one (module docstring)."""
    if not isinstance(line, bytes):
        line = line.tobytes()  # bytes.find wants bytes
    event = _lean(line)
    return event if event is not None else decode_event(line)


def _lean(line: bytes) -> WatchEvent | None:
    """The lean event of ``line``, or None when it must take the full path."""
    known = _BY_INITIAL.get(line[9]) if len(line) > 9 else None
    if known is None:
        return None
    kind, prefix = known
    start = len(prefix)
    if not line.startswith(prefix) or line[-1] != _CLOSE:
        return None
    try:
        meta = _decode_object(memoryview(line)[start:-1]).metadata
    except _LEAN_ERRORS:
        return None
    if not line.isascii() and not _is_utf8(line):
        return None
    version = meta.resourceVersion
    if kind == "BOOKMARK":
        return WatchEvent(kind, resource_version=version)
    name = meta.name
    if name is None or (meta.annotations is not None and LAST_APPLIED in meta.annotations):
        return None
    managed = meta.managedFields
    raw = line[start:-1] if managed is _ABSENT else _cut(line, start, managed)
    if raw is None:
        return None
    cached = CachedObject(raw, name, meta.namespace or "", meta.uid, version)
    return WatchEvent(kind, cached=cached, resource_version=version)


def _cut(line: bytes, start: int, managed: msgspec.Raw) -> bytes | None:
    """The object text ``line[start:-1]`` without metadata's managedFields member, whose value
    text is ``managed``; None unless it can be located exactly (module docstring)."""
    key = line.find(_MANAGED, start)
    value = key + len(_MANAGED) + 1
    end = value + len(managed)
    if (
        key < 0
        or line[value - 1] != _COLON
        or not line.startswith(managed, value)
        or line.find(_MANAGED, end) >= 0
    ):
        return None
    before, after = line[key - 1], line[end]
    view = memoryview(line)
    if before == _COMMA and after in (_COMMA, _CLOSE):
        raw = b"".join((view[start : key - 1], view[end:-1]))
    elif before == _OPEN and after in (_COMMA, _CLOSE):
        raw = b"".join((view[start:key], view[end + (after == _COMMA) : -1]))
    else:
        return None
    # No escape in what is kept: metadata's key, which is not in the cut value, is literal.
    if b"\\" in raw and _UNICODE_ESCAPE.search(raw) is not None:
        return None
    return raw


def _is_utf8(line: bytes) -> bool:
    try:
        line.decode()
    except UnicodeDecodeError:
        return False
    return True
