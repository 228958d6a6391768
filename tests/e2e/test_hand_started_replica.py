"""End to end: the real controller, killed and started again by hand from the command script
the stack recorded, takes the Lease and issues a certificate, ZeroSSL's HTTP validation
reaching it through the solver Service."""

from __future__ import annotations

from controller.sandbox.stack import Stack, issuer_ref, make_csr
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.issuance import WAIT, create_issuer
from tests.integration.stack.conftest import by_hand

NAMES = ["by-hand.zerossl-issuer.dev"]


async def test_a_controller_restarted_by_hand_issues(stack: Stack) -> None:
    await stack.cluster.create_api_key_secret(E2E_NAMESPACE)
    await create_issuer(stack, "hand")
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "hand", E2E_NAMESPACE, timeout=WAIT)
    replica = stack.replicas[0]
    await replica.kill()

    async with by_hand(replica.command_script, replica.probe_url, {}):
        ref = issuer_ref("ZeroSSLIssuer", "hand")
        await stack.cluster.create_certificate_request(E2E_NAMESPACE, "hand", make_csr(NAMES), ref)
        await stack.cluster.wait_for_request(E2E_NAMESPACE, "hand", reason="Issued", timeout=WAIT)
        assert await stack.lease_holder() == replica.name
    assert stack.proxy.forwarded[replica.solver_address] >= 1
