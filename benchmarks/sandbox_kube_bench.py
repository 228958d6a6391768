"""Benchmark of the sandbox kube-apiserver: start-up, seeding, and full paged lists.

Run: .venv/bin/python benchmarks/sandbox_kube_bench.py [--objects 10000] [--page 500]
Prints one line per measurement; nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import resource
import ssl
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from controller.sandbox.kube import KubeAPIServer

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


def rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def report(name: str, value: float, unit: str) -> None:
    print(f"{name:<48} {value:>10.1f} {unit}", flush=True)


async def cli_startup() -> float:
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
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


async def main(objects: int, page: int) -> None:
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
    args = parser.parse_args()
    asyncio.run(main(args.objects, args.page))
