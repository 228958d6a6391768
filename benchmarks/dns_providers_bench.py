"""Benchmark: present+cleanup latency of each DNS provider against BIND9 and the emulators.

Run (from the repository root, so this checkout's package is imported):
``.venv/bin/python -m benchmarks.dns_providers_bench [rounds]``; prints p50/p95/max per provider
in milliseconds (loopback, so this is the controller-side cost per operation).
"""

from __future__ import annotations

import asyncio
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from controller.issuer.solvers.dns import DNSProvider, ProviderEndpoints, build_dns_provider
from controller.sandbox.cloudflare import CloudflareEmulator
from controller.sandbox.route53 import Route53Emulator
from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.integration.issuer.solvers.dns.records import zerossl_record
from tests.support.bind9 import Bind9


async def measure(name: str, provider: DNSProvider, rounds: int) -> None:
    samples = []
    for _ in range(rounds):
        record = zerossl_record()
        started = time.perf_counter()
        await provider.present(record)
        await provider.cleanup(record)
        samples.append((time.perf_counter() - started) * 1000)
    samples.sort()
    p95 = samples[min(len(samples) - 1, int(len(samples) * 0.95))]
    print(
        f"{name:<11} present+cleanup ms: p50={statistics.median(samples):7.2f} "
        f"p95={p95:7.2f} max={samples[-1]:7.2f} (n={rounds})"
    )


async def main(rounds: int) -> None:
    secrets = FakeSecrets()
    directory = Path(tempfile.mkdtemp(prefix="bind9-bench-"))
    bind9 = Bind9(directory)
    bind9.start()
    try:
        key = bind9.keys["HMACSHA256"]
        secrets.put("ns", "tsig", "s", key.secret)
        secrets.put("ns", "cf", "t", "bench-token-0123456789")
        secrets.put("ns", "aws", "id", "AKIABENCH")
        secrets.put("ns", "aws", "secret", "bench/secret/key/0123456789")
        async with CloudflareEmulator() as cf, Route53Emulator() as r53:
            cf.add_zone("example.com")
            cf.add_token("bench-token-0123456789")
            r53.add_zone("example.com")
            r53.add_credentials("AKIABENCH", "bench/secret/key/0123456789")
            endpoints = ProviderEndpoints(cloudflare=cf.url, route53=r53.url)
            specs = {
                "rfc2136": {
                    "nameserver": bind9.address,
                    "tsigKeyName": key.name,
                    "tsigSecretRef": {"name": "tsig", "key": "s"},
                },
                "cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "t"}},
                "route53": {
                    "accessKeyIDSecretRef": {"name": "aws", "key": "id"},
                    "secretAccessKeySecretRef": {"name": "aws", "key": "secret"},
                },
            }
            for name, spec in specs.items():
                provider = build_dns_provider(
                    {name: spec},
                    namespace="ns",
                    secrets=secrets,
                    owner={},
                    kube=None,
                    timeout=5.0,
                    endpoints=endpoints,
                )
                await measure(name, provider, rounds)
    finally:
        bind9.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 200))
