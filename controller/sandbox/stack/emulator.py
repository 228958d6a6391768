"""The stack's ZeroSSL emulator, in this event loop or in a child process (its CLI), plus a
client for its ``/_emulator`` admin endpoints, which the stack uses in both modes."""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol, Self

import aiohttp

from controller.sandbox.zerossl import ZeroSSLEmulator

from .process import ManagedProcess

START_TIMEOUT: Final = 30.0
STOP_GRACE: Final = 5.0


@dataclass(frozen=True, slots=True)
class EmulatorSettings:
    issuance_delay: str = "zero"
    """As the CLI's ``--issuance-delay``: zero | SECONDS | fixed:S | uniform:LOW:HIGH."""
    rate_limit: float | None = None
    dcv_timeout: float = 5.0
    seed: int | None = None


class Emulator(Protocol):
    @property
    def url(self) -> str: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class InProcessEmulator:
    """The emulator in this event loop; :attr:`emulator` gives direct access (faults,
    release, request log)."""

    def __init__(self, settings: EmulatorSettings) -> None:
        self.emulator = ZeroSSLEmulator(
            issuance_delay=settings.issuance_delay,
            rate_limit=settings.rate_limit,
            dcv_timeout=settings.dcv_timeout,
            seed=settings.seed,
        )

    @property
    def url(self) -> str:
        return self.emulator.url

    async def __aenter__(self) -> Self:
        await self.emulator.__aenter__()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.emulator.__aexit__(*exc_info)


class EmulatorProcess:
    """``python -m controller.sandbox zerossl`` as a child process; configure it through
    :class:`EmulatorAdmin`."""

    def __init__(self, settings: EmulatorSettings, logdir: Path) -> None:
        argv = [sys.executable, "-m", "controller.sandbox", "zerossl", "--port", "0"]
        argv += ["--issuance-delay", settings.issuance_delay]
        argv += ["--dcv-timeout", str(settings.dcv_timeout)]
        if settings.rate_limit is not None:
            argv += ["--rate-limit", str(settings.rate_limit)]
        if settings.seed is not None:
            argv += ["--seed", str(settings.seed)]
        self.process = ManagedProcess("zerossl-emulator", argv, logdir=logdir)
        self._url: str | None = None

    @property
    def url(self) -> str:
        if self._url is None:
            raise RuntimeError("the emulator is not running")
        return self._url

    async def __aenter__(self) -> Self:
        await self.process.start()
        try:
            self._url = await self.process.first_stdout_line(START_TIMEOUT)
        except BaseException:
            await self.process.stop(STOP_GRACE)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._url = None
        await self.process.stop(STOP_GRACE)


class EmulatorAdminError(RuntimeError):
    """An ``/_emulator`` call was refused."""


class EmulatorAdmin:
    """``async with EmulatorAdmin(url) as admin: await admin.add_account("KEY")``; every call
    is bounded by ``timeout``."""

    def __init__(self, url: str, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(trust_env=False, timeout=self._timeout)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        if self._session is None:
            raise RuntimeError("EmulatorAdmin used outside its async with block")
        async with self._session.request(
            method, f"{self.url}/_emulator/{path}", json=body
        ) as response:
            answer = await response.json(content_type=None)
            if response.status != 200:
                message = answer.get("error") if isinstance(answer, dict) else answer
                raise EmulatorAdminError(
                    f"{method} /_emulator/{path}: {response.status}: {message}"
                )
            return answer

    async def add_account(
        self, key: str, *, quota: int | None = None, paid: bool = True, active: bool = True
    ) -> str:
        """Create or update the account for access key ``key``; returns its logged hash."""
        answer = await self.call(
            "PUT", "accounts", {"key": key, "quota": quota, "paid": paid, "active": active}
        )
        return str(answer["account"])

    async def resolve_default(self, host: str, port: int) -> None:
        """Send HTTP validation traffic of every unmapped domain to ``host:port``."""
        await self.call("PUT", "resolve", {"default": f"{host}:{port}"})
