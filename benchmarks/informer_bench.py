"""Informer benchmark: throughput into a work queue, and memory per cached object.

Not a test: it prints numbers. Run (it measures the checkout it is in):

    .venv/bin/python benchmarks/informer_bench.py [--events 50000] [--objects 10000]

1. Records (generates) a watch stream of CertificateRequest events as the API server would send
   them (managedFields included, ~3.7 KB of JSON each), once, as bytes.
2. Serves that same stream from a child process (an aiohttp server: the server's CPU is not the
   client's, as with a real API server) and measures events/s from the first event a client
   handles to the last key it added to a ``WorkQueue``, wall and per CPU-second of the client:
   - a bare loop: the same client, watch stream and lean decoder into a dict and the queue,
     with none of the informer around them (the floor under the lean informer);
   - this project's Informer with the default transform (lean watch: msgspec reads the
     envelope, managedFields cut from the bytes, CachedObject handlers);
   - the same Informer with a custom transform (identical to the default), which takes the full
     path every custom-transform informer takes (orjson decode, transform, re-encode);
   - the CertificateRequest informer exactly as the controller builds it (its transform, which
     keeps only routing fields of other issuers' requests, and its by-issuer index: full path);
   - ``kubernetes_asyncio.watch.Watch`` over ``CustomObjectsApi`` (list, then watch with its
     deserialisation into response objects), adding the same keys to the same kind of queue.
   Each round measures every client once, in turn; the medians of the rounds are printed.
3. Measures resident memory per cached object in fresh child processes (RSS delta around filling
   the cache with N distinct objects through the informer), and reports it beyond the object's
   raw JSON size on the wire.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import ctypes
import gc
import json
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import orjson
import psutil
from aiohttp import web
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import watch as k8s_watch

# Measure the checkout this file is in, not whichever one the environment installed (running a
# script puts only benchmarks/ on sys.path; an editable install may point elsewhere).
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from controller.issuer.controllers.caches import Caches
from controller.kube.client import KubeClient
from controller.kube.informer import CachedObject, HandlerFuncs, Informer, Transform, trim_object
from controller.kube.kubeconfig import ClusterConfig
from controller.kube.reflector import ReflectorOptions
from controller.kube.resource import Resource, object_key
from controller.kube.workqueue import WorkQueue
from loadtests.results import Target

EVENTS_RATIO_TARGET = 10.0  # at least 10x kubernetes_asyncio's events/s (issue #4)
MEMORY_BEYOND_RAW_TARGET = 2048  # under 2 KB per cached object beyond its raw JSON (issue #4)
CERTIFICATE_REQUESTS = Resource(
    "cert-manager.io", "v1", "certificaterequests", "CertificateRequest", namespaced=True
)
NAMESPACES = 20


# --- the recorded stream -----------------------------------------------------------------------


def certificate_request(rng: random.Random, index: int, rv: int) -> dict[str, Any]:
    """A CertificateRequest shaped like cert-manager's, with the server's managedFields."""
    name = f"web-{index:06d}-{rng.randrange(1 << 16):04x}"
    der = rng.randbytes(700)  # a CSR for a 2048-bit key with two SANs is ~700-900 bytes
    pem = "-----BEGIN CERTIFICATE REQUEST-----\n"
    pem += base64.encodebytes(der).decode() + "-----END CERTIFICATE REQUEST-----\n"
    stamp = "2026-08-01T12:00:00Z"
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {
            "name": name,
            "namespace": f"team-{index % NAMESPACES:02d}",
            "uid": f"{rng.randrange(1 << 32):08x}-8f1c-4b0e-9d1a-{rng.randrange(1 << 48):012x}",
            "resourceVersion": str(rv),
            "generation": 1,
            "creationTimestamp": stamp,
            "labels": {"app.kubernetes.io/name": "web", "app.kubernetes.io/instance": name[:10]},
            "annotations": {
                "cert-manager.io/certificate-name": name[:10],
                "cert-manager.io/certificate-revision": "1",
                "cert-manager.io/private-key-secret-name": f"{name[:10]}-key",
            },
            "ownerReferences": [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "Certificate",
                    "name": name[:10],
                    "uid": f"{rng.randrange(1 << 32):08x}-1111-4222-8333-{index:012d}",
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
            "managedFields": [
                {
                    "manager": "cert-manager-certificates-request-manager",
                    "operation": "Update",
                    "apiVersion": "cert-manager.io/v1",
                    "time": stamp,
                    "fieldsType": "FieldsV1",
                    "fieldsV1": {
                        "f:metadata": {
                            "f:annotations": {
                                ".": {},
                                "f:cert-manager.io/certificate-name": {},
                                "f:cert-manager.io/certificate-revision": {},
                                "f:cert-manager.io/private-key-secret-name": {},
                            },
                            "f:labels": {".": {}, "f:app.kubernetes.io/name": {}},
                            "f:ownerReferences": {".": {}, 'k:{"uid":"x"}': {}},
                        },
                        "f:spec": {
                            ".": {},
                            "f:duration": {},
                            "f:issuerRef": {".": {}, "f:group": {}, "f:kind": {}, "f:name": {}},
                            "f:request": {},
                            "f:usages": {},
                        },
                    },
                },
                {
                    "manager": "cert-manager-certificaterequests-approver",
                    "operation": "Update",
                    "apiVersion": "cert-manager.io/v1",
                    "time": stamp,
                    "fieldsType": "FieldsV1",
                    "subresource": "status",
                    "fieldsV1": {
                        "f:status": {
                            ".": {},
                            "f:conditions": {".": {}, 'k:{"type":"Approved"}': {}},
                        }
                    },
                },
            ],
        },
        "spec": {
            "request": base64.b64encode(pem.encode()).decode(),
            "issuerRef": {
                "group": "zerossl.issuer.dev",
                "kind": "ZeroSSLClusterIssuer",
                "name": "zerossl-production",
            },
            "usages": ["digital signature", "key encipherment"],
            "duration": "2160h0m0s",
            "username": "system:serviceaccount:cert-manager:cert-manager",
            "uid": "5c7d4cf0-5a3b-4c3e-9a0e-2f1e6b7d8c9a",
            "groups": [
                "system:serviceaccounts",
                "system:serviceaccounts:cert-manager",
                "system:authenticated",
            ],
        },
        "status": {
            "conditions": [
                {
                    "type": "Approved",
                    "status": "True",
                    "reason": "cert-manager.io",
                    "message": "Certificate request has been approved by cert-manager.io",
                    "lastTransitionTime": stamp,
                },
                {
                    "type": "Ready",
                    "status": "False",
                    "reason": "Pending",
                    "message": "Waiting on certificate issuance from order default/web: pending",
                    "lastTransitionTime": stamp,
                },
            ]
        },
    }


def record_stream(events: int, objects: int, seed: int = 1) -> tuple[bytes, float]:
    """``objects`` ADDED events, then MODIFIED events cycling over them; returns the stream
    and the mean JSON size of one object."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data)
    current = [certificate_request(rng, i, 1000 + i) for i in range(min(objects, events))]
    lines = [orjson.dumps({"type": "ADDED", "object": obj}) for obj in current]
    rv = 1000 + len(current)
    for n in range(events - len(lines)):
        obj = current[n % len(current)]
        rv += 1
        obj["metadata"]["resourceVersion"] = str(rv)
        obj["status"]["conditions"][1]["message"] = f"Waiting on certificate issuance: poll {n}"
        lines.append(orjson.dumps({"type": "MODIFIED", "object": obj}))
    object_size = statistics.fmean(len(orjson.dumps(o)) for o in current)
    return b"\n".join(lines) + b"\n", object_size


