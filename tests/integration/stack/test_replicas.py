"""Replicas as processes (here the fake controller): settings, the solver Service and HTTP
validation through it, kill/terminate/restart, leader lookup, and start failures."""

from __future__ import annotations

import base64
import socket
import sys
from pathlib import Path

import aiohttp
import psutil
import pytest
from cryptography import x509

from controller.sandbox.stack import (
    ControllerOptions,
    Replica,
    ReplicaStartError,
    Stack,
    StackOptions,
    issuer_ref,
    make_csr,
)
from controller.sandbox.stack.ports import PortAllocator
from tests.integration.stack.conftest import FAKE_CONTROLLER, ZeroSSL, fake_options

pytestmark = pytest.mark.integration

NAMES = ["shop.zerossl-issuer.dev", "www.shop.zerossl-issuer.dev"]
LEASE = ("coordination.k8s.io/v1", "Lease")


def children() -> set[int]:
    return {p.pid for p in psutil.Process().children(recursive=True)}


async def test_http_validation_reaches_the_replica_through_the_solver_service(
    tmp_path: Path,
) -> None:
    async with (
        Stack(fake_options(tmp_path, replicas=1, authorization=True)) as stack,
        aiohttp.ClientSession() as session,
    ):
        replica = stack.replicas[0]
        [started] = replica.json_logs()
        settings = started["settings"]
        assert settings["ZEROSSL_ISSUER_SOLVER_ADDR"] == f"127.0.0.1:{replica.ports.solver}"
        assert settings["ZEROSSL_ISSUER_PROBE_ADDR"] == f"127.0.0.1:{replica.ports.probe}"
        assert settings["ZEROSSL_ISSUER_METRICS_ADDR"] == f"127.0.0.1:{replica.ports.metrics}"
        assert settings["ZEROSSL_ISSUER_POD_NAME"] == "replica-0"
        assert settings["ZEROSSL_ISSUER_NAMESPACE"] == "zerossl-issuer-system"
        assert settings["ZEROSSL_ISSUER_CLUSTER_RESOURCE_NAMESPACE"] == "zerossl-issuer-system"
        assert settings["ZEROSSL_ISSUER_ZEROSSL_API_URL"] == stack.zerossl_url
        assert settings["ZEROSSL_ISSUER_LEADER_ELECT"] == "true"
        assert settings["ZEROSSL_ISSUER_LOG_FORMAT"] == "json"
        assert started["kubeconfig"] == str(stack.controller_kubeconfig)

        # The fake plays the controller: it takes the request, has ZeroSSL validate over HTTP
        # (emulator -> solver Service -> replica) and writes the chain to the status.
        csr = make_csr(NAMES)
        ref = issuer_ref("ZeroSSLClusterIssuer", "zerossl")
        await stack.cluster.create_certificate_request("default", "shop", csr, ref)
        chain_pem = await ZeroSSL(session, stack.zerossl_url, stack.options.api_key).issue(
            NAMES, csr, tmp_path
        )
        request = await stack.cluster.get_request("default", "shop")
        ready = {"type": "Ready", "status": "True", "reason": "Issued", "message": "issued"}
        request["status"]["conditions"].append(ready)
        request["status"]["certificate"] = base64.b64encode(chain_pem.encode()).decode()
        await stack.kube.replace_status(request)

        await stack.cluster.wait_for_request("default", "shop", reason="Issued", timeout=5)
        leaf, *_ = await stack.cluster.issued_chain("default", "shop")
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        assert sans.get_values_for_type(x509.DNSName) == NAMES
        assert leaf.public_key() == x509.load_pem_x509_csr(csr).public_key()
        assert stack.proxy.forwarded[replica.solver_address] >= len(NAMES)
        metrics = await replica.scrape_metrics()
        assert (metrics.value("fake_solver_requests_total") or 0) >= len(NAMES)
        # Nothing on stderr: the parent-death shim in front of the command is silent.
        assert replica.process.stderr_of_this_run() == ""


