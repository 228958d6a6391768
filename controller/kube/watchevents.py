"""Watch events decoded from the lines of a watch stream: in full (orjson), or lean (the
envelope only, with simdjson).

The API server writes each event as one compact line ``{"type":"ADDED","object":{...}}`` (Go's
encoder: ``type`` first, no whitespace). A lean decode parses the line once with simdjson,
reads the type and ``metadata.{name,namespace,uid,resourceVersion}``, and takes the object's
bytes as a slice of the line, with ``metadata.managedFields`` cut out of them: no Python object
is built for the object's content. An informer whose objects are only routed by key never
parses a spec.

Invariants:
- Full decoding (``decode_event``) yields ``WatchEvent.obj``, the event's object as a dict; an
  ERROR event raises its ApiError, anything that is not a ``{type, object}`` JSON object raises
  WatchProtocolError.
- A lean event (``WatchEvent.cached`` set) is produced only when the line has exactly that
  shape: the prefix ``{"type":"<ADDED|MODIFIED|DELETED>","object":{``, exactly two members,
  ``}}`` at the end, valid JSON (simdjson), str name/namespace/uid/resourceVersion, no
  last-applied annotation, and metadata's ``managedFields`` either absent with no
  ``"managedFields"`` anywhere in the line, or cut exactly (below); and when the stored bytes
  hold no ``\\u`` escape. Then ``cached.raw`` decodes to exactly what the full path stores,
  ``trim_object(full decode)``, and the envelope fields equal what ``CachedObject.encode``
  reads from it. A lean BOOKMARK carries only its resourceVersion. Every other line takes the
  full path, so its errors are exactly those of the full path.
- The cut: simdjson minifies metadata's ``managedFields`` value to ``mini``; the line must hold
  ``"managedFields":`` + ``mini`` preceded by ``{``/``,`` and followed by ``,``/``}``, and no
  other ``"managedFields"`` outside that span. That member and one adjacent comma are removed.
  Why it is metadata's: the kept bytes have no ``\\u`` escape, so metadata's key (which is not
  inside the cut span: the span is one member's value, and metadata has no ancestor but the
  object) is written literally, hence is the only occurrence; the raw value starts with
  ``mini`` and is followed by a delimiter, so it *is* that text. The API server never writes
  duplicate keys (for those, simdjson reads the first and orjson the last).
- One simdjson parser per stream; no simdjson proxy outlives the decode of its line (the
  parser refuses to parse while one exists). Should that ever happen the line takes the full
  path and the decoder starts a new parser.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
import simdjson

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
_MANAGED = b'"managedFields"'
_COMMA, _COLON, _OPEN, _CLOSE = b",:{}"
_UNICODE_ESCAPE = re.compile(rb"\\u")
_CONTAINERS = (simdjson.Object, simdjson.Array)
_DECODE_ERRORS = (ValueError, RuntimeError, KeyError, TypeError, IndexError, AttributeError)


class LeanDecoder:
    """Decodes the lines of one watch stream lean where possible (see the module docstring)."""

    __slots__ = ("_parser",)

    def __init__(self) -> None:
        self._parser = simdjson.Parser()

    def decode(self, line: bytes | memoryview) -> WatchEvent:
        if not isinstance(line, bytes):
            line = line.tobytes()  # simdjson and bytes.find want bytes
        try:
            event = self._lean(line)
        except _DECODE_ERRORS:
            # Malformed or unusual: the full path decides. A fresh parser, in case a proxy of
            # the failed parse is still referenced from somewhere.
            event = None
            self._parser = simdjson.Parser()
        return event if event is not None else decode_event(line)

    def _lean(self, line: bytes) -> WatchEvent | None:
        """The lean event of ``line``, or None when it must take the full path. Every simdjson
        proxy is local to this frame, so none outlives the call."""
        doc: Any = self._parser.parse(line)  # proxies (the stubs are too loose to help)
        if len(doc) != 2:
            return None
        kind = doc["type"]
        prefix = _PREFIXES.get(kind) if type(kind) is str else None
        start = len(prefix) if prefix is not None else 0
        if (
            prefix is None
            or not line.startswith(prefix)
            or line[start] != _OPEN
            or line[-2] != _CLOSE
            or line[-1] != _CLOSE
        ):
            return None
        meta: Any = doc["object"]["metadata"]
        version = meta["resourceVersion"]
        if type(version) is not str:
            return None
        if kind == "BOOKMARK":
            return WatchEvent(kind, resource_version=version)
        name = meta["name"]
        namespace = meta.get("namespace")
        uid = meta.get("uid")
        if (
            type(name) is not str
            or (namespace is not None and type(namespace) is not str)
            or (uid is not None and type(uid) is not str)
        ):
            return None
        annotations = meta.get("annotations")
        if annotations is not None:
            if not isinstance(annotations, simdjson.Object):
                return None
            for annotation in annotations:
                if annotation == LAST_APPLIED:
                    return None
        managed = meta.get("managedFields")
        mini: bytes | None = managed.mini if type(managed) in _CONTAINERS else None
        del doc, meta, annotations, managed  # no proxy outlives the parse
        found = line.find(_MANAGED, start)
        if mini is None:
            if found >= 0:  # null, a scalar, or some other "managedFields": full path
                return None
            raw = line[start:-1]
        else:
            if found < 0:
                return None
            value = found + len(_MANAGED) + 1
            end = value + len(mini)
            if (
                line[value - 1] != _COLON
                or not line.startswith(mini, value)
                or line.find(_MANAGED, end) >= 0  # [start, found) has none either
            ):
                return None
            before, after = line[found - 1], line[end]
            if after not in (_COMMA, _CLOSE):
                return None
            if before == _COMMA:
                raw = b"".join((line[start : found - 1], line[end:-1]))
            elif before == _OPEN:
                raw = b"".join((line[start:found], line[end + (after == _COMMA) : -1]))
            else:
                return None
        if b"\\" in raw and _UNICODE_ESCAPE.search(raw) is not None:
            return None
        cached = CachedObject(raw, name, namespace or "", uid, version)
        return WatchEvent(kind, cached=cached, resource_version=version)
