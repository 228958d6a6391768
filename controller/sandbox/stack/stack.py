"""``Stack``: the whole sandbox on loopback, as one async context manager.

Brings up, in order: the API server (CRDs, namespaces, the controller's ServiceAccount and
RBAC, a kubeconfig per user), the ZeroSSL emulator (one account; its key in a Secret), the
solver Service (a proxy to whichever replica is alive, the emulator's default HTTP validation
target) and N controller replicas, each waited on until ready. Leaving the block stops them in
reverse order (replicas first, while the API server can still take their lease release), reaps
every process and removes the work directory unless asked to keep it, also when the block
raised or the start failed half-way.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final, Literal, Self, TypeVar

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.kube.server import RequestKey
from controller.sandbox.zerossl import ZeroSSLEmulator

from . import audit, handstart, manifests
from .apiserver import (
    ApiServer,
    ApiServerAccess,
    ApiServerProcess,
    ApiServerSettings,
    InProcessApiServer,
    service_account_user,
)
from .cluster import Cluster
from .controlplane import ControlPlane
from .emulator import (
    Emulator,
    EmulatorAdmin,
    EmulatorProcess,
    EmulatorSettings,
    InProcessEmulator,
)
from .kubeapi import JSON, KubeAPI
from .ports import PortAllocator
from .proxy import Address, ServiceProxy
from .replica import ControllerOptions, Replica, ReplicaStartError
from .waiting import poll

T = TypeVar("T")
Mode = Literal["in-process", "subprocess"]
MODES: Final = ("in-process", "subprocess")
KubeMode = Literal["in-process", "subprocess", "real"]
KUBE_MODES: Final = (*MODES, "real")
RBAC_KINDS: Final = frozenset({"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"})
SERVED_TIMEOUT: Final = 10.0


@dataclass(frozen=True, slots=True)
class StackOptions:
    """What to bring up. ``subprocess`` modes keep the test process light (chaos and load
    runs); ``rbac`` replaces manifests/rbac with the caller's Roles and bindings (the
    ServiceAccount is created either way); ``api_key_secret`` names the Secret made for
    ``api_key`` in the cluster resource namespace (None: none is made). The work directory
    (kubeconfigs, logs) is ``workdir`` when given, and kept; else a temporary one, removed on
    exit unless ``keep_workdir``."""

    replicas: int = 1
    controller: ControllerOptions = field(default_factory=ControllerOptions)
    kube_mode: KubeMode = "in-process"
    zerossl_mode: Mode = "in-process"
    authorization: bool = False
    rbac: Sequence[JSON] | None = None
    namespaces: Sequence[str] = ("default",)
    api_key: str = "sandbox-zerossl-access-key"
    account_quota: int | None = None
    account_paid: bool = True
    api_key_secret: str | None = "zerossl-api-key"  # noqa: S105 (the Secret object's name)
    emulator: EmulatorSettings = field(default_factory=EmulatorSettings)
    bookmark_interval: float = 60.0
    workdir: Path | None = None
    keep_workdir: bool = False

    def __post_init__(self) -> None:
        if self.replicas < 0:
            raise ValueError(f"replicas must be >= 0, got {self.replicas}")
        if self.kube_mode not in KUBE_MODES:
            raise ValueError(f"kube_mode must be one of {KUBE_MODES}, got {self.kube_mode!r}")
        if self.zerossl_mode not in MODES:
            raise ValueError(f"zerossl_mode must be one of {MODES}, got {self.zerossl_mode!r}")


class Stack:
    """``async with Stack(StackOptions(replicas=3)) as stack: ...`` (see the module doc)."""

    def __init__(self, options: StackOptions | None = None) -> None:
        self.options = options or StackOptions()
        self.replicas: list[Replica] = []
        self._exit = contextlib.AsyncExitStack()
        self._workdir: Path | None = None
        self._apiserver: ApiServer | None = None
        self._emulator: Emulator | None = None
        self._kube: KubeAPI | None = None
        self._zerossl_admin: EmulatorAdmin | None = None
        self._proxy: ServiceProxy | None = None
        self._cluster: Cluster | None = None
        self._rbac_applied: set[tuple[str, str, str | None, str]] = set()
        self._ports = PortAllocator()
        self._audit_since = 0

    # --- the parts -------------------------------------------------------------------------

    @property
    def workdir(self) -> Path:
        return _running(self._workdir)

    @property
    def access(self) -> ApiServerAccess:
        """URL, CA and tokens of the API server."""
        return _running(self._apiserver).access

    @property
    def kube(self) -> KubeAPI:
        """An admin (``system:masters``) client."""
        return _running(self._kube)

    @property
    def cluster(self) -> Cluster:
        """User and cert-manager actions: Secrets, issuers, CertificateRequests, waits."""
        return _running(self._cluster)

    @property
    def zerossl_url(self) -> str:
        return _running(self._emulator).url

    @property
    def zerossl_admin(self) -> EmulatorAdmin:
        """The emulator's ``/_emulator`` endpoints (both modes)."""
        return _running(self._zerossl_admin)

    @property
    def proxy(self) -> ServiceProxy:
        """The solver Service."""
        return _running(self._proxy)

    @property
    def kube_server(self) -> KubeAPIServer:
        """The in-process API server (faults, request counts); in-process mode only."""
        apiserver = _running(self._apiserver)
        if not isinstance(apiserver, InProcessApiServer):
            raise RuntimeError(
                f"the API server runs as {self.options.kube_mode!r}, not in this process"
            )
        return apiserver.server

    def request_counts(self) -> dict[RequestKey, int]:
        """Requests the API server answered since the last :meth:`reset_request_counts`, by
        (user, verb, resource label, code): the in-process emulator's counters, or the real
        control plane's audit log (a subprocess emulator answers ``/_sandbox/requests``).
        Watches are counted once they end on the emulator, once they start on the real one."""
        apiserver = _running(self._apiserver)
        if isinstance(apiserver, ControlPlane):
            return audit.request_counts(apiserver.audit_log, self._audit_since)
        return self.kube_server.request_counts()

    def reset_request_counts(self) -> None:
        apiserver = _running(self._apiserver)
        if isinstance(apiserver, ControlPlane):
            self._audit_since = audit.log_size(apiserver.audit_log)
        else:
            self.kube_server.reset_request_counts()

    @property
    def control_plane(self) -> ControlPlane:
        """The real etcd + kube-apiserver (audit log, processes); ``kube_mode="real"`` only."""
        apiserver = _running(self._apiserver)
        if not isinstance(apiserver, ControlPlane):
            raise RuntimeError(f"the API server runs as {self.options.kube_mode!r}, not real")
        return apiserver

    @property
    def emulator(self) -> ZeroSSLEmulator:
        """The in-process emulator (faults, release, request log); in-process mode only."""
        emulator = _running(self._emulator)
        if not isinstance(emulator, InProcessEmulator):
            raise RuntimeError("the emulator runs in a subprocess: use zerossl_admin")
        return emulator.emulator

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig"

    @property
    def controller_kubeconfig(self) -> Path:
        return self.workdir / "controller.kubeconfig"

    @property
    def solver_registry(self) -> Path:
        """Where replicas started by hand register their solver address (see handstart)."""
        return self.workdir / "solver-endpoints"

    @property
    def controller_user(self) -> str:
        """The user name of the controller's ServiceAccount."""
        o = self.options.controller
        return service_account_user(o.namespace, o.service_account)

    # --- lifetime --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        async with contextlib.AsyncExitStack() as exit_stack:
            await self._start(exit_stack)
            self._exit = exit_stack.pop_all()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self._exit.aclose()

    async def _start(self, exit_stack: contextlib.AsyncExitStack) -> None:
        o, c = self.options, self.options.controller
        self._workdir = self._make_workdir(exit_stack)
        settings = ApiServerSettings(
            authorization=o.authorization,
            bookmark_interval=o.bookmark_interval,
            service_accounts=((c.namespace, c.service_account),),
        )
        self._apiserver = await exit_stack.enter_async_context(self._new_apiserver(settings))
        access = self.access
        self._kube = await exit_stack.enter_async_context(
            KubeAPI(access.url, access.admin_token, access.ca_pem)
        )
        access.write_kubeconfig(self.admin_kubeconfig)
        access.write_kubeconfig(self.controller_kubeconfig, self.controller_user)
        self._cluster = Cluster(self.kube, secret_namespace=c.secret_namespace, api_key=o.api_key)
        await self._install()

        self._emulator = await exit_stack.enter_async_context(
            InProcessEmulator(o.emulator)
            if o.zerossl_mode == "in-process"
            else EmulatorProcess(o.emulator, self.workdir / "zerossl")
        )
        self._zerossl_admin = await exit_stack.enter_async_context(EmulatorAdmin(self.zerossl_url))
        await self.zerossl_admin.add_account(o.api_key, quota=o.account_quota, paid=o.account_paid)
        self._proxy = await exit_stack.enter_async_context(ServiceProxy(self._solver_endpoints))
        await self.zerossl_admin.resolve_default(*self.proxy.address)
        if o.api_key_secret is not None:
            await self.cluster.create_api_key_secret(name=o.api_key_secret)

        exit_stack.push_async_callback(self._stop_replicas)
        try:
            async with asyncio.TaskGroup() as starting:
                for _ in range(o.replicas):
                    starting.create_task(self.add_replica())
        except* ReplicaStartError as failed:
            messages = [str(e) for e in failed.exceptions]
            raise ReplicaStartError("\n".join(messages)) from None

    def _new_apiserver(self, settings: ApiServerSettings) -> ApiServer:
        match self.options.kube_mode:
            case "in-process":
                return InProcessApiServer(settings)
            case "subprocess":
                return ApiServerProcess(settings, self.workdir / "kube-apiserver")
            case "real":
                return ControlPlane(settings, self.workdir / "controlplane")

    def _make_workdir(self, exit_stack: contextlib.AsyncExitStack) -> Path:
        o = self.options
        if o.workdir is not None:
            o.workdir.mkdir(parents=True, exist_ok=True)
            return o.workdir
        workdir = Path(tempfile.mkdtemp(prefix="zerossl-stack-"))
        if not o.keep_workdir:
            exit_stack.callback(shutil.rmtree, workdir, ignore_errors=True)
        return workdir

    async def _install(self) -> None:
        """Namespaces, CRDs (waited on until served), the ServiceAccount and RBAC."""
        c = self.options.controller
        for namespace in dict.fromkeys([c.namespace, c.secret_namespace, *self.options.namespaces]):
            await self.cluster.create_namespace(namespace)
        crds = manifests.custom_resource_definitions()
        for crd in crds:
            await self.kube.apply(crd)
        for crd in crds:
            await self._wait_served(crd)
        await self.kube.apply(
            {
                "apiVersion": "v1",
                "kind": "ServiceAccount",
                "metadata": {"name": c.service_account, "namespace": c.namespace},
            }
        )
        rbac = self.options.rbac
        await self.apply_rbac(manifests.controller_rbac(c.namespace) if rbac is None else rbac)

    async def _wait_served(self, crd: JSON) -> None:
        spec = crd["spec"]
        for version in spec["versions"]:
            if version.get("served", True):
                await self._wait_kind_served(
                    f"{spec['group']}/{version['name']}", spec["names"]["kind"]
                )

    async def _wait_kind_served(self, api_version: str, kind: str) -> None:
        async def probe() -> bool | None:
            try:
                await self.kube.resource(api_version, kind)
            except LookupError:
                return None
            return True

        await poll(
            probe,
            timeout=SERVED_TIMEOUT,
            describe=lambda: f"the API server does not serve {kind} in {api_version}",
        )

    async def apply_rbac(self, objects: Sequence[JSON]) -> None:
        """Make ``objects`` the controller's RBAC: apply them and delete the Roles, ClusterRoles
        and bindings the stack applied before that are not among them (ServiceAccounts and
        other kinds are applied, never deleted)."""
        wanted: set[tuple[str, str, str | None, str]] = set()
        for obj in objects:
            await self.kube.apply(obj)
            if obj["kind"] in RBAC_KINDS:
                wanted.add(_key(obj))
        for api_version, kind, namespace, name in self._rbac_applied - wanted:
            await self.kube.delete(api_version, kind, name, namespace)
        self._rbac_applied = wanted

    # --- replicas --------------------------------------------------------------------------

    def _solver_endpoints(self) -> list[Address]:
        started = [r.solver_address for r in self.replicas if r.running]
        return list(dict.fromkeys([*started, *handstart.registered(self.solver_registry)]))

    async def add_replica(self, *, ready: bool = True) -> Replica:
        """Start one more replica (named ``replica-<i>``); with ``ready``, wait for /readyz."""
        index = len(self.replicas)
        replica = Replica(
            index,
            self.options.controller,
            kubeconfig=self.controller_kubeconfig,
            zerossl_url=self.zerossl_url,
            logdir=self.workdir / f"replica-{index}",
            ports=self._ports,
            cwd=manifests.REPO_ROOT,
            solver_registry=self.solver_registry,
        )
        self.replicas.append(replica)
        await replica.start(ready=ready)
        return replica

    async def _stop_replicas(self) -> None:
        async with asyncio.TaskGroup() as stopping:
            for replica in self.replicas:
                stopping.create_task(replica.stop())

    def _named(self, name: str | None) -> Replica | None:
        return next((r for r in self.replicas if r.name == name), None)

    async def lease_holder(self) -> str | None:
        """The identity the leader-election Lease names, or None (no Lease, or released)."""
        c = self.options.controller
        lease = await self.kube.get("coordination.k8s.io/v1", "Lease", c.lease_name, c.namespace)
        holder = ((lease or {}).get("spec") or {}).get("holderIdentity")
        return str(holder) if holder else None

    async def leader(self) -> Replica | None:
        """The replica the Lease names as holder (it may have died since), or None."""
        return self._named(await self.lease_holder())

    async def wait_for_leader(
        self, timeout: float = 30.0, *, other_than: Replica | None = None
    ) -> Replica:
        """A running replica holding the Lease (other than ``other_than``, for failovers)."""
        holder: str | None = None

        async def probe() -> Replica | None:
            nonlocal holder
            holder = await self.lease_holder()
            leader = self._named(holder)
            if leader is None or not leader.running or leader is other_than:
                return None
            return leader

        return await poll(
            probe,
            timeout=timeout,
            describe=lambda: (
                "no running replica"
                + (f" other than {other_than.name}" if other_than else "")
                + f" holds the Lease; holder now: {holder}"
            ),
        )


def _key(obj: JSON) -> tuple[str, str, str | None, str]:
    meta = obj["metadata"]
    return obj["apiVersion"], obj["kind"], meta.get("namespace"), meta["name"]


def _running(part: T | None) -> T:
    if part is None:
        raise RuntimeError("the stack is not running (use it inside `async with`)")
    return part
