"""Bearer-token authentication: tokens the sandbox issued map to users and groups."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

MASTERS = "system:masters"
AUTHENTICATED = "system:authenticated"
ADMIN_USER = "admin"


@dataclass(frozen=True, slots=True)
class User:
    name: str
    groups: tuple[str, ...]

    @property
    def is_admin(self) -> bool:
        return MASTERS in self.groups


ANONYMOUS = User("system:anonymous", ("system:unauthenticated",))


class Authenticator:
    def __init__(self) -> None:
        self._tokens: dict[str, User] = {}
        self.admin_token = self.add_user(ADMIN_USER, (MASTERS,))

    def add_user(self, name: str, groups: tuple[str, ...] = ()) -> str:
        """Issue a new token for ``name``; every user is also ``system:authenticated``."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = User(name, (*groups, AUTHENTICATED))
        return token

    def add_service_account(self, namespace: str, name: str) -> str:
        return self.add_user(
            f"system:serviceaccount:{namespace}:{name}",
            ("system:serviceaccounts", f"system:serviceaccounts:{namespace}"),
        )

    def token_for(self, user: str) -> str:
        for token, found in self._tokens.items():
            if found.name == user:
                return token
        raise KeyError(f"no token issued for user {user!r}")

    def authenticate(self, authorization: str | None) -> User | None:
        """The user for an ``Authorization`` header; ANONYMOUS without one, None if invalid."""
        if not authorization:
            return ANONYMOUS
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        return self._tokens.get(token.strip())
