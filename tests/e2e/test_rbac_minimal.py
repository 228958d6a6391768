"""The controller's RBAC, as rendered from ``manifests/``, is sufficient and minimal.

Sufficient: under exactly that RBAC, enforced by the emulated API server, every way of issuing
works (HTTP with no routing, through an Ingress, through an HTTPRoute; DNS through external-dns
DNSEndpoints, one of them left behind by an earlier order; a request deleted mid-validation; an
issued request deleted with ``--cascade=orphan``; an issuer whose Secret comes and goes), the
server refuses the controller nothing, and the controller uses every permission it is granted.

Minimal: for each permission, a fresh replica runs under the RBAC minus that one permission on a
wiped cluster, plays the scenario that needs it, and the test expects the server to refuse
exactly that request and a specific failure a user would see (:data:`BREAKAGES`, one row per
permission). Variants run in :data:`LANES` stacks side by side to stay within the time budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final, Literal

import pytest

from controller.clock import parse_rfc3339, rfc3339_micro
from controller.issuer.api import ORDER_FINALIZER
from controller.issuer.solvers.http import DOMAINS_ANNOTATION
from controller.sandbox.stack import Replica, Stack, find_condition
from controller.sandbox.stack.cluster import IssuerKind
from controller.sandbox.stack.kubeapi import JSON
from controller.sandbox.stack.waiting import poll
from tests.e2e.conftest import StackFactory
from tests.e2e.support import E2E_NAMESPACE
from tests.e2e.support.rbac_world import (
    STALE_TARGET,
    WAIT,
    ApiAudit,
    RbacWorld,
    request_label,
)
from tests.manifests.rbac import Permission, controller_rbac

LANES: Final = 2
"""Stacks running variants side by side (each variant restarts one replica process)."""
LEASE_API: Final = "coordination.k8s.io/v1"
LEASES: Final = "leases.coordination.k8s.io"
GHOST: Final = "ghost"
"""The holder of a ``held`` Lease: no replica, renewed by the test, then dead."""
INFORMED: Final = (
    "certificaterequests.cert-manager.io",
    "zerosslorders.zerossl.issuer.dev",
    "zerosslissuers.zerossl.issuer.dev",
    "zerosslclusterissuers.zerossl.issuer.dev",
    "secrets",
)
"""The resources every replica caches (list + watch)."""
pytestmark = pytest.mark.timeout(240)

LeaseState = Literal["any", "absent", "released", "held"]
PermissionKey = tuple[str, str]
"""(verb, resource label as the API server counts requests)."""


def key_of(permission: Permission) -> PermissionKey:
    return permission.verb, request_label(permission)


# --- one variant ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Probe:
    """A variant in progress: the world, its replica, and the slug its objects are named by."""

    world: RbacWorld
    replica: Replica
    audit: ApiAudit
    slug: str
    lists_before: dict[str, int]

    def relists(self, label: str) -> int:
        """Successful lists of ``label`` since the replica started."""
        return self.audit.count("list", label, denied=False) - self.lists_before[label]


Check = Callable[[Probe], Awaitable[bool]]
Play = Callable[[RbacWorld, str], Coroutine[Any, Any, object]]


@dataclass(frozen=True, slots=True)
class Scenario:
    """Something a user does; ``healthy`` tells its outcome when every permission is there."""

    name: str
    play: Play
    healthy: Check


@dataclass(frozen=True, slots=True)
class Breakage:
    """What the loss of one permission breaks: the scenario that shows it (None: the replica's
    start alone), the failure a user sees, and how the test tells it holds."""

    scenario: Scenario | None
    symptom: str
    holds: Check
    lease: LeaseState = "any"
    """The Lease before the replica starts."""
    ready: bool = True
    """Whether the replica still passes /readyz (the scenario waits for it)."""


# --- scenarios ------------------------------------------------------------------------------


async def _reason(probe: Probe) -> str | None:
    return await probe.world.ready_reason(probe.slug)


async def _issued(probe: Probe) -> bool:
    return await _reason(probe) == "Issued"


def _request(issuer: str, names: int = 1) -> Play:
    async def play(world: RbacWorld, slug: str) -> None:
        await world.request(slug, issuer, names)

    return play


def _routed(kind: str) -> Check:
    async def healthy(probe: Probe) -> bool:
        return await _issued(probe) and not await probe.world.routing_objects(probe.slug, kind)

    return healthy


def _new_issuer(kind: IssuerKind) -> Scenario:
    async def play(world: RbacWorld, slug: str) -> None:
        await world.issuer(slug, kind)

    async def healthy(probe: Probe) -> bool:
        return await _issuer_ready(probe, kind) == "True"

    return Scenario(f"a new {kind} reading its own Secret", play, healthy)


async def _issuer_ready(probe: Probe, kind: IssuerKind) -> str | None:
    ready = find_condition(await probe.world.issuer_object(probe.slug, kind), "Ready")
    return None if ready is None else str(ready.get("status"))


def _issued_then(delete: Callable[[RbacWorld, str], Awaitable[None]]) -> Play:
    async def play(world: RbacWorld, slug: str) -> None:
        await world.request(slug, "plain")
        await world.cluster.wait_for_request(E2E_NAMESPACE, slug, reason="Issued", timeout=WAIT)
        await delete(world, slug)

    return play


async def _order_gone(probe: Probe) -> bool:
    return await probe.world.order(probe.slug) is None


async def _secret_missing_events(probe: Probe) -> list[int]:
    """The series count of each SecretNotFound Event about the issuer (1: no series)."""
    events = await probe.world.events("ZeroSSLIssuer", probe.slug)
    return [
        int((e.get("series") or {}).get("count", 1))
        for e in events
        if e.get("reason") == "SecretNotFound"
    ]


async def _counted_twice(probe: Probe) -> bool:
    return await _secret_missing_events(probe) == [2]


async def _endpoint_then_deleted(world: RbacWorld, slug: str) -> None:
    await world.request(slug, "edns")

    async def made() -> bool | None:
        return True if await world.dnsendpoints(slug) else None

    await poll(made, timeout=WAIT, describe=lambda: f"no DNSEndpoint for the order {slug}")
    await world.delete_request(slug)


async def _endpoint_made(probe: Probe) -> bool:
    return bool(await probe.world.dnsendpoints(probe.slug))


async def _endpoint_and_order_gone(probe: Probe) -> bool:
    return not await probe.world.dnsendpoints(probe.slug) and await _order_gone(probe)


async def _endpoint_current(probe: Probe) -> bool:
    targets = await probe.world.dnsendpoint_targets(probe.slug)
    return len(targets) == 1 and STALE_TARGET not in targets[0] and len(targets[0]) == 1


async def _renew_as_ghost(world: RbacWorld) -> datetime:
    c = world.stack.options.controller
    renewed = datetime.now(UTC)
    lease = {
        "apiVersion": LEASE_API,
        "kind": "Lease",
        "metadata": {"name": c.lease_name, "namespace": c.namespace},
        "spec": {"renewTime": rfc3339_micro(renewed)},
    }
    await world.stack.kube.merge_patch(lease)
    return renewed


_GHOST_DIED: dict[str, datetime] = {}
"""When the ghost of a ``held`` Lease last renewed it, by the slug of the variant."""


async def _ghost_dies_after_a_poll(world: RbacWorld, slug: str) -> None:
    """The ghost renews a few times, the last time just after the replica read the Lease (so
    that a replica with no watch sees it only at its next poll), then dies."""
    for _ in range(4):
        await _renew_as_ghost(world)
        await asyncio.sleep(0.3)
    audit = ApiAudit(world.stack, world.stack.controller_user)
    reads = audit.count("get", LEASES, denied=False)
    async with asyncio.timeout(WAIT):
        while audit.count("get", LEASES, denied=False) == reads:
            await asyncio.sleep(0.002)
    _GHOST_DIED[slug] = await _renew_as_ghost(world)


async def _took_over(probe: Probe) -> bool:
    return await probe.world.stack.lease_holder() == probe.replica.name


GHOST_DIES = Scenario(
    "the holder of the Lease dies: the replica takes over", _ghost_dies_after_a_poll, _took_over
)
PLAIN = Scenario("a request validated over HTTP, no routing objects", _request("plain"), _issued)
INGRESS = Scenario(
    "a request for two names routed through an Ingress", _request("ingress", 2), _routed("Ingress")
)
GATEWAY = Scenario(
    "a request for two names routed through an HTTPRoute",
    _request("gateway", 2),
    _routed("HTTPRoute"),
)
NAMESPACED_ISSUER = _new_issuer("ZeroSSLIssuer")
CLUSTER_ISSUER = _new_issuer("ZeroSSLClusterIssuer")
FLAPPING = Scenario(
    "an issuer whose Secret goes missing twice", RbacWorld.flap_issuer, _counted_twice
)
DELETED = Scenario("an issued request deleted", _issued_then(RbacWorld.delete_request), _order_gone)
ORPHANED = Scenario(
    "an issued request deleted with --cascade=orphan",
    _issued_then(RbacWorld.orphan_request),
    _order_gone,
)
EDNS = Scenario("a request validated through a DNSEndpoint", _request("edns"), _endpoint_made)
EDNS_DELETED = Scenario(
    "a DNS-validated request deleted once its DNSEndpoint is made",
    _endpoint_then_deleted,
    _endpoint_and_order_gone,
)
EDNS_STALE = Scenario(
    "a DNS-validated request whose DNSEndpoint an earlier order left behind",
    RbacWorld.request_over_stale_dnsendpoint,
    _endpoint_current,
)
SCENARIOS: Final = (
    PLAIN,
    INGRESS,
    GATEWAY,
    NAMESPACED_ISSUER,
    CLUSTER_ISSUER,
    FLAPPING,
    DELETED,
    ORPHANED,
    EDNS,
    EDNS_DELETED,
    EDNS_STALE,
)


# --- symptoms -------------------------------------------------------------------------------


async def _not_ready(probe: Probe) -> bool:
    return probe.replica.running and not await probe.replica.ready()


def _relisting(label: str) -> Check:
    async def holds(probe: Probe) -> bool:
        return probe.replica.running and probe.relists(label) >= 2

    return holds


async def _not_leading(probe: Probe) -> bool:
    return await probe.world.stack.lease_holder() != probe.replica.name


async def _no_lease(probe: Probe) -> bool:
    stack = probe.world.stack
    c = stack.options.controller
    return await stack.kube.get(LEASE_API, "Lease", c.lease_name, c.namespace) is None


async def _took_over_a_poll_late(probe: Probe) -> bool:
    """Taken over, but not at the expiry of the ghost's last renewal: only after the next poll
    showed it (a watch shows it at once: takeover within milliseconds of the expiry)."""
    stack = probe.world.stack
    c = stack.options.controller
    lease = await stack.kube.get(LEASE_API, "Lease", c.lease_name, c.namespace)
    spec = (lease or {}).get("spec") or {}
    if spec.get("holderIdentity") != probe.replica.name:
        return False
    late = parse_rfc3339(spec["acquireTime"]) - _GHOST_DIED[probe.slug]
    return late.total_seconds() >= math.ceil(c.lease_duration) + c.retry_period / 2


async def _no_request_condition(probe: Probe) -> bool:
    return await _reason(probe) is None


def _no_issuer_condition(kind: IssuerKind) -> Check:
    async def holds(probe: Probe) -> bool:
        return await _issuer_ready(probe, kind) is None

    return holds


async def _issuer_not_ready(probe: Probe) -> bool:
    return await _issuer_ready(probe, "ZeroSSLIssuer") != "True"


async def _nothing_ordered(probe: Probe) -> bool:
    """The request is Pending, and ZeroSSL never saw a certificate for it."""
    return await _reason(probe) == "Pending" and not probe.world.certificates(probe.slug)


async def _no_order(probe: Probe) -> bool:
    return await probe.world.order(probe.slug) is None and await _nothing_ordered(probe)


async def _order_stuck_deleting(probe: Probe) -> bool:
    order = await probe.world.order(probe.slug)
    meta = (order or {}).get("metadata") or {}
    return "deletionTimestamp" in meta and ORDER_FINALIZER in (meta.get("finalizers") or ())


async def _order_without_status(probe: Probe) -> bool:
    """The first create needs no status write (the order is fresh), but nothing after it can
    be recorded: one draft, found again by search on every retry, never a second one."""
    order = await probe.world.order(probe.slug)
    certificates = probe.world.certificates(probe.slug)
    drafts_only = len(certificates) == 1 and certificates[0].status == "draft"
    return order is not None and not order.get("status") and drafts_only


async def _order_lingers(probe: Probe) -> bool:
    order = await probe.world.order(probe.slug)
    return order is not None and "deletionTimestamp" not in order["metadata"]


async def _no_request_events(probe: Probe) -> bool:
    return await _issued(probe) and not await probe.world.events("CertificateRequest", probe.slug)


async def _counted_once(probe: Probe) -> bool:
    return await _secret_missing_events(probe) == [1]


def _never_verified(probe: Probe) -> bool:
    """ZeroSSL made the certificate but was never asked to validate it."""
    certificates = probe.world.certificates(probe.slug)
    return bool(certificates) and all(c.status == "draft" for c in certificates)


def _no_route(kind: str) -> Check:
    async def holds(probe: Probe) -> bool:
        routes = await probe.world.routing_objects(probe.slug, kind)
        return not routes and _never_verified(probe)

    return holds


def _one_name_routed(kind: str) -> Check:
    async def holds(probe: Probe) -> bool:
        routes = await probe.world.routing_objects(probe.slug, kind)
        domains = [r["metadata"]["annotations"][DOMAINS_ANNOTATION] for r in routes]
        return len(domains) == 1 and "," not in domains[0] and _never_verified(probe)

    return holds


def _route_outlives_issuance(kind: str) -> Check:
    async def holds(probe: Probe) -> bool:
        return await _issued(probe) and bool(await probe.world.routing_objects(probe.slug, kind))

    return holds


async def _no_endpoint(probe: Probe) -> bool:
    """ZeroSSL made the certificate (the CNAME to publish is known), yet no DNSEndpoint."""
    made = bool(probe.world.certificates(probe.slug))
    return made and not await probe.world.dnsendpoints(probe.slug)


async def _stale_endpoint_kept(probe: Probe) -> bool:
    made = bool(probe.world.certificates(probe.slug))
    return made and await probe.world.dnsendpoint_targets(probe.slug) == [[STALE_TARGET]]


async def _endpoint_outlives_request(probe: Probe) -> bool:
    order = await probe.world.order(probe.slug)
    deleting = order is not None and "deletionTimestamp" in order["metadata"]
    return deleting and bool(await probe.world.dnsendpoints(probe.slug))


def _list(label: str) -> Breakage:
    return Breakage(
        None, f"the {label} cache never syncs: /readyz never passes", _not_ready, ready=False
    )


def _watch(label: str) -> Breakage:
    return Breakage(
        None, f"no watch on {label}: the replica relists it over and over", _relisting(label)
    )


BREAKAGES: Final[dict[PermissionKey, Breakage]] = {
    **{("list", label): _list(label) for label in INFORMED},
    **{("watch", label): _watch(label) for label in INFORMED},
    ("get", "leases.coordination.k8s.io"): Breakage(
        None, "the replica never reads the Lease, so never leads", _not_leading
    ),
    ("create", "leases.coordination.k8s.io"): Breakage(
        None, "no Lease is ever made, so nobody leads", _no_lease, lease="absent"
    ),
    ("update", "leases.coordination.k8s.io"): Breakage(
        None, "the released Lease is never taken, so nobody leads", _not_leading, lease="released"
    ),
    ("watch", "leases.coordination.k8s.io"): Breakage(
        GHOST_DIES,
        "the replica sees the dead holder's last renewal only at its next poll: it takes over "
        "that much later than the Lease's expiry",
        _took_over_a_poll_late,
        lease="held",
    ),
    ("get", "secrets"): Breakage(
        NAMESPACED_ISSUER,
        "the issuer's API key is never read: it never turns Ready",
        _issuer_not_ready,
    ),
    ("update", "zerosslissuers.zerossl.issuer.dev/status"): Breakage(
        NAMESPACED_ISSUER,
        "the issuer never gets a Ready condition",
        _no_issuer_condition("ZeroSSLIssuer"),
    ),
    ("update", "zerosslclusterissuers.zerossl.issuer.dev/status"): Breakage(
        CLUSTER_ISSUER,
        "the cluster issuer never gets a Ready condition",
        _no_issuer_condition("ZeroSSLClusterIssuer"),
    ),
    ("patch", "certificaterequests.cert-manager.io/status"): Breakage(
        PLAIN, "the request never gets a Ready condition, not even Pending", _no_request_condition
    ),
    ("create", "zerosslorders.zerossl.issuer.dev"): Breakage(
        PLAIN, "no ZeroSSLOrder: the request stays Pending, nothing is ordered", _no_order
    ),
    ("patch", "zerosslorders.zerossl.issuer.dev"): Breakage(
        DELETED,
        "the order of a deleted request keeps its finalizer: it never goes away",
        _order_stuck_deleting,
    ),
    ("update", "zerosslorders.zerossl.issuer.dev/status"): Breakage(
        PLAIN,
        "the order never gets a status: one draft is created, then only searched for",
        _order_without_status,
    ),
    ("delete", "zerosslorders.zerossl.issuer.dev"): Breakage(
        ORPHANED, "the order of an orphan-deleted request is never deleted", _order_lingers
    ),
    ("create", "events.events.k8s.io"): Breakage(
        PLAIN, "the request is issued without a single Event", _no_request_events
    ),
    ("patch", "events.events.k8s.io"): Breakage(
        FLAPPING, "a repeated Warning is never counted in its Event's series", _counted_once
    ),
    ("get", "ingresses.networking.k8s.io"): Breakage(
        INGRESS, "no Ingress, so ZeroSSL is never asked to validate", _no_route("Ingress")
    ),
    ("create", "ingresses.networking.k8s.io"): Breakage(
        INGRESS, "no Ingress, so ZeroSSL is never asked to validate", _no_route("Ingress")
    ),
    ("update", "ingresses.networking.k8s.io"): Breakage(
        INGRESS, "the Ingress routes one name of two; no validation", _one_name_routed("Ingress")
    ),
    ("delete", "ingresses.networking.k8s.io"): Breakage(
        INGRESS, "the Ingress outlives the issuance", _route_outlives_issuance("Ingress")
    ),
    ("get", "httproutes.gateway.networking.k8s.io"): Breakage(
        GATEWAY, "no HTTPRoute, so ZeroSSL is never asked to validate", _no_route("HTTPRoute")
    ),
    ("create", "httproutes.gateway.networking.k8s.io"): Breakage(
        GATEWAY, "no HTTPRoute, so ZeroSSL is never asked to validate", _no_route("HTTPRoute")
    ),
    ("update", "httproutes.gateway.networking.k8s.io"): Breakage(
        GATEWAY,
        "the HTTPRoute routes one name of two; no validation",
        _one_name_routed("HTTPRoute"),
    ),
    ("delete", "httproutes.gateway.networking.k8s.io"): Breakage(
        GATEWAY, "the HTTPRoute outlives the issuance", _route_outlives_issuance("HTTPRoute")
    ),
    ("create", "dnsendpoints.externaldns.k8s.io"): Breakage(
        EDNS, "the CNAME to publish is known, but no DNSEndpoint is made", _no_endpoint
    ),
    ("get", "dnsendpoints.externaldns.k8s.io"): Breakage(
        EDNS_STALE, "the leftover DNSEndpoint keeps its stale target", _stale_endpoint_kept
    ),
    ("update", "dnsendpoints.externaldns.k8s.io"): Breakage(
        EDNS_STALE, "the leftover DNSEndpoint keeps its stale target", _stale_endpoint_kept
    ),
    ("delete", "dnsendpoints.externaldns.k8s.io"): Breakage(
        EDNS_DELETED,
        "the DNSEndpoint outlives its deleted request, whose order cannot finish",
        _endpoint_outlives_request,
    ),
}


# --- running variants -----------------------------------------------------------------------


def slug_of(permission: Permission) -> str:
    """Names the objects of one variant (unique per verb and resource)."""
    return f"{permission.verb}-{permission.resource.replace('/', '-')}"


async def set_lease(stack: Stack, state: LeaseState) -> None:
    """Make the leader-election Lease ``absent``, ``released`` or ``held`` by a holder that no
    replica is (``any``: leave it)."""
    c = stack.options.controller
    if state == "any":
        return
    await stack.kube.delete(LEASE_API, "Lease", c.lease_name, c.namespace)
    if state != "absent":
        now = rfc3339_micro(datetime.now(UTC))
        held = {
            "holderIdentity": GHOST,
            "leaseDurationSeconds": math.ceil(c.lease_duration),
            "acquireTime": now,
            "renewTime": now,
        }
        released = {"holderIdentity": "", "leaseDurationSeconds": 1}
        lease = {
            "apiVersion": LEASE_API,
            "kind": "Lease",
            "metadata": {"name": c.lease_name, "namespace": c.namespace},
            "spec": held if state == "held" else released,
        }
        await stack.kube.create(lease)


async def until_holds(check: Check, probe: Probe, what: str) -> None:
    async def probe_once() -> bool | None:
        return True if await check(probe) else None

    await poll(probe_once, timeout=WAIT, describe=lambda: what)


async def run_variant(
    world: RbacWorld, permission: Permission, objects: list[JSON], breakage: Breakage
) -> None:
    """A fresh replica under ``objects`` on a wiped cluster; raises unless the server refused
    ``permission`` and the breakage's symptom shows."""
    stack = world.stack
    replica = stack.replicas[0]
    audit = ApiAudit(stack, stack.controller_user)
    await replica.stop()
    await world.wipe()
    await stack.apply_rbac(objects)
    await set_lease(stack, breakage.lease)
    lists = {label: audit.count("list", label, denied=False) for label in INFORMED}
    refused = audit.denials(permission)
    await replica.start(ready=breakage.ready)
    slug = slug_of(permission)
    if breakage.scenario is not None:
        await breakage.scenario.play(world, slug)
    await audit.wait_denied(permission, refused)
    probe = Probe(world, replica, audit, slug, lists)
    await until_holds(breakage.holds, probe, f"refused, but not: {breakage.symptom}")


