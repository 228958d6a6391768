"""The informer against the emulated API server under injected faults: random watch drops,
partitions followed by compaction (forced 410s), 429/500 bursts and stalls. Afterwards the
cache, and the state the handlers were told about, must equal the server's objects exactly:
nothing lost, no phantoms.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from controller.kube.client import KubeClient
from controller.kube.errors import ApiError
from controller.kube.informer import (
    CachedObject,
    DeletedFinalStateUnknown,
    HandlerFuncs,
    Informer,
)
from controller.kube.reflector import ReflectorOptions
from controller.kube.resource import Resource, object_key
from controller.observability import metrics
from controller.observability.metrics import KUBE_METRICS
from controller.sandbox.kube import KubeAPIServer
from tests.integration.kube.conftest import KubeEndpoint
from tests.integration.kube.partition import PartitionableRelay, relayed_kubeconfig

pytestmark = pytest.mark.integration

CONFIGMAPS = Resource("", "v1", "configmaps", "ConfigMap", namespaced=True)
NAMESPACES = ("default", "kube-public")
CHAOS_OPTIONS = ReflectorOptions(
    page_size=7,
    watch_timeout=(1, 3),
    inactivity_timeout=1.0,
    backoff_initial=0.05,
    backoff_cap=0.5,
    backoff_reset=5.0,
)


class HandlerModel:
    """What the handlers were told, replayed into a key -> resourceVersion map; it fails on
    notifications that contradict it (update or delete of a key it does not hold)."""

    def __init__(self) -> None:
        self.state: dict[str, str] = {}
        self.errors: list[str] = []

    def add(self, obj: CachedObject) -> None:
        key = obj.key
        if key in self.state:
            self.errors.append(f"add of present {key}")
        assert obj.resource_version is not None
        self.state[key] = obj.resource_version

    def update(self, old: CachedObject, new: CachedObject) -> None:
        key = new.key
        if self.state.get(key) != old.resource_version:
            self.errors.append(f"update of {key} from a state never delivered")
        assert new.resource_version is not None
        self.state[key] = new.resource_version

    def delete(self, obj: CachedObject | DeletedFinalStateUnknown) -> None:
        key = obj.key
        if self.state.pop(key, None) is None:
            self.errors.append(f"delete of absent {key}")

    def handler(self) -> HandlerFuncs:
        return HandlerFuncs(self.add, self.update, self.delete)


def server_state(api: KubeAPIServer) -> dict[str, str]:
    return {
        object_key(o): o["metadata"]["resourceVersion"]
        for ns in NAMESPACES
        for o in api.list_objects("v1", "ConfigMap", ns)
    }


def cache_state(informer: Informer) -> dict[str, str]:
    return {object_key(o): o["metadata"]["resourceVersion"] for o in informer.store.list()}


async def converged(api: KubeAPIServer, informer: Informer, model: HandlerModel) -> None:
    async with asyncio.timeout(20):
        while not (server_state(api) == cache_state(informer) == model.state):
            await asyncio.sleep(0.1)


async def write_randomly(client: KubeClient, rng: random.Random, stop: asyncio.Event) -> int:
    writes = 0
    while not stop.is_set():
        namespace, name = rng.choice(NAMESPACES), f"cm-{rng.randrange(40)}"
        body = {"metadata": {"name": name, "namespace": namespace}, "data": {"n": str(writes)}}
        try:
            roll = rng.random()
            if roll < 0.4:
                await client.create(CONFIGMAPS, body)
            elif roll < 0.8:
                await client.patch(
                    CONFIGMAPS, name, {"data": {"n": str(writes)}}, namespace=namespace
                )
            else:
                await client.delete(CONFIGMAPS, name, namespace)
            writes += 1
        except ApiError:
            pass  # AlreadyExists / NotFound: the random op did not fit the current state
        await asyncio.sleep(rng.uniform(0, 0.01))
    return writes


async def partition_and_compact(api: KubeAPIServer, relay: PartitionableRelay) -> None:
    """The informer misses a write while cut off, then the history is compacted: its re-watch
    from the old resourceVersion must get 410 and relist."""
    relay.cut()
    missed = {"name": f"missed-{api.store.rv}", "namespace": "default"}
    api.create_object({"apiVersion": "v1", "kind": "ConfigMap", "metadata": missed})
    await asyncio.sleep(CHAOS_OPTIONS.inactivity_timeout + 0.3)
    api.faults.compact()
    relay.heal()


async def inject_faults(
    api: KubeAPIServer, relay: PartitionableRelay, rng: random.Random, stop: asyncio.Event
) -> None:
    fault = "partition"  # first while the watch is surely established: a certain 410
    while not stop.is_set():
        if fault == "drop":
            api.faults.drop_watches()
        elif fault == "partition":
            await partition_and_compact(api, relay)
        elif fault == "throttle":
            api.faults.set_error("list", "configmaps", 0.7, 429, retry_after=0)
            api.faults.set_error("watch", "configmaps", 0.7, 429, retry_after=0)
        elif fault == "errors":
            api.faults.set_error("list", "configmaps", 0.5, 500)
            api.faults.set_error("watch", "configmaps", 0.5, 503)
        else:
            api.faults.pause()  # everything hangs, longer than the inactivity timeout
            await asyncio.sleep(1.3)
        await asyncio.sleep(rng.uniform(0.2, 0.5))
        api.faults.clear()
        await asyncio.sleep(rng.uniform(0.2, 0.6))
        fault = rng.choice(["drop", "partition", "throttle", "errors", "stall"])


@pytest.mark.emulator_only("injected watch drops, 429/500 bursts and stalls")
async def test_cache_converges_under_chaos(
    apiserver: KubeEndpoint, kubeconfig: Path, tmp_path: Path
) -> None:
    emulator = apiserver.emulator
    assert emulator is not None
    rng = random.Random(20260801)
    label = str(CONFIGMAPS)
    gone_before = metrics.informer_watch_restarts.labels(label, "gone")._value.get()
    relists_before = metrics.informer_relists.labels(label)._value.get()
    async with (
        PartitionableRelay("127.0.0.1", apiserver.port) as relay,
        await KubeClient.from_kubeconfig(str(kubeconfig), qps=500, burst=500) as writer,
        await KubeClient.from_kubeconfig(
            str(relayed_kubeconfig(kubeconfig, relay, tmp_path / "relayed")),
            timeout=5,
            metrics=KUBE_METRICS,
        ) as reader,
    ):
        for i in range(25):  # a few pages' worth before the informer starts
            body = {"metadata": {"name": f"seed-{i}", "namespace": "default"}, "data": {}}
            await writer.create(CONFIGMAPS, body)
        model = HandlerModel()
        informer = Informer(reader, CONFIGMAPS, options=CHAOS_OPTIONS, rng=random.Random(3))
        informer.add_handler(model.handler())
        async with asyncio.TaskGroup() as tasks:
            running = tasks.create_task(informer.run())
            await asyncio.wait_for(informer.wait_synced(), 10)
            stop = asyncio.Event()
            writing = tasks.create_task(write_randomly(writer, rng, stop))
            tasks.create_task(inject_faults(emulator, relay, rng, stop))
            await asyncio.sleep(8)
            stop.set()
            assert await writing > 200
            emulator.faults.clear()
            await converged(emulator, informer, model)
            running.cancel()
    assert model.errors == []
    assert metrics.informer_watch_restarts.labels(label, "gone")._value.get() > gone_before
    assert metrics.informer_relists.labels(label)._value.get() > relists_before


async def test_a_410_after_missed_deletes_yields_tombstones(
    apiserver: KubeEndpoint, kubeconfig: Path, tmp_path: Path
) -> None:
    """Objects deleted while the informer was cut off, with the watch history gone meanwhile
    (compacted by the emulator; the real API server restarted, its watch cache new), are
    noticed only by the relist: each must reach the handlers as DeletedFinalStateUnknown."""
    tombstones: list[str] = []
    model = HandlerModel()

    def deleted(obj: CachedObject | DeletedFinalStateUnknown) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            tombstones.append(obj.key)
        model.delete(obj)

    async with (
        PartitionableRelay("127.0.0.1", apiserver.port) as relay,
        await KubeClient.from_kubeconfig(str(kubeconfig)) as writer,
        await KubeClient.from_kubeconfig(
            str(relayed_kubeconfig(kubeconfig, relay, tmp_path / "relayed")),
            timeout=5,
            metrics=KUBE_METRICS,
        ) as reader,
    ):
        for i in range(5):
            body = {"metadata": {"name": f"c{i}", "namespace": "default"}, "data": {}}
            await writer.create(CONFIGMAPS, body)
        informer = Informer(reader, CONFIGMAPS, namespace="default", options=CHAOS_OPTIONS)
        informer.add_handler(HandlerFuncs(model.add, model.update, deleted))
        async with asyncio.TaskGroup() as tasks:
            running = tasks.create_task(informer.run())
            await asyncio.wait_for(informer.wait_synced(), 10)
            relay.cut()
            await asyncio.sleep(CHAOS_OPTIONS.inactivity_timeout + 0.5)
            await writer.delete(CONFIGMAPS, "c1", "default")
            await writer.delete(CONFIGMAPS, "c3", "default")
            await apiserver.expire_watch_history()
            relay.heal()
            async with asyncio.timeout(10):
                while len(tombstones) < 2:
                    await asyncio.sleep(0.05)
            running.cancel()
    assert sorted(tombstones) == ["default/c1", "default/c3"]
    assert sorted(model.state) == ["default/c0", "default/c2", "default/c4"]
    assert model.errors == []
