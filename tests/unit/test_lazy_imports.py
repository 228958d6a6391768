"""Import on use: the libraries only some configurations need stay out of a controller that
does not use them (issue 15's memory budget). Each case runs in a fresh interpreter, since this
test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.support.tls import self_signed

# Loaded only by: a kubeconfig file (in a pod the service account is read directly), an rfc2136
# solver or a propagation wait (dnspython), a route53 solver (botocore's signer), tracing
# switched on (the SDK and the OTLP exporter), the first CSR or certificate read (cryptography:
# a standby replica never reads one), the test world (cel-python, PyYAML).
ON_USE = (
    "kubernetes_asyncio",
    "cryptography",
    "dns",
    "botocore",
    "opentelemetry.sdk",
    "opentelemetry.exporter",
    "yaml",
    "celpy",
    "controller.sandbox",
)


def loaded_after(code: str) -> list[str]:
    """Which of ``ON_USE`` a fresh interpreter has imported after running ``code``."""
    probe = textwrap.dedent(code) + textwrap.dedent(
        f"""
        import json, sys
        prefixes = {ON_USE!r}
        print(json.dumps(sorted({{
            p for p in prefixes for m in sys.modules if m == p or m.startswith(p + ".")
        }})))
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    )
    return list(json.loads(done.stdout.splitlines()[-1]))


def test_the_controller_imports_none_of_them() -> None:
    assert loaded_after("import controller.app, controller.cli") == []


def test_an_in_cluster_controller_with_an_http_solver_loads_none_of_them(tmp_path: Path) -> None:
    """Reads the service account, turns tracing off, builds the whole controller (caches,
    queues, elector, Events): still none of them."""
    certificate, _ = self_signed(tmp_path)
    (tmp_path / "ca.crt").write_bytes(certificate.read_bytes())
    (tmp_path / "token").write_text("t")
    code = f"""
    import pathlib
    from controller.app import Controller
    from controller.config import load
    from controller.kube.client import KubeClient
    from controller.kube.incluster import load_incluster
    from controller.observability.tracing import configure_tracing

    env = {{"KUBERNETES_SERVICE_HOST": "10.0.0.1", "KUBERNETES_SERVICE_PORT": "443"}}
    config = load_incluster(environ=env, directory=pathlib.Path({str(tmp_path)!r}))
    assert configure_tracing("zerossl-issuer", environ={{}}) is None
    Controller(load({{}}, []), KubeClient(config))
    """
    assert loaded_after(code) == []


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (
            "from controller.observability.tracing import configure_tracing\n"
            "configure_tracing('t', environ={'OTEL_EXPORTER_OTLP_ENDPOINT': 'http://127.0.0.1:9'})",
            ["opentelemetry.exporter", "opentelemetry.sdk"],
        ),
        (
            "from controller.issuer.solvers.dns import build_dns_provider\n"
            "build_dns_provider({'route53': {'region': 'us-east-1', 'hostedZoneID': 'Z1',"
            " 'accessKeyIDSecretRef': {'name': 'a', 'key': 'k'},"
            " 'secretAccessKeySecretRef': {'name': 'a', 'key': 's'}}},"
            " namespace='n', secrets=None, owner={}, kube=None, timeout=1.0)",
            ["botocore"],
        ),
        (
            "from controller.issuer.solvers.dns import build_dns_provider\n"
            "build_dns_provider({'rfc2136': {'nameserver': '127.0.0.1:53'}},"
            " namespace='n', secrets=None, owner={}, kube=None, timeout=1.0)",
            ["dns"],
        ),
        (
            "from controller.issuer.csr_policy import leaf_matches_csr\n"
            "assert not leaf_matches_csr('not a chain', b'not a CSR')",
            ["cryptography"],
        ),
    ],
    ids=["tracing-on", "route53", "rfc2136", "csr"],
)
def test_each_is_loaded_by_its_own_configuration(code: str, expected: list[str]) -> None:
    """The probe is sound: the configuration that needs a library does load it."""
    assert loaded_after(code) == expected
