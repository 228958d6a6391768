"""FreshOrders: which orders this leader may create a certificate for without a search."""

from __future__ import annotations

import asyncio

import pytest

from controller.issuer.controllers import fresh as fresh_module
from controller.issuer.controllers.fresh import FreshOrders


def test_fresh_only_under_the_uid_its_create_returned_until_an_attempt() -> None:
    fresh = FreshOrders()
    with fresh.creating("ns/a"):
        fresh.created("ns/a", "uid-1")
    assert fresh.is_fresh("ns/a", "uid-1")
    assert not fresh.is_fresh("ns/a", "uid-0")  # an older order of the same name
    assert not fresh.is_fresh("ns/b", "uid-1")
    fresh.forget("ns/a")  # the create is about to be sent
    assert not fresh.is_fresh("ns/a", "uid-1")


def test_a_create_that_failed_leaves_nothing_fresh() -> None:
    fresh = FreshOrders()
    with pytest.raises(RuntimeError), fresh.creating("ns/a"):
        raise RuntimeError("409")
    assert not fresh.is_fresh("ns/a", "")


async def test_a_reconcile_waits_for_the_create_in_flight() -> None:
    fresh = FreshOrders()
    seen: list[bool] = []

    async def reconcile() -> None:
        await fresh.settled("ns/a")
        seen.append(fresh.is_fresh("ns/a", "uid-1"))

    with fresh.creating("ns/a"):
        task = asyncio.create_task(reconcile())
        await asyncio.sleep(0.01)
        assert seen == []  # the watch event overtook the create's answer: it waits
        fresh.created("ns/a", "uid-1")
    await task
    assert seen == [True]


async def test_the_wait_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(fresh_module, "SETTLE_WAIT", 0.01)
    fresh = FreshOrders()
    with fresh.creating("ns/a"):
        await fresh.settled("ns/a")  # returns although the create never settles
    await fresh.settled("ns/b")  # nothing in flight: at once
