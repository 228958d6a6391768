"""The stack's kube-apiserver, in this event loop or in a child process, behind one interface.

Both start a :class:`KubeAPIServer` with the same settings and issue bearer tokens for the
ServiceAccounts named up front; callers only see :class:`ApiServerAccess` (URL, CA, tokens), so
everything after start (CRDs, namespaces, RBAC) goes over HTTP the same way in both modes.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Protocol, Self

import orjson

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.kube import kubeconfig as kubeconfig_file

from .process import ManagedProcess

START_TIMEOUT: Final = 30.0
STOP_GRACE: Final = 5.0


def service_account_user(namespace: str, name: str) -> str:
    """The user name the API server authenticates a ServiceAccount token as."""
    return f"system:serviceaccount:{namespace}:{name}"


@dataclass(frozen=True, slots=True)
class ApiServerSettings:
    authorization: bool = False
    bookmark_interval: float = 60.0
    history: int = 10_000
    service_accounts: tuple[tuple[str, str], ...] = ()
    """(namespace, name) pairs to issue tokens for at start."""


@dataclass(frozen=True, slots=True)
class ApiServerAccess:
    """How to reach a running API server: ``tokens`` maps user names (see
    :func:`service_account_user`) to bearer tokens; the admin is in ``system:masters``."""

    url: str
    admin_token: str
    ca_pem: bytes | None
    tokens: Mapping[str, str] = field(default_factory=dict)

    def token(self, user: str) -> str:
        try:
            return self.tokens[user]
        except KeyError:
            raise KeyError(f"no token was issued for {user!r} at start") from None

    def write_kubeconfig(self, path: Path, user: str | None = None) -> Path:
        """A kubeconfig (mode 0600) for ``user``, or the admin when None."""
        token = self.admin_token if user is None else self.token(user)
        text = kubeconfig_file.render(self.url, token, user or "admin", self.ca_pem)
        return kubeconfig_file.write(path, text)

    def to_json(self) -> bytes:
        return orjson.dumps(
            {
                "url": self.url,
                "admin_token": self.admin_token,
                "ca_pem": self.ca_pem.decode() if self.ca_pem else None,
                "tokens": dict(self.tokens),
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> ApiServerAccess:
        data = orjson.loads(raw)
        ca_pem = data["ca_pem"]
        return cls(
            data["url"], data["admin_token"], ca_pem.encode() if ca_pem else None, data["tokens"]
        )


def issue_tokens(server: KubeAPIServer, accounts: Sequence[tuple[str, str]]) -> dict[str, str]:
    return {
        service_account_user(ns, name): server.add_service_account(ns, name)
        for ns, name in accounts
    }


def new_server(settings: ApiServerSettings) -> KubeAPIServer:
    return KubeAPIServer(
        authorization=settings.authorization,
        bookmark_interval=settings.bookmark_interval,
        history=settings.history,
    )


class ApiServer(Protocol):
    @property
    def access(self) -> ApiServerAccess: ...

    async def __aenter__(self) -> Self: ...

    async def __aexit__(self, *exc_info: object) -> None: ...


class InProcessApiServer:
    """The API server in this event loop; :attr:`server` gives direct access (faults,
    request counts)."""

    def __init__(self, settings: ApiServerSettings) -> None:
        self.settings = settings
        self.server = new_server(settings)
        self._access: ApiServerAccess | None = None

    @property
    def access(self) -> ApiServerAccess:
        if self._access is None:
            raise RuntimeError("the API server is not running")
        return self._access

    async def __aenter__(self) -> Self:
        await self.server.start()
        tokens = issue_tokens(self.server, self.settings.service_accounts)
        self._access = ApiServerAccess(
            self.server.url, self.server.admin_token, self.server.ca_pem, tokens
        )
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._access = None
        await self.server.stop()


class ApiServerProcess:
    """The API server in a child process (``python -m controller.sandbox.stack.apiserver_child``);
    fault injection goes through its ``/_sandbox/faults`` endpoint."""

    def __init__(self, settings: ApiServerSettings, logdir: Path) -> None:
        argv = [sys.executable, "-m", "controller.sandbox.stack.apiserver_child"]
        argv += ["--bookmark-interval", str(settings.bookmark_interval)]
        argv += ["--history", str(settings.history)]
        if settings.authorization:
            argv.append("--authorization")
        for namespace, name in settings.service_accounts:
            argv += ["--service-account", f"{namespace}/{name}"]
        self.process = ManagedProcess("kube-apiserver", argv, logdir=logdir)
        self._access: ApiServerAccess | None = None

    @property
    def access(self) -> ApiServerAccess:
        if self._access is None:
            raise RuntimeError("the API server is not running")
        return self._access

    async def __aenter__(self) -> Self:
        await self.process.start()
        try:
            line = await self.process.first_stdout_line(START_TIMEOUT)
            self._access = ApiServerAccess.from_json(line)
        except BaseException:
            await self.process.stop(STOP_GRACE)
            raise
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._access = None
        await self.process.stop(STOP_GRACE)