async def hold_lease(stack: Stack, holder: str) -> None:
    await stack.kube.apply(
        {
            "apiVersion": LEASE[0],
            "kind": LEASE[1],
            "metadata": {"name": "zerossl-issuer", "namespace": "zerossl-issuer-system"},
            "spec": {"holderIdentity": holder, "leaseDurationSeconds": 4},
        }
    )


async def test_kill_terminate_restart_and_the_leader(tmp_path: Path) -> None:
    async with Stack(fake_options(tmp_path, replicas=2)) as stack:
        first, second = stack.replicas
        assert await stack.leader() is None
        await hold_lease(stack, "replica-1")
        assert await stack.leader() is second
        assert await stack.wait_for_leader(timeout=1) is second

        assert await second.kill() == -9
        assert not second.running
        assert not await second.ready()
        with pytest.raises(TimeoutError, match=r"other than replica-1 .*holder now: replica-1"):
            await stack.wait_for_leader(timeout=0.3, other_than=second)
        # The solver Service now sends everything to the survivor.
        for _ in range(3):
            async with aiohttp.ClientSession() as session:
                url = "http://{}:{}/.well-known/pki-validation/none.txt".format(
                    *stack.proxy.address
                )
                async with session.get(url) as response:
                    assert response.status == 404
        assert stack.proxy.forwarded[first.solver_address] == 3

        await hold_lease(stack, "replica-0")
        assert await stack.wait_for_leader(timeout=1, other_than=second) is first
        old_pid = second.pid
        await second.restart()
        assert second.running
        assert second.pid != old_pid
        assert await second.ready()
        assert await first.terminate() == 0
        assert len(second.json_logs()) == 2  # one start line per run, in the same files


async def test_a_replica_that_exits_at_once_fails_the_start_with_its_stderr() -> None:
    before = children()
    script = "import sys; sys.stderr.write('invalid setting ZEROSSL_ISSUER_WORKERS\\n'); exit(2)"
    controller = ControllerOptions(command=(sys.executable, "-c", script))
    stack = Stack(StackOptions(replicas=1, controller=controller))
    with pytest.raises(ReplicaStartError) as failed:
        async with stack:
            pytest.fail("the stack started with a failing replica")
    message = str(failed.value)
    assert "replica-0 exited with code 2 before it was ready" in message
    assert "invalid setting ZEROSSL_ISSUER_WORKERS" in message
    assert children() == before
    assert not stack.workdir.exists()


async def test_a_replica_that_never_gets_ready_is_stopped(tmp_path: Path) -> None:
    controller = ControllerOptions(
        command=(sys.executable, "-c", "import time; time.sleep(60)"), ready_timeout=0.5
    )
    replica = Replica(
        0,
        controller,
        kubeconfig=tmp_path / "kubeconfig",
        zerossl_url="http://127.0.0.1:9",
        logdir=tmp_path,
        ports=PortAllocator(),
    )
    with pytest.raises(ReplicaStartError, match=r"replica-0 was not ready within 0.5s"):
        await replica.start()
    assert not replica.running
    assert replica.returncode is not None


class TakenFirst(PortAllocator):
    """Hands out ``taken`` as the metrics port of the first allocation."""

    def __init__(self, taken: int) -> None:
        super().__init__()
        self.taken = taken
        self.calls = 0

    def allocate(self, count: int) -> tuple[int, ...]:
        ports = super().allocate(count)
        self.calls += 1
        return (self.taken, *ports[1:]) if self.calls == 1 else ports


async def test_a_port_taken_before_the_replica_binds_it_is_replaced(tmp_path: Path) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        allocator = TakenFirst(squatter.getsockname()[1])
        replica = Replica(
            0,
            ControllerOptions(command=FAKE_CONTROLLER, stop_grace=5),
            kubeconfig=tmp_path / "kubeconfig",
            zerossl_url="http://127.0.0.1:9",
            logdir=tmp_path,
            ports=allocator,
        )
        try:
            await replica.start()
            assert allocator.calls == 2
            assert replica.ports.metrics != allocator.taken
            assert await replica.ready()
        finally:
            await replica.stop()
    assert "address already in use" in replica.stderr_path.read_text().lower()
