"""Token expiry and impersonation rules of the sandbox authenticator."""

from __future__ import annotations

import pytest

from controller.sandbox.kube.auth import Authenticator, User, impersonated
from controller.sandbox.kube.requestinfo import RequestInfo
from controller.sandbox.kube.status import StatusError


def test_service_account_token_stops_working_at_its_expiry() -> None:
    now = [1000.0]
    auth = Authenticator(clock=lambda: now[0])
    token, expires = auth.add_service_account("shop", "bot", 600)
    assert expires == 1600.0
    user = auth.authenticate(f"Bearer {token}")
    assert user is not None
    assert user.name == "system:serviceaccount:shop:bot"
    now[0] = 1599.0
    assert auth.authenticate(f"Bearer {token}") == user
    now[0] = 1600.0
    assert auth.authenticate(f"Bearer {token}") is None


def test_impersonation_checks_each_target_and_drops_the_impersonators_groups() -> None:
    asked: list[tuple[str, str | None, str | None]] = []

    def allowed(user: User, info: RequestInfo) -> bool:
        asked.append((info.resource, info.namespace, info.name))
        return info.name != "root"

    admin = User("ops", ("ops-team", "system:authenticated"))
    as_sa = impersonated(admin, {"Impersonate-User": "system:serviceaccount:shop:bot"}, allowed)
    assert as_sa.groups == (
        "system:serviceaccounts",
        "system:serviceaccounts:shop",
        "system:authenticated",
    )
    assert asked[0] == ("serviceaccounts", "shop", "bot")
    as_jane = impersonated(
        admin, {"Impersonate-User": "jane", "Impersonate-Group": "devs"}, allowed
    )
    assert as_jane == User("jane", ("devs", "system:authenticated"))
    assert asked[-2:] == [("users", None, "jane"), ("groups", None, "devs")]
    assert impersonated(admin, {}, allowed) is admin
    with pytest.raises(StatusError) as caught:
        impersonated(admin, {"Impersonate-User": "root"}, allowed)
    assert caught.value.code == 403
