"""Async client of the ZeroSSL REST API.

Invariants:
- Every call takes a token from the account's limiter first, at its endpoint's priority
  (``priority_of``: finishing a certificate before starting one), runs under a total timeout,
  is one span ``zerossl.<endpoint>`` and counts each HTTP attempt in
  ``zerossl_requests{endpoint,outcome}`` / ``zerossl_request_duration_seconds{endpoint}``.
- The access key travels only in the request URL (ZeroSSL has no header auth); every URL that
  reaches a log record, span, metric or exception goes through ``redact_url``, the key is
  registered with ``register_secret``, and errors are raised ``from None`` so no third-party
  exception (whose text may hold the URL) is chained.
- Only ``Route.retryable`` endpoints are retried inside the client, on RETRYABLE or THROTTLED
  errors, with capped exponential backoff and jitter, within ``RetryPolicy.attempts`` and
  ``RetryPolicy.budget``. Writes (create, verify, cancel, revoke, resend) are never repeated
  here: the reconciler decides. A Retry-After or HTTP 429 pauses the whole account's bucket.
- POST bodies are form-encoded (``application/x-www-form-urlencoded``): the documented format
  of every endpoint; aiohttp percent-encodes ``+``, ``/``, ``=`` and newlines, so a PEM CSR
  arrives intact (the raw-form ``+``-becomes-space pitfall), and lists are comma-separated.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
from collections.abc import AsyncIterator, Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar
from urllib.parse import urlencode

import aiohttp
from opentelemetry import trace
from opentelemetry.trace import Span, SpanKind, StatusCode
from yarl import URL

from controller.clock import Clock, SystemClock
from controller.observability import metrics
from controller.observability.redact import redact_text, redact_url, register_secret
from controller.zerossl.errors import ErrorKind, TransportError, ZeroSSLError
from controller.zerossl.limiter import AccountLimiter
from controller.zerossl.models import (
    Certificate,
    CertificateBundle,
    CertificatePage,
    CertificateStatus,
    CsrCheck,
    ResponseShapeError,
    RevocationReason,
    ValidationMethod,
    VerificationStatus,
)
from controller.zerossl.priority import priority_of
from controller.zerossl.protocol import ROUTES, Endpoint, decode_response, parse_retry_after
from controller.zerossl.scheduler import Sleep

_log = logging.getLogger(__name__)
_tracer = trace.get_tracer(__name__)

DEFAULT_BASE_URL = "https://api.zerossl.com"
VALIDITY_DAYS = frozenset({90, 365})
MAX_LIST_LIMIT = 1000
_CERTIFICATE_ID = re.compile(r"^[A-Za-z0-9]{1,64}$")
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Retries of idempotent calls: attempts in all, and seconds a call may spend retrying."""

    attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 20.0
    budget: float = 60.0

    def backoff(self, retry: int, rng: random.Random) -> float:
        """Delay before retry number ``retry`` (0-based): exponential, capped, jittered."""
        return min(self.max_delay, self.base_delay * 2.0**retry) * rng.uniform(0.5, 1.0)


