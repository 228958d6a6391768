"""Field sets for ``metadata.managedFields`` (``FieldsV1``) and who owns what.

A field path is a tuple of FieldsV1 keys: ``("f:spec", "f:dnsNames")`` or, for an item of a
map-type list, ``("f:status", "f:conditions", 'k:{"type":"Ready"}')``. Leaves are scalars,
atomic lists and empty maps; a keyed list item is itself a member (FieldsV1 ``"."``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import orjson

from .meta import now_rfc3339
from .resources import Obj

#: ``KeysFor`` answer for a struct applied and owned as one value (``structType=atomic``,
#: ``x-kubernetes-map-type: atomic``)
ATOMIC: tuple[str, ...] = ()

Path = tuple[str, ...]
FieldSet = set[Path]
KeysFor = Callable[[tuple[str, ...]], "tuple[str, ...] | None"]

_SYSTEM_METADATA = {
    "f:name",
    "f:namespace",
    "f:uid",
    "f:resourceVersion",
    "f:generation",
    "f:creationTimestamp",
    "f:managedFields",
    "f:deletionTimestamp",
    "f:deletionGracePeriodSeconds",
    "f:selfLink",
    "f:generateName",
}


def keys_lookup(map_list_keys: Mapping[str, tuple[str, ...]]) -> KeysFor:
    def keys_for(spath: tuple[str, ...]) -> tuple[str, ...] | None:
        return map_list_keys.get(".".join(spath)) if map_list_keys else None

    return keys_for


def _item_key(item: Any, keys: tuple[str, ...]) -> str | None:
    if not isinstance(item, dict) or not all(k in item for k in keys):
        return None
    return "k:" + orjson.dumps({k: item[k] for k in keys}, option=orjson.OPT_SORT_KEYS).decode()


def _keyed(value: Any, keys: tuple[str, ...] | None) -> dict[str, Any] | None:
    """A map-type list as ``{item key: item}``, or None when it is atomic."""
    if not keys or not isinstance(value, list):
        return None
    out: dict[str, Any] = {}
    for item in value:
        key = _item_key(item, keys)
        if key is None:
            return None
        out[key] = item
    return out


def leaves(
    value: Any, keys_for: KeysFor, path: Path = (), spath: tuple[str, ...] = ()
) -> Iterator[Path]:
    if isinstance(value, dict) and value and keys_for(spath) != ATOMIC:
        for name, child in value.items():
            yield from leaves(child, keys_for, (*path, f"f:{name}"), (*spath, name))
        return
    items = _keyed(value, keys_for(spath))
    if items:
        for key, item in items.items():
            yield (*path, key)
            for name, child in item.items():
                yield from leaves(child, keys_for, (*path, key, f"f:{name}"), (*spath, name))
        return
    yield path


def diff(
    old: Any, new: Any, keys_for: KeysFor, path: Path = (), spath: tuple[str, ...] = ()
) -> tuple[FieldSet, FieldSet]:
    """(leaves set or changed in ``new``, leaves gone from ``old``)."""
    changed: FieldSet = set()
    removed: FieldSet = set()
    if old is new or (type(old) is type(new) and type(new) in (dict, list) and old == new):
        # nothing below can differ (the leaves compare with == too); saves the walk
        return changed, removed
    if (
        isinstance(old, dict)
        and isinstance(new, dict)
        and old
        and new
        and keys_for(spath) != ATOMIC
    ):
        for name in old.keys() | new.keys():
            c, r = diff(
                old.get(name), new.get(name), keys_for, (*path, f"f:{name}"), (*spath, name)
            )
            changed |= c
            removed |= r
        return changed, removed
    keys = keys_for(spath)
    old_items, new_items = _keyed(old, keys), _keyed(new, keys)
    if old_items is not None and new_items is not None and (old_items or new_items):
        for key in old_items.keys() | new_items.keys():
            if key not in new_items:
                removed |= set(leaves(old_items[key], keys_for, (*path, key), spath)) | {
                    (*path, key)
                }
            elif key not in old_items:
                changed |= set(leaves(new_items[key], keys_for, (*path, key), spath)) | {
                    (*path, key)
                }
            else:
                c, r = diff(old_items[key], new_items[key], keys_for, (*path, key), spath)
                changed |= c
                removed |= r
        return changed, removed
    if old == new:
        return changed, removed
    new_leaves = set(leaves(new, keys_for, path, spath)) if new is not None else set()
    old_leaves = set(leaves(old, keys_for, path, spath)) if old is not None else set()
    return new_leaves, old_leaves - new_leaves


def user_fields(paths: FieldSet, subresource: str | None, status_subresource: bool) -> FieldSet:
    """Drop system-managed paths; split status from the rest when status is a subresource."""
    out: FieldSet = set()
    for p in paths:
        if not p or p[0] in {"f:apiVersion", "f:kind"}:
            continue
        if p[0] == "f:metadata" and (len(p) < 2 or p[1] in _SYSTEM_METADATA):
            continue
        if status_subresource and (p[0] == "f:status") != (subresource == "status"):
            continue
        out.add(p)
    return out


def decode(fields: Any, prefix: Path = ()) -> FieldSet:
    out: FieldSet = set()
    if not isinstance(fields, dict):
        return out
    for key, child in fields.items():
        if key == ".":
            out.add(prefix)
        elif isinstance(child, dict) and child:
            out |= decode(child, (*prefix, key))
        else:
            out.add((*prefix, key))
    return out


def encode(paths: FieldSet) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for p in sorted(paths):
        node = root
        for key in p:
            node = node.setdefault(key, {})
    for p in paths:
        node = root
        for key in p:
            node = node[key]
        if node:
            node["."] = {}
    return root


def value_at(obj: Any, path: Path) -> tuple[bool, Any]:
    node = obj
    for key in path:
        if key.startswith("f:") and isinstance(node, dict) and key[2:] in node:
            node = node[key[2:]]
        elif key.startswith("k:") and isinstance(node, list):
            wanted = orjson.loads(key[2:])
            match = next(
                (
                    i
                    for i in node
                    if isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items())
                ),
                None,
            )
            if match is None:
                return False, None
            node = match
        else:
            return False, None
    return True, node


def remove_at(obj: Any, path: Path) -> None:
    if not path:
        return
    found, parent = value_at(obj, path[:-1])
    if not found:
        return
    last = path[-1]
    if last.startswith("f:") and isinstance(parent, dict):
        parent.pop(last[2:], None)
    elif last.startswith("k:") and isinstance(parent, list):
        wanted = orjson.loads(last[2:])
        parent[:] = [
            i
            for i in parent
            if not (isinstance(i, dict) and all(i.get(k) == v for k, v in wanted.items()))
        ]


ManagerKey = tuple[str, str, str]  # manager, operation, subresource


def entries(obj: Obj) -> dict[ManagerKey, tuple[dict[str, Any], FieldSet]]:
    out: dict[ManagerKey, tuple[dict[str, Any], FieldSet]] = {}
    for entry in obj.get("metadata", {}).get("managedFields") or []:
        if not isinstance(entry, dict):
            continue
        key = (
            str(entry.get("manager", "")),
            str(entry.get("operation", "")),
            str(entry.get("subresource", "")),
        )
        out[key] = (entry, decode(entry.get("fieldsV1")))
    return out


def render(
    owned: dict[ManagerKey, tuple[dict[str, Any], FieldSet]],
    changed_by: ManagerKey | None,
    api_version: str,
) -> list[dict[str, Any]]:
    """managedFields entries; only the entry of ``changed_by`` gets a new time."""
    out: list[dict[str, Any]] = []
    for key, (previous, paths) in owned.items():
        if not paths:
            continue
        entry = previous
        if key == changed_by or not previous:
            entry = {
                "manager": key[0],
                "operation": key[1],
                "apiVersion": api_version,
                "time": now_rfc3339(),
                "fieldsType": "FieldsV1",
            }
            if key[2]:
                entry["subresource"] = key[2]
        out.append({**entry, "fieldsV1": encode(paths)})
    return out


def record_update(
    old: Obj | None,
    new: Obj,
    *,
    manager: str,
    subresource: str | None,
    status_subresource: bool,
    keys_for: KeysFor,
    api_version: str,
) -> list[dict[str, Any]]:
    """managedFields after a non-apply write: changed fields move to ``manager``.

    As in the real server, the write starts from the managedFields the request carried (a
    client may rewrite them, as ``kubectl apply --server-side`` does to take over from
    client-side apply; ``[]`` clears them), except on subresources or when the request
    carried none, where it starts from the stored object's."""
    changed, removed = diff(old, new, keys_for)
    changed = user_fields(changed, subresource, status_subresource)
    removed = user_fields(removed, subresource, status_subresource)
    me: ManagerKey = (manager, "Update", subresource or "")
    start = _starting_list(old, new, subresource)
    if not changed and not removed:
        return start
    owned = entries({"metadata": {"managedFields": start}})
    for key, (entry, paths) in owned.items():
        if key != me:
            owned[key] = (entry, paths - changed - removed)
    entry, mine = owned.get(me, ({}, set()))
    owned[me] = (entry, (mine | changed) - removed)
    return render(owned, me if changed else None, api_version)


def _starting_list(old: Obj | None, new: Obj, subresource: str | None) -> list[dict[str, Any]]:
    stored = list(old.get("metadata", {}).get("managedFields") or []) if old else []
    sent = new.get("metadata", {}).get("managedFields")
    if subresource or not isinstance(sent, list):
        return stored
    if sent in ([], [{}]):
        return []
    usable = any(isinstance(e, dict) and e.get("fieldsV1") for e in sent)
    return list(sent) if usable else stored
