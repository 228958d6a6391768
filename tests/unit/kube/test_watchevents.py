"""Lean watch-event decoding: it stores exactly what the full path (orjson, trim_object,
re-encode) stores, or hands the line to the full path."""

from __future__ import annotations

import json
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.kube.cached import LAST_APPLIED, CachedObject, trim_object
from controller.kube.errors import Gone
from controller.kube.watchevents import WatchEvent, WatchProtocolError, decode_event, decode_lean

ALPHABET = ['"', "\\", "/", "{", "}", "[", "]", ":", ",", " ", "\n", "\t", "\x01", "é", "😀"]
ALPHABET += ["<", "&", "\u2028", "managedFields", '"managedFields":', 'k:{"uid":"x"}', LAST_APPLIED]
TRICKY = st.lists(st.sampled_from(ALPHABET), max_size=6).map("".join)
TEXT = st.one_of(st.text(max_size=12), TRICKY)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    TEXT,
)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(TEXT, inner, max_size=4)),
    max_leaves=12,
)
OPTIONAL = object()  # marks a metadata field left out


@st.composite
def objects(draw: st.DrawFn) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": draw(TEXT.filter(bool)), "resourceVersion": draw(TEXT)}
    extras = {
        "namespace": draw(st.sampled_from([OPTIONAL, "", "ns", "team-a"]) | TEXT),
        "uid": draw(st.sampled_from([OPTIONAL]) | TEXT),
        "managedFields": draw(
            st.sampled_from([OPTIONAL, None, []])
            | st.lists(st.dictionaries(TEXT, JSON, max_size=4), max_size=3)
            | JSON
        ),
        "annotations": draw(
            st.sampled_from([OPTIONAL])
            | st.dictionaries(
                st.sampled_from(["a", "managedFields", LAST_APPLIED, "x/y"]) | TEXT,
                TEXT,
                max_size=3,
            )
        ),
        "labels": draw(st.sampled_from([OPTIONAL]) | st.dictionaries(TEXT, TEXT, max_size=2)),
    }
    for key, value in extras.items():
        if value is not OPTIONAL:
            meta[key] = value
    order = draw(st.permutations(list(meta)))
    meta = {key: meta[key] for key in order}
    obj: dict[str, Any] = {"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": meta}
    if draw(st.booleans()):
        obj["spec"] = draw(st.dictionaries(TEXT, JSON, max_size=4))
    if draw(st.booleans()):  # the same value under another "managedFields" key elsewhere
        obj["status"] = {"managedFields": meta.get("managedFields")}
    top = draw(st.permutations(list(obj)))
    return {key: obj[key] for key in top}


def full_path(line: bytes) -> CachedObject:
    event = decode_event(line)
    assert event.obj is not None
    return CachedObject.encode(trim_object(event.obj))


def assert_same(event: WatchEvent, line: bytes) -> None:
    """Whatever path ``event`` took, it carries what the full path would store."""
    expected = full_path(line)
    if event.cached is None:
        assert event.obj is not None
        got = CachedObject.encode(trim_object(event.obj))
    else:
        got = event.cached
        assert event.resource_version == got.resource_version
    assert orjson.loads(got.raw) == orjson.loads(expected.raw)
    envelope = (got.key, got.name, got.namespace, got.uid, got.resource_version)
    assert envelope == (
        expected.key,
        expected.name,
        expected.namespace,
        expected.uid,
        expected.resource_version,
    )


def encodings(event: dict[str, Any]) -> list[bytes]:
    """The API server's compact form, and forms that must fall back (escapes, whitespace)."""
    return [
        orjson.dumps(event),
        json.dumps(event, separators=(",", ":"), ensure_ascii=True).encode(),
        json.dumps(event, ensure_ascii=False).encode(),
    ]


@settings(max_examples=400, deadline=None)
@given(objects(), st.sampled_from(["ADDED", "MODIFIED", "DELETED"]))
def test_lean_decoding_stores_exactly_what_the_full_path_stores(
    obj: dict[str, Any], kind: str
) -> None:
    for line in encodings({"type": kind, "object": obj}):
        event = decode_lean(line)
        try:
            full_path(line)
        except (KeyError, TypeError, ValueError):  # the informer's error; lean never hides it
            assert event.cached is None
            continue
        assert event.type == kind
        assert_same(event, line)


def cert_request(**meta: Any) -> dict[str, Any]:
    metadata = {
        "name": "web",
        "namespace": "team",
        "uid": "u-1",
        "resourceVersion": "42",
        "annotations": {"cert-manager.io/certificate-name": "web"},
        "managedFields": [
            {
                "manager": "cert-manager",
                "fieldsV1": {"f:metadata": {"f:ownerReferences": {'k:{"uid":"x"}': {}}}},
            }
        ],
        **meta,
    }
    return {"apiVersion": "cert-manager.io/v1", "kind": "CertificateRequest", "metadata": metadata}


def lean(obj: dict[str, Any], kind: str = "MODIFIED") -> tuple[WatchEvent, bytes]:
    line = orjson.dumps({"type": kind, "object": obj})
    return decode_lean(line), line


def test_an_ordinary_object_is_decoded_lean_and_trimmed() -> None:
    event, line = lean(cert_request())
    assert event.obj is None
    assert event.cached is not None
    assert event.cached.key == "team/web"
    assert event.resource_version == "42"
    assert b"managedFields" not in event.cached.raw
    assert_same(event, line)


