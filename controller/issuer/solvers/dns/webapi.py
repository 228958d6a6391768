"""HTTP calls to DNS provider APIs: one session per operation, every call bounded, transport
failures classified as retryable :class:`TransportError` with a redacted message."""

from __future__ import annotations

import contextlib
import email.utils
import time
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC

import aiohttp
from multidict import CIMultiDict

from controller.issuer.solvers.dns.errors import TransportError
from controller.observability.redact import redact_text, redact_url


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: Mapping[str, str]  # case-insensitive
    body: bytes

    def retry_after(self) -> float | None:
        """``Retry-After`` in seconds (delta-seconds or an HTTP date), None when absent."""
        return parse_retry_after(self.headers.get("Retry-After"))


def parse_retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, when.timestamp() - time.time())


class WebApi:
    """Calls to one provider (``name`` in messages) within ``timeout`` seconds each."""

    def __init__(self, session: aiohttp.ClientSession, name: str, timeout: float) -> None:
        self._session = session
        self._name = name
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    @classmethod
    @contextlib.asynccontextmanager
    async def open(cls, name: str, timeout: float) -> AsyncIterator[WebApi]:
        async with aiohttp.ClientSession(
            headers={"User-Agent": "zerossl-issuer"}, raise_for_status=False
        ) as session:
            yield cls(session, name, timeout)

    async def send(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> Reply:
        try:
            async with self._session.request(
                method,
                url,
                headers=headers,
                data=body,
                timeout=self._timeout,
                allow_redirects=False,
            ) as response:
                return Reply(response.status, CIMultiDict(response.headers), await response.read())
        except TimeoutError:
            raise TransportError(
                f"{self._name} did not answer {method} {redact_url(url)} within "
                f"{self._timeout.total:g}s"
            ) from None
        except aiohttp.ClientError as error:
            raise TransportError(
                f"cannot reach {self._name} ({method} {redact_url(url)}): {redact_text(str(error))}"
            ) from None
