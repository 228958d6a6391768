"""End to end: docs/install.md's uninstall step 2, run as written with the real kubectl against
the real controller, leaves no ZeroSSLOrder behind and orders no new certificate, while a
request is still waiting (an unanswered approval email), and cancels its ZeroSSL draft."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
import pytest_asyncio

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from controller.sandbox.stack.cluster import ISSUER_API_VERSION
from controller.sandbox.stack.waiting import poll
from tests.conftest import KubeWorld
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import (
    WAIT,
    calls_since,
    certificates_for,
    create_issuer,
    log_mark,
    module_stack,
    reported,
    wait_for_order,
)
from tests.support import kubectl_for

pytestmark = pytest.mark.asyncio(loop_scope="module")

INSTALL = Path(__file__).resolve().parents[2] / "docs" / "install.md"
ISSUER = "uninstall"
STAYS_EMPTY = 3.0
"""Seconds the orders must stay gone (a pending request would re-order at once)."""


def uninstall_step(number: int) -> str:
    """The first ``sh`` block of step ``number`` of docs/install.md's Uninstalling section."""
    section = INSTALL.read_text().split("## Uninstalling", 1)[1].split("\n## ", 1)[0]
    step = re.split(rf"^{number}\. ", section, maxsplit=1, flags=re.M)[1]
    block = re.search(r"```sh\n(.*?)```", step, re.S)
    assert block is not None, f"step {number} has no sh block"
    return "\n".join(line.strip() for line in block.group(1).splitlines())


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def stack(kube_world: KubeWorld) -> AsyncIterator[Stack]:
    async with module_stack(kube_world) as running:
        await running.cluster.create_api_key_secret(E2E_NAMESPACE)
        await create_issuer(running, ISSUER, solvers=[{"email": {}}])
        await running.cluster.wait_for_issuer("ZeroSSLIssuer", ISSUER, E2E_NAMESPACE, timeout=WAIT)
        yield running


@pytest.fixture(autouse=True)
def _report(request: pytest.FixtureRequest, stack: Stack) -> Iterator[None]:
    yield from reported(request, stack)


async def orders(stack: Stack) -> list[str]:
    found = await stack.kube.list_objects(ISSUER_API_VERSION, "ZeroSSLOrder")
    return [o["metadata"]["name"] for o in found]


async def test_the_documented_uninstall_leaves_no_order_and_orders_nothing_new(
    stack: Stack, tmp_path: Path, kube_world: KubeWorld
) -> None:
    csr = make_csr(["waiting.uninstall.zerossl-issuer.dev"])
    await stack.cluster.create_certificate_request(
        E2E_NAMESPACE, "waiting", csr, issuer_ref("ZeroSSLIssuer", ISSUER)
    )
    await wait_for_order(stack, "waiting", "WaitingForIssuance")
    (draft,) = certificates_for(stack, csr)
    mark = log_mark(stack)

    script = uninstall_step(2)
    # HOME: kubectl keeps its discovery cache under it (never in the working directory).
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "KUBECONFIG": str(stack.admin_kubeconfig),
    }
    kubectl = Path(kubectl_for(kube_world)).parent
    env["PATH"] = f"{kubectl}:{env['PATH']}"
    done = await asyncio.to_thread(
        subprocess.run,
        ["/bin/bash", "-eo", "pipefail", "-c", script],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=WAIT,
        check=False,
    )
    assert done.returncode == 0, done.stderr

    async def empty() -> bool | None:
        return True if not await orders(stack) else None

    await poll(empty, timeout=WAIT, describe=lambda: "ZeroSSLOrders are still there")
    await asyncio.sleep(STAYS_EMPTY)
    assert await orders(stack) == []
    assert calls_since(stack, mark, "create") == 0
    assert [c.status for c in certificates_for(stack, csr)] == ["cancelled"]
    assert certificates_for(stack, csr)[0].id == draft.id
