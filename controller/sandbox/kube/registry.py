"""REST semantics of the API server on top of the store (everything after authn/authz).

All operations are synchronous: a read-modify-write never awaits, so within the event loop it is
atomic and optimistic concurrency only has to check the resourceVersion the client sent.

Invariants (see kube-runtime.md §4.4):
- PUT with a stale RV → 409; without one on kinds that forbid unconditional updates → 422.
- With a status subresource, the main endpoint never changes status and ``/status`` changes
  nothing but status.
- ``metadata.generation`` bumps when anything outside metadata changes (not via ``/status``).
- A write that changes nothing neither bumps the RV nor emits an event.
- Objects with finalizers are only marked for deletion; the update that empties the finalizers
  removes them.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import orjson
import yaml

from . import fields
from .apply import server_side_apply
from .catalog import Catalog
from .meta import generated_name, metadata_causes, new_uid, now_rfc3339
from .patch import json_patch, merge_patch, strategic_merge_patch
from .resources import Obj, ResourceType
from .selectors import Predicate
from .status import (
    OPTIMISTIC_LOCK,
    Cause,
    StatusError,
    already_exists,
    bad_request,
    conflict,
    forbidden,
    invalid,
    not_found,
    unsupported_media_type,
)
from .store import Page, Store
from .yamlbody import load_yaml

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
PATCH_TYPES = (JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH, APPLY_PATCH)

_IMMUTABLE_META = ("uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds")


@dataclass(frozen=True, slots=True)
class WriteOptions:
    manager: str
    dry_run: bool = False
    #: Strict | Warn | Ignore (fieldValidation); unknown fields are pruned unless Strict
    field_validation: str = "Warn"


@dataclass(slots=True)
class WriteResult:
    obj: Obj
    created: bool = False
    warnings: list[str] = field(default_factory=list)


def pending_finalizers(obj: Obj) -> list[str]:
    """metadata.finalizers, plus spec.finalizers for Namespaces (the namespace controller's)."""
    pending = list(obj["metadata"].get("finalizers") or [])
    if obj.get("kind") == "Namespace" and obj.get("apiVersion") == "v1":
        pending += list((obj.get("spec") or {}).get("finalizers") or [])
    return pending


def _without_metadata(obj: Obj) -> Obj:
    return {k: v for k, v in obj.items() if k != "metadata"}


def _field_validation(mode: str) -> str:
    if mode not in {"Strict", "Warn", "Ignore"}:
        raise bad_request(f"fieldValidation must be one of Strict, Warn, Ignore; got {mode!r}")
    return mode


class Registry:
    def __init__(self, store: Store, catalog: Catalog) -> None:
        self.store = store
        self.catalog = catalog

    # -- helpers -------------------------------------------------------------------------

    @staticmethod
    def key(rt: ResourceType, namespace: str | None, name: str) -> str:
        return f"{namespace}/{name}" if rt.namespaced else name

    def view(self, rt: ResourceType, stored: Obj) -> Obj:
        return stored if rt.same_form else rt.encode(stored)

    def _stored(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        stored = self.store.get(rt.storage, self.key(rt, namespace, name))
        if stored is None:
            raise not_found(rt.plural, rt.group, name)
        return stored

    def _incoming(
        self, rt: ResourceType, namespace: str | None, body: Any, name: str | None
    ) -> Obj:
        if not isinstance(body, dict):
            raise bad_request("the request body must be a JSON object")
        api_version, kind = body.get("apiVersion"), body.get("kind")
        if api_version not in (None, "", rt.api_version):
            raise bad_request(
                f"the API version in the data ({api_version}) does not match the expected API "
                f"version ({rt.api_version})"
            )
        if kind not in (None, "", rt.kind):
            raise bad_request(
                f"the kind in the data ({kind}) does not match the expected kind ({rt.kind})"
            )
        obj: Obj = {"apiVersion": rt.api_version, "kind": rt.kind, **body}
        obj["apiVersion"], obj["kind"] = rt.api_version, rt.kind
        meta = obj.get("metadata")
        if meta is None:
            meta = {}
        if not isinstance(meta, dict):
            raise bad_request("metadata must be an object")
        meta = obj["metadata"] = dict(meta)
        if rt.namespaced:
            if meta.get("namespace") not in (None, "", namespace):
                raise bad_request(
                    "the namespace of the provided object does not match the "
                    "namespace sent on the request"
                )
            meta["namespace"] = namespace
        else:
            meta.pop("namespace", None)
        if name is not None:
            if meta.get("name") not in (None, "", name):
                raise bad_request(
                    "the name of the object "
                    f"({meta.get('name')}) does not match the name on the URL ({name})"
                )
            meta["name"] = name
        return obj

    def _require_namespace(self, rt: ResourceType, namespace: str | None) -> None:
        if not rt.namespaced:
            return
        assert namespace is not None
        ns = self.store.get("namespaces", namespace)
        if ns is None:
            raise not_found("namespaces", "", namespace)
        if ns["metadata"].get("deletionTimestamp"):
            raise forbidden(
                f'{rt.kind.lower()} "" is forbidden: unable to create new content in namespace '
                f"{namespace} because it is being terminated",
                None,
                rt.group,
                rt.plural,
            )

    def _admit(self, rt: ResourceType, new: Obj, old: Obj | None, opts: WriteOptions) -> list[str]:
        """Run the kind's admission (defaults, pruning, schema); 422 on problems."""
        causes: list[Cause] = metadata_causes(new["metadata"], name_rule=rt.name_rule)
        admission = rt.admit(new, old)
        causes += admission.causes
        warnings: list[str] = []
        if admission.unknown_fields:
            if opts.field_validation == "Strict":
                listed = ", ".join(f'unknown field "{f}"' for f in admission.unknown_fields)
                raise bad_request(f"strict decoding error: {listed}")
            if opts.field_validation == "Warn":
                warnings = [f'unknown field "{f}"' for f in admission.unknown_fields]
        if causes:
            raise invalid(rt.kind, rt.group, new["metadata"].get("name", ""), causes)
        return warnings + admission.warnings

    def _managed(
        self,
        rt: ResourceType,
        old: Obj | None,
        new: Obj,
        opts: WriteOptions,
        *,
        subresource: str | None,
    ) -> None:
        new["metadata"]["managedFields"] = fields.record_update(
            old,
            new,
            manager=opts.manager,
            subresource=subresource,
            status_subresource=rt.status_subresource,
            keys_for=fields.keys_lookup(rt.map_list_keys),
            api_version=rt.api_version,
        )
        if not new["metadata"]["managedFields"]:
            del new["metadata"]["managedFields"]

    # -- reads ---------------------------------------------------------------------------

    def get(self, rt: ResourceType, namespace: str | None, name: str) -> Obj:
        return self.view(rt, self._stored(rt, namespace, name))

    def list_page(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Predicate,
        *,
        limit: int,
        token: str | None,
    ) -> Page:
        if rt.same_form:
            return self.store.page(rt.storage, namespace, matches, limit=limit, token=token)
        page = self.store.page(
            rt.storage, namespace, lambda o: matches(rt.encode(o)), limit=limit, token=token
        )
        page.items = [rt.encode(o) for o in page.items]
        return page

    # -- create --------------------------------------------------------------------------

    def create(
        self,
        rt: ResourceType,
        namespace: str | None,
        body: Any,
        opts: WriteOptions,
        *,
        managed: list[dict[str, Any]] | None = None,
    ) -> WriteResult:
        _field_validation(opts.field_validation)
        obj = self._incoming(rt, namespace, body, None)
        meta = obj["metadata"]
        if meta.get("resourceVersion"):
            raise bad_request("resourceVersion should not be set on objects to be created")
        if not meta.get("name"):
            if not meta.get("generateName"):
                raise invalid(
                    rt.kind,
                    rt.group,
                    "",
                    [
                        Cause(
                            "FieldValueRequired",
                            "Required value: name or generateName is required",
                            "metadata.name",
                        )
                    ],
                )
            meta["name"] = generated_name(meta["generateName"])
        self._require_namespace(rt, namespace)
        existing = self.store.get(rt.storage, self.key(rt, namespace, meta["name"]))
        if existing is not None:
            raise already_exists(
                rt.plural,
                rt.group,
                meta["name"],
                deleting=bool(existing["metadata"].get("deletionTimestamp")),
            )
        meta["uid"] = new_uid()
        meta["creationTimestamp"] = now_rfc3339()
        for key in ("deletionTimestamp", "deletionGracePeriodSeconds", "managedFields"):
            meta.pop(key, None)
        if rt.generation:
            meta["generation"] = 1
        else:
            meta.pop("generation", None)
        if rt.status_subresource:
            obj.pop("status", None)
        warnings = self._admit(rt, obj, None, opts)
        if managed is None:
            self._managed(rt, None, obj, opts, subresource=None)
        elif managed:
            meta["managedFields"] = managed
        if opts.dry_run:
            return WriteResult(obj, created=True, warnings=warnings)
        stored = self.store.put(rt.storage, obj if rt.same_form else rt.decode(obj))
        return WriteResult(self.view(rt, stored), created=True, warnings=warnings)

    # -- update --------------------------------------------------------------------------

    def update(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        body: Any,
        *,
        opts: WriteOptions,
        subresource: str | None = None,
    ) -> WriteResult:
        _field_validation(opts.field_validation)
        new = self._incoming(rt, namespace, body, name)
        stored = self.store.get(rt.storage, self.key(rt, namespace, name))
        if stored is None:
            if rt.create_on_update and subresource is None:
                return self.create(rt, namespace, new, opts)
            raise not_found(rt.plural, rt.group, name)
        old = self.view(rt, stored)
        sent = new["metadata"].get("resourceVersion")
        if not sent:
            if not rt.unconditional_update:
                raise invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        Cause(
                            "FieldValueInvalid",
                            "Invalid value: 0x0: must be specified for an update",
                            "metadata.resourceVersion",
                        )
                    ],
                )
        elif sent != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name, OPTIMISTIC_LOCK)
        return self._update(rt, old, new, opts, subresource=subresource)

    def _update(
        self,
        rt: ResourceType,
        old: Obj,
        new: Obj,
        opts: WriteOptions,
        *,
        subresource: str | None,
        managed: list[dict[str, Any]] | None = None,
    ) -> WriteResult:
        old_meta = old["metadata"]
        name = old_meta["name"]
        uid = new["metadata"].get("uid")
        if uid and uid != old_meta["uid"]:
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {uid}, UID in object meta: "
                f"{old_meta['uid']}",
            )
        if subresource == "status":
            status = new.get("status")
            new = {**old, "metadata": dict(old_meta)}
            if status is None:
                new.pop("status", None)
            else:
                new["status"] = status
        elif subresource == "finalize":
            finalizers = (new.get("spec") or {}).get("finalizers") or []
            new = {
                **old,
                "metadata": dict(old_meta),
                "spec": {**(old.get("spec") or {}), "finalizers": finalizers},
            }
        else:
            meta = new["metadata"]
            for key in _IMMUTABLE_META:
                if key in old_meta:
                    meta[key] = old_meta[key]
                else:
                    meta.pop(key, None)
            if "generation" in old_meta:
                meta["generation"] = old_meta["generation"]
            if rt.status_subresource:
                if "status" in old:
                    new["status"] = old["status"]
                else:
                    new.pop("status", None)
            if "managedFields" not in meta and "managedFields" in old_meta:
                meta["managedFields"] = old_meta["managedFields"]
            if new.get("kind") == "Namespace" and not rt.group:
                # only namespaces/finalize may change the namespace controller's finalizers
                new["spec"] = {
                    **(new.get("spec") or {}),
                    "finalizers": (old.get("spec") or {}).get("finalizers", []),
                }
        meta = new["metadata"]
        meta["resourceVersion"] = old_meta["resourceVersion"]
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or []) - set(old_meta.get("finalizers") or [])
            if added:
                raise invalid(
                    rt.kind,
                    rt.group,
                    name,
                    [
                        Cause(
                            "FieldValueForbidden",
                            "Forbidden: no new finalizers can be added if the object is being "
                            "deleted, "
                            f"found new finalizers {sorted(added)!r}",
                            "metadata.finalizers",
                        )
                    ],
                )
        warnings = self._admit(rt, new, old, opts)
        if (
            rt.generation
            and subresource != "status"
            and _without_metadata(new) != _without_metadata(old)
        ):
            meta["generation"] = int(old_meta.get("generation", 0)) + 1
        if managed is not None:
            meta["managedFields"] = managed
        else:
            self._managed(rt, old, new, opts, subresource=subresource)
        if new == old:
            return WriteResult(old, warnings=warnings)
        if opts.dry_run:
            return WriteResult(new, warnings=warnings)
        stored_new = new if rt.same_form else rt.decode(new)
        if old_meta.get("deletionTimestamp") and not pending_finalizers(new):
            final = self.store.remove(
                rt.storage, self.key(rt, meta.get("namespace"), name), final=stored_new
            )
            return WriteResult(self.view(rt, final), warnings=warnings)
        return WriteResult(self.view(rt, self.store.put(rt.storage, stored_new)), warnings=warnings)

    # -- patch ---------------------------------------------------------------------------

    def patch(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        content_type: str,
        raw: bytes,
        *,
        opts: WriteOptions,
        subresource: str | None = None,
        force: bool = False,
    ) -> WriteResult:
        _field_validation(opts.field_validation)
        if content_type not in PATCH_TYPES or (
            content_type == STRATEGIC_MERGE_PATCH and not rt.strategic_merge
        ):
            raise unsupported_media_type(content_type)
        try:
            body = load_yaml(raw) if content_type == APPLY_PATCH else orjson.loads(raw)
        except (yaml.YAMLError, orjson.JSONDecodeError) as exc:
            raise bad_request(f"error decoding patch: {exc}") from None
        stored = self.store.get(rt.storage, self.key(rt, namespace, name))
        if content_type == APPLY_PATCH:
            return self._apply(
                rt, namespace, name, stored, body, opts=opts, subresource=subresource, force=force
            )
        if stored is None:
            raise not_found(rt.plural, rt.group, name)
        old = self.view(rt, stored)
        if content_type == JSON_PATCH:
            patched = json_patch(old, body)
        elif content_type == MERGE_PATCH:
            patched = merge_patch(old, body)
        else:
            patched = strategic_merge_patch(old, body, rt.kind)
        return self._patched(
            rt, namespace, name, old, patched, opts=opts, subresource=subresource, managed=None
        )

    def _patched(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        old: Obj,
        patched: Any,
        *,
        opts: WriteOptions,
        subresource: str | None,
        managed: list[dict[str, Any]] | None,
    ) -> WriteResult:
        new = self._incoming(rt, namespace, patched, name)
        sent = new["metadata"].get("resourceVersion")
        if sent and sent != old["metadata"]["resourceVersion"]:
            raise conflict(rt.plural, rt.group, name, OPTIMISTIC_LOCK)
        return self._update(rt, old, new, opts, subresource=subresource, managed=managed)

    def _apply(
        self,
        rt: ResourceType,
        namespace: str | None,
        name: str,
        stored: Obj | None,
        config: Any,
        *,
        opts: WriteOptions,
        subresource: str | None,
        force: bool,
    ) -> WriteResult:
        if not isinstance(config, dict):
            raise bad_request("apply patch must be a YAML or JSON object")
        if config.get("apiVersion") != rt.api_version or config.get("kind") != rt.kind:
            raise bad_request(
                f"apply configuration must set apiVersion {rt.api_version!r} and kind {rt.kind!r}"
            )
        if (config.get("metadata") or {}).get("name") not in (None, name):
            raise bad_request("the name of the object does not match the name on the URL")
        old = self.view(rt, stored) if stored is not None else None
        if old is None and subresource is not None:
            raise not_found(rt.plural, rt.group, name)
        result = server_side_apply(
            old,
            config,
            manager=opts.manager,
            force=force,
            subresource=subresource,
            status_subresource=rt.status_subresource,
            keys_for=fields.keys_lookup(rt.map_list_keys),
            api_version=rt.api_version,
        )
        managed = result["metadata"].pop("managedFields")
        if old is None:
            result.setdefault("metadata", {})["name"] = name
            return self.create(rt, namespace, result, opts, managed=managed)
        result["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        return self._patched(
            rt, namespace, name, old, result, opts=opts, subresource=subresource, managed=managed
        )

    # -- delete --------------------------------------------------------------------------

    def delete(
        self, rt: ResourceType, namespace: str | None, name: str, options: Any, opts: WriteOptions
    ) -> WriteResult:
        options = options if isinstance(options, dict) else {}
        stored = self._stored(rt, namespace, name)
        old = self.view(rt, stored)
        meta = old["metadata"]
        pre = options.get("preconditions") or {}
        if pre.get("uid") and pre["uid"] != meta["uid"]:
            raise conflict(
                rt.plural,
                rt.group,
                name,
                f"Precondition failed: UID in precondition: {pre['uid']}, UID in "
                f"object meta: {meta['uid']}",
            )
        if pre.get("resourceVersion") and pre["resourceVersion"] != meta["resourceVersion"]:
            raise conflict(
                rt.plural,
                rt.group,
                name,
                "Precondition failed: ResourceVersion in precondition: "
                f"{pre['resourceVersion']}, ResourceVersion in object meta: "
                f"{meta['resourceVersion']}",
            )
        policy = options.get("propagationPolicy")
        if policy is None and options.get("orphanDependents") is True:
            policy = "Orphan"
        if policy not in (None, "Background", "Foreground", "Orphan"):
            raise bad_request(f"unsupported propagationPolicy {policy!r}")
        finalizers = list(meta.get("finalizers") or [])
        extra = {"Foreground": "foregroundDeletion", "Orphan": "orphan"}.get(policy or "")
        if extra and extra not in finalizers:
            finalizers.append(extra)
        marked = copy.deepcopy(old)
        marked["metadata"]["finalizers"] = finalizers
        if not finalizers:
            marked["metadata"].pop("finalizers")
        if not pending_finalizers(marked):
            if opts.dry_run:
                return WriteResult(old)
            final = self.store.remove(rt.storage, self.key(rt, namespace, name))
            return WriteResult(self.view(rt, final))
        if meta.get("deletionTimestamp") and finalizers == list(meta.get("finalizers") or []):
            return WriteResult(old)
        mmeta = marked["metadata"]
        mmeta.setdefault("deletionTimestamp", now_rfc3339())
        mmeta.setdefault("deletionGracePeriodSeconds", 0)
        if rt.generation and not meta.get("deletionTimestamp"):
            mmeta["generation"] = int(meta.get("generation", 0)) + 1
        if marked.get("kind") == "Namespace":
            marked["status"] = {**(marked.get("status") or {}), "phase": "Terminating"}
        if opts.dry_run:
            return WriteResult(marked)
        stored_new = marked if rt.same_form else rt.decode(marked)
        return WriteResult(self.view(rt, self.store.put(rt.storage, stored_new)))

    def delete_collection(
        self,
        rt: ResourceType,
        namespace: str | None,
        matches: Predicate,
        options: Any,
        opts: WriteOptions,
    ) -> list[Obj]:
        page = self.list_page(rt, namespace, matches, limit=0, token=None)
        deleted: list[Obj] = []
        for obj in page.items:
            meta = obj["metadata"]
            try:
                deleted.append(
                    self.delete(rt, meta.get("namespace"), meta["name"], options, opts).obj
                )
            except StatusError as exc:
                if exc.code != 404:
                    raise
        return deleted
