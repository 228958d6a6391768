"""The whole sandbox on loopback for the demo, the e2e tests and the load tests.

::

    async with Stack(StackOptions(replicas=3, authorization=True)) as stack:
        await stack.cluster.create_issuer("ZeroSSLClusterIssuer", "zerossl", None, spec)
        csr = make_csr(["app.zerossl-issuer.dev"])
        ref = issuer_ref("ZeroSSLClusterIssuer", "zerossl")
        await stack.cluster.create_certificate_request("default", "app", csr, ref)
        await stack.cluster.wait_for_request("default", "app", reason="Issued")
        chain = await stack.cluster.issued_chain("default", "app")
        leader = await stack.wait_for_leader()
        await leader.kill()
        await stack.wait_for_leader(other_than=leader)

Imports nothing from the rest of ``controller``: replicas run ``python -m controller run`` as
child processes.
"""

from .apiserver import ApiServerAccess, service_account_user
from .cluster import Cluster, RequestFailed, find_condition, issuer_ref
from .csr import make_csr
from .emulator import EmulatorAdmin, EmulatorSettings
from .kubeapi import KubeAPI, KubeError
from .metrics import Metrics
from .process import ProcessFailed
from .proxy import ServiceProxy
from .replica import ControllerOptions, Replica, ReplicaStartError
from .stack import Stack, StackOptions

__all__ = [
    "ApiServerAccess",
    "Cluster",
    "ControllerOptions",
    "EmulatorAdmin",
    "EmulatorSettings",
    "KubeAPI",
    "KubeError",
    "Metrics",
    "ProcessFailed",
    "Replica",
    "ReplicaStartError",
    "RequestFailed",
    "ServiceProxy",
    "Stack",
    "StackOptions",
    "find_condition",
    "issuer_ref",
    "make_csr",
    "service_account_user",
]
