"""Store indexes, copy-on-read, the default transform, and the reflector backoff sequence."""

from __future__ import annotations

import random
import tracemalloc
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.kube.backoff import Backoff
from controller.kube.informer import LAST_APPLIED, trim_object
from controller.kube.store import NAMESPACE_INDEX, Store


def obj(namespace: str, name: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"namespace": namespace, "name": name, "labels": labels}}


def by_app(o: dict[str, Any]) -> list[str]:
    app = o["metadata"].get("labels", {}).get("app")
    return [app] if app else []


def test_put_get_delete_and_namespace_index() -> None:
    store = Store()
    assert store.put(obj("a", "x")) is None
    assert store.put(obj("b", "y")) is None
    assert store.get("a/x") == obj("a", "x")
    cached = store.get_cached("a/x")
    assert cached is not None
    assert (cached.key, cached.namespace, cached.name) == ("a/x", "a", "x")
    assert store.index_keys(NAMESPACE_INDEX, "a") == {"a/x"}
    assert sorted(store.index_values(NAMESPACE_INDEX)) == ["a", "b"]
    deleted = store.delete("a/x")
    assert deleted is not None
    assert deleted.decode() == obj("a", "x")
    assert store.delete("a/x") is None
    assert "a/x" not in store
    assert store.index_values(NAMESPACE_INDEX) == ["b"]
    assert len(store) == 1


def test_an_update_moves_the_key_between_index_values() -> None:
    store = Store({"app": by_app})
    store.put(obj("a", "x", app="web"))
    old = store.put(obj("a", "x", app="db"))
    assert old is not None
    assert old.decode() == obj("a", "x", app="web")
    assert store.index_keys("app", "web") == set()
    assert [o["metadata"]["name"] for o in store.by_index("app", "db")] == ["x"]
    assert store.index_values("app") == ["db"]


def test_reads_are_copies_that_cannot_corrupt_the_cache() -> None:
    store = Store()
    original = obj("a", "x", app="web")
    store.put(original)
    original["metadata"]["name"] = "changed after put"
    got = store.get("a/x")
    assert got is not None
    got["metadata"]["labels"]["app"] = "mutated"
    store.list()[0]["spec"] = "mutated"
    assert store.get("a/x") == obj("a", "x", app="web")


def test_objects_decodes_one_at_a_time_over_a_snapshot() -> None:
    store = Store()
    for i in range(2_000):
        store.put({**obj("a", f"x{i}"), "data": "z" * 1_000})
    listed_peak = _peak_bytes(lambda: sum(1 for _ in store.list()))
    scanned_peak = _peak_bytes(lambda: sum(1 for _ in store.objects()))
    assert scanned_peak * 20 < listed_peak  # ~1 decoded object alive instead of 2,000
    scan = store.objects()
    first = next(scan)
    first["data"] = "mutated"
    store.delete("a/x1")
    store.put(obj("b", "new"))
    assert 1 + sum(1 for _ in scan) == 2_000  # the store as it was when the scan began
    assert store.get(f"a/{first['metadata']['name']}") != first  # a copy: the cache is intact


def _peak_bytes(run: Any) -> int:
    tracemalloc.start()
    try:
        run()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_an_indexer_added_later_indexes_existing_objects() -> None:
    store = Store()
    store.put(obj("a", "x", app="web"))
    store.add_indexer("app", by_app)
    assert store.index_keys("app", "web") == {"a/x"}
    with pytest.raises(ValueError, match="already exists"):
        store.add_indexer("app", by_app)
    with pytest.raises(KeyError, match="no index named"):
        store.by_index("missing", "x")


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.sampled_from(["k1", "k2", "k3", "k4"]),
            st.sampled_from(["web", "db", None]),
        ),
        max_size=40,
    )
)
def test_indexes_always_match_the_objects(operations: list[tuple[bool, str, str | None]]) -> None:
    store = Store({"app": by_app})
    model: dict[str, str | None] = {}
    for is_put, key, app in operations:
        if is_put:
            store.put(obj("ns", key, **({"app": app} if app else {})))
            model[key] = app
        else:
            store.delete(f"ns/{key}")
            model.pop(key, None)
    for app in ("web", "db"):
        assert store.index_keys("app", app) == {f"ns/{k}" for k, v in model.items() if v == app}
    assert set(store.list_keys()) == {f"ns/{k}" for k in model}
    assert store.index_keys(NAMESPACE_INDEX, "ns") == {f"ns/{k}" for k in model}
    assert set(store.index_values("app")) == {v for v in model.values() if v}


def test_trim_object_drops_managed_fields_and_last_applied_only() -> None:
    o = {
        "metadata": {
            "name": "x",
            "managedFields": [{"manager": "kubectl"}],
            "annotations": {LAST_APPLIED: "{...}", "keep": "me"},
        },
        "spec": {"a": 1},
    }
    assert trim_object(o) == {
        "metadata": {"name": "x", "annotations": {"keep": "me"}},
        "spec": {"a": 1},
    }


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_backoff_doubles_with_jitter_up_to_the_cap_then_resets() -> None:
    clock = FakeTime()
    backoff = Backoff(0.8, cap=30.0, reset_after=120.0, clock=clock, rng=random.Random(7))
    waits = []
    for _ in range(8):
        waits.append(backoff.next())
        clock.now += 1.0
    bases = [0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0]
    for wait, base in zip(waits, bases, strict=True):
        assert base <= wait <= min(2 * base, 30.0)
    clock.now += 121.0
    assert 0.8 <= backoff.next() < 1.6


def test_backoff_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(0.0)
    with pytest.raises(ValueError):
        Backoff(1.0, cap=0.5)


def test_stored_objects_cost_about_their_json_size() -> None:
    """orjson's output bytes pin a 32 KiB buffer each; the store must keep exact copies."""
    payload = "x" * 3000
    store = Store()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for i in range(200):
            store.put({"metadata": {"namespace": "ns", "name": f"o{i}"}, "d": payload})
        grown = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    assert grown / 200 < 3000 + 600


def test_namespaces_and_index_values_are_shared_strings() -> None:
    store = Store({"app": by_app})
    for name in ("x", "y"):
        # fresh, equal strings per object, as a JSON decode makes them
        store.put(obj("".join(["te", "am"]), name, app="".join(["w", "eb"])))
    x, y = store.get_cached("team/x"), store.get_cached("team/y")
    assert x is not None
    assert y is not None
    assert x.namespace is y.namespace
    assert store._values["app"]["team/x"][0] is store._values["app"]["team/y"][0]
