"""Import cost: what ``import controller.app`` loads, and what each optional library costs.

Not a test: it prints numbers. Run (it measures the checkout it is in, and with
``--baseline-ref`` also that commit of this repository, exported to a temporary directory):

    .venv/bin/python benchmarks/import_bench.py [--baseline-ref e087485] [--runs 5]

Every figure comes from fresh interpreters (``python -c``, working directory = the tree, so
that tree's ``controller`` is the one imported):

1. ``import controller.app``: wall time (the best of the runs, as timeit reports: on a shared
   machine the others measure its neighbours), resident memory after it
   (``/proc/self/statm``), modules loaded, and which of the on-use libraries it loaded.
2. By dependency: what each library costs on its own, imported after the base every
   configuration has (asyncio, aiohttp with its server, prometheus_client, msgspec, orjson,
   the OpenTelemetry API): RSS and time added, modules added. The controller
   loads each only in the configuration (or, for cryptography, the moment) that needs it.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
from io import BytesIO
from pathlib import Path
from typing import Any, Final

ROOT: Final = Path(__file__).resolve().parents[1]
BASE: Final = (
    "asyncio",
    "aiohttp",
    "aiohttp.web",
    "prometheus_client",
    "msgspec",
    "orjson",
    "opentelemetry.trace",
)
ON_USE: Final = (
    ("kubernetes_asyncio", "kubeconfig file", ("kubernetes_asyncio.config",)),
    (
        "cryptography",
        "first CSR or certificate read",
        ("cryptography.x509", "cryptography.hazmat.primitives.asymmetric.ec"),
    ),
    ("botocore", "route53 solver", ("botocore.auth", "botocore.awsrequest")),
    (
        "dns",
        "rfc2136 solver, propagation wait",
        ("dns.asyncresolver", "dns.asyncquery", "dns.update", "dns.tsig"),
    ),
    ("opentelemetry.sdk", "tracing on", ("opentelemetry.sdk.trace",)),
    (
        "opentelemetry.exporter",
        "tracing on",
        ("opentelemetry.exporter.otlp.proto.http.trace_exporter",),
    ),
    ("yaml", "sandbox only", ("yaml",)),
    ("celpy", "sandbox only", ("celpy",)),
)
_PROBE: Final = """
import json, sys, time
def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096
for name in {before!r}:
    __import__(name)
r0, n0, t0 = rss(), len(sys.modules), time.perf_counter()
for name in {measured!r}:
    __import__(name)
elapsed = time.perf_counter() - t0
loaded = sorted({{p for p in {watched!r} for m in sys.modules if m == p or m.startswith(p + ".")}})
print(json.dumps([rss(), rss() - r0, elapsed, len(sys.modules) - n0, len(sys.modules), loaded]))
"""


def probe(tree: Path, before: tuple[str, ...], measured: tuple[str, ...]) -> list[Any]:
    """[RSS after, RSS added, seconds, modules added, modules in all, on-use libraries loaded]."""
    code = _PROBE.format(before=before, measured=measured, watched=[p for p, _, _ in ON_USE])
    done = subprocess.run(  # noqa: S603 (our own interpreter and probe)
        [sys.executable, "-c", code], cwd=tree, capture_output=True, text=True, check=True
    )
    result: list[Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def controller_import(tree: Path, runs: int) -> dict[str, Any]:
    samples = [probe(tree, (), ("controller.app",)) for _ in range(runs)]
    return {
        "seconds": min(s[2] for s in samples),
        "rss_mib": statistics.median(s[0] for s in samples) / 2**20,
        "modules": samples[0][4],
        "loaded": samples[0][5],
    }


def export(ref: str, into: Path) -> Path:
    """The tree of ``ref`` (this repository's commit or branch), unpacked under ``into``."""
    command = ["git", "archive", "--format=tar", ref, "controller", "pyproject.toml"]
    archive = subprocess.run(  # noqa: S603 (git from PATH, as the harness runs it)
        command,
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    with tarfile.open(fileobj=BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline-ref", help="also measure this commit (git archive)")
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    trees = [("this checkout", ROOT)]
    with tempfile.TemporaryDirectory(prefix="import-bench-") as scratch:
        if args.baseline_ref:
            trees.insert(0, (args.baseline_ref, export(args.baseline_ref, Path(scratch))))
        print(f"import controller.app (fresh interpreter; best time of {args.runs} runs)")
        print(f"{'tree':>16} {'seconds':>8} {'RSS MiB':>8} {'modules':>8}  on-use libraries loaded")
        for label, tree in trees:
            row = controller_import(tree, args.runs)
            loaded = ", ".join(row["loaded"]) or "none"
            print(
                f"{label:>16} {row['seconds']:8.2f} {row['rss_mib']:8.1f} {row['modules']:8d}"
                f"  {loaded}"
            )
    base = probe(ROOT, (), BASE)
    print(
        f"\nbase every configuration loads ({', '.join(BASE)}): "
        f"{base[0] / 2**20:.1f} MiB RSS, {base[4]} modules"
    )
    print("by dependency, imported on top of that base (fresh interpreter each):")
    print(f"{'library':>24} {'+RSS MiB':>9} {'+ms':>6} {'+modules':>9}  needed by")
    for name, needed_by, modules in ON_USE:
        _, added, seconds, count, _, _ = probe(ROOT, BASE, modules)
        print(f"{name:>24} {added / 2**20:9.1f} {seconds * 1000:6.0f} {count:9d}  {needed_by}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
