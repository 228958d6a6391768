"""``KubeAPIServer``: the emulated kube-apiserver, in-process (``async with``) or as a CLI.

Request pipeline: authenticate (bearer token) → admin endpoints → fault injection →
authorize (RBAC, when enabled) → discovery / resource handlers; every request is counted by
(user, verb, resource, code).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import yaml
from aiohttp import web

from . import discovery, kubeconfig, openapi, reviews
from .auth import ADMIN_USER, ANONYMOUS, Authenticator, User, impersonated
from .builtins import builtin_types
from .catalog import Catalog
from .crd import CRDController, crd_resource_type
from .events import events_v1
from .faults import Faults
from .gc import GarbageCollector
from .handlers import ResourceAPI, json_response, read_body
from .rbac import RBACAuthorizer, bootstrap_objects, forbidden_error
from .registry import Registry, WriteOptions
from .requestinfo import RequestInfo, parse, query_bool, with_selected_name
from .resources import Obj, ResourceType
from .status import StatusError, bad_request, internal_error, path_not_found, unauthorized
from .store import Store
from .tls import generate as generate_certificate
from .watchstream import WatchSettings
from .workloads import workload_types

log = logging.getLogger(__name__)

_CRD_KIND = "CustomResourceDefinition"
PUBLIC_PATHS = {"/healthz", "/livez", "/readyz", "/version"}
DEFAULT_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
SYSTEM = WriteOptions(manager="kube-apiserver")


class RequestKey(NamedTuple):
    user: str
    verb: str
    resource: str
    code: int


@dataclass(frozen=True, slots=True)
class ServerSettings:
    host: str = "127.0.0.1"
    port: int = 0
    tls: bool = True
    authorization: bool = False
    bookmark_interval: float = 60.0
    history: int = 10_000
    watch_capacity: int = 10_000
    min_request_timeout: float = 1800.0
    namespace_grace: float = 5.0


class KubeAPIServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        tls: bool = True,
        authorization: bool = False,
        bookmark_interval: float = 60.0,
        history: int = 10_000,
        watch_capacity: int = 10_000,
        min_request_timeout: float = 1800.0,
        namespace_grace: float = 5.0,
    ) -> None:
        if history < 1 or watch_capacity < 1 or bookmark_interval <= 0:
            raise ValueError("history, watch_capacity and bookmark_interval must be positive")
        if namespace_grace < 0:
            raise ValueError("namespace_grace must not be negative")
        self.settings = ServerSettings(
            host,
            port,
            tls,
            authorization,
            bookmark_interval,
            history,
            watch_capacity,
            min_request_timeout,
            namespace_grace,
        )
        self.store = Store(history=history)
        self.catalog = Catalog()
        for rt in [
            *builtin_types(),
            *workload_types(),
            events_v1(),
            crd_resource_type(),
            *reviews.review_types(),
        ]:
            self.catalog.add(rt)
        self.crds = CRDController(self.store, self.catalog)
        self.registry = Registry(self.store, self.catalog)
        self.gc = GarbageCollector(self.registry, self.catalog, namespace_grace)
        self.auth = Authenticator()
        self.rbac = RBACAuthorizer(self.store)
        self.faults = Faults(self.store)
        self.api = ResourceAPI(
            self.registry,
            self.catalog,
            WatchSettings(bookmark_interval, watch_capacity, min_request_timeout),
            self.faults.gate,
        )
        self._counts: Counter[RequestKey] = Counter()
        self._certificate = generate_certificate([host, "localhost"]) if tls else None
        self._runner: web.AppRunner | None = None
        self._gc_task: asyncio.Task[None] | None = None
        self._stack = contextlib.AsyncExitStack()
        self._port = port
        self._bootstrap()

    # -- lifecycle -----------------------------------------------------------------------

    def _bootstrap(self) -> None:
        for name in DEFAULT_NAMESPACES:
            self.create_object(
                {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}}
            )
        for obj in bootstrap_objects():
            self.create_object(obj)

    async def __aenter__(self) -> KubeAPIServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        group = await self._stack.enter_async_context(asyncio.TaskGroup())
        self._gc_task = group.create_task(self.gc.run(), name="sandbox-kube-gc")
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=1.0
        )
        await self._runner.setup()
        ssl_context = self._certificate.ssl_context() if self._certificate else None
        site = web.TCPSite(
            self._runner, self.settings.host, self.settings.port, ssl_context=ssl_context
        )
        await site.start()
        self._port = int(self._runner.addresses[0][1])

    async def stop(self) -> None:
        self.faults.resume()
        self.store.drop_watches()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._gc_task is not None:
            self._gc_task.cancel()
            self._gc_task = None
        await self._stack.aclose()

    # -- public interface ----------------------------------------------------------------

    @property
    def url(self) -> str:
        scheme = "https" if self._certificate else "http"
        host = self.settings.host
        return f"{scheme}://{f'[{host}]' if ':' in host else host}:{self._port}"

    @property
    def port(self) -> int:
        return self._port

    @property
    def admin_token(self) -> str:
        return self.auth.admin_token

    @property
    def ca_pem(self) -> bytes | None:
        return self._certificate.ca_pem if self._certificate else None

    def add_user(self, name: str, groups: Iterable[str] = ()) -> str:
        """A bearer token for a user (RBAC subjects kind User/Group match it)."""
        return self.auth.add_user(name, tuple(groups))

    def add_service_account(self, namespace: str, name: str) -> str:
        """Create the ServiceAccount object (if its namespace exists) and return a token."""
        if (
            self.store.get("namespaces", namespace) is not None
            and self.store.get("serviceaccounts", f"{namespace}/{name}") is None
        ):
            self.create_object(
                {
                    "apiVersion": "v1",
                    "kind": "ServiceAccount",
                    "metadata": {"name": name, "namespace": namespace},
                }
            )
        token, _ = self.auth.add_service_account(namespace, name)
        return token

    def kubeconfig(self, user: str = ADMIN_USER, token: str | None = None) -> str:
        return kubeconfig.render(self.url, token or self.auth.token_for(user), user, self.ca_pem)

    def write_kubeconfig(
        self, path: str | Path, user: str = ADMIN_USER, token: str | None = None
    ) -> Path:
        """Write a kubeconfig for ``user`` (``admin``, a user added with :meth:`add_user`, or
        ``system:serviceaccount:<ns>:<name>``)."""
        return kubeconfig.write(Path(path), self.kubeconfig(user, token))

    def register_crds(self, paths: Iterable[str | Path]) -> list[str]:
        """Create or update every CustomResourceDefinition in these YAML files (directories are
        searched for ``*.yaml``/``*.yml``); returns the CRD names. Invalid CRDs raise the 422
        StatusError the API would return."""
        documents = [d for d in _yaml_documents(paths) if d.get("kind") == _CRD_KIND]
        return [self._upsert(d)["metadata"]["name"] for d in documents]

    def load_manifests(self, paths: Iterable[str | Path]) -> list[Obj]:
        """Create or update every object in these YAML files as the system (CRDs first, then
        Namespaces, then the rest); ``Kustomization`` files are skipped."""
        documents = [d for d in _yaml_documents(paths) if d.get("kind") != "Kustomization"]
        order = {_CRD_KIND: 0, "Namespace": 1}
        documents.sort(key=lambda d: order.get(str(d.get("kind")), 2))
        return [self._upsert(d) for d in documents]

    def _upsert(self, document: Obj) -> Obj:
        rt = self.resource_type(str(document.get("apiVersion", "")), str(document.get("kind")))
        meta = document.get("metadata") or {}
        namespace = (meta.get("namespace") or "default") if rt.namespaced else None
        current = self.store.get(rt.storage, self.registry.key(rt, namespace, meta["name"]))
        if current is None:
            return self.registry.create(rt, namespace, document, SYSTEM).obj
        meta = {**meta, "resourceVersion": current["metadata"]["resourceVersion"]}
        return self.registry.update(
            rt, namespace, meta["name"], {**document, "metadata": meta}, opts=SYSTEM
        ).obj

    def request_counts(self) -> dict[RequestKey, int]:
        return dict(self._counts)

    def reset_request_counts(self) -> None:
        self._counts.clear()

    def resource_type(self, api_version: str, kind: str) -> ResourceType:
        group, _, version = api_version.rpartition("/")
        for rt in self.catalog.all():
            if rt.group == group and rt.version == version and rt.kind == kind:
                return rt
        raise KeyError(f"no resource for {api_version} {kind}")

    def create_object(self, obj: Obj) -> Obj:
        """Create as the system (no HTTP, no authorization): seeding for tests and benchmarks."""
        rt = self.resource_type(obj["apiVersion"], obj["kind"])
        namespace = obj["metadata"].get("namespace") if rt.namespaced else None
        if rt.namespaced and namespace is None:
            namespace = "default"
        return self.registry.create(rt, namespace, obj, SYSTEM).obj

    def get_object(
        self, api_version: str, kind: str, name: str, namespace: str | None = None
    ) -> Obj | None:
        rt = self.resource_type(api_version, kind)
        stored = self.store.get(rt.storage, self.registry.key(rt, namespace, name))
        return None if stored is None else self.registry.view(rt, stored)

    def list_objects(self, api_version: str, kind: str, namespace: str | None = None) -> list[Obj]:
        rt = self.resource_type(api_version, kind)
        return [self.registry.view(rt, o) for o in self.store.objects(rt.storage, namespace)]

    def allows(self, user: User, info: RequestInfo) -> bool:
        """The authorizer's decision: RBAC when enabled, else everything is allowed."""
        return not self.settings.authorization or self.rbac.allows(user, info)

    # -- request pipeline ----------------------------------------------------------------

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        user: User | None = None
        info: RequestInfo | None = None
        code = 500
        try:
            user = self.auth.authenticate(request.headers.get("Authorization"))
            if user is None:
                raise unauthorized()
            path = request.path
            response: web.StreamResponse
            if path.startswith("/_sandbox/"):
                response = await self._admin(request, user)
            else:
                info = parse(request.method, path, query_bool(request.query.get("watch")))
                if user is ANONYMOUS and path not in PUBLIC_PATHS:
                    raise unauthorized()
                user = impersonated(user, request.headers, self.allows)
                await self.faults.before(info.verb, info.resource_label)
                about = with_selected_name(info, request.query.get("fieldSelector"))
                if not self.allows(user, about):
                    raise forbidden_error(user, about)
                if info.resource_request and info.verb == "create" and reviews.is_review(info):
                    body = reviews.review(
                        info, await read_body(request), user, self.allows, self.rbac.rules
                    )
                    response = json_response(body, 201)
                elif reviews.is_token_request(info):
                    body = reviews.token_request(
                        self.store, self.auth, info, await read_body(request)
                    )
                    response = json_response(body, 201)
                elif info.resource_request:
                    response = await self.api.handle(request, info)
                else:
                    response = self._non_resource(info)
            code = response.status
            return response
        except StatusError as exc:
            code = exc.code
            return error_response(exc)
        except Exception as exc:
            log.exception(
                "sandbox kube-apiserver: unhandled error for %s %s", request.method, request.path
            )
            code = 500
            return error_response(internal_error(type(exc).__name__))
        finally:
            if not request.path.startswith("/_sandbox/"):  # admin calls are not API traffic
                key = RequestKey(
                    user.name if user else "",
                    info.verb if info else request.method.lower(),
                    info.resource_label if info else request.path,
                    code,
                )
                self._counts[key] += 1

    def _non_resource(self, info: RequestInfo) -> web.Response:
        if info.verb not in ("get", "head"):
            raise StatusError(405, "MethodNotAllowed", "the server does not allow this method")
        path = info.path.rstrip("/") or "/"
        parts = path.strip("/").split("/")
        if path in ("/healthz", "/livez", "/readyz"):
            return web.Response(text="ok")
        if path == "/version":
            return json_response(discovery.VERSION_INFO)
        if path == "/api":
            return json_response(discovery.api_versions(f"{self.settings.host}:{self._port}"))
        if path == "/apis":
            return json_response(discovery.api_group_list(self.catalog))
        if path == "/openapi/v2":
            return web.Response(
                body=openapi.v2_document(), headers={"Content-Type": openapi.V2_MEDIA_TYPE}
            )
        if path == "/openapi/v3":
            return json_response(openapi.index(self.catalog))
        if path.startswith("/openapi/v3/"):
            gv = path.removeprefix("/openapi/v3/").split("/")
            document = None
            if len(gv) == 2 and gv[0] == "api":
                document = openapi.group_version_document(self.catalog, "", gv[1])
            elif len(gv) == 3 and gv[0] == "apis":
                document = openapi.group_version_document(self.catalog, gv[1], gv[2])
            if document is None:
                raise path_not_found()
            return json_response(document)
        body: dict[str, Any] | None = None
        if len(parts) == 2 and parts[0] == "api":
            body = discovery.api_resource_list(self.catalog, "", parts[1])
        elif len(parts) == 2 and parts[0] == "apis":
            body = discovery.api_group(self.catalog, parts[1])
        elif len(parts) == 3 and parts[0] == "apis":
            body = discovery.api_resource_list(self.catalog, parts[1], parts[2])
        if body is None:
            raise path_not_found()
        return json_response(body)

    async def _admin(self, request: web.Request, user: User) -> web.Response:
        if not user.is_admin:
            raise StatusError(
                403, "Forbidden", f'User "{user.name}" may not use sandbox admin endpoints'
            )
        if request.path == "/_sandbox/faults":
            if request.method == "GET":
                return json_response(self.faults.describe())
            if request.method == "POST":
                command = await read_body(request)
                if not isinstance(command, dict):
                    raise bad_request('expected a JSON object like {"action": "compact"}')
                try:
                    return json_response(self.faults.apply(command))
                except (ValueError, KeyError, TypeError) as exc:
                    raise bad_request(f"invalid fault command: {exc}") from None
        if request.path == "/_sandbox/requests":
            if request.method == "DELETE":
                self.reset_request_counts()
            rows = [{**key._asdict(), "count": n} for key, n in sorted(self._counts.items())]
            return json_response({"requests": rows})
        raise path_not_found()


def _yaml_documents(paths: Iterable[str | Path]) -> Iterable[Obj]:
    for entry in paths:
        path = Path(entry)
        files = sorted([*path.glob("*.yaml"), *path.glob("*.yml")]) if path.is_dir() else [path]
        if not files:
            raise FileNotFoundError(f"no YAML files in {path}")
        for file in files:
            for document in yaml.safe_load_all(file.read_text()):
                if isinstance(document, dict):
                    yield document


def error_response(error: StatusError) -> web.Response:
    headers = {"Content-Type": "application/json"}
    if error.retry_after is not None:
        headers["Retry-After"] = str(error.retry_after)
    return web.Response(body=orjson.dumps(error.body()), status=error.code, headers=headers)
