"""CertificateOwners (who owns a certificate, one obtainer per CSR) and HttpTurns (one HTTP
validation per CSR at a time)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.owners import CertificateOwners
from controller.issuer.controllers.turns import HttpTurns
from controller.kube.client import KubeClient
from controller.kube.kubeconfig import ClusterConfig

FILE = "ABC.txt"


def owners(recorded: dict[str, list[str]] | None = None) -> CertificateOwners:
    table = recorded or {}
    return CertificateOwners(lambda cert_id: table.get(cert_id, []))


def test_a_certificate_recorded_by_another_order_is_foreign() -> None:
    table = owners({"c1": ["ns/a"]})
    assert table.foreign("c1", "ns/b")
    assert not table.foreign("c1", "ns/a")
    assert not table.foreign("c2", "ns/b")


def test_a_claim_makes_it_foreign_before_the_status_records_it_until_the_order_goes() -> None:
    table = owners()
    table.claim("c1", "ns/a")
    assert table.foreign("c1", "ns/b")
    assert not table.foreign("c1", "ns/a")
    table.forget("ns/a")
    assert not table.foreign("c1", "ns/b")


async def test_one_order_at_a_time_obtains_a_certificate_of_one_csr() -> None:
    table = owners()
    inside: list[str] = []
    overlap: list[bool] = []

    async def obtain(order: str, md5: str) -> None:
        async with table.obtaining(md5):
            inside.append(order)
            overlap.append(len(inside) > 1)
            await asyncio.sleep(0.01)
            inside.remove(order)

    await asyncio.gather(obtain("a", "M1"), obtain("b", "M1"))
    assert overlap == [False, False]
    await asyncio.gather(obtain("a", "M1"), obtain("c", "M2"))
    assert overlap[2:] == [False, True]  # another CSR is not held up
    assert not table._locks  # nothing kept once nobody obtains


def turns(validating: list[str] | None = None) -> tuple[HttpTurns, list[str]]:
    woken: list[str] = []
    return HttpTurns(lambda _: validating or [], woken.append), woken


def test_the_first_order_wanting_the_file_takes_the_turn_the_next_waits() -> None:
    table, woken = turns()
    assert table.turn(FILE, "ns/a", wants=True) is None
    assert table.turn(FILE, "ns/b", wants=True) == "ns/a"
    assert table.turn(FILE, "ns/a", wants=True) is None  # still its turn
    assert woken == []


def test_releasing_the_turn_wakes_the_waiters_at_once() -> None:
    table, woken = turns()
    table.turn(FILE, "ns/a", wants=True)
    table.turn(FILE, "ns/b", wants=True)
    table.turn(FILE, "ns/c", wants=True)
    assert table.turn(FILE, "ns/a", wants=False) is None  # validated: the file is free
    assert woken == ["ns/b", "ns/c"]
    assert table.turn(FILE, "ns/c", wants=True) is None
    assert table.turn(FILE, "ns/b", wants=True) == "ns/c"


def test_an_order_gone_passes_its_turn_on() -> None:
    table, woken = turns()
    table.turn(FILE, "ns/a", wants=True)
    table.turn(FILE, "ns/b", wants=True)
    table.forget("ns/a")
    assert woken == ["ns/b"]
    assert table.turn(FILE, "ns/b", wants=True) is None


def test_an_order_that_stops_waiting_is_not_woken() -> None:
    table, woken = turns()
    table.turn(FILE, "ns/a", wants=True)
    table.turn(FILE, "ns/b", wants=True)
    table.turn(FILE, "ns/b", wants=False)  # deleted, or its issuer changed
    table.turn(FILE, "ns/a", wants=False)
    assert woken == []


def test_the_previous_terms_validating_order_keeps_the_turn() -> None:
    table, _ = turns(validating=["ns/z"])
    assert table.turn(FILE, "ns/a", wants=True) == "ns/z"
    assert table.turn(FILE, "ns/z", wants=True) is None


# --- what the caches tell them --------------------------------------------------------------


def cached_order(name: str, state: str, presented: bool, **meta: Any) -> dict[str, Any]:
    http = {"url": f"http://x/.well-known/pki-validation/{FILE}", "path": f"/p/{FILE}"}
    record = {"domain": "x", "state": state, "presented": presented}
    return {
        "apiVersion": "zerossl.issuer.dev/v1alpha1",
        "kind": "ZeroSSLOrder",
        "metadata": {"name": name, "namespace": "ns", **meta},
        "status": {
            "certificateID": f"id-{name}",
            "validations": [{**record, "http": {**http, "content": f"content of {name}"}}],
        },
    }


def caches_with(*orders: dict[str, Any]) -> Caches:
    caches = Caches(KubeClient(ClusterConfig("http://127.0.0.1:9")), "zerossl-issuer-system")
    for order in orders:
        caches.orders.store.put(order)
    return caches


@pytest.mark.parametrize("other", ["Valid", "Pending"])
def test_the_solver_serves_the_file_of_the_order_being_validated(other: str) -> None:
    # Two orders of one CSR: one accepted (or not presented yet), one presented and waiting.
    caches = caches_with(
        cached_order("a", other, other == "Valid"), cached_order("b", "Ready", True)
    )
    assert caches.validation_file(FILE) == b"content of b"
    assert caches.validating_over_http(FILE) == ["ns/b"]
    caches = caches_with(
        cached_order("a", "Ready", True), cached_order("b", "Ready", True, deletionTimestamp="t")
    )
    assert caches.validation_file(FILE) == b"content of a"
    assert caches.validating_over_http(FILE) == ["ns/a"]


def test_the_caches_name_the_orders_recording_a_certificate() -> None:
    caches = caches_with(cached_order("a", "Valid", True))
    assert caches.certificate_owners("id-a") == ["ns/a"]
    assert caches.certificate_owners("id-b") == []
