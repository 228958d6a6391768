"""HTTP handling of resource requests: query parameters in, JSON (or Table) out."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import yaml
from aiohttp import web

from . import protobuf
from .catalog import Catalog
from .registry import APPLY_PATCH, Registry, WriteOptions, WriteResult
from .requestinfo import RequestInfo, query_bool
from .resources import Obj, ResourceType
from .selectors import Predicate, field_selector, label_selector
from .status import (
    bad_request,
    method_not_allowed,
    path_not_found,
    success_status,
    too_large_resource_version,
    unknown_format,
)
from .tables import table, wants_table
from .watchstream import Render, WatchSettings, WatchStream, parse_watch, plain_render
from .yamlbody import load_yaml

SUBRESOURCES = {"status"}


def json_response(body: Any, status: int = 200, warnings: list[str] | None = None) -> web.Response:
    headers = {"Content-Type": "application/json"}
    if warnings:
        headers["Warning"] = ", ".join(
            '299 - "' + w.replace("\\", "\\\\").replace('"', '\\"') + '"' for w in warnings
        )
    return web.Response(body=orjson.dumps(body), status=status, headers=headers)


def manager_name(request: web.Request) -> str:
    explicit = request.query.get("fieldManager")
    if explicit:
        if len(explicit) > 128:
            raise bad_request("fieldManager: Too long: may not be more than 128 bytes")
        return explicit
    agent = request.headers.get("User-Agent", "")
    return agent.split("/", 1)[0] or "unknown"


async def read_body(request: web.Request) -> Any:
    raw = await request.read()
    if not raw:
        return None
    content_type = request.headers.get("Content-Type", "application/json")
    try:
        if "yaml" in content_type:
            return load_yaml(raw)
        if content_type.split(";")[0].strip() == protobuf.MEDIA_TYPE:
            return protobuf.decode_object(raw)
        if "protobuf" in content_type:
            raise unknown_format(
                "accepted media types include: application/json, application/yaml, "
                f"{protobuf.MEDIA_TYPE} (got {content_type})"
            )
        return orjson.loads(raw)
    except (orjson.JSONDecodeError, yaml.YAMLError) as exc:
        raise bad_request(f"error decoding request body: {exc}") from None


class ResourceAPI:
    def __init__(
        self,
        registry: Registry,
        catalog: Catalog,
        watch_settings: WatchSettings,
        gate: Callable[[], Awaitable[None]],
    ) -> None:
        self.registry = registry
        self.catalog = catalog
        self.watches = WatchStream(registry.store, watch_settings, gate)

    def resource_type(self, info: RequestInfo) -> ResourceType:
        rt = self.catalog.get(info.group, info.version, info.resource)
        if rt is None:
            raise path_not_found()
        if info.subresource is not None:
            allowed = (info.subresource == "status" and rt.status_subresource) or (
                info.subresource == "finalize" and rt.kind == "Namespace" and not rt.group
            )
            if not allowed:
                raise path_not_found()
        return rt

    def _scope(self, rt: ResourceType, info: RequestInfo) -> tuple[str | None, str | None]:
        """(namespace, name) as the registry wants them; 404 for impossible combinations."""
        if not rt.namespaced:
            if info.namespace is not None and rt.kind != "Namespace":
                raise path_not_found()
            return None, info.name
        if info.namespace is None and info.verb not in ("list", "watch"):
            raise path_not_found()
        return info.namespace, info.name

    def _options(self, request: web.Request) -> WriteOptions:
        dry_run = request.query.getall("dryRun", [])
        if any(v != "All" for v in dry_run):
            raise bad_request(f"unsupported dryRun value(s): {dry_run}; only All")
        return WriteOptions(
            manager=manager_name(request),
            dry_run=bool(dry_run),
            field_validation=request.query.get("fieldValidation", "Warn"),
        )

    def _selectors(self, rt: ResourceType, request: web.Request, name: str | None) -> Predicate:
        labels = label_selector(request.query.get("labelSelector"))
        fields = field_selector(request.query.get("fieldSelector"), rt)
        if name is None:
            return lambda o: labels(o) and fields(o)
        return lambda o: o["metadata"].get("name") == name and labels(o) and fields(o)

    async def handle(self, request: web.Request, info: RequestInfo) -> web.StreamResponse:
        rt = self.resource_type(info)
        if info.verb not in rt.verbs and info.subresource is None:
            raise method_not_allowed(info.verb, rt.plural, rt.group)
        namespace, name = self._scope(rt, info)
        verb = info.verb
        if verb in ("list", "watch"):
            return await self._list_or_watch(request, rt, namespace, name, verb)
        if verb == "get":
            assert name is not None
            return self._respond(request, rt, self.registry.get(rt, namespace, name))
        if verb == "create":
            if info.subresource is not None:
                raise method_not_allowed(verb, rt.plural, rt.group)
            result = self.registry.create(
                rt, namespace, await read_body(request), self._options(request)
            )
            return self._written(request, rt, result, 201)
        if verb == "update":
            assert name is not None
            result = self.registry.update(
                rt,
                namespace,
                name,
                await read_body(request),
                opts=self._options(request),
                subresource=info.subresource,
            )
            return self._written(request, rt, result, 201 if result.created else 200)
        if verb == "patch":
            assert name is not None
            force = query_bool(request.query.get("force"))
            content_type = request.headers.get("Content-Type", "").split(";")[0].strip()
            if content_type == APPLY_PATCH and not request.query.get("fieldManager"):
                raise bad_request("fieldManager: Required value: is required for apply patch")
            result = self.registry.patch(
                rt,
                namespace,
                name,
                content_type,
                await request.read(),
                opts=self._options(request),
                subresource=info.subresource,
                force=force,
            )
            return self._written(request, rt, result, 201 if result.created else 200)
        if verb == "delete":
            assert name is not None
            result = self.registry.delete(
                rt, namespace, name, await self._delete_options(request), self._options(request)
            )
            return self._deleted(rt, result)
        if verb == "deletecollection":
            deleted = self.registry.delete_collection(
                rt,
                namespace,
                self._selectors(rt, request, None),
                await self._delete_options(request),
                self._options(request),
            )
            return json_response(
                {
                    "kind": rt.list_kind,
                    "apiVersion": rt.api_version,
                    "metadata": {},
                    "items": deleted,
                }
            )
        raise method_not_allowed(verb, rt.plural, rt.group)

    async def _delete_options(self, request: web.Request) -> dict[str, Any]:
        body = await read_body(request)
        options: dict[str, Any] = dict(body) if isinstance(body, dict) else {}
        if "propagationPolicy" in request.query:
            options["propagationPolicy"] = request.query["propagationPolicy"]
        if "orphanDependents" in request.query:
            options["orphanDependents"] = query_bool(request.query["orphanDependents"])
        return options

    def _respond(
        self,
        request: web.Request,
        rt: ResourceType,
        obj: Obj,
        status: int = 200,
        warnings: list[str] | None = None,
    ) -> web.Response:
        if wants_table(request.headers.get("Accept", "")):
            include = request.query.get("includeObject", "Metadata")
            body = table(
                rt, [obj], {"resourceVersion": obj["metadata"].get("resourceVersion", "")}, include
            )
            return json_response(body, status, warnings)
        return json_response(obj, status, warnings)

    def _written(
        self, request: web.Request, rt: ResourceType, result: WriteResult, status: int
    ) -> web.Response:
        return self._respond(request, rt, result.obj, status, result.warnings)

    def _deleted(self, rt: ResourceType, result: WriteResult) -> web.Response:
        obj = result.obj
        still_there = self.registry.store.get(
            rt.storage,
            self.registry.key(rt, obj["metadata"].get("namespace"), obj["metadata"]["name"]),
        )
        if still_there is not None and still_there["metadata"].get("uid") == obj["metadata"]["uid"]:
            return json_response(obj, 202 if obj["metadata"].get("deletionTimestamp") else 200)
        if rt.return_deleted_object:
            return json_response(obj)
        return json_response(
            success_status(obj["metadata"]["name"], rt.group, rt.plural, obj["metadata"]["uid"])
        )

    async def _list_or_watch(
        self,
        request: web.Request,
        rt: ResourceType,
        namespace: str | None,
        name: str | None,
        verb: str,
    ) -> web.StreamResponse:
        matches = self._selectors(rt, request, name)
        query = dict(request.query)
        as_table = wants_table(request.headers.get("Accept", ""))
        include = query.get("includeObject", "Metadata")
        if verb == "watch":
            req = parse_watch(rt, namespace, matches, query, self.watches.settings)
            render: Render = plain_render(rt)
            if as_table:

                def render(kind: str, obj: Obj, first: bool) -> bytes:
                    view = obj if rt.same_form else rt.encode(obj)
                    meta = {"resourceVersion": view["metadata"].get("resourceVersion", "")}
                    return orjson.dumps(
                        {"type": kind, "object": table(rt, [view], meta, include, headers=first)}
                    )

            return await self.watches.serve(request, req, render, shared_render=not as_table)
        rv = query.get("resourceVersion", "")
        if rv not in ("", "0"):
            if not rv.isdigit():
                raise bad_request(f"invalid resourceVersion: {rv!r}")
            if int(rv) > self.registry.store.rv:
                raise too_large_resource_version(int(rv), self.registry.store.rv)
        try:
            limit = int(query.get("limit") or 0)
        except ValueError:
            raise bad_request(f"invalid limit: {query.get('limit')!r}") from None
        page = self.registry.list_page(
            rt, namespace, matches, limit=limit, token=query.get("continue") or None
        )
        meta: dict[str, Any] = {"resourceVersion": str(page.rv)}
        if page.continue_token:
            meta["continue"] = page.continue_token
            if (
                page.remaining is not None
                and query.get("labelSelector") is None
                and query.get("fieldSelector") is None
            ):
                meta["remainingItemCount"] = page.remaining
        if as_table:
            return json_response(table(rt, page.items, meta, include))
        return json_response(
            {
                "kind": rt.list_kind,
                "apiVersion": rt.api_version,
                "metadata": meta,
                "items": page.items,
            }
        )
