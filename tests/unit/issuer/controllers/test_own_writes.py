"""OwnWrites: a reconciler never decides from a cache older than its own last write."""

from __future__ import annotations

import asyncio
from typing import Any

from controller.clock import SystemClock
from controller.issuer.controllers.writes import OwnWrites, caught_up
from controller.kube.cached import CachedObject
from controller.kube.store import Store


def _obj(version: str) -> dict[str, dict[str, str]]:
    return {"metadata": {"resourceVersion": version}}


def test_a_key_never_written_is_caught_up() -> None:
    assert OwnWrites().caught_up("ns/a", _obj("1"))


def test_the_cache_must_reach_the_written_version() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", _obj("12"))
    assert not writes.caught_up("ns/a", _obj("9"))  # 9 < 12 as numbers, not as text
    assert not writes.caught_up("ns/a", _obj("11"))
    assert writes.caught_up("ns/a", _obj("12"))
    assert writes.caught_up("ns/a", _obj("3"))  # forgotten once caught up
    assert OwnWrites().caught_up("ns/b", _obj("1"))


def test_other_keys_and_forgotten_keys_are_not_held_back() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", _obj("20"))
    assert writes.caught_up("ns/b", _obj("1"))
    writes.forget("ns/a")
    assert writes.caught_up("ns/a", _obj("1"))


def test_opaque_versions_count_as_caught_up() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", _obj("abc"))
    assert writes.caught_up("ns/a", _obj("1"))


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
