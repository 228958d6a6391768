"""Benchmark of the sandbox kube-apiserver: start-up, seeding, full paged lists, and the CPU the
server spends per write under the controller's write mix.

Run (from the repository root, so this checkout's package is imported):
     .venv/bin/python -m benchmarks.sandbox_kube_bench [--objects 10000] [--page 500]
     [--issuances 300] [--only writes|lists|all]
Prints one line per measurement; nothing is asserted.

The write mix is one issuance as the controller makes it now (7 writes), plus the load
harness's CertificateRequest create: create a CertificateRequest, server-side apply its status
once (Pending), create its ZeroSSLOrder, replace the order's status through ``/status`` three
times (created and presented, validated, issued; full object, conditional on resourceVersion),
post one events.k8s.io/v1 Event, and apply the request's final status with the certificate:
8 writes. It is measured twice: in-process through the registry (the
write path without HTTP: admission, CEL, managedFields, store, watch fan-out to no watcher),
and against a ``python -m controller.sandbox kube`` child over HTTPS with three watchers (like
the controller's informers), reading the child's own CPU time from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import resource
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import yaml

from controller.sandbox.kube import KubeAPIServer
from controller.sandbox.kube.registry import APPLY_PATCH, WriteOptions

REPO = Path(__file__).resolve().parents[1]
CRDS = [REPO / "controller/sandbox/crds", REPO / "manifests/crds"]
CSR = base64.b64encode(b"-----BEGIN CERTIFICATE REQUEST-----\n" + b"A" * 900).decode()
PATH = "/apis/cert-manager.io/v1/namespaces/default/certificaterequests"


def certificate_request(i: int) -> dict[str, Any]:
    return {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "metadata": {
            "name": f"cr-{i:05d}",
            "namespace": "default",
            "labels": {"app": "bench", "shard": str(i % 10)},
        },
        "spec": {
            "request": CSR,
            "usages": ["digital signature", "key encipherment"],
            "issuerRef": {
                "name": "zerossl",
                "kind": "ZeroSSLClusterIssuer",
                "group": "zerossl.issuer.dev",
            },
        },
    }


ORDERS = "/apis/zerossl.issuer.dev/v1alpha1/namespaces/default/zerosslorders"
EVENTS = "/apis/events.k8s.io/v1/namespaces/default/events"
NOW = "2026-01-02T03:04:05Z"
CERTIFICATE = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + b"B" * 3000).decode()
Write = tuple[str, str, str, Any]  # method, path, content type, body


def order(cr: dict[str, Any]) -> dict[str, Any]:
    """The ZeroSSLOrder the controller creates for ``cr`` (two names, HTTP validation)."""
    name, uid = cr["metadata"]["name"], cr["metadata"]["uid"]
    domains = [f"{name}.example.com", f"www.{name}.example.com"]
    return {
        "apiVersion": "zerossl.issuer.dev/v1alpha1",
        "kind": "ZeroSSLOrder",
        "metadata": {
            "name": name,
            "namespace": "default",
            "labels": {"app.kubernetes.io/managed-by": "zerossl-issuer"},
            "finalizers": ["zerossl.issuer.dev/order"],
            "ownerReferences": [
                {
                    "apiVersion": "cert-manager.io/v1",
                    "kind": "CertificateRequest",
                    "name": name,
                    "uid": uid,
                    "controller": True,
                }
            ],
        },
        "spec": {
            "certificateRequestRef": {"name": name, "uid": uid},
            "issuerRef": {"kind": "ZeroSSLClusterIssuer", "name": "zerossl"},
            "request": CSR,
            "domains": domains,
            "validityDays": 90,
            "strictDomains": True,
            "csrHash": {"md5": "A" * 32, "sha256": "B" * 64},
            "validationMethod": "HTTP_CSR_HASH",
            "solvers": [
                {"domain": d, "solverIndex": 0, "http": {"ingress": {"ingressClassName": "nginx"}}}
                for d in domains
            ],
        },
    }


def order_statuses(domains: list[str]) -> list[dict[str, Any]]:
    """The order's successive statuses, as the controller replaces them."""

    def ready(reason: str, status: str = "False") -> list[dict[str, Any]]:
        return [
            {
                "type": "Ready",
                "status": status,
                "lastTransitionTime": NOW,
                "reason": reason,
                "message": f"order is {reason}",
                "observedGeneration": 1,
            }
        ]

    def validations(state: str, presented: int) -> list[dict[str, Any]]:
        return [
            {
                "domain": d,
                "method": "HTTP_CSR_HASH",
                "solverIndex": 0,
                "state": state,
                "presented": bool(presented),
                "http": {
                    "url": f"http://{d}/.well-known/pki-validation/{'A' * 32}.txt",
                    "path": f"/.well-known/pki-validation/{'A' * 32}.txt",
                    "content": "A" * 64 + "\ncomodoca.com\n" + "C" * 20,
                },
            }
            for d in domains
        ]

    attempt = {"createAttempt": {"time": NOW, "count": 1}}
    created = {**attempt, "certificateID": "c" * 32, "zerosslStatus": "draft", "createdTime": NOW}
    return [
        {"conditions": ready("Creating"), **attempt, "validations": []},
        {"conditions": ready("Presenting"), **created, "validations": validations("Pending", 0)},
        {"conditions": ready("Validating"), **created, "validations": validations("Ready", 1)},
        *(
            {
                "conditions": ready("WaitingForIssuance"),
                **created,
                "zerosslStatus": "pending_validation",
                "validatedTime": NOW,
                "validations": validations("Valid", attempts == 1),
                "verify": {"attempts": attempts},
            }
            for attempts in range(1, 6)
        ),
        {
            "conditions": ready("Issued", "True"),
            **created,
            "zerosslStatus": "issued",
            "validatedTime": NOW,
            "issuedTime": NOW,
            "certificate": CERTIFICATE,
            "validations": validations("Valid", False),
        },
    ]


