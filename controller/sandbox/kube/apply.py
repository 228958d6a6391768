"""Server-side apply (``application/apply-patch+yaml``) over managed field sets.

Rules kept from the real server:
- the applier owns exactly the fields in its latest applied configuration;
- a field it owned before and no longer applies is removed, unless another manager owns it;
- applying a field another manager owns with a different value is a 409 conflict unless
  ``force``, which takes the field over; equal values are shared ownership.
"""

from __future__ import annotations

import copy
from typing import Any

from . import fields
from .fields import FieldSet, KeysFor, ManagerKey
from .resources import Obj
from .status import Cause, StatusError


def _merge(current: Any, applied: Any, keys_for: KeysFor, spath: tuple[str, ...]) -> Any:
    if isinstance(applied, dict) and isinstance(current, dict):
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


def _conflict_error(conflicts: list[tuple[str, fields.Path]]) -> StatusError:
    def dotted(path: fields.Path) -> str:
        return "".join(f".{p[2:]}" if p.startswith("f:") else f"[{p[2:]}]" for p in path)

    causes = [
        Cause("FieldManagerConflict", f'conflict with "{m}"', dotted(p)) for m, p in conflicts
    ]
    lines = "\n".join(f"- {c.message}: {c.field}" for c in causes)
    plural = "conflict" if len(causes) == 1 else "conflicts"
    return StatusError(
        409, "Conflict", f"Apply failed with {len(causes)} {plural}: {lines}", causes=causes
    )


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
    conflicts: list[tuple[str, fields.Path]] = []
    for key, (_, paths) in owned.items():
        if key == me or key[0] == manager or key[2] != me[2]:
            continue
        for path in paths & applied:
            if fields.value_at(old, path) != fields.value_at(config, path):
                if force:
                    paths.discard(path)
                else:
                    conflicts.append((key[0], path))
    if conflicts:
        raise _conflict_error(sorted(conflicts))
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
    result.setdefault("metadata", {})["managedFields"] = fields.render(
        owned, changed_by, api_version
    )
    return result