# --- a server replaying the recording ----------------------------------------------------------


class Replay:
    """Lists nothing, then serves the recorded stream to every watch and holds it open (the
    client decides when it has seen enough). The first watch waits for ``go``."""

    def __init__(self, stream: bytes) -> None:
        self.stream = stream
        self.go = asyncio.Event()
        self.go.set()
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def __aenter__(self) -> Replay:
        app = web.Application()
        app.router.add_get("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.1)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._runner is not None
        await self._runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if request.query.get("watch") not in ("true", "True", "1"):
            empty = {
                "apiVersion": "v1",
                "kind": "List",
                "metadata": {"resourceVersion": "999"},
                "items": [],
            }
            return web.Response(body=orjson.dumps(empty), content_type="application/json")
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        await self.go.wait()
        step = 256 * 1024
        for start in range(0, len(self.stream), step):
            await response.write(self.stream[start : start + step])
        await asyncio.sleep(3600)
        return response


@contextlib.contextmanager
def replay_process(events: int, objects: int) -> Iterator[str]:
    """A Replay of ``record_stream(events, objects)`` in a child process, as a real API server
    is: its CPU is not the client's. Yields its URL."""
    child = subprocess.Popen(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, "--serve", str(events), "--objects", str(objects)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert child.stdout is not None
        yield child.stdout.readline().strip()
    finally:
        child.kill()
        child.wait()


async def serve(events: int, objects: int) -> None:
    async with Replay(record_stream(events, objects)[0]) as replay:
        print(replay.url, flush=True)
        await asyncio.sleep(3600 * 24)


class Rate(NamedTuple):
    wall: float  # events per second of elapsed time
    cpu: float  # events per second of this process's CPU time (steadier on a shared machine)


class Clocked:
    """Times the events a client handles, from the first to the ``total``-th: the rate of
    events already on their way, so connection set-up and the empty list do not count."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.seen = 0
        self.done = asyncio.Event()
        self._first = (0.0, 0.0)
        self.rate = Rate(0.0, 0.0)

    def tick(self) -> None:
        self.seen += 1
        if self.seen == 1:
            self._first = (time.perf_counter(), time.process_time())
        elif self.seen == self.total:
            wall, cpu = self._first
            n = self.total - 1
            self.rate = Rate(n / (time.perf_counter() - wall), n / (time.process_time() - cpu))
            self.done.set()


def counting_handler(queue: WorkQueue[str], clock: Clocked) -> HandlerFuncs:
    def enqueue(obj: CachedObject) -> None:
        queue.add(obj.key)
        clock.tick()

    return HandlerFuncs(add=enqueue, update=lambda old, new: enqueue(new))


def full_trim(obj: dict[str, Any]) -> dict[str, Any]:
    """``trim_object`` under another name: a custom transform, so the full decoding path."""
    return trim_object(obj)


def as_configured(client: KubeClient, informer: str) -> Informer:
    """The informer measured: ``lean`` (default transform), ``full`` (a custom transform), or
    ``controller`` (the CertificateRequest informer exactly as the controller builds it)."""
    if informer == "controller":
        return Caches(client, "zerossl-issuer").requests
    transform: Transform = trim_object if informer == "lean" else full_trim
    return Informer(client, CERTIFICATE_REQUESTS, transform=transform)


async def through_informer(url: str, total: int, informer: str) -> Rate:
    client = KubeClient.from_config(ClusterConfig(url), qps=1e6, burst=1_000_000)
    queue: WorkQueue[str] = WorkQueue(f"bench-{informer}")
    clock = Clocked(total)
    measured = as_configured(client, informer)
    measured.add_handler(counting_handler(queue, clock))
    async with client:
        task = asyncio.create_task(measured.run())
        await clock.done.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    return clock.rate


async def through_bare_loop(url: str, total: int) -> Rate:
    """The floor under the lean informer: the same client, watch stream and lean decoder, then
    straight into a dict and the queue (no reflector, store indexes, dispatch or handlers)."""
    client = KubeClient.from_config(ClusterConfig(url), qps=1e6, burst=1_000_000)
    queue: WorkQueue[str] = WorkQueue("bench-bare-loop")
    clock = Clocked(total)
    cache: dict[str, CachedObject | None] = {}
    async with (
        client,
        client.watch(
            CERTIFICATE_REQUESTS, resource_version="999", timeout_seconds=3600, lean=True
        ) as stream,
    ):
        decode = stream.decode
        while not clock.done.is_set() and (lines := await stream.next_lines(128)):
            for line in lines:
                cached = decode(line).cached
                assert cached is not None  # every line of the recording decodes lean
                cache[cached.key] = cached
                queue.add(cached.key)
                clock.tick()
    return clock.rate


async def through_kubernetes_asyncio(url: str, total: int) -> Rate:
    configuration = k8s_client.Configuration(host=url)
    queue: WorkQueue[str] = WorkQueue("bench-kubernetes-asyncio")
    clock = Clocked(total)
    async with k8s_client.ApiClient(configuration) as api:
        objects = k8s_client.CustomObjectsApi(api)
        listed = await objects.list_cluster_custom_object(
            CERTIFICATE_REQUESTS.group, CERTIFICATE_REQUESTS.version, CERTIFICATE_REQUESTS.plural
        )
        async with k8s_watch.Watch() as watcher:
            async for event in watcher.stream(
                objects.list_cluster_custom_object,
                CERTIFICATE_REQUESTS.group,
                CERTIFICATE_REQUESTS.version,
                CERTIFICATE_REQUESTS.plural,
                resource_version=listed["metadata"]["resourceVersion"],
                allow_watch_bookmarks=True,
                timeout_seconds=3600,
                _request_timeout=3600,
            ):
                queue.add(object_key(event["object"]))
                clock.tick()
                if clock.done.is_set():
                    break
    return clock.rate


def orjson_alone(stream: bytes) -> float:
    """orjson.loads alone over the same lines: the ceiling of any full-parse pipeline (the lean
    path builds no objects for the content, so it is not bound by it)."""
    lines = stream.split(b"\n")[:-1]
    started = time.perf_counter()
    for line in lines:
        orjson.loads(line)
    return len(lines) / (time.perf_counter() - started)


# --- memory (child processes) ------------------------------------------------------------------


def rss() -> int:
    """Resident set size after a full collection and after handing free heap pages back to the
    OS (glibc malloc_trim), so that transient parsing garbage does not count as cache."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    return int(psutil.Process().memory_info().rss)


async def fill_informer(stream: bytes, total: int) -> tuple[Informer, int, int]:
    """Fills an informer's store with ``total`` objects; returns it with the RSS before the
    first event arrived (server, client and connection already warm) and after."""
    async with Replay(stream) as replay:
        replay.go.clear()
        client = KubeClient.from_config(ClusterConfig(replay.url))
        informer = Informer(
            client, CERTIFICATE_REQUESTS, options=ReflectorOptions(inactivity_timeout=600)
        )
        filled = asyncio.Event()
        delivered = 0

        def added(_: CachedObject) -> None:
            nonlocal delivered
            delivered += 1
            if delivered == total:  # every notification handed out: nothing transient left
                filled.set()

        informer.add_handler(HandlerFuncs(add=added))
        async with client:
            task = asyncio.create_task(informer.run())
            await informer.wait_synced()
            before = rss()
            replay.go.set()
            await filled.wait()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            after = rss()
    return informer, before, after


def memory_child(objects: int, mode: str) -> dict[str, float]:
    stream, object_size = record_stream(objects, objects, seed=objects)
    lines = stream.split(b"\n")[:-1]
    trimmed_size = statistics.fmean(
        len(orjson.dumps(trim_object(orjson.loads(line)["object"]))) for line in lines[:500]
    )
    keep: Any
    if mode == "informer":
        keep, before, after = asyncio.run(fill_informer(stream, objects))
    else:  # the naive cache: parsed dicts kept as they come (what a dict-based store holds)
        before = rss()
        keep = {}
        for line in lines:
            obj = orjson.loads(line)["object"]
            keep[object_key(obj)] = obj
        after = rss()
    per_object = (after - before) / objects
    result = {
        "objects": objects,
        "raw_json_bytes": object_size,
        "trimmed_json_bytes": trimmed_size,
        "rss_per_object": per_object,
        "beyond_raw_json": per_object - object_size,
    }
    if mode == "informer":  # what the store itself holds, by sys.getsizeof
        items = keep.store._items
        held = sys.getsizeof(items) + sum(
            sys.getsizeof(k)
            + sys.getsizeof(v)
            + sum(sys.getsizeof(getattr(v, f)) for f in CachedObject.__slots__ if f != "key")
            for k, v in items.items()
        )
        result["store_bytes_per_object"] = held / objects
    return result


def run_child(objects: int, mode: str) -> dict[str, float]:
    output = subprocess.run(  # noqa: S603 (our own interpreter and script)
        [sys.executable, __file__, "--memory-child", str(objects), "--mode", mode],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    result: dict[str, float] = json.loads(output.strip().splitlines()[-1])
    return result


# --- main --------------------------------------------------------------------------------------


MEASURED = {
    "bare": "bare loop: watch stream, lean decode, dict",
    "lean": "informer, default transform (lean)",
    "full": "informer, custom transform (full)",
    "controller": "controller's CertificateRequest informer",
    "kubernetes_asyncio": "kubernetes_asyncio Watch",
}


def measure_rates(url: str, events: int, runs: int) -> dict[str, Rate]:
    """Medians over ``runs`` rounds; each round measures every client once, in turn, so that
    a noisy neighbour on a shared machine weighs on all of them alike."""
    rates: dict[str, list[Rate]] = {name: [] for name in MEASURED}
    for _ in range(runs):
        for name in MEASURED:
            if name == "kubernetes_asyncio":
                rate = asyncio.run(through_kubernetes_asyncio(url, events))
            elif name == "bare":
                rate = asyncio.run(through_bare_loop(url, events))
            else:
                rate = asyncio.run(through_informer(url, events, name))
            rates[name].append(rate)
    return {
        name: Rate(statistics.median(r.wall for r in got), statistics.median(r.cpu for r in got))
        for name, got in rates.items()
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--memory", default="10000,50000", help="cache sizes to measure")
    parser.add_argument("--memory-child", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--mode", default="informer", help=argparse.SUPPRESS)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--targets", type=Path, help="write the targets met or missed here (JSON)")
    args = parser.parse_args()
    if args.memory_child:
        print(json.dumps(memory_child(args.memory_child, args.mode)))
        return 0
    if args.serve:
        asyncio.run(serve(args.serve, args.objects))
        return 0

    stream, object_size = record_stream(args.events, args.objects)
    print(
        f"recorded stream: {args.events} events over {args.objects} CertificateRequests, "
        f"{len(stream) / 1e6:.1f} MB, {object_size:.0f} B of JSON per object, "
        "served by a child process"
    )
    print(f"orjson.loads alone: {orjson_alone(stream):>9,.0f} events/s")
    del stream
    with replay_process(args.events, args.objects) as url:
        rates = measure_rates(url, args.events, args.runs)
    for name, label in MEASURED.items():
        r = rates[name]
        print(f"{label:>42}: {r.wall:>9,.0f} events/s wall, {r.cpu:>9,.0f} per CPU-second")
    theirs = rates["kubernetes_asyncio"]
    targets: list[Target] = []
    for name in ("bare", "lean", "controller"):
        ours = rates[name]
        print(
            f"ratio {MEASURED[name]} / kubernetes_asyncio: {ours.wall / theirs.wall:.1f}x wall,"
            f" {ours.cpu / theirs.cpu:.1f}x CPU (medians of {args.runs} runs)"
        )
        if name != "bare":  # the floor is printed for reference, not a target
            ratio = round(ours.wall / theirs.wall, 2)
            label = f"events/s of the {MEASURED[name]} over kubernetes_asyncio's"
            targets.append(Target(label, ratio, EVENTS_RATIO_TARGET, "times", at_most=False))
    for size in (int(s) for s in args.memory.split(",") if s):
        for mode in ("informer", "dicts"):
            m = run_child(size, mode)
            label = "informer store" if mode == "informer" else "plain dict cache"
            print(
                f"{label:>16} with {size:>6} objects: {m['rss_per_object']:,.0f} B RSS per object;"
                f" raw JSON {m['raw_json_bytes']:,.0f} B"
                f" (trimmed {m['trimmed_json_bytes']:,.0f} B);"
                f" beyond raw JSON {m['beyond_raw_json']:+,.0f} B"
                + (
                    f"; store holds {m['store_bytes_per_object']:,.0f} B per object"
                    if "store_bytes_per_object" in m
                    else ""
                )
            )
            if mode == "informer":
                beyond = round(m["beyond_raw_json"])
                label = f"RSS per cached object beyond its raw JSON ({size:,} cached)"
                targets.append(Target(label, beyond, MEMORY_BEYOND_RAW_TARGET, "B"))
    if args.targets:
        args.targets.write_text(json.dumps([t.to_json() for t in targets], indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
