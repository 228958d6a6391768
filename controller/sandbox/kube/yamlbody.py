"""Decoding YAML request bodies (``application/apply-patch+yaml``, ``application/yaml``).

Invariant: :func:`load_yaml` returns exactly what ``yaml.safe_load`` returns, and raises where
it raises. Clients mostly send JSON with these content types, and PyYAML's pure-Python parser
is slow, so a body that is compact ASCII JSON as orjson writes it (``orjson.dumps(value) ==
raw``) is decoded with orjson when nothing in it could read differently as YAML 1.1: no float
(YAML reads ``1e3`` as a string, and orjson turns integers beyond 64 bits into floats) and no
mapping key near PyYAML's 1024-character limit on simple keys. Anything else goes to PyYAML.
"""

from __future__ import annotations

from typing import Any

import orjson
import yaml

#: printable ASCII: with nothing else in the body, PyYAML has no character to reject
_PRINTABLE_ASCII = bytes(range(0x20, 0x7F))
#: a decoded key this long may be more than 1024 characters once escaped
_LONG_KEY = 150


def load_yaml(raw: bytes) -> Any:
    """``yaml.safe_load(raw)``, faster for compact JSON (module docstring)."""
    if raw[:1] in (b"{", b"[") and not raw.translate(None, _PRINTABLE_ASCII):
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass
        else:
            if _plain(value) and orjson.dumps(value) == raw:
                return value
    return yaml.safe_load(raw)


def _plain(value: Any) -> bool:
    """No float and no long key anywhere in ``value`` (a decoded JSON document)."""
    stack = [value]
    while stack:
        item = stack.pop()
        kind = type(item)
        if kind is dict:
            for key, child in item.items():
                if len(key) > _LONG_KEY and len(orjson.dumps(key)) > 1000:
                    return False
                stack.append(child)
        elif kind is list:
            stack.extend(item)
        elif kind is float:
            return False
    return True
