"""Admin endpoints under ``/_emulator`` for tests and chaos runs (JSON in, JSON out).

Not rate limited, not faulted and not in the request log. Errors: 400 for a bad body, 404 for an
unknown certificate, 409 when the certificate's state does not allow the action.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING

import orjson
from aiohttp import web

from controller.sandbox.zerossl.backend import StateError
from controller.sandbox.zerossl.errors import ApiError
from controller.sandbox.zerossl.faults import Faults
from controller.sandbox.zerossl.http_api import ENDPOINTS
from controller.sandbox.zerossl.resolver import parse_address

if TYPE_CHECKING:
    from controller.sandbox.zerossl.emulator import ZeroSSLEmulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def admin_routes(emulator: ZeroSSLEmulator) -> list[web.RouteDef]:
    """The ``/_emulator/...`` routes acting on ``emulator``."""

    async def requests(request: web.Request) -> web.Response:
        since = _int_query(request, "since", 0)
        log = emulator.request_log
        entries = [r.to_json() for r in log.entries(since)]
        return _json({"counts": log.counts_by_endpoint(), "entries": entries})

    async def clear_requests(_: web.Request) -> web.Response:
        emulator.request_log.clear()
        return _json({"cleared": True})

    async def certificates(_: web.Request) -> web.Response:
        return _json({"certificates": [c.to_json() for c in emulator.certificates()]})

    async def approve_email(request: web.Request) -> web.Response:
        emulator.approve_email(request.match_info["id"], request.query.get("domain"))
        return _json(emulator.certificate(request.match_info["id"]).to_json())

    async def release(request: web.Request) -> web.Response:
        return _json({"released": emulator.release(request.match_info["id"])})

    async def release_all(_: web.Request) -> web.Response:
        return _json({"released": emulator.release_all()})

    async def act(request: web.Request) -> web.Response:
        certificate_id = request.match_info["id"]
        actions: dict[str, Callable[[str], None]] = {
            "cancel": emulator.cancel,
            "revoke": emulator.revoke,
            "expire": emulator.expire,
        }
        actions[request.match_info["action"]](certificate_id)
        return _json(emulator.certificate(certificate_id).to_json())

    async def get_faults(_: web.Request) -> web.Response:
        return _json(emulator.faults.to_json())

    async def put_faults(request: web.Request) -> web.Response:
        emulator.faults = Faults.from_json(await _body(request), ENDPOINTS)
        return _json(emulator.faults.to_json())

    async def reset_faults(_: web.Request) -> web.Response:
        emulator.faults = Faults()
        return _json(emulator.faults.to_json())

    async def resolve(request: web.Request) -> web.Response:
        body = await _body(request)
        target = _optional_address(body, "target")
        if "default" in body:
            emulator.resolver.default = _optional_address(body, "default")
        elif isinstance(domain := body.get("domain"), str) and domain:
            emulator.resolver.set(domain, target)
        else:
            raise ValueError(
                'expected {"domain": D, "target": "HOST:PORT"|null} or {"default": ...}'
            )
        return _json({"ok": True})

    async def dns(request: web.Request) -> web.Response:
        server = _optional_address(await _body(request), "server")
        if server is None:
            raise ValueError('expected {"server": "HOST:PORT"}')
        emulator.set_dns_server(*server)
        return _json({"ok": True})

    async def caa(request: web.Request) -> web.Response:
        body = await _body(request)
        domain, forbidden = body.get("domain"), body.get("forbidden", True)
        if not isinstance(domain, str) or not isinstance(forbidden, bool):
            raise ValueError('expected {"domain": D, "forbidden": true|false}')
        emulator.forbid_caa(domain, forbidden)
        return _json({"ok": True})

    async def accounts(request: web.Request) -> web.Response:
        body = await _body(request)
        key, quota = body.get("key"), body.get("quota")
        paid, active = body.get("paid", True), body.get("active", True)
        if (
            not isinstance(key, str)
            or not key
            or not (quota is None or (isinstance(quota, int) and not isinstance(quota, bool)))
            or not isinstance(paid, bool)
            or not isinstance(active, bool)
        ):
            raise ValueError('expected {"key": K, "quota": N|null, "paid": bool, "active": bool}')
        return _json({"account": emulator.add_account(key, quota=quota, paid=paid, active=active)})

    async def ca(_: web.Request) -> web.Response:
        return _json(
            {
                "root": emulator.root_pem,
                "intermediate": emulator.intermediate_pem,
                "legacy_root": emulator.legacy_root_pem,
            }
        )

    prefix = "/_emulator"
    return [
        web.get(f"{prefix}/requests", _guard(requests)),
        web.delete(f"{prefix}/requests", _guard(clear_requests)),
        web.get(f"{prefix}/certificates", _guard(certificates)),
        web.post(f"{prefix}/certificates/{{id}}/{{action:cancel|revoke|expire}}", _guard(act)),
        web.post(f"{prefix}/approve-email/{{id}}", _guard(approve_email)),
        web.post(f"{prefix}/release", _guard(release_all)),
        web.post(f"{prefix}/release/{{id}}", _guard(release)),
        web.get(f"{prefix}/faults", _guard(get_faults)),
        web.put(f"{prefix}/faults", _guard(put_faults)),
        web.delete(f"{prefix}/faults", _guard(reset_faults)),
        web.put(f"{prefix}/resolve", _guard(resolve)),
        web.put(f"{prefix}/dns", _guard(dns)),
        web.put(f"{prefix}/caa", _guard(caa)),
        web.put(f"{prefix}/accounts", _guard(accounts)),
        web.get(f"{prefix}/ca", _guard(ca)),
    ]


def _guard(handler: Handler) -> Handler:
    """Map the emulator's exceptions to admin HTTP errors with a JSON ``error`` message."""

    async def guarded(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as exc:
            return _json({"error": str(exc), **exc.body()}, status=404 if exc.code == 2803 else 409)
        except StateError as exc:
            return _json({"error": str(exc)}, status=409)
        except ValueError as exc:
            return _json({"error": str(exc)}, status=400)

    return guarded


async def _body(request: web.Request) -> Mapping[str, object]:
    try:
        data = orjson.loads(await request.read())
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError("the body must be a JSON object")
    return data


def _optional_address(body: Mapping[str, object], field: str) -> tuple[str, int] | None:
    value = body.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a HOST:PORT string or null")
    return parse_address(value)


def _int_query(request: web.Request, name: str, default: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    if not raw.isdigit():
        raise ValueError(f"{name} must be a non-negative integer")
    return int(raw)


def _json(body: Mapping[str, object], *, status: int = 200) -> web.Response:
    return web.Response(body=orjson.dumps(body), status=status, content_type="application/json")