@contextlib.asynccontextmanager
async def rbac_world(stack_factory: StackFactory) -> AsyncIterator[RbacWorld]:
    """A stack under exactly the rendered RBAC, with the shared issuers Ready."""
    rbac = controller_rbac()
    async with stack_factory(replicas=1, rbac=rbac.objects) as stack:
        assert rbac.account.username == stack.controller_user
        async with RbacWorld.running(stack) as world:
            await world.wait_ready()
            yield world


async def run_lane(
    stack_factory: StackFactory,
    variants: asyncio.Queue[tuple[Permission, list[JSON]]],
    failures: list[str],
) -> None:
    async with rbac_world(stack_factory) as world:
        while not variants.empty():
            permission, objects = variants.get_nowait()
            breakage = BREAKAGES[key_of(permission)]
            try:
                await run_variant(world, permission, objects, breakage)
            except (AssertionError, TimeoutError) as error:
                failures.append(f"without {permission}, expected {breakage.symptom}: {error}")


# --- the tests ------------------------------------------------------------------------------


def test_every_permission_has_a_specific_breakage() -> None:
    granted = {key_of(p) for p in controller_rbac().permissions}
    assert sorted(granted - BREAKAGES.keys()) == [], "granted, but nothing says why"
    assert sorted(BREAKAGES.keys() - granted) == [], "a breakage for a permission not granted"


