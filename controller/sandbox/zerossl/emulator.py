"""``ZeroSSLEmulator``: the whole emulator as one async context manager (see the package doc)."""

from __future__ import annotations

import asyncio
import contextlib
import math
import random
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Self

from aiohttp import web

from controller.sandbox.zerossl.admin import admin_routes
from controller.sandbox.zerossl.backend import Backend
from controller.sandbox.zerossl.ca import CertificateAuthority
from controller.sandbox.zerossl.dcv_cname import CnameCheck
from controller.sandbox.zerossl.dcv_http import HttpFileCheck
from controller.sandbox.zerossl.faults import Faults
from controller.sandbox.zerossl.http_api import PublicApi
from controller.sandbox.zerossl.issuance import IssuanceDelay
from controller.sandbox.zerossl.model import Certificate
from controller.sandbox.zerossl.ratelimit import RateLimiter
from controller.sandbox.zerossl.render import timestamp
from controller.sandbox.zerossl.requestlog import RequestLog
from controller.sandbox.zerossl.resolver import Resolver
from controller.sandbox.zerossl.rules import Rules
from controller.sandbox.zerossl.store import Store

_SHUTDOWN_TIMEOUT = 1.0


@dataclass(frozen=True, slots=True)
class CertificateView:
    """One certificate as tests and ``GET /_emulator/certificates`` see it."""

    id: str
    account: str
    status: str
    domains: tuple[str, ...]
    validation_type: str | None
    csr_md5: str
    created: str
    emails_sent: int
    held: bool
    replacement_for: str

    def to_json(self) -> dict[str, object]:
        return asdict(self)


