"""OwnWrites: a reconciler never decides from a cache older than its own last write, and the
quiet echo of a write wakes nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.clock import SystemClock
from controller.issuer.controllers.watches import OwnWrites
from controller.issuer.controllers.writes import caught_up
from controller.kube.cached import CachedObject
from controller.kube.store import Store


def test_a_key_never_written_is_caught_up() -> None:
    assert OwnWrites().caught_up("ns/a", "1")


def test_the_cache_must_reach_the_written_version() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", "12")
    assert not writes.caught_up("ns/a", "9")  # 9 < 12 as numbers, not as text
    assert not writes.caught_up("ns/a", "11")
    assert writes.caught_up("ns/a", "12")
    assert writes.caught_up("ns/a", "3")  # forgotten once caught up
    assert len(writes) == 0
    assert OwnWrites().caught_up("ns/b", "1")


def test_other_keys_and_forgotten_keys_are_not_held_back() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", "20")
    assert writes.caught_up("ns/b", "1")
    writes.forget("ns/a")
    assert writes.caught_up("ns/a", "1")


def test_opaque_versions_count_as_caught_up() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", "abc")
    assert writes.caught_up("ns/a", "1")
    writes.wrote("ns/a", None)
    assert writes.caught_up("ns/a", "1")


def _cached(version: str) -> CachedObject:
    return CachedObject.encode(_order(version))


def test_a_reconcile_that_finds_the_cache_behind_waits_for_the_echo() -> None:
    """Its write's event is what wakes it then, quiet or not."""
    writes = OwnWrites()
    writes.wrote("ns/o", "9", quiet=True)
    assert not writes.caught_up("ns/o", "8")
    assert not writes.seen(_cached("9"))  # wakes
    assert len(writes) == 0


def test_an_event_at_or_past_the_write_ends_the_entry_older_ones_do_not() -> None:
    writes = OwnWrites()
    writes.wrote("ns/o", "9", quiet=True)
    assert not writes.seen(_cached("8"))
    assert len(writes) == 1
    assert writes.seen(_cached("9"))
    assert len(writes) == 0
    writes.wrote("ns/o", "11", quiet=True)
    assert not writes.seen(_cached("12"))  # past it: another write, which wakes
    assert len(writes) == 0
    writes.wrote("ns/o", "13", quiet=True)
    writes.clear()
    assert not writes.seen(_cached("13"))


# --- caught_up: waiting for the cache to hold a write --------------------------------------------


def _store_at(version: str) -> Store:
    store = Store()
    store.put(CachedObject.encode(_order(version)))
    return store


def _order(version: str) -> dict[str, Any]:
    meta = {"name": "o", "namespace": "ns", "uid": "u", "resourceVersion": version}
    return {"apiVersion": "v1", "kind": "ZeroSSLOrder", "metadata": meta}


async def test_caught_up_returns_once_the_cache_holds_the_write() -> None:
    store, clock = _store_at("7"), SystemClock()

    async def informer_catches_up() -> None:
        await asyncio.sleep(0.03)
        store.put(CachedObject.encode(_order("9")))

    catching_up = asyncio.create_task(informer_catches_up())
    assert await caught_up(store, "ns/o", "9", clock, timeout=5.0)
    assert catching_up.done()  # it did wait for the newer version
    assert await caught_up(store, "ns/o", "8", clock, timeout=0.0)  # newer than asked: at once


async def test_caught_up_gives_up_after_the_timeout() -> None:
    assert not await caught_up(_store_at("7"), "ns/o", "9", SystemClock(), timeout=0.02)


async def test_caught_up_never_waits_for_what_it_cannot_compare_or_what_is_gone() -> None:
    clock = SystemClock()
    assert await caught_up(Store(), "ns/o", "9", clock, timeout=5.0)
    assert await caught_up(_store_at("abc"), "ns/o", "9", clock, timeout=5.0)