def request_status(ready: bool, step: int = 0) -> dict[str, Any]:
    reason, status = ("Issued", "True") if ready else ("Pending", "False")
    out: dict[str, Any] = {
        "conditions": [
            {
                "type": "Ready",
                "status": status,
                "reason": reason,
                "message": f"request is {reason} (step {step})",
                "lastTransitionTime": NOW,
            }
        ]
    }
    if ready:
        out["certificate"] = CERTIFICATE
        out["ca"] = CERTIFICATE[:1000]
    return out


def apply_body(name: str, status: dict[str, Any]) -> bytes:
    return orjson.dumps(
        {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "metadata": {"name": name, "namespace": "default"},
            "status": status,
        }
    )


def event(name: str, i: int, reason: str) -> dict[str, Any]:
    return {
        "apiVersion": "events.k8s.io/v1",
        "kind": "Event",
        "metadata": {"name": f"{name}.{i:x}", "namespace": "default"},
        "eventTime": "2026-01-02T03:04:05.000000Z",
        "reportingController": "zerossl.issuer.dev/controller",
        "reportingInstance": "zerossl-issuer-0",
        "action": "Issue",
        "reason": reason,
        "type": "Normal",
        "regarding": {
            "apiVersion": "cert-manager.io/v1",
            "kind": "CertificateRequest",
            "namespace": "default",
            "name": name,
        },
        "note": f"{reason} for {name}",
    }


class Writer:
    """One issuance's 8 writes, against the registry (in-process) or over HTTP."""

    writes = 8

    async def issue(self, i: int) -> None:
        name = f"mix-{i:05d}"
        cr = await self.create(PATH, certificate_request(i) | {"metadata": {"name": name}})
        await self.apply(f"{PATH}/{name}/status", apply_body(name, request_status(False)))
        written = await self.create(ORDERS, order(cr))
        statuses = order_statuses(written["spec"]["domains"])
        for status in (statuses[1], statuses[3], statuses[-1]):
            written = await self.put(f"{ORDERS}/{name}/status", {**written, "status": status})
        await self.create(EVENTS, event(name, i, "Issued"))
        await self.apply(f"{PATH}/{name}/status", apply_body(name, request_status(True)))

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        raise NotImplementedError

    async def apply(self, path: str, body: bytes) -> dict[str, Any]:
        raise NotImplementedError


