"""Protobuf request bodies: the k8s envelope, wire decoding and JSON conventions."""

from __future__ import annotations

import pytest

from controller.sandbox.kube.protobuf import MAGIC, decode_object, field
from controller.sandbox.kube.status import StatusError


def entry(key: str, value: bytes | str) -> bytes:
    return field(1, key) + field(2, value)


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    type_meta = field(1, api_version) + field(2, kind)
    return (
        MAGIC
        + field(1, type_meta)
        + field(2, raw)
        + field(4, "application/vnd.kubernetes.protobuf")
    )


def test_secret_with_bytes_map_pointer_bool_and_zero_values() -> None:
    meta = (
        field(1, "key")
        + field(2, "")  # generateName "" is sent; omitempty drops it
        + field(3, "shop")
        + field(8, field(1, 0))  # zero creationTimestamp marshals to null
        + field(11, entry("app", "demo"))
    )
    raw = (
        field(1, meta)
        + field(5, 0)  # immutable: false is a pointer field, so it is kept
        + field(2, entry("api-key", b"\x00\xffs3cr3t"))
        + field(3, "Opaque")
        + field(99, "")  # a field this table lacks, holding its zero value: skipped
    )
    assert decode_object(envelope("v1", "Secret", raw)) == {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "key", "namespace": "shop", "labels": {"app": "demo"}},
        "immutable": False,
        "data": {"api-key": "AP9zM2NyM3Q="},
        "type": "Opaque",
    }


def test_nested_messages_int_or_string_time_and_negative_ints() -> None:
    port = field(1, "http") + field(3, 80) + field(4, field(1, 1) + field(3, "web"))
    other = field(3, 443) + field(4, field(1, 0) + field(2, 8443))
    spec = field(1, port) + field(1, other) + field(2, entry("app", "web"))
    meta = field(1, "svc") + field(8, field(1, 1_767_225_600)) + field(10, -1)
    obj = decode_object(envelope("v1", "Service", field(1, meta) + field(2, spec)))
    assert obj["metadata"] == {
        "name": "svc",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "deletionGracePeriodSeconds": -1,
    }
    assert obj["spec"] == {
        "ports": [
            {"name": "http", "port": 80, "targetPort": "web"},
            {"port": 443, "targetPort": 8443},
        ],
        "selector": {"app": "web"},
    }


def test_unknown_kind_is_415_naming_it() -> None:
    with pytest.raises(StatusError) as caught:
        decode_object(envelope("batch/v1", "Job", field(1, field(1, "work"))))
    assert caught.value.code == 415
    assert "batch/v1, Kind=Job is not supported" in caught.value.message


def test_unknown_fields_pass_only_when_they_hold_zeros() -> None:
    container = field(1, "app") + field(2, "nginx") + field(13, "") + field(16, 0)
    pod = field(2, container) + field(11, 0) + field(14, b"") + field(26, field(1, ""))
    spec = field(3, field(2, pod)) + field(8, field(1, 0))  # 8: a status-like zero message
    obj = decode_object(envelope("apps/v1", "Deployment", field(2, spec)))
    assert obj["spec"] == {
        "template": {"spec": {"containers": [{"name": "app", "image": "nginx"}]}}
    }
    lost = field(3, field(2, pod + field(18, field(1, field(1, "zone")))))
    with pytest.raises(StatusError) as caught:
        decode_object(envelope("apps/v1", "Deployment", field(2, lost)))
    assert caught.value.code == 415
    assert "Kind=Deployment has a value in field 18 of PodSpec" in caught.value.message


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"{}", "without the k8s magic"),
        (MAGIC + b"\x0a\x05ab", "truncated length-delimited field"),
        (envelope("v1", "Secret", b"\x0a\xff"), "truncated varint"),
        (envelope("v1", "Secret", field(1, field(1, b"\xff\xfe"))), "invalid protobuf"),
        (envelope("v1", "Secret", b"\x0b"), "unsupported wire type 3"),
    ],
)
def test_malformed_bodies_are_400(body: bytes, problem: str) -> None:
    with pytest.raises(StatusError) as caught:
        decode_object(body)
    assert caught.value.code == 400
    assert problem in caught.value.message
