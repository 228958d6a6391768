"""Bearer-token authentication (tokens the sandbox issued map to users and groups, some until
an expiry) and impersonation (``Impersonate-User``/``-Group`` headers), as the real server does
them: impersonating needs the ``impersonate`` verb on ``users``, ``groups`` or
``serviceaccounts``, and the impersonated user keeps none of the impersonator's groups."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from .requestinfo import RequestInfo
from .status import StatusError

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
ADMIN_USER = "admin"
_SA_PREFIX = "system:serviceaccount:"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return MASTERS in self.groups


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


def service_account_user(namespace: str, name: str) -> User:
    return User(
        f"{_SA_PREFIX}{namespace}:{name}",
        ("system:serviceaccounts", f"system:serviceaccounts:{namespace}", AUTHENTICATED),
    )


@dataclass(frozen=True, slots=True)
class _Grant:
    user: User
    expires: float | None


class Authenticator:
    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._tokens: dict[str, _Grant] = {}
        self._clock = clock
        self.admin_token = self.add_user(ADMIN_USER, (MASTERS,))

    def _issue(self, user: User, lifetime: float | None = None) -> str:
        token = secrets.token_urlsafe(32)
        expires = None if lifetime is None else self._clock() + lifetime
        self._tokens[token] = _Grant(user, expires)
        return token

    def add_user(self, name: str, groups: tuple[str, ...] = ()) -> str:
        """Issue a new token for ``name``; every user is also ``system:authenticated``."""
        return self._issue(User(name, (*groups, AUTHENTICATED)))

    def add_service_account(
        self, namespace: str, name: str, lifetime: float | None = None
    ) -> tuple[str, float | None]:
        """A token for the ServiceAccount, valid for ``lifetime`` seconds (None: forever), and
        its expiry as a Unix time."""
        token = self._issue(service_account_user(namespace, name), lifetime)
        return token, self._tokens[token].expires

    def token_for(self, user: str) -> str:
        for token, grant in self._tokens.items():
            if grant.user.name == user and grant.expires is None:
                return token
        raise KeyError(f"no token issued for user {user!r}")

    def authenticate(self, authorization: str | None) -> User | None:
        """The user for an ``Authorization`` header; ANONYMOUS without one, None if invalid or
        expired."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        grant = self._tokens.get(token.strip())
        if grant is None or (grant.expires is not None and grant.expires <= self._clock()):
            return None
        return grant.user


def impersonated(
    user: User, headers: Mapping[str, str], allowed: Callable[[User, RequestInfo], bool]
) -> User:
    """The user a request acts as: ``user`` itself, or whom its Impersonate-* headers name if
    ``user`` may impersonate them (403 otherwise)."""
    name = headers.get("Impersonate-User")
    groups = tuple(v for k, v in headers.items() if k.lower() == "impersonate-group")
    if name is None:
        if groups:
            raise StatusError(
                500, "InternalError", "requested group impersonation without user impersonation"
            )
        return user
    checks: list[RequestInfo] = []
    if name.startswith(_SA_PREFIX) and name.count(":") == 3:
        namespace, sa = name.removeprefix(_SA_PREFIX).split(":")
        checks.append(_impersonate("serviceaccounts", sa, namespace))
        target = service_account_user(namespace, sa)
        groups = groups or target.groups
    else:
        checks.append(_impersonate("users", name))
    checks += [_impersonate("groups", g) for g in groups]
    for check in checks:
        if not allowed(user, check):
            raise StatusError(
                403,
                "Forbidden",
                f'{check.resource} "{check.name}" is forbidden: User "{user.name}" cannot '
                f'impersonate resource "{check.resource}" in API group "" '
                + (
                    f'in the namespace "{check.namespace}"'
                    if check.namespace
                    else "at the cluster scope"
                ),
                name=check.name,
                kind=check.resource,
            )
    if name != ANONYMOUS.name and AUTHENTICATED not in groups:
        groups = (*groups, AUTHENTICATED)
    return User(name, groups)


def _impersonate(resource: str, name: str, namespace: str | None = None) -> RequestInfo:
    return RequestInfo("impersonate", "", True, "", "v1", namespace, resource, None, name)
