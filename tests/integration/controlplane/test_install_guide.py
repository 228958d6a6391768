"""docs/install.md's kubectl commands, run verbatim, in order, against each API-server world.

What the guide does with other tools stands in for them: cert-manager's CRDs are registered
(its step 2), the YAML it shows is saved under the file name it uses, and the objects the
controller would write (a ZeroSSLOrder) are created by the test. Commands that need running
pods, a running controller or cert-manager are listed in :data:`NEEDS_RUNNING` with why; every
other kubectl line of the guide must run and succeed as written (placeholders filled in).
"""

from __future__ import annotations

import base64
import re
import shlex
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Final

import pytest
import yaml

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.stack import make_csr
from controller.sandbox.stack.apiserver import ApiServerSettings
from controller.sandbox.stack.controlplane import ControlPlane
from tests.conftest import KubeWorld
from tests.integration.controlplane.conftest import Kubectl
from tests.support import kubectl_for

ROOT: Final = Path(__file__).parents[3]
GUIDE: Final = (ROOT / "docs" / "install.md").read_text()
NEEDS_RUNNING: Final = {
    "rollout status": "waits for the Deployment's pods (no nodes here)",
    "get lease": "the Lease exists once a controller replica runs",
    "get secret -n default www-example-com-tls": "cert-manager writes the Secret",
}
PLACEHOLDERS: Final = {"<namespace>": "default", "<name>": "stuck"}
ORDER: Final = {
    "apiVersion": "zerossl.issuer.dev/v1alpha1",
    "kind": "ZeroSSLOrder",
    "metadata": {"namespace": "default"},
    "spec": {
        "certificateRequestRef": {"name": "www-example-com-1", "uid": "0b6c1f4e"},
        "issuerRef": {"kind": "ZeroSSLClusterIssuer", "name": "zerossl-http"},
        "request": "LS0tLS1CRUdJTg==",
        "domains": ["www.example.com"],
        "validityDays": 90,
        "strictDomains": True,
        "csrHash": {"md5": "0" * 32, "sha256": "A" * 64},
        "validationMethod": "HTTP_CSR_HASH",
        "solvers": [{"domain": "www.example.com", "solverIndex": 0, "http": {"none": {}}}],
    },
}


def guide_commands() -> list[list[str]]:
    """Every kubectl command of the guide's ``sh`` blocks, continuation lines joined; a
    pipeline (a line ending in ``|`` and what it feeds) is one ``["sh", script]`` entry."""
    commands: list[list[str]] = []
    for block in re.findall(r"```sh\n(.*?)```", GUIDE, re.DOTALL):
        lines = block.replace("\\\n", " ").splitlines()
        while lines:
            line = lines.pop(0)
            if line.rstrip().endswith("|"):
                script = [line]
                while lines and (lines[0].startswith(" ") or script[-1].rstrip().endswith("|")):
                    script.append(lines.pop(0))
                commands.append(["sh", "\n".join(s.strip() for s in script)])
                continue
            words = shlex.split(line, comments=True)
            if words and words[0] == "kubectl":
                commands.append(words)
    return commands


def guide_yaml(kind: str) -> str:
    """The guide's YAML block that defines ``kind``."""
    for block in re.findall(r"```yaml\n(.*?)```", GUIDE, re.DOTALL):
        if re.search(rf"^kind: {kind}$", block, re.MULTILINE):
            return str(block)
    raise AssertionError(f"docs/install.md shows no {kind}")


def request(name: str) -> str:
    """The CertificateRequest cert-manager would make for the guide's Certificate."""
    csr = base64.b64encode(make_csr(["www.example.com", "example.com"])).decode()
    return yaml.safe_dump(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": name, "namespace": "default"},
            "spec": {
                "request": csr,
                "issuerRef": {
                    "group": "zerossl.issuer.dev",
                    "kind": "ZeroSSLClusterIssuer",
                    "name": "zerossl-http",
                },
            },
        }
    )