@pytest.mark.parametrize("position", ["first", "only", "last"])
def test_managed_fields_anywhere_in_metadata_is_cut_with_one_comma(position: str) -> None:
    managed = [{"manager": "m"}]
    meta: dict[str, Any]
    if position == "first":
        meta = {"managedFields": managed, "name": "a", "resourceVersion": "1"}
    elif position == "last":
        meta = {"name": "a", "resourceVersion": "1", "managedFields": managed}
    else:
        meta = {"managedFields": managed}
    line = orjson.dumps({"type": "ADDED", "object": {"metadata": meta, "spec": {}}})
    event = decode_lean(line)
    if position == "only":  # no name: the full path, whose encode raises KeyError
        assert event.cached is None
        with pytest.raises(KeyError):
            full_path(line)
        return
    assert event.cached is not None
    assert_same(event, line)


def test_utf8_beyond_ascii_is_decoded_lean() -> None:
    event, line = lean(cert_request(labels={"team": "équipe-😀"}))
    assert event.cached is not None
    assert_same(event, line)


def test_an_object_without_managed_fields_is_stored_as_sent() -> None:
    obj = cert_request()
    del obj["metadata"]["managedFields"]
    event, _ = lean(obj)
    assert event.cached is not None
    assert event.cached.raw == orjson.dumps(obj)


@pytest.mark.parametrize(
    "obj",
    [
        cert_request(annotations={"managedFields": "x"}),  # a second "managedFields"
        cert_request(annotations={LAST_APPLIED: "{}", "keep": "me"}),
        {**cert_request(), "spec": {"managedFields": cert_request()["metadata"]["managedFields"]}},
        cert_request(labels={"a": "<&>\x01"}),  # orjson escapes the control character
    ],
    ids=["annotation-named-managedFields", "last-applied", "spec-copy", "escapes"],
)
def test_lines_that_cannot_be_cut_exactly_take_the_full_path(obj: dict[str, Any]) -> None:
    event, line = lean(obj)
    assert event.cached is None
    assert_same(event, line)


def test_an_escaped_managed_fields_key_never_cuts_another_one() -> None:
    """metadata's key written with an escape, the same value under a literal key in spec."""
    line = (
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1",'
        b'"managedField\\u0073":[1]},"spec":{"managedFields":[1]}}}'
    )
    event = decode_lean(line)
    assert event.cached is None
    assert_same(event, line)
    assert orjson.loads(full_path(line).raw)["spec"] == {"managedFields": [1]}


@pytest.mark.parametrize(
    "line",
    [
        b'{"object":{"metadata":{"name":"a","resourceVersion":"1"}},"type":"ADDED"}',
        b'{"type": "ADDED", "object": {"metadata": {"name": "a", "resourceVersion": "1"}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}},"x":1}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":1}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":7,"resourceVersion":"1"}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"}},'
        b'"object":{"metadata":{"name":"b","resourceVersion":"2"}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1",'
        b'"managedFields" :[1]}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1",'
        b'"managedFields":[1] }}}',
    ],
    ids=[
        "order",
        "whitespace",
        "extra-member",
        "int-rv",
        "int-name",
        "duplicate-object",
        "space-before-colon",
        "space-after-value",
    ],
)
def test_other_shapes_take_the_full_path(line: bytes) -> None:
    event = decode_lean(line)
    assert event.cached is None
    assert event.obj is not None
    assert_same(event, line)


def test_bookmarks_are_lean_and_errors_raise_as_in_the_full_path() -> None:
    bookmark = decode_lean(b'{"type":"BOOKMARK","object":{"metadata":{"resourceVersion":"9"}}}')
    assert (bookmark.type, bookmark.resource_version, bookmark.cached) == ("BOOKMARK", "9", None)
    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old"}
    with pytest.raises(Gone):
        decode_lean(orjson.dumps({"type": "ERROR", "object": status}))
    for garbage in (
        b"nope",
        b"[1]",
        b'{"type":"ADDED","object":"x"}',
        b"{}",
        b'{"type":"ADDED","object":{"metadata":{"name":"\xff","resourceVersion":"1"}}}',
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1"},'
        b'"spec":"\xed\xa0\x80"}}',  # a UTF-8 surrogate, in a string the lean decode skips
    ):
        with pytest.raises(WatchProtocolError):
            decode_lean(garbage)


def test_managed_fields_are_cut_as_written_numbers_and_all() -> None:
    """The cut removes the value's exact text (no re-serialisation of its numbers)."""
    line = (
        b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1",'
        b'"managedFields":[1.50,1e2,{"k":-0.0}]},"spec":{"x":1.50}}}'
    )
    event = decode_lean(line)
    assert event.cached is not None
    assert event.cached.raw == b'{"metadata":{"name":"a","resourceVersion":"1"},"spec":{"x":1.50}}'
    assert_same(event, line)


@pytest.mark.parametrize(
    ("line", "is_lean"),
    [
        (orjson.dumps({"type": "ADDED", "object": cert_request(labels={"a": "\\u00e9"})}), False),
        (
            b'{"type":"ADDED","object":{"metadata":{"name":"\\u0061","resourceVersion":"1",'
            b'"managedFields":[1]}}}',
            False,
        ),
        (
            b'{"type":"ADDED","object":{"metadata":{"name":"a","resourceVersion":"1",'
            b'"managedFields":[{"k":"\\u00e9"}]}}}',
            True,
        ),
    ],
    ids=["looks-like-an-escape-in-kept", "escape-in-kept", "escape-in-cut"],
)
def test_an_escape_in_what_is_kept_takes_the_full_path_but_one_in_the_cut_does_not(
    line: bytes, is_lean: bool
) -> None:
    """The check is conservative: a backslash-u in what is kept, escape or not, falls back."""
    event = decode_lean(line)
    assert (event.cached is not None) is is_lean
    assert_same(event, line)
