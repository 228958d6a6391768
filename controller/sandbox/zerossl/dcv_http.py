"""HTTP file validation done for real: GET ``http://<domain>/.well-known/pki-validation/<MD5>.txt``
through the :class:`Resolver`, no redirects, content compared exactly.

Failures carry the documented ``error_slug`` values: ``http_transport_failed`` (no route or no
connection), ``timeout``, ``bad_response_code`` (anything but 200, 3xx included),
``bad_file_content`` (unreadable: not UTF-8 or larger than :data:`MAX_FILE_BYTES`) and
``wrong_file_content`` (readable but not exactly the three lines).
"""

from __future__ import annotations

from typing import Final, Self

import aiohttp

from controller.sandbox.zerossl.dcv import DomainCheck
from controller.sandbox.zerossl.model import DcvValues
from controller.sandbox.zerossl.resolver import Resolver

MAX_FILE_BYTES: Final = 4096


class HttpFileCheck:
    """Fetches validation files with one session, open while the check is entered (``async
    with``); every fetch is bounded by ``timeout``."""

    def __init__(self, resolver: Resolver, timeout: float) -> None:
        self._resolver = resolver
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(trust_env=False)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def check(self, domain: str, dcv: DcvValues) -> DomainCheck:
        url = dcv.file_url(domain)
        failure = await self._fetch_failure(domain, dcv)
        if failure is None:
            return DomainCheck(True, {"validation_successful": True})
        slug, info, found = failure
        entry = {"file_found": int(found), "error": True, "error_slug": slug, "error_info": info}
        return DomainCheck(False, {url: entry})

    async def _fetch_failure(self, domain: str, dcv: DcvValues) -> tuple[str, str, bool] | None:
        """None when the file is right, else (error_slug, error_info, file_found)."""
        target = self._resolver.target(domain)
        if target is None:
            return "http_transport_failed", f"Could not resolve host: {domain}", False
        if self._session is None:
            raise RuntimeError("HttpFileCheck used outside its async with block")
        host, port = target
        netloc = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
        url = f"http://{netloc}/.well-known/pki-validation/{dcv.md5}.txt"
        try:
            async with self._session.get(
                url, headers={"Host": domain}, allow_redirects=False, timeout=self._timeout
            ) as response:
                if response.status != 200:
                    return (
                        "bad_response_code",
                        f"Server responded with status code: {response.status}",
                        False,
                    )
                body = await _read_limited(response)
        except TimeoutError:
            return "timeout", "The request to the server timed out.", False
        except aiohttp.ClientError as exc:
            return "http_transport_failed", f"Connection failed: {type(exc).__name__}", False
        if body is None:
            return (
                "bad_file_content",
                f"The validation file is larger than {MAX_FILE_BYTES} bytes.",
                True,
            )
        try:
            text = body.decode()
        except UnicodeDecodeError:
            return "bad_file_content", "The validation file can not be read.", True
        if text != dcv.file_content:
            return (
                "wrong_file_content",
                "The validation file was found, but the contents are wrong.",
                True,
            )
        return None


async def _read_limited(response: aiohttp.ClientResponse) -> bytes | None:
    """The body, or None when it exceeds :data:`MAX_FILE_BYTES`."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_chunked(1024):
        size += len(chunk)
        if size > MAX_FILE_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)
