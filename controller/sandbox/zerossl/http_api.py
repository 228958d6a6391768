"""The public API over HTTP: routing like api.zerossl.com, the request pipeline, body parsing.

Pipeline per request: rate limit (HTTP 429, nginx HTML) -> faults before the effect -> route
(104 with HTTP 200 for a wrong path or method) -> access key (103 missing, 101 unknown, 102
inactive) -> parameters -> the endpoint -> faults after the effect -> request log. Parameters
come from the query string and from a form body, or a JSON body sent with
``Content-Type: application/json`` (undecodable: 115; arrays/objects as values: 116).
"""

from __future__ import annotations

import asyncio
import io
import random
import re
import zipfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Final

import orjson
from aiohttp import web

from controller.sandbox.zerossl.backend import Backend
from controller.sandbox.zerossl.errors import ApiError
from controller.sandbox.zerossl.faults import Fault
from controller.sandbox.zerossl.model import Account, Certificate, account_hash
from controller.sandbox.zerossl.ratelimit import RateLimiter
from controller.sandbox.zerossl.render import SUCCESS, certificate_json
from controller.sandbox.zerossl.requestlog import RequestLog
from controller.sandbox.zerossl.store import Store

ROUTE_NOT_FOUND: Final = "route_not_found"
FORM_TYPES: Final = frozenset({"application/x-www-form-urlencoded", "multipart/form-data"})

Answer = Mapping[str, object] | web.Response
Params = Mapping[str, str]


@dataclass(frozen=True, slots=True)
class Route:
    endpoint: str
    methods: frozenset[str]
    pattern: re.Pattern[str]


def _route(endpoint: str, methods: str, path: str) -> Route:
    regex = re.escape(path).replace(re.escape("{id}"), "(?P<id>[^/]+)")
    return Route(endpoint, frozenset(methods.split()), re.compile(f"^{regex}$"))


ROUTES: Final = (
    _route("create", "POST", "/certificates"),
    _route("list", "GET", "/certificates"),
    _route("get", "GET", "/certificates/{id}"),
    _route("delete", "DELETE", "/certificates/{id}"),
    _route("verify", "POST", "/certificates/{id}/challenges"),
    _route("resend_email", "GET POST", "/certificates/{id}/challenges/email"),
    _route("status", "GET", "/certificates/{id}/status"),
    _route("download_return", "GET", "/certificates/{id}/download/return"),
    _route("download_zip", "GET", "/certificates/{id}/download"),
    _route("cancel", "POST", "/certificates/{id}/cancel"),
    _route("revoke", "POST", "/certificates/{id}/revoke"),
    _route("validate_csr", "POST", "/validation/csr"),
)
ENDPOINTS: Final = frozenset({r.endpoint for r in ROUTES} | {ROUTE_NOT_FOUND})


def match_route(method: str, path: str) -> tuple[Route, str | None] | None:
    """The route and its certificate id (if any) for this request, None when nothing matches."""
    for route in ROUTES:
        found = route.pattern.match(path)
        if found and method in route.methods:
            return route, found.groupdict().get("id")
    return None


def html_error(status: int, *, retry_after: int | None = None) -> web.Response:
    """An nginx-style HTML error page, as the real front end serves for 429 and 5xx."""
    title = f"{status} {HTTPStatus(status).phrase}"
    body = (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )
    headers = {"Server": "nginx"}
    if retry_after is not None:
        headers["Retry-After"] = str(retry_after)
    return web.Response(status=status, text=body, content_type="text/html", headers=headers)


def json_response(body: Mapping[str, object]) -> web.Response:
    return web.Response(body=orjson.dumps(body), content_type="application/json")


async def read_params(request: web.Request) -> dict[str, str]:
    params = {k: v for k, v in request.query.items() if k != "access_key"}
    if request.content_type == "application/json":
        raw = await request.read()
        if raw.strip():
            params.update(_json_params(raw))
    elif request.content_type in FORM_TYPES:
        form = await request.post()
        params.update({k: v for k, v in form.items() if isinstance(v, str)})
    return params


def _json_params(raw: bytes) -> dict[str, str]:
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ApiError(115) from None
    if not isinstance(data, dict):
        raise ApiError(115, "the JSON body must be an object")
    params: dict[str, str] = {}
    for key, value in data.items():
        if isinstance(value, list | dict):
            raise ApiError(116, f"{key} must be a string (comma-separated for lists)")
        if isinstance(value, bool):
            params[key] = "1" if value else "0"
        elif value is not None:
            params[key] = str(value)
    return params


