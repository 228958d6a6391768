"""Server-side apply (``application/apply-patch+yaml``) over managed field sets.

Rules kept from the real server:
- the applier owns exactly the fields in its latest applied configuration;
- a field it owned before and no longer applies is removed, unless another manager owns it;
- applying a field another manager owns with a different value is a 409 conflict unless
  ``force``, which takes the field over; equal values are shared ownership;
- the upgrade from client-side apply (``lastAppliedManager``/``lastAppliedUpdater``): for the
  manager ``kubectl``, conflicts on fields whose value is still the one in the
  ``last-applied-configuration`` annotation are forced, and after the apply that annotation
  holds the applied configuration.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from . import fields
from .fields import ATOMIC, FieldSet, KeysFor, ManagerKey
from .resources import Obj
from .status import Cause, StatusError

LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
UPGRADING_MANAGER = "kubectl"


def _merge(current: Any, applied: Any, keys_for: KeysFor, spath: tuple[str, ...]) -> Any:
    if isinstance(applied, dict) and isinstance(current, dict) and keys_for(spath) != ATOMIC:
        out = dict(current)
        for name, value in applied.items():
            out[name] = _merge(current.get(name), value, keys_for, (*spath, name))
        return out
    keys = keys_for(spath)
    if keys and isinstance(applied, list) and isinstance(current, list):

        def ident(item: Any) -> Any:
            return tuple(item.get(k) for k in keys) if isinstance(item, dict) else None

        merged = [copy.deepcopy(i) for i in current]
        positions = {ident(i): n for n, i in enumerate(merged)}
        for item in applied:
            n = positions.get(ident(item))
            if n is None:
                merged.append(copy.deepcopy(item))
            else:
                merged[n] = _merge(merged[n], item, keys_for, spath)
        return merged
    return copy.deepcopy(applied)


def _path_text(path: fields.Path) -> str:
    """A field path as structured-merge-diff prints it: ``.spec.containers[name="app"]``."""
    out = []
    for part in path:
        if part.startswith("f:"):
            out.append(f".{part[2:]}")
        elif part.startswith("k:"):
            key = orjson.loads(part[2:])
            out.append(
                "[" + ",".join(f"{k}={orjson.dumps(v).decode()}" for k, v in key.items()) + "]"
            )
        else:
            out.append(f"[={part[2:]}]")
    return "".join(out)


def _manager_text(key: ManagerKey, entry: dict[str, Any]) -> str:
    """How the real server names a conflicting manager: Update managers with their
    apiVersion, subresource managers with their subresource."""
    text = orjson.dumps(key[0]).decode()
    if key[2]:
        text += f' with subresource "{key[2]}"'
    if key[1] == "Update":
        text += f" using {entry.get('apiVersion', '')}"
    return text


Conflict = tuple[ManagerKey, dict[str, Any], fields.Path]


def _conflict_error(conflicts: list[Conflict]) -> StatusError:
    causes = [
        Cause("FieldManagerConflict", f"conflict with {_manager_text(k, e)}", _path_text(p))
        for k, e, p in conflicts
    ]
    if len(conflicts) == 1:
        message = f"Apply failed with 1 conflict: {causes[0].message}: {causes[0].field}"
    else:
        by_manager: dict[str, list[str]] = {}
        for key, entry, path in conflicts:
            by_manager.setdefault(_manager_text(key, entry), []).append(_path_text(path))
        lines = [
            line
            for manager in sorted(by_manager)
            for line in (f"conflicts with {manager}:", *(f"- {p}" for p in by_manager[manager]))
        ]
        message = f"Apply failed with {len(conflicts)} conflicts: " + "\n".join(lines)
    return StatusError(409, "Conflict", message, causes=causes)


def _allowed_by_last_applied(old: Obj, keys_for: KeysFor, api_version: str) -> FieldSet:
    """Fields a client-side apply set (its last-applied annotation) that still hold the value
    it set: ``kubectl apply --server-side`` may take these over without a conflict."""
    raw = ((old.get("metadata") or {}).get("annotations") or {}).get(LAST_APPLIED)
    try:
        last = orjson.loads(raw) if isinstance(raw, str) else None
    except orjson.JSONDecodeError:
        return set()
    if not isinstance(last, dict) or last.get("apiVersion") != api_version:
        return set()
    return {
        path
        for path in fields.leaves(last, keys_for)
        if fields.value_at(last, path) == fields.value_at(old, path)
    }


def _last_applied(config: Obj) -> str:
    """The annotation value the real server writes after ``kubectl apply --server-side``:
    the applied configuration without the annotation itself."""
    body = copy.deepcopy(config)
    annotations = (body.get("metadata") or {}).get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
    return orjson.dumps(body, option=orjson.OPT_SORT_KEYS).decode() + "\n"


def server_side_apply(
    old: Obj | None,
    config: Obj,
    *,
    manager: str,
    force: bool,
    subresource: str | None,
    status_subresource: bool,
    keys_for: KeysFor,
    api_version: str,
) -> Obj:
    """The object after applying ``config``, with its new managedFields."""
    applied = fields.user_fields(
        set(fields.leaves(config, keys_for)), subresource, status_subresource
    )
    owned = fields.entries(old) if old is not None else {}
    me: ManagerKey = (manager, "Apply", subresource or "")
    conflicts: list[Conflict] = []
    for key, (entry, paths) in owned.items():
        if key == me or key[0] == manager or key[2] != me[2]:
            continue
        # a list item's own path only records membership: its fields carry the values
        conflicts += [
            (key, entry, path)
            for path in sorted(paths & applied)
            if not path[-1].startswith("k:")
            and fields.value_at(old, path) != fields.value_at(config, path)
        ]
    if conflicts and not force and manager == UPGRADING_MANAGER and old is not None:
        allowed = _allowed_by_last_applied(old, keys_for, api_version)
        force = all(path in allowed for _, _, path in conflicts)
        if not force:
            conflicts = [c for c in conflicts if c[2] not in allowed]
    if conflicts and not force:
        raise _conflict_error(conflicts)
    for key, _, path in conflicts:
        owned[key][1].discard(path)
    result: Obj = copy.deepcopy(old) if old is not None else {}
    _, previous = owned.get(me, ({}, set()))
    others: FieldSet = set().union(*(p for k, (_, p) in owned.items() if k != me))
    for path in sorted(previous - applied - others, key=len, reverse=True):
        fields.remove_at(result, path)
    body = copy.deepcopy(config)
    if status_subresource:
        if subresource == "status":
            body = {"status": body.get("status", {})}
        else:
            body.pop("status", None)
    result = _merge(result, body, keys_for, ())
    entry, _ = owned.get(me, ({}, set()))
    owned[me] = (entry, applied)
    # re-applying the same field set keeps the entry (and its time): a no-op stays a no-op
    changed_by = me if applied != previous or not entry else None
    metadata = result.setdefault("metadata", {})
    metadata["managedFields"] = fields.render(owned, changed_by, api_version)
    annotations = metadata.get("annotations") or {}
    if manager == UPGRADING_MANAGER and annotations.get(LAST_APPLIED):
        metadata["annotations"] = {**annotations, LAST_APPLIED: _last_applied(config)}
    return result
