"""A replica started by hand from the script the stack recorded: it runs with the stack's
settings, registers its solver address, and the solver Service forwards ZeroSSL's HTTP
validation to it (also a second one on other ports); the script holds no secret value."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import aiohttp
import pytest

from controller.sandbox.stack import Stack, make_csr
from controller.sandbox.stack.handstart import parse_address, registered, render_script
from tests.integration.stack.conftest import ZeroSSL, by_hand, fake_options

pytestmark = pytest.mark.integration

NAMES = ["hand.zerossl-issuer.dev"]


async def test_a_replica_restarted_by_hand_serves_http_validation(tmp_path: Path) -> None:
    solver_dir = tmp_path / "solver"
    solver_dir.mkdir()
    async with (
        Stack(fake_options(solver_dir, replicas=1)) as stack,
        aiohttp.ClientSession() as session,
    ):
        replica = stack.replicas[0]
        script = replica.command_script
        text = script.read_text()
        assert f"KUBECONFIG={stack.controller_kubeconfig}; export KUBECONFIG" in text
        assert (
            f"ZEROSSL_ISSUER_SOLVER_ADDR=${{ZEROSSL_ISSUER_SOLVER_ADDR-127.0.0.1:{replica.ports.solver}}}"
            in text
        )
        assert stack.access.token(stack.controller_user) not in text
        assert stack.options.api_key not in text
        zerossl = ZeroSSL(session, stack.zerossl_url, stack.options.api_key)

        await replica.kill()
        assert stack.proxy.address  # the Service stays; it has no endpoint now
        async with by_hand(script, replica.probe_url, {}):
            assert registered(stack.solver_registry) == [replica.solver_address]
            await zerossl.issue(NAMES, make_csr(NAMES), solver_dir)
        assert stack.proxy.forwarded[replica.solver_address] >= 1

        # A second one, on other ports, under another name.
        ports = stack._ports.allocate(3)
        other = {
            "ZEROSSL_ISSUER_POD_NAME": "by-hand",
            "ZEROSSL_ISSUER_METRICS_ADDR": f"127.0.0.1:{ports[0]}",
            "ZEROSSL_ISSUER_PROBE_ADDR": f"127.0.0.1:{ports[1]}",
            "ZEROSSL_ISSUER_SOLVER_ADDR": f"127.0.0.1:{ports[2]}",
        }
        async with by_hand(script, f"http://127.0.0.1:{ports[1]}", other):
            assert ("127.0.0.1", ports[2]) in registered(stack.solver_registry)
            await zerossl.issue(NAMES, make_csr(NAMES), solver_dir)
        assert stack.proxy.forwarded["127.0.0.1", ports[2]] >= 1


def test_the_script_asks_for_secret_values_and_quotes_the_rest(tmp_path: Path) -> None:
    text = render_script(
        "replica-0",
        ["/usr/bin/python3", "-m", "controller", "run"],
        {
            "ZEROSSL_ISSUER_LOG_LEVEL": "info",
            "OTEL_EXPORTER_OTLP_HEADERS_AUTH": "Bearer s3cr3t",
            "ZEROSSL_ISSUER_ODD": "a b'c",
            "KUBECONFIG": "/w/controller.kubeconfig",
        },
        cwd=tmp_path,
        registry=tmp_path / "solver-endpoints",
    )
    assert "s3cr3t" not in text
    assert "OTEL_EXPORTER_OTLP_HEADERS_AUTH:?set" in text
    assert text.rstrip().endswith('exec /usr/bin/python3 -m controller run "$@"')
    script = tmp_path / "s.sh"
    script.write_text(text.replace("exec /usr/bin/python3 -m controller run", "env"))
    out = subprocess.run(
        ["sh", str(script)],
        env={
            "PATH": os.environ["PATH"],
            "OTEL_EXPORTER_OTLP_HEADERS_AUTH": "x",
            "ZEROSSL_ISSUER_POD_NAME": "p",
            "ZEROSSL_ISSUER_SOLVER_ADDR": ":9",
        },
        capture_output=True,
        text=True,
        check=True,
        timeout=10,
    ).stdout.splitlines()
    assert "ZEROSSL_ISSUER_ODD=a b'c" in out
    assert "ZEROSSL_ISSUER_LOG_LEVEL=info" in out
    assert "KUBECONFIG=/w/controller.kubeconfig" in out
    assert registered(tmp_path / "solver-endpoints") == [("127.0.0.1", 9)]


def test_parse_address() -> None:
    assert parse_address("127.0.0.1:8089\n") == ("127.0.0.1", 8089)
    assert parse_address(":8089") == ("127.0.0.1", 8089)
    assert parse_address("[::1]:80") == ("::1", 80)
    for bad in ("", "8089", "host:", "host:port", "h:70000"):
        assert parse_address(bad) is None
