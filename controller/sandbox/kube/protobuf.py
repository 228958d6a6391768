"""Kubernetes protobuf request bodies (``application/vnd.kubernetes.protobuf``) to JSON objects.

The envelope is the 4-byte magic ``k8s\\x00`` followed by a ``runtime.Unknown`` message
(typeMeta=1 {apiVersion=1, kind=2}, raw=2, contentEncoding=3, contentType=4); ``raw`` holds the
object's own message. Messages are decoded by hand from the protobuf wire format against the
field tables in :mod:`.protoschema`, and come out as the JSON the same object would have been
sent as: zero-valued non-pointer fields are dropped (Go's ``omitempty``), ``bytes`` maps become
base64 strings, ``Time`` becomes RFC 3339. A kind without a table is a 415 naming the kind, and
so is a value in a field its table lacks (the tables cover what kubectl's generators send;
nothing is dropped silently).
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from .protoschema import MESSAGES, Field
from .resources import Obj
from .status import StatusError, bad_request, unknown_format

MAGIC = b"k8s\x00"
MEDIA_TYPE = "application/vnd.kubernetes.protobuf"

_VARINT, _FIXED64, _LENGTH, _FIXED32 = 0, 1, 2, 5


class WireError(ValueError):
    """The bytes are not a well-formed protobuf message."""


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(data) or shift > 63:
            raise WireError("truncated varint")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return result, pos
        shift += 7


def fields_of(data: bytes) -> Iterator[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints and fixed widths, bytes for the rest."""
    pos = 0
    while pos < len(data):
        tag, pos = _varint(data, pos)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise WireError("field number 0")
        value: int | bytes
        if wire == _VARINT:
            value, pos = _varint(data, pos)
        elif wire == _LENGTH:
            size, pos = _varint(data, pos)
            if pos + size > len(data):
                raise WireError("truncated length-delimited field")
            value, pos = data[pos : pos + size], pos + size
        elif wire in (_FIXED64, _FIXED32):
            width = 8 if wire == _FIXED64 else 4
            if pos + width > len(data):
                raise WireError("truncated fixed-width field")
            value, pos = int.from_bytes(data[pos : pos + width], "little"), pos + width
        else:
            raise WireError(f"unsupported wire type {wire}")
        yield number, value


def varint(value: int) -> bytes:
    """A varint (negative numbers as 64-bit two's complement, as Go encodes int64)."""
    value &= (1 << 64) - 1
    out = bytearray()
    while value > 0x7F:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def field(number: int, value: int | bytes | str) -> bytes:
    """One encoded field: ints as varints, bytes and str as length-delimited."""
    if isinstance(value, int):
        return varint(number << 3 | _VARINT) + varint(value)
    data = value.encode() if isinstance(value, str) else value
    return varint(number << 3 | _LENGTH) + varint(len(data)) + data


def _signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def _time(data: bytes) -> str | None:
    seconds = 0
    for number, value in fields_of(data):
        if number == 1 and isinstance(value, int):
            seconds = _signed(value)
    if seconds == 0:
        return None  # Go's zero Time marshals to null
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class UnsupportedField(ValueError):
    """A field this server's tables do not know carries a value (it would be lost)."""


def _scalar(kind: str, value: int | bytes) -> Any:
    if kind == "string":
        return _bytes(value).decode()
    if kind == "quantity":  # resource.Quantity: {string=1}
        return _bytes(dict(fields_of(_bytes(value))).get(1, b"")).decode()
    if kind == "bytes":
        return base64.b64encode(_bytes(value)).decode()
    if kind == "int":
        return _signed(_int(value))
    if kind == "bool":
        return bool(_int(value))
    if kind == "time":
        return _time(_bytes(value))
    if kind == "intstr":
        return _int_or_string(_bytes(value))
    return decode_message(kind, _bytes(value))


def _bytes(value: int | bytes) -> bytes:
    if not isinstance(value, bytes):
        raise WireError("expected a length-delimited field")
    return value


def _int(value: int | bytes) -> int:
    if not isinstance(value, int):
        raise WireError("expected a varint field")
    return value


def _int_or_string(data: bytes) -> int | str:
    parts = dict(fields_of(data))
    if _int(parts.get(1, 0)) == 1:
        return _bytes(parts.get(3, b"")).decode()
    return _signed(_int(parts.get(2, 0)))


def _map_entry(field: Field, data: bytes) -> tuple[str, Any]:
    key, value = "", _empty(field.kind)
    for number, raw in fields_of(data):
        if number == 1:
            key = _bytes(raw).decode()
        elif number == 2:
            value = _scalar(field.kind, raw)
    return key, value


def _empty(kind: str) -> Any:
    return {"string": "", "bytes": "", "int": 0, "bool": False}.get(kind, {})


def _is_zero(value: Any) -> bool:
    return value is None or value is False or value in ("", 0) or value == {}


def _is_zero_wire(value: int | bytes) -> bool:
    """Whether an unknown field holds only zero values (gogo-protobuf sends every non-pointer
    field, set or not: ``""``, ``0``, empty messages, messages of zeros)."""
    if isinstance(value, int):
        return value == 0
    try:
        return all(_is_zero_wire(v) for _, v in fields_of(value))
    except WireError:
        return False


def decode_message(name: str, data: bytes) -> Obj:
    """The message ``name`` of :data:`MESSAGES` as JSON; a field the table does not know is
    skipped when it holds zeros and :class:`UnsupportedField` otherwise."""
    message = MESSAGES[name]
    out: Obj = {}
    for number, raw in fields_of(data):
        field = message.get(number)
        if field is None:
            if _is_zero_wire(raw):
                continue
            raise UnsupportedField(f"field {number} of {name}")
        if field.inline:
            out.update(_scalar(field.kind, raw))
            continue
        if field.map:
            key, value = _map_entry(field, _bytes(raw))
            out.setdefault(field.name, {})[key] = value
            continue
        value = _scalar(field.kind, raw)
        if field.repeated:
            out.setdefault(field.name, []).append(value)
        else:
            out[field.name] = value
    for field in message.values():
        plain = not (field.pointer or field.map or field.repeated)
        if plain and field.name in out and _is_zero(out[field.name]):
            del out[field.name]
    return out


def _unsupported(api_version: str, kind: str, what: str) -> StatusError:
    return unknown_format(
        f"{api_version}, Kind={kind} {what} in {MEDIA_TYPE} by this server; send "
        "application/json or application/yaml"
    )


def decode_object(raw: bytes) -> Obj:
    """A protobuf-encoded request body as the JSON object it stands for."""
    if not raw.startswith(MAGIC):
        raise bad_request("error decoding request body: protobuf body without the k8s magic")
    try:
        envelope = dict(fields_of(raw[len(MAGIC) :]))
        type_meta = dict(fields_of(_bytes(envelope.get(1, b""))))
        api_version = _bytes(type_meta.get(1, b"")).decode()
        kind = _bytes(type_meta.get(2, b"")).decode()
        name = f"{api_version}/{kind}"
        if name not in MESSAGES:
            raise _unsupported(api_version, kind, "is not supported")
        obj = decode_message(name, _bytes(envelope.get(2, b"")))
    except UnsupportedField as exc:
        raise _unsupported(
            api_version, kind, f"has a value in {exc}, which is not supported"
        ) from None
    except (WireError, UnicodeDecodeError, ValueError, OverflowError) as exc:
        raise bad_request(f"error decoding request body: invalid protobuf: {exc}") from None
    return {"apiVersion": api_version, "kind": kind, **obj}
