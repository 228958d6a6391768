"""What only a real API server proves about manifests/: every overlay is accepted by
``kubectl apply -k`` with the server's strict field validation (the Prometheus Operator's own
CRDs registered for the monitoring overlay), a second apply and ``kubectl diff`` find nothing
to change, and the Deployment's pod is admitted by the real PodSecurity admission into the
namespace the overlay labels ``enforce=restricted``."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
import yaml

from controller.sandbox.stack.controlplane import ControlPlane, extra_crds
from tests.integration.controlplane.conftest import Kubectl

NAMESPACE = "zerossl-issuer-system"
OVERLAYS = ("default", "ha", "monitoring")


async def register_prometheus_operator_crds(kubectl: Kubectl) -> None:
    crds = [path for path in extra_crds() if path.name.startswith("monitoring.coreos.com_")]
    assert len(crds) == 2, f"make controlplane fetches the Prometheus Operator CRDs: {crds}"
    for path in crds:
        await kubectl("apply", "--server-side", "-f", str(path))
    await kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds[0]))
    await kubectl("wait", "--for=condition=Established", "--timeout=60s", "-f", str(crds[1]))


def pod_of(deployment: dict[str, Any], name: str) -> dict[str, Any]:
    template = deployment["spec"]["template"]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": NAMESPACE, **template["metadata"]},
        "spec": template["spec"],
    }


@pytest.mark.parametrize("overlay", OVERLAYS)
async def test_overlay_is_applied_with_strict_server_validation(
    real_cluster: ControlPlane, real_kubectl: Kubectl, overlay: str
) -> None:
    if overlay == "monitoring":
        await register_prometheus_operator_crds(real_kubectl)
    path = f"manifests/overlays/{overlay}"
    first = await real_kubectl("apply", "-k", path, "--validate=strict")
    assert "Warning" not in first.stderr, first.stderr
    generation = await real_kubectl(
        "-n", NAMESPACE, "get", "deployment/zerossl-issuer", "-o", "jsonpath={.metadata.generation}"
    )
    again = await real_kubectl("apply", "-k", path, "--validate=strict")
    # kubectl always re-sends a PodDisruptionBudget's selector (its patch strategy is
    # "replace"), so that one says "configured" while nothing changes; nothing else may.
    changed = [line for line in again.stdout.splitlines() if not line.endswith(" unchanged")]
    assert changed == ["poddisruptionbudget.policy/zerossl-issuer configured"], again.stdout
    assert "Warning" not in again.stderr, again.stderr
    assert (
        generation.stdout
        == (
            await real_kubectl(
                "-n",
                NAMESPACE,
                "get",
                "deployment/zerossl-issuer",
                "-o",
                "jsonpath={.metadata.generation}",
            )
        ).stdout
    )
    diff = await real_kubectl("diff", "-k", path, check=False)
    assert diff.returncode == 0, diff.stdout + diff.stderr
    await real_kubectl("-n", NAMESPACE, "get", "deployment,pdb,networkpolicy", "zerossl-issuer")


async def test_the_deployments_pod_passes_restricted_pod_security(real_kubectl: Kubectl) -> None:
    await real_kubectl("apply", "-k", "manifests/overlays/default")
    labels = await real_kubectl("get", "namespace", NAMESPACE, "-o", "jsonpath={.metadata.labels}")
    assert orjson.loads(labels.stdout)["pod-security.kubernetes.io/enforce"] == "restricted"
    deployment = orjson.loads(
        (
            await real_kubectl("-n", NAMESPACE, "get", "deployment/zerossl-issuer", "-o", "json")
        ).stdout
    )
    admitted = await real_kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(pod_of(deployment, "probe"))
    )
    assert "Warning" not in admitted.stderr, admitted.stderr

    # The control: the same pod allowed to escalate privileges is refused by the same check.
    escalating = copy.deepcopy(pod_of(deployment, "escalating"))
    escalating["spec"]["containers"][0]["securityContext"]["allowPrivilegeEscalation"] = True
    refused = await real_kubectl(
        "create", "--dry-run=server", "-f", "-", stdin=yaml.safe_dump(escalating), check=False
    )
    assert refused.returncode != 0
    assert 'violates PodSecurity "restricted:latest"' in refused.stderr, refused.stderr