class ZeroSSLClient:
    """One ZeroSSL account's API. The aiohttp session is the caller's (shared, not closed)."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        access_key: str,
        limiter: AccountLimiter,
        *,
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        clock: Clock | None = None,
        sleep: Sleep = asyncio.sleep,
        tracer: trace.Tracer | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not access_key:
            raise ValueError("a ZeroSSL API key is required")
        if timeout <= 0:
            raise ValueError("timeout must be > 0")
        register_secret(access_key)
        self._session = session
        self._key = access_key
        self._limiter = limiter
        self._base = base_url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._retry = retry or RetryPolicy()
        self._clock = clock or SystemClock()
        self._sleep = sleep
        self._tracer = tracer or _tracer
        self._rng = rng or random.Random()  # noqa: S311 - backoff jitter, not cryptography

    # --- endpoints -----------------------------------------------------------------------------

    async def create_certificate(
        self,
        domains: Sequence[str],
        csr_pem: str,
        *,
        validity_days: int = 90,
        strict_domains: bool = True,
        replacement_for: str | None = None,
    ) -> Certificate:
        """Creates a draft. ``domains`` must start with the CSR's common name (see csr.py)."""
        if not domains or any(not d or "," in d for d in domains):
            raise ValueError("domains must be a non-empty list of names without commas")
        if validity_days not in VALIDITY_DAYS:
            raise ValueError(f"validity_days must be 90 or 365, not {validity_days}")
        form = {
            "certificate_domains": ",".join(domains),
            "certificate_csr": csr_pem,
            "certificate_validity_days": str(validity_days),
        }
        if strict_domains:
            form["strict_domains"] = "1"
        if replacement_for is not None:
            form["replacement_for_certificate"] = _checked_id(replacement_for)
        return await self._call(Endpoint.CREATE, Certificate.from_json, form=form)

    async def verify_domains(
        self, certificate_id: str, method: ValidationMethod, *, emails: Sequence[str] = ()
    ) -> Certificate:
        """Starts (or re-starts) validation; DCV failures raise NOT_YET with per-domain details.

        EMAIL needs one address per domain, in domain order; other methods take none.
        """
        if (method is ValidationMethod.EMAIL) != bool(emails):
            raise ValueError("emails are required for EMAIL validation and only for it")
        form = {"validation_method": str(method)}
        if emails:
            form["validation_email"] = ",".join(emails)
        return await self._call(
            Endpoint.VERIFY, Certificate.from_json, certificate_id=certificate_id, form=form
        )

    async def get_certificate(self, certificate_id: str) -> Certificate:
        return await self._call(Endpoint.GET, Certificate.from_json, certificate_id=certificate_id)

    async def list_certificates(
        self,
        statuses: Collection[CertificateStatus],
        *,
        search: str | None = None,
        certificate_type: str | None = None,
        page: int = 1,
        limit: int = 100,
    ) -> CertificatePage:
        """One page of certificates. Statuses are required: an empty filter may list nothing.

        ``search`` matches the common name (only exactly, above 1000 certificates).
        """
        if not statuses or CertificateStatus.UNKNOWN in statuses:
            raise ValueError("list at least one known certificate status")
        if page < 1 or not 1 <= limit <= MAX_LIST_LIMIT:
            raise ValueError(f"page must be >= 1 and limit within 1..{MAX_LIST_LIMIT}")
        query = {
            "certificate_status": ",".join(str(s) for s in statuses),
            "page": str(page),
            "limit": str(limit),
        }
        if search:
            query["search"] = search
        if certificate_type:
            query["certificate_type"] = certificate_type
        return await self._call(
            Endpoint.LIST,
            lambda payload: CertificatePage.from_json(payload, page=page, limit=limit),
            query=query,
        )

    async def iter_certificates(
        self,
        statuses: Collection[CertificateStatus],
        *,
        search: str | None = None,
        certificate_type: str | None = None,
        limit: int = 100,
    ) -> AsyncIterator[Certificate]:
        """Every matching certificate, page by page, until a short or empty page."""
        page = 1
        while True:
            result = await self.list_certificates(
                statuses, search=search, certificate_type=certificate_type, page=page, limit=limit
            )
            for certificate in result.results:
                yield certificate
            if not result.has_more:
                return
            page += 1

    async def verification_status(self, certificate_id: str) -> VerificationStatus:
        """Email-validation progress (error 2838 for certificates not on EMAIL validation)."""
        return await self._call(
            Endpoint.STATUS, VerificationStatus.from_json, certificate_id=certificate_id
        )

    async def download(
        self, certificate_id: str, *, include_cross_signed: bool = False
    ) -> CertificateBundle:
        """The issued certificate and CA bundle (inline JSON)."""
        return await self._call(
            Endpoint.DOWNLOAD,
            CertificateBundle.from_json,
            certificate_id=certificate_id,
            query={"include_cross_signed": "1"} if include_cross_signed else None,
        )

    async def cancel(self, certificate_id: str) -> None:
        """Cancels a draft or pending certificate, freeing its quota slot."""
        await self._call(Endpoint.CANCEL, _ignore, certificate_id=certificate_id, form={})

    async def revoke(
        self, certificate_id: str, reason: RevocationReason = RevocationReason.UNSPECIFIED
    ) -> None:
        await self._call(
            Endpoint.REVOKE, _ignore, certificate_id=certificate_id, form={"reason": str(reason)}
        )

    async def resend_verification_email(self, certificate_id: str) -> None:
        await self._call(Endpoint.RESEND_EMAIL, _ignore, certificate_id=certificate_id, form={})

    async def validate_csr(self, csr_pem: str) -> CsrCheck:
        """ZeroSSL's opinion of a CSR; side-effect free, so retried like a read."""
        return await self._call(Endpoint.VALIDATE_CSR, CsrCheck.from_json, form={"csr": csr_pem})

    # --- plumbing ------------------------------------------------------------------------------

    async def _call(
        self,
        endpoint: Endpoint,
        decode: Callable[[dict[str, Any]], T],
        *,
        certificate_id: str | None = None,
        query: Mapping[str, str] | None = None,
        form: Mapping[str, str] | None = None,
    ) -> T:
        route = ROUTES[endpoint]
        priority = priority_of(endpoint)
        path = route.path
        if "{id}" in path:
            if certificate_id is None:
                raise ValueError(f"{endpoint} needs a certificate id")
            path = path.format(id=_checked_id(certificate_id))
        url = URL(self._base + path).with_query({**(query or {}), "access_key": self._key})
        request = _Request(endpoint, route.method, url, redact_url(str(url)), form, certificate_id)
        attributes: dict[str, str] = {
            "http.request.method": route.method,
            "url.full": request.safe_url,
            "zerossl.endpoint": str(endpoint),
        }
        if certificate_id:
            attributes["zerossl.certificate_id"] = certificate_id
        with self._tracer.start_as_current_span(
            f"zerossl.{endpoint}",
            kind=SpanKind.CLIENT,
            attributes=attributes,
            record_exception=False,
            set_status_on_exception=False,
        ) as span:
            deadline = self._clock.monotonic() + self._retry.budget
            attempt = 0
            while True:
                attempt += 1
                span.set_attribute("zerossl.attempts", attempt)
                waited = await self._limiter.acquire(priority)
                if waited > 0:
                    span.add_event("zerossl.limiter.wait", {"seconds": waited})
                try:
                    result = await self._attempt(request, decode, span)
                except ZeroSSLError as error:
                    _note_error(span, error)
                    if error.kind is ErrorKind.THROTTLED or error.retry_after is not None:
                        self._limiter.throttle(error.retry_after)
                    delay = self._retry_delay(route.retryable, error, attempt, deadline)
                    if delay is None:
                        span.set_status(StatusCode.ERROR, str(error))
                        raise
                    span.add_event(
                        "zerossl.retry",
                        {"attempt": attempt, "delay": delay, "error.kind": str(error.kind)},
                    )
                    _log.warning("%s; retrying in %.2fs (attempt %d)", error, delay, attempt)
                    await self._sleep(delay)
                    continue
                if isinstance(result, Certificate):
                    span.set_attribute("zerossl.certificate_id", result.id)
                return result

    def _retry_delay(
        self, retryable: bool, error: ZeroSSLError, attempt: int, deadline: float
    ) -> float | None:
        if not retryable or error.kind not in (ErrorKind.RETRYABLE, ErrorKind.THROTTLED):
            return None
        if attempt >= self._retry.attempts:
            return None
        delay = self._retry.backoff(attempt - 1, self._rng)
        # The limiter holds the next attempt until a pause ends; count that against the budget.
        if max(delay, self._limiter.paused_for()) > deadline - self._clock.monotonic():
            return None
        return delay

    async def _attempt(
        self, request: _Request, decode: Callable[[dict[str, Any]], T], span: Span
    ) -> T:
        """One HTTP exchange; every failure leaves as a ZeroSSLError, nothing chained."""
        endpoint = request.endpoint
        started = self._clock.monotonic()
        outcome = "unexpected"  # a bug; every expected way out sets its own outcome
        try:
            async with self._session.request(
                request.method,
                request.url,
                data=_form_body(request.form),
                timeout=self._timeout,
                allow_redirects=False,
                headers=_ACCEPT_JSON if request.form is None else _POST_FORM,
            ) as response:
                body = await response.read()
            span.set_attribute("http.response.status_code", response.status)
            _log.debug("zerossl %s %s -> %d", request.method, request.safe_url, response.status)
            payload = decode_response(
                endpoint,
                response.status,
                body,
                content_type=response.content_type,
                retry_after=parse_retry_after(
                    response.headers.get("Retry-After"), self._clock.now()
                ),
                certificate_id=request.certificate_id,
            )
            result = decode(payload)
            outcome = "ok"
            return result
        except asyncio.CancelledError:
            outcome = "cancelled"
            raise
        except ZeroSSLError as error:
            outcome = str(error.kind)
            raise
        except ResponseShapeError as exc:
            outcome = str(ErrorKind.RETRYABLE)
            raise ZeroSSLError(
                ErrorKind.RETRYABLE,
                endpoint=endpoint,
                certificate_id=request.certificate_id,
                message=f"unexpected response: {exc}",
            ) from None
        except TimeoutError:
            outcome = str(ErrorKind.RETRYABLE)
            raise TransportError(
                endpoint=endpoint,
                certificate_id=request.certificate_id,
                message=f"{request.method} {request.safe_url}: "
                f"no answer within {self._timeout.total:g}s",
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            outcome = str(ErrorKind.RETRYABLE)
            raise TransportError(
                endpoint=endpoint,
                certificate_id=request.certificate_id,
                message=f"{request.method} {request.safe_url}: "
                f"{type(exc).__name__}: {redact_text(str(exc))}",
            ) from None
        finally:
            metrics.zerossl_requests.labels(endpoint=str(endpoint), outcome=outcome).inc()
            metrics.zerossl_request_duration.labels(endpoint=str(endpoint)).observe(
                self._clock.monotonic() - started
            )


_ACCEPT_JSON: Final = {"Accept": "application/json"}
_POST_FORM: Final = {**_ACCEPT_JSON, "Content-Type": "application/x-www-form-urlencoded"}


def _form_body(form: Mapping[str, str] | None) -> bytes | None:
    """The form-encoded POST body (what aiohttp's FormData makes of a dict, without building a
    multipart writer per request)."""
    return None if form is None else urlencode(form).encode()


@dataclass(frozen=True, slots=True)
class _Request:
    endpoint: Endpoint
    method: str
    url: URL
    safe_url: str
    form: Mapping[str, str] | None
    certificate_id: str | None


def _ignore(payload: dict[str, Any]) -> None:
    """Decoder for endpoints that answer only ``{"success": 1}``."""
    del payload


def _note_error(span: Span, error: ZeroSSLError) -> None:
    span.set_attribute("zerossl.error.kind", str(error.kind))
    if error.code is not None:
        span.set_attribute("zerossl.error.code", error.code)
    if error.type:
        span.set_attribute("zerossl.error.type", error.type)


def _checked_id(certificate_id: str) -> str:
    if not _CERTIFICATE_ID.match(certificate_id):
        raise ValueError(f"not a ZeroSSL certificate id: {certificate_id!r}")
    return certificate_id