def order(name: str, *, finalizer: bool, owner_uid: str | None = None) -> str:
    """A ZeroSSLOrder as the controller writes it (owned by its request when ``owner_uid``)."""
    obj = {**ORDER, "metadata": {**ORDER["metadata"], "name": name}}
    if finalizer:
        obj["metadata"]["finalizers"] = ["zerossl.issuer.dev/order-cleanup"]
    if owner_uid is not None:
        obj["metadata"]["ownerReferences"] = [
            {
                "apiVersion": "cert-manager.io/v1",
                "kind": "CertificateRequest",
                "name": name,
                "uid": owner_uid,
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ]
    return yaml.safe_dump(obj)


@pytest.fixture
async def kubectl(kube_world: KubeWorld, tmp_path: Path) -> AsyncIterator[Kubectl]:
    if kube_world == "real":
        async with ControlPlane(ApiServerSettings(), tmp_path / "controlplane") as real:
            path = real.access.write_kubeconfig(tmp_path / "kubeconfig")
            yield Kubectl(kubectl_for(kube_world), path, control_plane=real)
        return
    async with KubeAPIServer(authorization=True) as emulated:
        path = emulated.write_kubeconfig(tmp_path / "kubeconfig")
        yield Kubectl(kubectl_for(kube_world), path)


def test_the_guide_has_the_commands_this_test_knows() -> None:
    commands = [" ".join(c) for c in guide_commands()]
    assert any(c.startswith("sh kubectl get certificaterequests") for c in commands), commands
    assert len(commands) >= 15
    for needle in NEEDS_RUNNING:
        assert any(needle in c for c in commands), f"NEEDS_RUNNING names a gone command {needle}"


async def test_install_guide_commands_run_verbatim(kubectl: Kubectl, tmp_path: Path) -> None:
    await kubectl("apply", "-f", "controller/sandbox/crds/")  # cert-manager's CRDs (step 2)
    await kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
    issuer_file = tmp_path / "zerossl-http.yaml"
    issuer_file.write_text(guide_yaml("ZeroSSLClusterIssuer"))
    ran: list[str] = []
    for words in guide_commands():
        line = " ".join(words)
        if any(needle in line for needle in NEEDS_RUNNING):
            continue
        if line.startswith("kubectl get certificaterequests"):
            # What cert-manager and the controller would write: the request and its Order.
            await kubectl("apply", "-f", "-", stdin=guide_yaml("Certificate"))
            await kubectl("apply", "-f", "-", stdin=request("www-example-com-1"))
            uid = await kubectl(
                "get", "certificaterequest", "-n", "default", "www-example-com-1",
                "-o", "jsonpath={.metadata.uid}",
            )  # fmt: skip
            await kubectl(
                "apply",
                "-f",
                "-",
                stdin=order("www-example-com-1", finalizer=False, owner_uid=uid.stdout),
            )
        if line.startswith("kubectl delete -k"):
            # Before removing the CRDs: an Order left with its finalizer, freed by the
            # guide's own patch command (its last one).
            await kubectl("apply", "-f", "-", stdin=order("stuck", finalizer=True))
            await kubectl("delete", "zerosslorder", "-n", "default", "stuck", "--wait=false")
            patch = next(c for c in guide_commands() if c[1] == "patch")
            await kubectl(*[PLACEHOLDERS.get(w, w) for w in patch[1:]])
            await kubectl("wait", "--for=delete", "zerosslorders", "--all", "-A", "--timeout=60s")
            gone = await kubectl("get", "zerosslorders", "-A", "-o", "name")
            assert gone.stdout == "", gone.stdout
            ran.append(" ".join(patch))
        if words[1] == "patch":
            continue  # run above, while the Order's CRD still exists
        if words[0] == "sh":
            result = await kubectl.script(words[1])
            assert result.returncode == 0, f"`{words[1]}` failed: {result.stderr}"
            ran.append(words[1])
            continue
        args = [str(issuer_file) if w == "zerossl-http.yaml" else w for w in words[1:]]
        args = [PLACEHOLDERS.get(w, w) for w in args]
        if "<name>" in line:
            args = ["www-example-com-1" if w == "stuck" else w for w in args]
        result = await kubectl(*args, check=False)
        ok = result.returncode == 0 or (words[1] == "diff" and result.returncode == 1)
        assert ok, f"`{line}` failed: {result.stderr}"
        ran.append(line)
        if line.startswith("kubectl apply -k") and kubectl.control_plane is not None:
            # The garbage collector learns kinds registered after it started only every 30 s;
            # on a cluster the CRDs predate it. Owned Orders then go with their requests.
            await kubectl("wait", "--for=condition=Established", "crd", "--all", "--timeout=60s")
            await kubectl.control_plane.restart_controller_manager()
    assert len(ran) >= 14, ran
