"""The real control plane: etcd, kube-apiserver and kube-controller-manager built from their Go
modules (``make controlplane``), run on loopback as the reference the sandbox is measured by.

The API server runs with real flags: TLS serving with a throwaway CA, ``--authorization-mode=
RBAC``, ServiceAccount issuer and signing keys (so TokenRequest works), the default admission
chain (PodSecurity included), and an admin token in ``system:masters`` from a token file. The
controller manager runs only the controllers a test world needs that the API server alone
lacks: namespace deletion, garbage collection (owner references) and the ``default``
ServiceAccount of each namespace.

Invariants: every process writes its logs under ``workdir``; etcd's data lives in ``workdir``;
leaving the context stops the processes in reverse order and leaves none behind (even when the
start failed half-way); ServiceAccount tokens in :attr:`ApiServerAccess.tokens` come from the
TokenRequest API, so they are exactly what a Pod would be given.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Final, Self

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from controller.sandbox.kube import kubeconfig as kubeconfig_file
from controller.sandbox.kube import tls

from .apiserver import ApiServerAccess, ApiServerSettings, service_account_user
from .kubeapi import KubeAPI
from .ports import LOOPBACK, PortAllocator, address_in_use
from .process import ManagedProcess, ProcessFailed
from .waiting import poll

REPO_ROOT: Final = Path(__file__).resolve().parents[3]
BINARIES_ENV: Final = "ZEROSSL_ISSUER_CONTROLPLANE_DIR"
"""Where ``make controlplane`` put ``bin/`` and ``crds/`` (default ``<repo>/.controlplane``)."""
BINARIES: Final = ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl")
START_TIMEOUT: Final = 60.0
START_ATTEMPTS: Final = 3
STOP_GRACE: Final = 10.0
TOKEN_LIFETIME: Final = 24 * 3600
ADMIN_USER: Final = "admin"
CONTROLLERS: Final = "namespace,garbagecollector,serviceaccount"
"""kube-controller-manager controllers the test world runs (no nodes, so nothing pod-related)."""
AUDIT_POLICY: Final = """apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
"""


class ControlPlaneMissing(RuntimeError):
    """The binaries are not built: run ``make controlplane``."""


def controlplane_dir() -> Path:
    return Path(os.environ.get(BINARIES_ENV) or REPO_ROOT / ".controlplane")


def binary(name: str) -> Path:
    """The path of a built control-plane binary; ControlPlaneMissing when it is not there."""
    path = controlplane_dir() / "bin" / name
    if not os.access(path, os.X_OK):
        raise ControlPlaneMissing(f"{path} is missing: run `make controlplane` (needs Go)")
    return path


def extra_crds() -> list[Path]:
    """CRD files fetched beside the binaries (the Prometheus Operator's, from its Go module)."""
    return sorted((controlplane_dir() / "crds").glob("*.yaml"))


@dataclass(frozen=True, slots=True)
class _Files:
    ca: Path
    cert: Path
    key: Path
    sa_key: Path
    tokens: Path
    admin_kubeconfig: Path
    audit_policy: Path
    audit_log: Path


class ControlPlane:
    """``async with ControlPlane(settings, workdir) as cp: cp.access`` (the ApiServer protocol).

    ``settings.service_accounts`` get their namespace, the ServiceAccount and a TokenRequest
    token at start; ``settings.bookmark_interval`` and ``history`` are the emulator's knobs and
    have no meaning here (the real watch cache decides)."""

    def __init__(self, settings: ApiServerSettings, workdir: Path) -> None:
        self.settings = settings
        self.workdir = workdir
        self._ports = PortAllocator()
        self._exit = contextlib.AsyncExitStack()
        self._access: ApiServerAccess | None = None
        self._apiserver: ManagedProcess | None = None
        self._controller_manager: ManagedProcess | None = None
        self._ready: tuple[str, str, bytes] = ("", "", b"")
        self._kcm_health = ""
        self.processes: list[ManagedProcess] = []

    @property
    def audit_log(self) -> Path:
        """The API server's audit log: one JSON line per finished request (Metadata level)."""
        return self.workdir / "kube-apiserver" / "audit.log"

    @property
    def access(self) -> ApiServerAccess:
        if self._access is None:
            raise RuntimeError("the control plane is not running")
        return self._access

    async def __aenter__(self) -> Self:
        for name in BINARIES:
            binary(name)
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                async with contextlib.AsyncExitStack() as exit_stack:
                    await self._start(exit_stack)
                    self._exit = exit_stack.pop_all()
                return self
            except ProcessFailed as failed:
                # A port found free was taken before the process bound it: new ports.
                if attempt == START_ATTEMPTS or not address_in_use(str(failed)):
                    raise
                self.processes.clear()
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def __aexit__(self, *exc_info: object) -> None:
        self._access = None
        await self._exit.aclose()

    async def restart_apiserver(self) -> None:
        """Stop kube-apiserver and start it again on the same port and etcd, until ready: its
        watch cache starts afresh at etcd's current revision, so a watch resumed from an older
        resourceVersion is answered 410 Gone (what clients see after an API server restart)."""
        if self._apiserver is None:
            raise RuntimeError("the control plane is not running")
        await self._apiserver.stop(STOP_GRACE)
        await self._apiserver.start()
        await _wait_http(self._apiserver, *self._ready)

    async def restart_controller_manager(self) -> None:
        """Stop kube-controller-manager and start it again, until healthy. Its garbage
        collector discovers resource types at start and then only every 30 s: after
        registering CRDs whose objects own others, a restart makes cascading deletes (and
        ``propagationPolicy: Orphan``) work at once, as on a cluster whose CRDs predate it."""
        if self._controller_manager is None:
            raise RuntimeError("the control plane is not running")
        await self._controller_manager.stop(STOP_GRACE)
        await self._controller_manager.start()
        await _wait_http(self._controller_manager, self._kcm_health, None, None)

    async def _start(self, exit_stack: contextlib.AsyncExitStack) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        shutil.rmtree(self.workdir / "etcd-data", ignore_errors=True)  # a failed attempt's
        admin_token = secrets.token_urlsafe(32)
        files = self._write_files(admin_token)
        etcd_client, etcd_peer, secure, kcm = self._ports.allocate(4)
        url = f"https://{LOOPBACK}:{secure}"
        ca_pem = files.ca.read_bytes()

        etcd = await self._run(exit_stack, "etcd", _etcd_argv(self.workdir, etcd_client, etcd_peer))
        await _wait_http(etcd, f"http://{LOOPBACK}:{etcd_client}/health", None, None)
        apiserver = await self._run(
            exit_stack, "kube-apiserver", _apiserver_argv(files, etcd_client, secure)
        )
        self._apiserver = apiserver
        self._ready = (f"{url}/readyz", admin_token, ca_pem)
        await _wait_http(apiserver, *self._ready)
        kubeconfig_file.write(
            files.admin_kubeconfig, kubeconfig_file.render(url, admin_token, ADMIN_USER, ca_pem)
        )
        self._controller_manager = await self._run(
            exit_stack, "kube-controller-manager", _kcm_argv(files, kcm)
        )
        self._kcm_health = f"https://{LOOPBACK}:{kcm}/healthz"
        await _wait_http(self._controller_manager, self._kcm_health, None, None)
        tokens = await self._service_account_tokens(url, admin_token, ca_pem)
        self._access = ApiServerAccess(url, admin_token, ca_pem, tokens)

    def _write_files(self, admin_token: str) -> _Files:
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        serving = tls.generate([LOOPBACK, "localhost"])
        sa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        files = _Files(
            ca=pki / "ca.crt",
            cert=pki / "apiserver.crt",
            key=pki / "apiserver.key",
            sa_key=pki / "service-account.key",
            tokens=pki / "tokens.csv",
            admin_kubeconfig=self.workdir / "admin.kubeconfig",
            audit_policy=pki / "audit-policy.yaml",
            audit_log=self.audit_log,
        )
        files.audit_policy.write_text(AUDIT_POLICY)
        files.ca.write_bytes(serving.ca_pem)
        files.cert.write_bytes(serving.cert_pem + serving.ca_pem)
        _write_secret(files.key, serving.key_pem)
        _write_secret(
            files.sa_key,
            sa_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )
        _write_secret(files.tokens, f"{admin_token},{ADMIN_USER},admin,system:masters\n".encode())
        return files

    async def _run(
        self, exit_stack: contextlib.AsyncExitStack, name: str, argv: Sequence[str]
    ) -> ManagedProcess:
        process = ManagedProcess(name, [str(binary(name)), *argv], logdir=self.workdir / name)
        exit_stack.push_async_callback(process.stop, STOP_GRACE)
        await process.start()
        self.processes.append(process)
        return process

    async def _service_account_tokens(
        self, url: str, admin_token: str, ca_pem: bytes
    ) -> dict[str, str]:
        tokens: dict[str, str] = {}
        async with KubeAPI(url, admin_token, ca_pem) as kube:
            for namespace, name in self.settings.service_accounts:
                await kube.apply(
                    {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}}
                )
                await kube.apply(
                    {
                        "apiVersion": "v1",
                        "kind": "ServiceAccount",
                        "metadata": {"name": name, "namespace": namespace},
                    }
                )
                tokens[service_account_user(namespace, name)] = await request_token(
                    kube, namespace, name
                )
        return tokens