class RegistryWriter(Writer):
    def __init__(self, api: KubeAPIServer) -> None:
        self.api = api
        self.opts = WriteOptions(manager="zerossl-issuer")
        self.types = {
            PATH: api.resource_type("cert-manager.io/v1", "CertificateRequest"),
            ORDERS: api.resource_type("zerossl.issuer.dev/v1alpha1", "ZeroSSLOrder"),
            EVENTS: api.resource_type("events.k8s.io/v1", "Event"),
        }

    def _split(self, path: str) -> tuple[Any, str, str | None]:
        for prefix, rt in self.types.items():
            if path.startswith(prefix):
                name, _, sub = path[len(prefix) + 1 :].partition("/")
                return rt, name, sub or None
        raise KeyError(path)

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return self.api.registry.create(self.types[path], "default", body, self.opts).obj

    async def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        rt, name, sub = self._split(path)
        return self.api.registry.update(
            rt, "default", name, body, opts=self.opts, subresource=sub
        ).obj

    async def apply(self, path: str, body: bytes) -> dict[str, Any]:
        rt, name, sub = self._split(path)
        return self.api.registry.patch(
            rt, "default", name, APPLY_PATCH, body, opts=self.opts, subresource=sub, force=True
        ).obj


class HTTPWriter(Writer):
    def __init__(self, session: aiohttp.ClientSession, url: str, token: str, tls: Any) -> None:
        self.session, self.url, self.tls = session, url, tls
        self.auth = {"Authorization": f"Bearer {token}"}

    async def _call(self, method: str, path: str, body: bytes, ctype: str, **params: str) -> Any:
        headers = {**self.auth, "Content-Type": ctype}
        async with self.session.request(
            method, self.url + path, data=body, headers=headers, ssl=self.tls, params=params
        ) as resp:
            payload = orjson.loads(await resp.read())
            if resp.status >= 300:
                raise RuntimeError(f"{method} {path}: {resp.status} {payload.get('message')}")
            return payload

    async def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("POST", path, orjson.dumps(body), "application/json")  # type: ignore[no-any-return]

    async def put(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._call("PUT", path, orjson.dumps(body), "application/json")  # type: ignore[no-any-return]

    async def apply(self, path: str, body: bytes) -> dict[str, Any]:
        return await self._call(  # type: ignore[no-any-return]
            "PATCH", path, body, APPLY_PATCH, fieldManager="zerossl-issuer", force="true"
        )


async def run_mix(writer: Writer, issuances: int, start: int, concurrency: int = 20) -> None:
    for chunk in range(start, start + issuances, concurrency):
        top = min(start + issuances, chunk + concurrency)
        await asyncio.gather(*(writer.issue(i) for i in range(chunk, top)))


async def registry_write_mix(issuances: int) -> None:
    api = KubeAPIServer(history=1000)
    api.register_crds(CRDS)
    writer = RegistryWriter(api)
    await run_mix(writer, min(20, issuances), 0)  # warm-up
    started = time.process_time()
    await run_mix(writer, issuances, 100_000)
    cpu = time.process_time() - started
    writes = issuances * writer.writes
    report(f"in-process write mix: {issuances} issuances, {writes} writes", cpu * 1000, "ms CPU")
    report("  CPU per write (registry, no HTTP)", cpu / writes * 1e6, "us")


def child_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def start_server(tmp: str) -> asyncio.subprocess.Process:
    """The sandbox API server as a child process, its kubeconfig written into ``tmp``."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        "kube",
        "--port",
        "0",
        "--kubeconfig",
        f"{tmp}/kubeconfig",
        *[a for c in CRDS for a in ("--crds", str(c))],
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )


async def http_write_mix(issuances: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        process = await start_server(tmp)
        try:
            assert process.stdout is not None
            await process.stdout.readline()
            config = yaml.safe_load(await asyncio.to_thread(Path(f"{tmp}/kubeconfig").read_text))
            cluster = config["clusters"][0]["cluster"]
            token = config["users"][0]["user"]["token"]
            ca = base64.b64decode(cluster["certificate-authority-data"]).decode()
            tls = ssl.create_default_context(cadata=ca)
            async with aiohttp.ClientSession() as session:
                writer = HTTPWriter(session, cluster["server"], token, tls)
                watchers = [
                    asyncio.create_task(drain_watch(writer, p)) for p in (PATH, ORDERS, EVENTS)
                ]
                await run_mix(writer, min(20, issuances), 0)  # warm-up
                before = child_cpu_seconds(process.pid)
                started = time.perf_counter()
                await run_mix(writer, issuances, 100_000)
                elapsed = time.perf_counter() - started
                cpu = child_cpu_seconds(process.pid) - before
                for task in watchers:
                    task.cancel()
            writes = issuances * writer.writes
            report(
                f"HTTPS write mix: {issuances} issuances, {writes} writes, 3 watchers",
                cpu * 1000,
                "ms server CPU",
            )
            report("  server CPU per write", cpu / writes * 1e6, "us")
            report("  writes per second (20 issuances in flight)", writes / elapsed, "req/s")
        finally:
            process.terminate()
            await process.wait()


async def drain_watch(writer: HTTPWriter, path: str) -> None:
    params = {"watch": "true", "timeoutSeconds": "3600"}
    async with writer.session.get(
        writer.url + path, params=params, headers=writer.auth, ssl=writer.tls
    ) as resp:
        async for _ in resp.content:
            pass


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, value: float, unit: str) -> None:
    print(f"{name:<48} {value:>10.1f} {unit}", flush=True)


async def cli_startup() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        process = await start_server(tmp)
        assert process.stdout is not None
        await process.stdout.readline()
        elapsed = time.perf_counter() - started
        process.terminate()
        await process.wait()
    return elapsed


async def paged_list(
    session: aiohttp.ClientSession, api: KubeAPIServer, tls: ssl.SSLContext, page: int
) -> tuple[float, int, int]:
    headers = {"Authorization": f"Bearer {api.admin_token}"}
    started = time.perf_counter()
    items, pages, token = 0, 0, ""
    while True:
        params = {"limit": str(page), **({"continue": token} if token else {})}
        async with session.get(api.url + PATH, params=params, headers=headers, ssl=tls) as resp:
            body = orjson.loads(await resp.read())
        items += len(body["items"])
        pages += 1
        token = body["metadata"].get("continue", "")
        if not token:
            return time.perf_counter() - started, items, pages


async def main(objects: int, page: int, issuances: int, only: str) -> None:
    if only in ("writes", "all"):
        await registry_write_mix(issuances)
        await http_write_mix(issuances)
    if only in ("lists", "all"):
        await lists(objects, page)


async def lists(objects: int, page: int) -> None:
    report("CLI start-up to kubeconfig printed (CRDs)", await cli_startup() * 1000, "ms")
    started = time.perf_counter()
    api = KubeAPIServer(history=1000)
    await api.start()
    api.register_crds(CRDS)
    report("in-process start-up (TLS CA, CRDs)", (time.perf_counter() - started) * 1000, "ms")
    try:
        started = time.perf_counter()
        for i in range(objects):
            api.create_object(certificate_request(i))
        elapsed = time.perf_counter() - started
        report(f"seed {objects} CertificateRequests (in-process)", elapsed * 1000, "ms")
        report("  per object", elapsed / objects * 1e6, "us")
        report("  RSS after seeding (max)", rss_mib(), "MiB")
        tls = ssl.create_default_context(cadata=(api.ca_pem or b"").decode())
        async with aiohttp.ClientSession() as session:
            await paged_list(session, api, tls, page)  # warm the connection
            for run in range(3):
                elapsed, items, pages = await paged_list(session, api, tls, page)
                report(
                    f"full paged list #{run + 1}: {items} items in {pages} pages",
                    elapsed * 1000,
                    "ms",
                )
            elapsed, items, _ = await paged_list(session, api, tls, 0)
            report(f"full unpaged list: {items} items", elapsed * 1000, "ms")
            headers = {
                "Authorization": f"Bearer {api.admin_token}",
                "Content-Type": "application/merge-patch+json",
            }
            started = time.perf_counter()
            writes = min(objects, 2000)

            async def patch(i: int) -> None:
                body = orjson.dumps({"metadata": {"annotations": {"bench": str(i)}}})
                async with session.patch(
                    f"{api.url}{PATH}/cr-{i:05d}", data=body, headers=headers, ssl=tls
                ) as resp:
                    await resp.read()

            for chunk in range(0, writes, 50):
                await asyncio.gather(*(patch(i) for i in range(chunk, min(writes, chunk + 50))))
            elapsed = time.perf_counter() - started
            report(f"HTTP merge patches ({writes}, 50 concurrent)", writes / elapsed, "req/s")
        report("RSS at end (max)", rss_mib(), "MiB")
    finally:
        await api.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--objects", type=int, default=10_000)
    parser.add_argument("--page", type=int, default=500)
    parser.add_argument("--issuances", type=int, default=300, help="issuances in the write mix")
    parser.add_argument("--only", choices=("writes", "lists", "all"), default="all")
    args = parser.parse_args()
    asyncio.run(main(args.objects, args.page, args.issuances, args.only))
