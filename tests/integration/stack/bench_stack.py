"""Benchmark: how long the stack takes to come up and go down, and what the solver Service
proxy costs per validation fetch. Prints numbers, asserts nothing.

    .venv/bin/python -m tests.integration.stack.bench_stack [ROUNDS] [FETCHES]

Replicas are the fake controller (tests.integration.stack.fake_controller), so the numbers are
the stack's own overhead, not the controller's start time.
"""

from __future__ import annotations

import asyncio
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

from controller.sandbox.stack import Stack, StackOptions
from tests.integration.stack.conftest import fake_options


async def up_and_down(options: StackOptions, rounds: int) -> tuple[list[float], list[float]]:
    ups, downs = [], []
    for _ in range(rounds):
        started = time.perf_counter()
        stack = Stack(options)
        await stack.__aenter__()
        ready = time.perf_counter()
        await stack.__aexit__(None, None, None)
        ups.append(ready - started)
        downs.append(time.perf_counter() - ready)
    return ups, downs


def summary(name: str, ups: list[float], downs: list[float]) -> None:
    print(
        f"{name:<40} up median {statistics.median(ups) * 1000:7.0f} ms"
        f" (max {max(ups) * 1000:6.0f})   down median {statistics.median(downs) * 1000:6.0f} ms"
    )


async def proxy_fetches(solver_dir: Path, fetches: int) -> None:
    (solver_dir / "BENCH.txt").write_text("x" * 100)
    async with Stack(fake_options(solver_dir, replicas=3)) as stack:
        host, port = stack.proxy.address
        direct = stack.replicas[0].solver_address
        for label, (h, p) in (
            ("direct to one replica", direct),
            ("through the proxy", (host, port)),
        ):
            url = f"http://{h}:{p}/.well-known/pki-validation/BENCH.txt"
            started = time.perf_counter()
            for _ in range(fetches):
                # A fresh connection per fetch, as the emulator's validation does.
                async with aiohttp.ClientSession() as session, session.get(url) as response:
                    assert response.status == 200
            elapsed = time.perf_counter() - started
            each = elapsed / fetches * 1e3
            print(f"{label:<40} {fetches / elapsed:7.0f} fetches/s ({each:.2f} ms each)")
        print(f"proxy spread over replicas: {sorted(stack.proxy.forwarded.values())}")


async def main(rounds: int, fetches: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        solver_dir = Path(tmp)
        cases = {
            "0 replicas, in-process": StackOptions(replicas=0),
            "0 replicas, RBAC on": StackOptions(replicas=0, authorization=True),
            "0 replicas, subprocess servers": StackOptions(
                replicas=0, kube_mode="subprocess", zerossl_mode="subprocess"
            ),
            "1 fake replica, RBAC on": fake_options(solver_dir, replicas=1, authorization=True),
            "3 fake replicas, RBAC on": fake_options(solver_dir, replicas=3, authorization=True),
        }
        for name, options in cases.items():
            summary(name, *await up_and_down(options, rounds))
        await proxy_fetches(solver_dir, fetches)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of this process: {rss:.0f} MiB")


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:]]
    asyncio.run(main(*(args + [5, 300][len(args) :])))
