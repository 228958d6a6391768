"""Benchmark: push N certificates through the emulator in zero-latency mode and print numbers.

    .venv/bin/python -m tests.integration.sandbox.zerossl.bench_emulator [N] [CONCURRENCY]

Each certificate: create, verify over HTTP (a real fetch from a local file server), poll, and
download. Prints wall time, certificates/s, requests/s per endpoint, list latency on the full
account and peak RSS.
"""

from __future__ import annotations

import asyncio
import resource
import sys
import time

import aiohttp
from aiohttp import web

from controller.sandbox.zerossl import ZeroSSLEmulator
from tests.integration.sandbox.zerossl.conftest import make_csr

KEY = "bench"


async def main(total: int, concurrency: int) -> None:
    files: dict[str, str] = {}

    async def serve(request: web.Request) -> web.Response:
        body = files.get(f"{request.host}{request.path}")
        return web.Response(text=body) if body is not None else web.Response(status=404)

    app = web.Application()
    app.router.add_get("/{tail:.*}", serve)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]

    started = time.perf_counter()
    emulator = ZeroSSLEmulator()
    ca_seconds = time.perf_counter() - started
    csrs = [make_csr([f"n{i}.bench.example.com"]) for i in range(min(total, 200))]
    try:
        async with (
            emulator as z,
            aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session,
        ):
            z.add_account(KEY)
            z.resolve_default("127.0.0.1", port)
            query = {"access_key": KEY}
            gate = asyncio.Semaphore(concurrency)

            async def one(i: int) -> None:
                name = f"n{i % len(csrs)}.bench.example.com"
                async with gate:
                    data = {
                        "certificate_domains": name,
                        "certificate_csr": csrs[i % len(csrs)],
                        "strict_domains": "1",
                    }
                    async with session.post(f"{z.url}/certificates", params=query, data=data) as r:
                        created = await r.json()
                    entry = created["validation"]["other_methods"][name]
                    path = entry["file_validation_url_http"].split("/", 3)[3]
                    files[f"{name}/{path}"] = "\n".join(entry["file_validation_content"])
                    verify_url = f"{z.url}/certificates/{created['id']}/challenges"
                    async with session.post(
                        verify_url, params=query, data={"validation_method": "HTTP_CSR_HASH"}
                    ) as r:
                        assert (await r.json())["status"] == "pending_validation"
                    while True:
                        async with session.get(
                            f"{z.url}/certificates/{created['id']}", params=query
                        ) as r:
                            if (await r.json())["status"] == "issued":
                                break
                        await asyncio.sleep(0.01)
                    download = f"{z.url}/certificates/{created['id']}/download/return"
                    async with session.get(download, params=query) as r:
                        assert "certificate.crt" in await r.json()

            flow_started = time.perf_counter()
            async with asyncio.TaskGroup() as group:
                for i in range(total):
                    group.create_task(one(i))
            elapsed = time.perf_counter() - flow_started
            counts = z.request_log.counts_by_endpoint()
            list_started = time.perf_counter()
            for page in range(1, 11):
                filters = {"certificate_status": "issued", "limit": "1000", "page": str(page)}
                async with session.get(f"{z.url}/certificates", params=query | filters) as r:
                    await r.read()
            list_ms = (time.perf_counter() - list_started) * 100
            poll_started = time.perf_counter()
            for _ in range(10):
                pending = {"certificate_status": "draft,pending_validation", "limit": "1000"}
                async with session.get(f"{z.url}/certificates", params=query | pending) as r:
                    await r.read()
            poll_ms = (time.perf_counter() - poll_started) * 100
    finally:
        await runner.cleanup()

    requests = sum(counts.values())
    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"CA generation           {ca_seconds * 1000:8.1f} ms")
    print(f"certificates            {total:8d} (concurrency {concurrency})")
    print(f"wall time               {elapsed:8.2f} s")
    print(f"certificates/s          {total / elapsed:8.1f}")
    print(f"API requests/s          {requests / elapsed:8.1f} ({requests} requests)")
    for endpoint, count in sorted(counts.items()):
        print(f"  {endpoint:22s}{count:8d}")
    print(f"list 1000 issued        {list_ms:8.1f} ms per call ({total} in the account)")
    print(f"list draft+pending      {poll_ms:8.1f} ms per call (none left)")
    print(f"peak RSS (process)      {peak_rss_mb:8.1f} MiB (client and file server included)")


if __name__ == "__main__":
    arguments = [int(a) for a in sys.argv[1:3]]
    asyncio.run(main(*(arguments + [2000, 50][len(arguments) :])))