async def test_every_scenario_works_and_uses_every_permission(stack_factory: StackFactory) -> None:
    async with rbac_world(stack_factory) as world:
        stack = world.stack
        audit = ApiAudit(stack, stack.controller_user)
        async with asyncio.TaskGroup() as plays:
            for scenario in SCENARIOS:
                plays.create_task(scenario.play(world, f"ok-{SCENARIOS.index(scenario)}"))
        replica = stack.replicas[0]
        for index, scenario in enumerate(SCENARIOS):
            probe = Probe(world, replica, audit, f"ok-{index}", {})
            await until_holds(scenario.healthy, probe, f"{scenario.name} did not work")
        assert await replica.terminate() == 0  # ends the watches, so the server counts them

    assert audit.all_denials() == {}
    granted = {key_of(p) for p in controller_rbac().permissions}
    assert sorted(granted - audit.used()) == [], "granted but never used"


async def test_without_any_one_permission_something_specific_breaks(
    stack_factory: StackFactory,
) -> None:
    variants: asyncio.Queue[tuple[Permission, list[JSON]]] = asyncio.Queue()
    for permission, objects in controller_rbac().each_without_one():
        variants.put_nowait((permission, objects))
    failures: list[str] = []
    async with asyncio.TaskGroup() as lanes:
        for _ in range(LANES):
            lanes.create_task(run_lane(stack_factory, variants, failures))
    assert not failures, "\n".join(failures)