class ZeroSSLEmulator:
    """An api.zerossl.com look-alike on ``host:port`` (port 0 picks a free one) plus admin
    endpoints under ``/_emulator``. The CA exists from construction; serving, validation traffic
    and issuance run between ``__aenter__`` and ``__aexit__``."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        issuance_delay: IssuanceDelay | str = "zero",
        rate_limit: float | None = None,
        rate_burst: int | None = None,
        retry_after: int | None = None,
        dcv_timeout: float = 5.0,
        rules: Rules | None = None,
        faults: Faults | None = None,
        seed: int | None = None,
        request_log_size: int = 100_000,
    ) -> None:
        self._host = host
        self._port = port
        rng = random.Random(seed)
        self.request_log = RequestLog(request_log_size)
        self.resolver = Resolver()
        self._cname = CnameCheck(dcv_timeout)
        self._http = HttpFileCheck(self.resolver, dcv_timeout)
        if isinstance(issuance_delay, str):
            issuance_delay = IssuanceDelay.parse(issuance_delay)
        self._backend = Backend(
            Store(),
            CertificateAuthority(datetime.now(UTC)),
            http_check=self._http,
            cname_check=self._cname,
            faults=faults or Faults(),
            issuance_delay=issuance_delay,
            rules=rules or Rules(),
            rng=rng,
        )
        limiter = None
        if rate_limit is not None:
            limiter = RateLimiter(rate_limit, rate_burst or max(1, math.ceil(rate_limit)))
        self._api = PublicApi(
            self._backend, self.request_log, rng, limiter=limiter, retry_after=retry_after
        )
        self._stack: contextlib.AsyncExitStack | None = None
        self._url: str | None = None

    # --- lifetime ------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as stack:
            await stack.enter_async_context(self._http)
            tasks = await stack.enter_async_context(asyncio.TaskGroup())
            issuing = tasks.create_task(self._backend.issuance.run(), name="zerossl-issuance")
            stack.callback(issuing.cancel)
            app = web.Application()
            app.add_routes(admin_routes(self))
            app.router.add_route("*", "/{tail:.*}", self._api.handle)
            runner = web.AppRunner(app, shutdown_timeout=_SHUTDOWN_TIMEOUT, access_log=None)
            await runner.setup()
            stack.push_async_callback(runner.cleanup)
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            host, port = runner.addresses[0][:2]
            self._url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
            self._stack = stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        stack, self._stack = self._stack, None
        self._url = None
        if stack is not None:
            await stack.aclose()

    @property
    def url(self) -> str:
        """Base URL of the API, e.g. ``http://127.0.0.1:40123`` (only while running)."""
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    # --- configuration -------------------------------------------------------------------

    def add_account(
        self, access_key: str, *, quota: int | None = None, paid: bool = True, active: bool = True
    ) -> str:
        """Create or update an account (``quota`` None: unlimited); returns its hash as logged."""
        if quota is not None and quota < 0:
            raise ValueError(f"quota must not be negative, got {quota}")
        account = self._backend.store.upsert_account(
            access_key, quota=quota, paid=paid, active=active
        )
        return account.id

    def resolve(self, domain: str, host: str, port: int) -> None:
        """Send validation traffic for ``domain`` (a name or IP) to ``host:port``."""
        self.resolver.set(domain, (host, port))

    def resolve_default(self, host: str, port: int) -> None:
        """Send validation traffic for every unmapped domain to ``host:port``."""
        self.resolver.default = (host, port)

    def set_dns_server(self, host: str, port: int) -> None:
        """The DNS server asked for ``_<MD5>.<domain>`` CNAME records."""
        self._cname.server = (host, port)

    def forbid_caa(self, domain: str, forbidden: bool = True) -> None:
        """Make ``domain`` (and names under it) fail verify with 2840, as a CAA record
        authorising only another CA would."""
        if forbidden:
            self._backend.caa_forbidden.add(domain.lower())
        else:
            self._backend.caa_forbidden.discard(domain.lower())

    @property
    def faults(self) -> Faults:
        return self._backend.faults

    @faults.setter
    def faults(self, faults: Faults) -> None:
        self._backend.faults = faults

    @property
    def issuance_delay(self) -> IssuanceDelay:
        return self._backend.issuance_delay

    @issuance_delay.setter
    def issuance_delay(self, delay: IssuanceDelay) -> None:
        self._backend.issuance_delay = delay

    # --- the CA --------------------------------------------------------------------------

    @property
    def root_pem(self) -> str:
        return self._backend.ca.root_pem

    @property
    def intermediate_pem(self) -> str:
        return self._backend.ca.intermediate_pem

    @property
    def legacy_root_pem(self) -> str:
        """The root that cross-signs :attr:`root_pem` (``include_cross_signed=1`` bundles)."""
        return self._backend.ca.legacy_root_pem

    # --- out-of-band actions -------------------------------------------------------------

    def approve_email(self, certificate_id: str, domain: str | None = None) -> None:
        """Click the verification link of one domain (all when None)."""
        self._backend.approve_email(self._backend.store.get(certificate_id), domain)

    def release(self, certificate_id: str) -> bool:
        """Let a certificate held by ``stuck_issuance`` be issued; False if it was not held."""
        return self._backend.issuance.release(certificate_id)

    def release_all(self) -> int:
        return self._backend.issuance.release_all()

    def cancel(self, certificate_id: str) -> None:
        """Cancel as a dashboard user would (same rules and errors as the API)."""
        self._backend.cancel(self._backend.store.get(certificate_id))

    def revoke(self, certificate_id: str, reason: str = "Unspecified") -> None:
        self._backend.revoke(self._backend.store.get(certificate_id), reason)

    def expire(self, certificate_id: str) -> None:
        """Let an issued certificate reach its end of life now."""
        self._backend.expire(self._backend.store.get(certificate_id))

    # --- inspection ----------------------------------------------------------------------

    def certificates(self) -> list[CertificateView]:
        """Every certificate of every account, oldest first."""
        held = self._backend.issuance.held
        return [_view(c, held) for c in self._backend.store]

    def certificate(self, certificate_id: str) -> CertificateView:
        certificate = self._backend.store.get(certificate_id)
        return _view(certificate, self._backend.issuance.held)


def _view(certificate: Certificate, held: frozenset[str]) -> CertificateView:
    return CertificateView(
        id=certificate.id,
        account=certificate.account.id,
        status=str(certificate.status),
        domains=certificate.domains,
        validation_type=str(certificate.validation_type) if certificate.validation_type else None,
        csr_md5=certificate.dcv.md5,
        created=timestamp(certificate.created),
        emails_sent=certificate.emails_sent,
        held=certificate.id in held,
        replacement_for=certificate.replacement_for,
    )
