"""The Kubernetes Pod Security Standards, restricted profile (latest), as a pure check.

``violations(pod_spec)`` lists every rule of the baseline and restricted levels that a pod
template breaks, phrased like the admission plugin's messages; [] means the pod would be
admitted in a namespace labelled ``pod-security.kubernetes.io/enforce: restricted``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

PodSpec = dict[str, Any]

RESTRICTED_VOLUME_TYPES = frozenset(
    {
        "configMap",
        "csi",
        "downwardAPI",
        "emptyDir",
        "ephemeral",
        "persistentVolumeClaim",
        "projected",
        "secret",
    }
)
RESTRICTED_ADDABLE_CAPABILITIES = frozenset({"NET_BIND_SERVICE"})
SAFE_SYSCTLS = frozenset(
    {
        "kernel.shm_rmid_forced",
        "net.ipv4.ip_local_port_range",
        "net.ipv4.ip_unprivileged_port_start",
        "net.ipv4.tcp_syncookies",
        "net.ipv4.ping_group_range",
        "net.ipv4.ip_local_reserved_ports",
        "net.ipv4.tcp_keepalive_time",
        "net.ipv4.tcp_fin_timeout",
        "net.ipv4.tcp_keepalive_intvl",
        "net.ipv4.tcp_keepalive_probes",
    }
)
ALLOWED_SELINUX_TYPES = frozenset(
    {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
)
ALLOWED_SECCOMP = frozenset({"RuntimeDefault", "Localhost"})
ALLOWED_APPARMOR = frozenset({"RuntimeDefault", "Localhost"})


def containers(pod: PodSpec) -> Iterator[tuple[str, dict[str, Any]]]:
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in pod.get(field) or ():
            yield f"{field}[{container.get('name')}]", container


def violations(pod: PodSpec) -> list[str]:
    """Every baseline and restricted rule the pod spec breaks ([] when compliant)."""
    return [*_baseline(pod), *_restricted(pod)]


def _baseline(pod: PodSpec) -> Iterator[str]:
    pod_ctx = pod.get("securityContext") or {}
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if pod.get(field):
            yield f"host namespaces: {field}=true"
    if (pod_ctx.get("windowsOptions") or {}).get("hostProcess"):
        yield "hostProcess: pod securityContext.windowsOptions.hostProcess=true"
    for volume in pod.get("volumes") or ():
        if "hostPath" in volume:
            yield f"hostPath volumes: {volume.get('name')}"
    for sysctl in pod_ctx.get("sysctls") or ():
        if sysctl.get("name") not in SAFE_SYSCTLS:
            yield f"sysctls: {sysctl.get('name')} is not a safe sysctl"
    yield from _selinux("pod", pod_ctx)
    yield from _seccomp_not_unconfined("pod", pod_ctx)
    yield from _apparmor("pod", pod_ctx)
    for where, container in containers(pod):
        ctx = container.get("securityContext") or {}
        if ctx.get("privileged"):
            yield f"privileged: {where}"
        if (ctx.get("windowsOptions") or {}).get("hostProcess"):
            yield f"hostProcess: {where}"
        for port in container.get("ports") or ():
            if port.get("hostPort"):
                yield f"hostPort: {where} uses host port {port['hostPort']}"
        if ctx.get("procMount", "Default") != "Default":
            yield f"procMount: {where} uses {ctx['procMount']}"
        yield from _selinux(where, ctx)
        yield from _seccomp_not_unconfined(where, ctx)
        yield from _apparmor(where, ctx)


def _selinux(where: str, ctx: dict[str, Any]) -> Iterator[str]:
    options = ctx.get("seLinuxOptions") or {}
    if options.get("type", "") not in ALLOWED_SELINUX_TYPES:
        yield f"seLinuxOptions: {where} type {options['type']}"
    for field in ("user", "role"):
        if options.get(field):
            yield f"seLinuxOptions: {where} sets {field}"


def _seccomp_not_unconfined(where: str, ctx: dict[str, Any]) -> Iterator[str]:
    if (ctx.get("seccompProfile") or {}).get("type") == "Unconfined":
        yield f"seccompProfile: {where} is Unconfined"


def _apparmor(where: str, ctx: dict[str, Any]) -> Iterator[str]:
    profile = ctx.get("appArmorProfile")
    if profile and profile.get("type") not in ALLOWED_APPARMOR:
        yield f"appArmorProfile: {where} is {profile.get('type')}"


def _restricted(pod: PodSpec) -> Iterator[str]:
    pod_ctx = pod.get("securityContext") or {}
    for volume in pod.get("volumes") or ():
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            yield f"volume types: {volume.get('name')} uses {', '.join(sorted(kinds))}"
    if pod_ctx.get("runAsUser") == 0:
        yield "runAsUser: pod runs as UID 0"
    for where, container in containers(pod):
        ctx = container.get("securityContext") or {}
        if ctx.get("allowPrivilegeEscalation") is not False:
            yield f"allowPrivilegeEscalation != false: {where}"
        run_as_non_root = ctx.get("runAsNonRoot", pod_ctx.get("runAsNonRoot"))
        if run_as_non_root is not True:
            yield f"runAsNonRoot != true: {where}"
        if ctx.get("runAsUser") == 0:
            yield f"runAsUser: {where} runs as UID 0"
        seccomp = (ctx.get("seccompProfile") or pod_ctx.get("seccompProfile") or {}).get("type")
        if seccomp not in ALLOWED_SECCOMP:
            yield f"seccompProfile: {where} must be RuntimeDefault or Localhost, is {seccomp}"
        capabilities = ctx.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or ()):
            yield f"unrestricted capabilities: {where} must drop ALL"
        added = set(capabilities.get("add") or ()) - RESTRICTED_ADDABLE_CAPABILITIES
        if added:
            yield f"unrestricted capabilities: {where} adds {', '.join(sorted(added))}"