class PublicApi:
    """Serves ZeroSSL's endpoints from a :class:`Backend`; records every call in ``log``."""

    def __init__(
        self,
        backend: Backend,
        log: RequestLog,
        rng: random.Random,
        *,
        limiter: RateLimiter | None,
        retry_after: int | None,
    ) -> None:
        self._backend = backend
        self._store: Store = backend.store
        self._log = log
        self._rng = rng
        self._limiter = limiter
        self._retry_after = retry_after
        self._handlers: dict[str, Callable[[Account, str, Params], Awaitable[Answer]]] = {
            "create": self._create,
            "list": self._list,
            "get": self._get,
            "delete": self._delete,
            "verify": self._verify,
            "resend_email": self._resend_email,
            "status": self._status,
            "download_return": self._download_return,
            "download_zip": self._download_zip,
            "cancel": self._cancel,
            "revoke": self._revoke,
            "validate_csr": self._validate_csr,
        }

    async def handle(self, request: web.Request) -> web.StreamResponse:
        found = match_route(request.method, request.path)
        endpoint = found[0].endpoint if found else ROUTE_NOT_FOUND
        certificate_id = found[1] if found else None
        key = request.query.get("access_key", "")
        response, code = await self._answer(request, endpoint, certificate_id or "", key)
        self._log.record(
            endpoint,
            request.method,
            response.status,
            error_code=code,
            account=account_hash(key) if key else None,
            certificate_id=certificate_id,
        )
        return response

    async def _answer(
        self, request: web.Request, endpoint: str, certificate_id: str, key: str
    ) -> tuple[web.Response, int | None]:
        if self._limiter is not None and not self._limiter.allow(account_hash(key)):
            return html_error(429, retry_after=self._retry_after), None
        fault = self._backend.faults.draw(endpoint, self._rng, after_effect=False)
        if fault is not None:
            return await self._fault(fault)
        code: int | None
        try:
            if endpoint == ROUTE_NOT_FOUND:
                raise ApiError(104)
            account = self._authenticate(key)
            params = await read_params(request)
            answer = await self._handlers[endpoint](account, certificate_id, params)
        except ApiError as exc:
            response, code = json_response(exc.body()), exc.code
        else:
            response = answer if isinstance(answer, web.Response) else json_response(answer)
            code = None
        fault = self._backend.faults.draw(endpoint, self._rng, after_effect=True)
        if fault is not None:
            return await self._fault(fault)
        return response, code

    async def _fault(self, fault: Fault) -> tuple[web.Response, int | None]:
        faults = self._backend.faults
        if fault is Fault.SERVER_ERROR:
            return html_error(faults.server_error_status), None
        if fault is Fault.TIMEOUT:
            await asyncio.sleep(faults.hang_seconds)
            return html_error(504), None
        return json_response(ApiError(111).body()), 111

    def _authenticate(self, key: str) -> Account:
        if not key:
            raise ApiError(103)
        account = self._store.account(key)
        if account is None:
            raise ApiError(101)
        if not account.active:
            raise ApiError(102)
        return account

    def _find(self, account: Account, certificate_id: str) -> Certificate:
        return self._store.find(account, certificate_id)

    async def _create(self, account: Account, _: str, params: Params) -> Answer:
        return certificate_json(self._backend.create(account, params))

    async def _list(self, account: Account, _: str, params: Params) -> Answer:
        return self._backend.list(account, params)

    async def _get(self, account: Account, certificate_id: str, _: Params) -> Answer:
        return certificate_json(self._find(account, certificate_id))

    async def _delete(self, account: Account, certificate_id: str, _: Params) -> Answer:
        self._find(account, certificate_id)
        raise ApiError(2835, "This endpoint has been removed; cancel or revoke instead")

    async def _verify(self, account: Account, certificate_id: str, params: Params) -> Answer:
        certificate = self._find(account, certificate_id)
        return certificate_json(await self._backend.verify(certificate, params))

    async def _resend_email(self, account: Account, certificate_id: str, _: Params) -> Answer:
        self._backend.resend_email(self._find(account, certificate_id))
        return SUCCESS

    async def _status(self, account: Account, certificate_id: str, _: Params) -> Answer:
        return self._backend.email_status(self._find(account, certificate_id))

    async def _download_return(
        self, account: Account, certificate_id: str, params: Params
    ) -> Answer:
        certificate = self._find(account, certificate_id)
        return self._backend.download(certificate, cross_signed=_cross_signed(params))

    async def _download_zip(self, account: Account, certificate_id: str, params: Params) -> Answer:
        certificate = self._find(account, certificate_id)
        files = self._backend.download(certificate, cross_signed=_cross_signed(params))
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, text in files.items():
                archive.writestr(name, text)
        return web.Response(
            body=buffer.getvalue(),
            content_type="application/zip",
            headers={"Content-Disposition": f'attachment; filename="{certificate.id}.zip"'},
        )

    async def _cancel(self, account: Account, certificate_id: str, _: Params) -> Answer:
        self._backend.cancel(self._find(account, certificate_id))
        return SUCCESS

    async def _revoke(self, account: Account, certificate_id: str, params: Params) -> Answer:
        reason = params.get("reason", "").strip() or "Unspecified"
        self._backend.revoke(self._find(account, certificate_id), reason)
        return SUCCESS

    async def _validate_csr(self, _: Account, __: str, params: Params) -> Answer:
        return self._backend.validate_csr(params)


def _cross_signed(params: Params) -> bool:
    return params.get("include_cross_signed", "").strip().lower() in {"1", "true", "yes"}