async def request_token(
    kube: KubeAPI, namespace: str, name: str, lifetime: int = TOKEN_LIFETIME
) -> str:
    """A bound ServiceAccount token from the TokenRequest API (``kubectl create token``)."""
    path = f"/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token"
    body = {
        "apiVersion": "authentication.k8s.io/v1",
        "kind": "TokenRequest",
        "spec": {"expirationSeconds": lifetime},
    }
    answer = await kube.request("POST", path, body=body)
    return str(answer["status"]["token"])


def _write_secret(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _etcd_argv(workdir: Path, client: int, peer: int) -> list[str]:
    client_url, peer_url = f"http://{LOOPBACK}:{client}", f"http://{LOOPBACK}:{peer}"
    return [
        "--name=default",
        f"--data-dir={workdir / 'etcd-data'}",
        f"--listen-client-urls={client_url}",
        f"--advertise-client-urls={client_url}",
        f"--listen-peer-urls={peer_url}",
        f"--initial-advertise-peer-urls={peer_url}",
        f"--initial-cluster=default={peer_url}",
        "--listen-metrics-urls=",
        "--unsafe-no-fsync",  # a test world: durability across power loss is not the point
        "--log-level=warn",
    ]


def _apiserver_argv(files: _Files, etcd_client: int, secure: int) -> list[str]:
    return [
        f"--etcd-servers=http://{LOOPBACK}:{etcd_client}",
        f"--bind-address={LOOPBACK}",
        f"--advertise-address={LOOPBACK}",
        f"--secure-port={secure}",
        f"--tls-cert-file={files.cert}",
        f"--tls-private-key-file={files.key}",
        f"--client-ca-file={files.ca}",
        f"--token-auth-file={files.tokens}",
        "--authorization-mode=RBAC",
        f"--audit-policy-file={files.audit_policy}",
        f"--audit-log-path={files.audit_log}",
        "--audit-log-format=json",
        # Never rotated (its writer rotates at 100 MB by default, which a 10k-issuance run
        # passes): the counts read the one file from an offset.
        "--audit-log-maxsize=1000000",
        "--audit-log-mode=blocking",
        "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
        f"--service-account-key-file={files.sa_key}",
        f"--service-account-signing-key-file={files.sa_key}",
        "--service-cluster-ip-range=10.96.0.0/24",
        "--allow-privileged=false",
        "--enable-priority-and-fairness=false",
        "--profiling=false",
        "--v=0",
    ]


def _kcm_argv(files: _Files, port: int) -> list[str]:
    return [
        f"--kubeconfig={files.admin_kubeconfig}",
        f"--authentication-kubeconfig={files.admin_kubeconfig}",
        f"--authorization-kubeconfig={files.admin_kubeconfig}",
        f"--controllers={CONTROLLERS}",
        f"--bind-address={LOOPBACK}",
        f"--secure-port={port}",
        "--leader-elect=false",
        "--profiling=false",
        "--v=0",
    ]


async def _wait_http(
    process: ManagedProcess, url: str, token: str | None, ca_pem: bytes | None
) -> None:
    """Until ``url`` answers 200 (a health endpoint); ProcessFailed if the process exits."""
    context = ssl.create_default_context(cadata=ca_pem.decode()) if ca_pem else None
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    last = "no answer yet"
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2.0)) as session:

        async def probe() -> bool | None:
            nonlocal last
            if not process.running:
                raise ProcessFailed(process.describe_exit("while starting"))
            try:
                async with session.get(url, headers=headers, ssl=context or False) as answer:
                    if answer.status == 200:
                        return True
                    last = f"{answer.status}: {(await answer.text())[-400:]}"
            except (aiohttp.ClientError, TimeoutError) as error:
                last = f"{type(error).__name__}: {error}"
            return None

        await poll(
            probe,
            timeout=START_TIMEOUT,
            interval=0.1,
            describe=lambda: (
                f"{process.name} not healthy at {url}: {last}; " + process.stderr_tail()
            ),
        )


def kubectl() -> str:
    """The kubectl of the control plane's release (within one minor of its API server)."""
    return str(binary("kubectl"))


__all__ = [
    "BINARIES_ENV",
    "ControlPlane",
    "ControlPlaneMissing",
    "binary",
    "controlplane_dir",
    "extra_crds",
    "kubectl",
    "request_token",
]
