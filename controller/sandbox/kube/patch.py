"""The three patch formats a client may send with PATCH (server-side apply lives in apply.py).

- JSON patch (RFC 6902) including ``test``; failures are 422 like the real server.
- JSON merge patch (RFC 7386): ``null`` deletes, lists are replaced whole.
- Strategic merge patch for built-in kinds: merge patch plus list merge keys and the
  ``$patch``/``$retainKeys``/``$setElementOrder``/``$deleteFromPrimitiveList`` directives that
  ``kubectl apply`` sends.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from .status import StatusError
from .workloads import DEPLOYMENT_MERGE_KEYS

#: (kind, dotted path) → merge key for lists merged by key ("" merges a list of scalars)
MERGE_KEYS: Mapping[tuple[str, str], str] = {
    ("*", "metadata.finalizers"): "",
    ("*", "metadata.ownerReferences"): "uid",
    ("Service", "spec.ports"): "port",
    ("ServiceAccount", "secrets"): "name",
    ("ServiceAccount", "imagePullSecrets"): "name",
    **{("Deployment", path): key for path, key in DEPLOYMENT_MERGE_KEYS.items()},
}


def patch_failed(message: str) -> StatusError:
    return StatusError(422, "Invalid", message)


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    result = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _pointer(path: str) -> list[str]:
    if path == "":
        return []
    if not path.startswith("/"):
        raise patch_failed(f"invalid JSON pointer: {path!r}")
    return [p.replace("~1", "/").replace("~0", "~") for p in path[1:].split("/")]


def _index(container: list[Any], segment: str, *, adding: bool) -> int:
    if adding and segment == "-":
        return len(container)
    if not segment.isdigit():
        raise patch_failed(f"invalid array index: {segment!r}")
    index = int(segment)
    if index > len(container) or (not adding and index == len(container)):
        raise patch_failed(f"array index out of bounds: {index}")
    return index


def _parent(doc: Any, tokens: list[str]) -> Any:
    node = doc
    for token in tokens[:-1]:
        if isinstance(node, dict) and token in node:
            node = node[token]
        elif isinstance(node, list):
            node = node[_index(node, token, adding=False)]
        else:
            raise patch_failed(f"doc is missing path: /{'/'.join(tokens)}")
    return node


def _get(doc: Any, tokens: list[str]) -> Any:
    if not tokens:
        return doc
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent[last]
    if isinstance(parent, list):
        return parent[_index(parent, last, adding=False)]
    raise patch_failed(f"doc is missing path: /{'/'.join(tokens)}")


def _remove(doc: Any, tokens: list[str]) -> Any:
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict) and last in parent:
        return parent.pop(last)
    if isinstance(parent, list):
        return parent.pop(_index(parent, last, adding=False))
    raise patch_failed(f"unable to remove nonexistent key: {last}")


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _parent(doc, tokens)
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, adding=True), value)
    else:
        raise patch_failed(f"doc is missing path: /{'/'.join(tokens)}")
    return doc


def json_patch(target: Any, operations: Any) -> Any:
    """RFC 6902 on a deep copy of ``target``."""
    if not isinstance(operations, list):
        raise StatusError(400, "BadRequest", "json patch must be a list of operations")
    doc = copy.deepcopy(target)
    for op in operations:
        if not isinstance(op, dict) or "op" not in op or "path" not in op:
            raise StatusError(400, "BadRequest", f"invalid json patch operation: {op!r}")
        kind, tokens = op["op"], _pointer(op["path"])
        if kind == "add":
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind == "remove":
            _remove(doc, tokens)
        elif kind == "replace":
            _get(doc, tokens)
            if tokens:
                _remove(doc, tokens)
            doc = _add(doc, tokens, copy.deepcopy(op.get("value")))
        elif kind in {"move", "copy"}:
            source = _pointer(op.get("from", ""))
            value = _remove(doc, source) if kind == "move" else copy.deepcopy(_get(doc, source))
            doc = _add(doc, tokens, value)
        elif kind == "test":
            if _get(doc, tokens) != op.get("value"):
                raise patch_failed(f"testing value {op['path']} failed")
        else:
            raise StatusError(400, "BadRequest", f"unexpected json patch operation: {kind!r}")
    return doc


def strategic_merge_patch(target: Any, patch: Any, kind: str) -> Any:
    """Strategic merge for built-in kinds (see module docstring)."""
    return _smp(target, patch, kind, "")


def _merge_key(kind: str, path: str) -> str | None:
    return MERGE_KEYS.get((kind, path), MERGE_KEYS.get(("*", path)))


def _smp(target: Any, patch: Any, kind: str, path: str) -> Any:
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    directive = patch.get("$patch")
    if directive == "delete":
        return None
    base: dict[str, Any] = (
        {} if directive == "replace" or not isinstance(target, dict) else dict(target)
    )
    retain = patch.get("$retainKeys")
    for key, value in patch.items():
        if key in {"$patch", "$retainKeys"} or key.startswith("$setElementOrder/"):
            continue
        if key.startswith("$deleteFromPrimitiveList/"):
            field = key.split("/", 1)[1]
            base[field] = [v for v in base.get(field) or [] if v not in value]
            continue
        child = f"{path}.{key}" if path else key
        if value is None:
            base.pop(key, None)
            continue
        merge_key = _merge_key(kind, child)
        if isinstance(value, list) and merge_key is not None:
            base[key] = _merge_list(base.get(key) or [], value, merge_key, kind, child)
        else:
            merged = _smp(base.get(key), value, kind, child)
            if merged is None:
                base.pop(key, None)
            else:
                base[key] = merged
    if isinstance(retain, list):
        base = {k: v for k, v in base.items() if k in retain}
    return base


def _merge_list(current: list[Any], patch: list[Any], key: str, kind: str, path: str) -> list[Any]:
    if key == "":
        merged = list(current)
        merged += [v for v in patch if v not in merged]
        return merged
    result = [dict(item) if isinstance(item, dict) else item for item in current]
    for item in patch:
        if not isinstance(item, dict) or key not in item:
            raise patch_failed(f"map in list at {path} is missing merge key {key!r}")
        position = next(
            (
                i
                for i, cur in enumerate(result)
                if isinstance(cur, dict) and cur.get(key) == item[key]
            ),
            None,
        )
        if item.get("$patch") == "delete":
            if position is not None:
                result.pop(position)
        elif position is None:
            result.append({k: v for k, v in item.items() if k != "$patch"})
        else:
            result[position] = _smp(result[position], item, kind, path)
    return result
