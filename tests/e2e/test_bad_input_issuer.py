"""End to end: issuers that cannot sign (Secret or key missing; wrong, empty or inactive API
key; the certificate quota used up), against the real controller process and the emulated
ZeroSSL. The issuer says why on its Ready condition and in a Warning Event, requests wait
Pending with the issuer's reason and are issued once the user fixes it; the key never shows in
a condition or Event; a used-up quota costs one failed create, never a retry storm."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import pytest_asyncio

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    JSON,
    WAIT,
    calls_since,
    certificates_for,
    create_issuer,
    events_about,
    get_issuer,
    get_order,
    issued_chain,
    log_mark,
    module_stack,
    ready_condition,
    reported,
    wait_for_event,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

DOMAIN = "issuer.zerossl-issuer.dev"
CHECK_INTERVAL = 1.0
"""Seconds between the controller's periodic issuer checks (an inactive account is re-checked
only then). The quota retry time is not configurable: it stays 900 s (+/- 10 %)."""
WRONG_KEY = "wrong-zerossl-key-e2e"
INACTIVE_KEY = "inactive-zerossl-key-e2e"
QUOTA_KEY = "quota-zerossl-key-e2e"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    env = {"ZEROSSL_ISSUER_ISSUER_CHECK_INTERVAL": str(CHECK_INTERVAL)}
    async with module_stack(kube_world, controller_env=env) as running:
        yield running


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    yield from reported(request, stack)


async def put_secret(stack: Stack, name: str, data: dict[str, str]) -> None:
    """Create or replace the Secret ``name`` holding ``data`` (plain values)."""
    encoded = {k: base64.b64encode(v.encode()).decode() for k, v in data.items()}
    await stack.kube.apply(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": name, "namespace": E2E_NAMESPACE},
            "type": "Opaque",
            "data": encoded,
        }
    )


async def assert_secret_never_shown(stack: Stack, issuer: str, request: str, value: str) -> None:
    """``value`` appears in no status, condition or Event of the issuer and the request."""
    objects = [
        await get_issuer(stack, issuer),
        await stack.cluster.get_request(E2E_NAMESPACE, request),
        *await events_about(stack, "ZeroSSLIssuer", issuer, E2E_NAMESPACE),
        *await events_about(stack, "CertificateRequest", request, E2E_NAMESPACE),
    ]
    for obj in objects:
        assert value not in orjson.dumps(obj).decode(), obj


@dataclass(frozen=True, slots=True)
class KeyProblem:
    """An issuer whose API key cannot be used, and how the user fixes it."""

    name: str
    reason: str
    message: Callable[[str], str]
    """The issuer's Ready message, given the Secret's ``namespace/name``."""
    arrange: Callable[[Stack, str], Awaitable[None]]
    """Make the problem for the Secret ``name``."""
    fix: Callable[[Stack, str], Awaitable[None]]
    leaked: str | None = None
    """A value the Secret holds that must never show up."""


async def no_secret(stack: Stack, name: str) -> None:
    return None


async def right_key(stack: Stack, name: str) -> None:
    await put_secret(stack, name, {"api-key": stack.cluster.api_key})


async def wrong_key_name(stack: Stack, name: str) -> None:
    await put_secret(stack, name, {"token": stack.cluster.api_key})


async def empty_key(stack: Stack, name: str) -> None:
    await put_secret(stack, name, {"api-key": ""})


async def wrong_key(stack: Stack, name: str) -> None:
    await put_secret(stack, name, {"api-key": WRONG_KEY})


async def inactive_account(stack: Stack, name: str) -> None:
    await stack.zerossl_admin.add_account(INACTIVE_KEY, active=False)
    await put_secret(stack, name, {"api-key": INACTIVE_KEY})


async def activate_account(stack: Stack, name: str) -> None:
    await stack.zerossl_admin.add_account(INACTIVE_KEY, active=True)


KEY_PROBLEMS = [
    KeyProblem(
        "secret-missing",
        "SecretNotFound",
        lambda where: f"Secret {where} (key 'api-key') not found",
        no_secret,
        right_key,
    ),
    KeyProblem(
        "key-missing",
        "SecretKeyMissing",
        lambda where: f"Secret {where} (key 'api-key') has no such key",
        wrong_key_name,
        right_key,
    ),
    KeyProblem(
        "key-empty",
        "InvalidAPIKey",
        lambda where: f"the API key in Secret {where} (key 'api-key') is empty",
        empty_key,
        right_key,
    ),
    KeyProblem(
        "key-wrong",
        "InvalidAPIKey",
        lambda _: "ZeroSSL list: the ZeroSSL API key is invalid (error 101 invalid_access_key)",
        wrong_key,
        right_key,
        leaked=WRONG_KEY,
    ),
    KeyProblem(
        "account-inactive",
        "InactiveAccount",
        lambda _: "ZeroSSL list: the ZeroSSL account is not active (error 102 inactive_user)",
        inactive_account,
        activate_account,
        leaked=INACTIVE_KEY,
    ),
]


@pytest.mark.parametrize("problem", KEY_PROBLEMS, ids=[p.name for p in KEY_PROBLEMS])
async def test_unusable_api_key_holds_requests_until_fixed(
    stack: Stack, problem: KeyProblem
) -> None:
    name = problem.name
    csr = make_csr([f"{name}.{DOMAIN}"])
    await problem.arrange(stack, name)
    mark = log_mark(stack)

    await create_issuer(stack, name, secret=name)
    issuer = await stack.cluster.wait_for_issuer(
        "ZeroSSLIssuer", name, E2E_NAMESPACE, status="False", timeout=WAIT
    )
    ready = ready_condition(issuer)
    assert (ready["reason"], ready["message"]) == (
        problem.reason,
        problem.message(f"{E2E_NAMESPACE}/{name}"),
    )
    event = await wait_for_event(stack, "ZeroSSLIssuer", name, problem.reason, type_="Warning")
    assert event["note"] == ready["message"]

    await stack.cluster.create_certificate_request(
        E2E_NAMESPACE, name, csr, issuer_ref("ZeroSSLIssuer", name)
    )
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, name, status="False", reason="Pending", timeout=WAIT
    )
    assert ready_condition(request)["message"] == (
        f"Waiting for issuer ZeroSSLIssuer {E2E_NAMESPACE}/{name} to become ready: its Ready "
        f'condition is {problem.reason}: "{ready["message"]}"'
    )
    await wait_for_event(stack, "CertificateRequest", name, "IssuerNotReady", type_="Normal")
    assert await get_order(stack, name) is None
    assert calls_since(stack, mark, "create") == 0
    if problem.leaked is not None:
        await assert_secret_never_shown(stack, name, name, problem.leaked)

    await problem.fix(stack, name)
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", name, E2E_NAMESPACE, timeout=WAIT)
    await issued_chain(stack, E2E_NAMESPACE, name, csr)


async def test_used_up_quota_pauses_creates_without_a_retry_storm(stack: Stack) -> None:
    account = await stack.zerossl_admin.add_account(QUOTA_KEY, quota=1)
    await put_secret(stack, "quota", {"api-key": QUOTA_KEY})
    await create_issuer(stack, "quota", secret="quota")
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "quota", E2E_NAMESPACE, timeout=WAIT)
    ref = issuer_ref("ZeroSSLIssuer", "quota")
    first, second, third = (make_csr([f"quota-{i}.{DOMAIN}"]) for i in range(3))
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "quota-0", first, ref)
    await issued_chain(stack, E2E_NAMESPACE, "quota-0", first)  # the quota is now used up
    mark = log_mark(stack)

    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "quota-1", second, ref)
    issuer = await stack.cluster.wait_for_issuer(
        "ZeroSSLIssuer", "quota", E2E_NAMESPACE, status="False", timeout=WAIT
    )
    ready = ready_condition(issuer)
    assert ready["reason"] == "QuotaExhausted"
    assert "error 2817 certificate_limit_reached" in ready["message"]
    state = issuer["status"]["account"]
    assert state["quotaExhausted"] is True
    retry = datetime.fromisoformat(state["quotaRetryTime"])
    now = datetime.now(UTC)
    assert now + timedelta(seconds=780) < retry < now + timedelta(seconds=1000)
    assert f"no new certificates before {state['quotaRetryTime']}" in ready["message"]
    await wait_for_event(stack, "ZeroSSLIssuer", "quota", "QuotaExhausted", type_="Warning")

    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, "quota-1", status="False", reason="Pending", timeout=WAIT
    )
    assert "its Ready condition is QuotaExhausted" in ready_condition(request)["message"]
    await stack.cluster.create_certificate_request(E2E_NAMESPACE, "quota-2", third, ref)
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, "quota-2", status="False", reason="Pending", timeout=WAIT
    )
    assert "its Ready condition is QuotaExhausted" in ready_condition(request)["message"]
    assert await get_order(stack, "quota-2") is None

    # several issuer checks (every CHECK_INTERVAL) and batch polls later, still one create
    await asyncio.sleep(4 * CHECK_INTERVAL)
    assert calls_since(stack, mark, "create", account) == 1
    assert [c.status for c in stack.emulator.certificates() if c.account == account] == ["issued"]
    assert certificates_for(stack, second) == []
    for name in ("quota-1", "quota-2"):
        pending = ready_condition(await stack.cluster.get_request(E2E_NAMESPACE, name))
        assert pending["reason"] == "Pending", pending
    order: JSON | None = await get_order(stack, "quota-1")
    assert order is not None
    assert "certificateID" not in order["status"]


async def test_missing_dns_credentials_hold_the_issuer_before_any_draft(stack: Stack) -> None:
    """A DNS solver whose credentials Secret is missing: the issuer is not Ready (no draft is
    created that could never be validated); creating the Secret re-checks it at once."""
    name = "nosuch-cf"
    await right_key(stack, name)
    solver = {
        "dns": {"cloudflare": {"apiTokenSecretRef": {"name": f"{name}-token", "key": "token"}}}
    }
    mark = log_mark(stack)

    await create_issuer(stack, name, secret=name, solvers=[solver])
    issuer = await stack.cluster.wait_for_issuer(
        "ZeroSSLIssuer", name, E2E_NAMESPACE, status="False", timeout=WAIT
    )
    ready = ready_condition(issuer)
    assert (ready["reason"], ready["message"]) == (
        "SolverSecretNotFound",
        f"spec.solvers[0].dns.cloudflare.apiTokenSecretRef: Secret {E2E_NAMESPACE}/{name}-token "
        "not found",
    )
    await wait_for_event(stack, "ZeroSSLIssuer", name, "SolverSecretNotFound", type_="Warning")

    await stack.cluster.create_certificate_request(
        E2E_NAMESPACE, name, make_csr([f"{name}.{DOMAIN}"]), issuer_ref("ZeroSSLIssuer", name)
    )
    request = await stack.cluster.wait_for_request(
        E2E_NAMESPACE, name, status="False", reason="Pending", timeout=WAIT
    )
    assert "SolverSecretNotFound" in ready_condition(request)["message"]
    assert await get_order(stack, name) is None
    assert calls_since(stack, mark, "create") == 0

    await put_secret(stack, f"{name}-token", {"token": "cf-token-e2e"})
    issuer = await stack.cluster.wait_for_issuer(
        "ZeroSSLIssuer", name, E2E_NAMESPACE, status="True", timeout=WAIT
    )
    assert ready_condition(issuer)["reason"] == "Checked"
    await assert_secret_never_shown(stack, name, name, "cf-token-e2e")
