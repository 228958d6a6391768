"""The controller's pods meet the restricted Pod Security Standard in every overlay, and the
check itself catches each rule it implements."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.manifests.podsecurity import violations
from tests.manifests.render import NAMESPACE, OVERLAYS, controller_deployment, one, overlay

COMPLIANT: dict[str, Any] = {
    "securityContext": {"runAsNonRoot": True, "seccompProfile": {"type": "RuntimeDefault"}},
    "containers": [
        {
            "name": "app",
            "securityContext": {
                "allowPrivilegeEscalation": False,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]},
            },
        }
    ],
    "volumes": [{"name": "tmp", "emptyDir": {}}],
}


def _container(pod: dict[str, Any]) -> dict[str, Any]:
    ctx: dict[str, Any] = pod["containers"][0]["securityContext"]
    return ctx


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "host-network": (lambda p: p.update(hostNetwork=True), "host namespaces"),
    "host-pid": (lambda p: p.update(hostPID=True), "host namespaces"),
    "host-ipc": (lambda p: p.update(hostIPC=True), "host namespaces"),
    "privileged": (lambda p: _container(p).update(privileged=True), "privileged"),
    "host-path": (
        lambda p: p["volumes"].append({"name": "h", "hostPath": {"path": "/"}}),
        "hostPath volumes",
    ),
    "nfs-volume": (
        lambda p: p["volumes"].append({"name": "n", "nfs": {"server": "x", "path": "/"}}),
        "volume types",
    ),
    "host-port": (
        lambda p: p["containers"][0].update(ports=[{"containerPort": 80, "hostPort": 80}]),
        "hostPort",
    ),
    "escalation-unset": (
        lambda p: _container(p).pop("allowPrivilegeEscalation"),
        "allowPrivilegeEscalation",
    ),
    "run-as-root-allowed": (
        lambda p: p["securityContext"].pop("runAsNonRoot"),
        "runAsNonRoot",
    ),
    "container-overrides-non-root": (
        lambda p: _container(p).update(runAsNonRoot=False),
        "runAsNonRoot",
    ),
    "uid-zero": (lambda p: _container(p).update(runAsUser=0), "runAsUser"),
    "seccomp-missing": (lambda p: p["securityContext"].pop("seccompProfile"), "seccompProfile"),
    "seccomp-unconfined": (
        lambda p: _container(p).update(seccompProfile={"type": "Unconfined"}),
        "seccompProfile",
    ),
    "capabilities-kept": (lambda p: _container(p).pop("capabilities"), "drop ALL"),
    "capability-added": (
        lambda p: _container(p)["capabilities"]["add"].append("NET_ADMIN"),
        "adds NET_ADMIN",
    ),
    "proc-mount": (lambda p: _container(p).update(procMount="Unmasked"), "procMount"),
    "selinux-user": (
        lambda p: _container(p).update(seLinuxOptions={"user": "root"}),
        "seLinuxOptions",
    ),
    "unsafe-sysctl": (
        lambda p: p["securityContext"].update(sysctls=[{"name": "kernel.msgmax", "value": "1"}]),
        "sysctls",
    ),
    "apparmor-unconfined": (
        lambda p: _container(p).update(appArmorProfile={"type": "Unconfined"}),
        "appArmorProfile",
    ),
    "init-container": (
        lambda p: p.update(initContainers=[{"name": "init"}]),
        "initContainers[init]",
    ),
}


def test_compliant_pod_passes() -> None:
    assert violations(COMPLIANT) == []


@pytest.mark.parametrize("case", sorted(MUTATIONS))
def test_each_rule_is_enforced(case: str) -> None:
    mutate, expected = MUTATIONS[case]
    pod = copy.deepcopy(COMPLIANT)
    mutate(pod)
    found = violations(pod)
    assert any(expected in v for v in found), found


@pytest.mark.parametrize("name", OVERLAYS)
def test_controller_pods_meet_the_restricted_profile(name: str) -> None:
    pod = controller_deployment(overlay(name))["spec"]["template"]["spec"]
    assert violations(pod) == []
    container = pod["containers"][0]["securityContext"]
    assert container["readOnlyRootFilesystem"] is True
    assert container["capabilities"] == {"drop": ["ALL"]}
    assert pod["securityContext"]["runAsUser"] != 0


@pytest.mark.parametrize("name", OVERLAYS)
def test_namespace_enforces_the_restricted_profile(name: str) -> None:
    labels = one(overlay(name), "Namespace", NAMESPACE)["metadata"]["labels"]
    assert labels["pod-security.kubernetes.io/enforce"] == "restricted"
