"""YAML request bodies: the orjson fast path returns exactly what yaml.safe_load does."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
import yaml

from controller.sandbox.kube import yamlbody

BODIES = [
    b'{"a":1,"b":[1,2,{"c":true}],"d":null,"e":"x: y # z","f":{}}',
    b'{"a":1e3,"b":1.5e3,"c":1.5E+3,"d":1.5}',  # YAML 1.1: "1e3" and "1.5e3" are strings
    b'{"a":123456789012345678901234567890}',  # orjson would make this a float
    b'{"' + b"k" * 1100 + b'":1}',  # beyond PyYAML's simple-key limit
    b'{"' + b"\\n" * 600 + b'":1}',  # short once decoded, long as written
    b'{\n\t"a": 1\n}',  # a tab: PyYAML cannot scan it
    b'{"a":1e+30}',  # compact as orjson writes it, and a string to YAML 1.1
    b'{"a":"\x7f"}',  # a character PyYAML rejects
    '{"a":"\u0086"}'.encode(),  # another one
    '{"a":"é"}'.encode(),
    b'{"a":"\\ud83d\\ude00"}',  # PyYAML decodes a surrogate pair as two surrogates
    b'{"a": 1, "a": 2}',
    b'{"a":1,"a":2}',
    b'{"a": [1, 2]}',
    b"a: 2026-01-02T03:04:05Z\nb: yes\n",
    b'["x",{"y":"z"}]',
    b'"just a string"',
    b"- [a, b\n",
]


def _load(loader: Any, raw: bytes) -> Any:
    try:
        return ("ok", repr(loader(raw)))
    except yaml.YAMLError as exc:
        return ("error", str(exc))


@pytest.mark.parametrize("raw", BODIES)
def test_the_same_as_pyyaml(raw: bytes) -> None:
    assert _load(yamlbody.load_yaml, raw) == _load(yaml.safe_load, raw)


def test_compact_json_skips_pyyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    body = {"apiVersion": "v1", "kind": "X", "status": {"conditions": [{"type": "Ready"}]}}
    raw = orjson.dumps(body)

    def refuse(raw: bytes) -> Any:
        raise AssertionError("PyYAML was used")

    monkeypatch.setattr(yamlbody.yaml, "safe_load", refuse)
    assert yamlbody.load_yaml(raw) == body
    with pytest.raises(AssertionError, match="PyYAML"):
        yamlbody.load_yaml(b'{"a": 1}')  # not compact: PyYAML decides
