"""``python -m loadtests bench|chaos|report|list``: run the load, failover and chaos scenarios
against the real system and write the results, plots and ``docs/benchmarks.md``.

- ``bench [--profile standard|full|small] [--kube emulator|real|both] [--only NAME ...]
  [--baseline TEXT]`` (``make bench``); ``--kube real`` runs the throughput and failover
  scenarios on the real control plane, ``both`` on each world back to back (see
  :mod:`loadtests.profiles`); ``--baseline`` marks the runs as a reference point (run from
  another checkout, e.g. the main branch before a change): saved as ``<name>@baseline``, titled
  with the text
- ``bench --ab REF [--ab-rounds N]``: A/B against commit REF: each selected throughput or
  backlog run made with REF's controller and with this checkout's, back to back, N rounds
  (default 1), the first side alternating; everything but the controller is this checkout's
  (see :mod:`loadtests.sessions` and :mod:`loadtests.revision`); saved as
  ``<name>@<short sha>.json`` beside ``<name>.json``, the page gets an "A/B against" section
- ``chaos [--profile ...]`` (``make chaos``)
- ``components``: run ``benchmarks/informer_bench.py`` and keep its output for the page
- ``imports``: run ``benchmarks/import_bench.py`` (import cost by dependency, this checkout
  against the commit before issue 15) and keep its output for the page
- ``report``: regenerate the page from the result files already there
- ``list``: the runs of a profile

Each run writes ``<results>/<name>.json``; the page is regenerated from every result file
present. Exit status 1 when a correctness check failed (a missed performance target is
reported, not an error: it is a measurement).
"""

from __future__ import annotations

import argparse
import asyncio
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

from .profiles import BENCH, CHAOS, PROFILES, WORLDS, in_worlds
from .report import IMPORT_BENCH, INFORMER_BENCH, INFORMER_TARGETS, write_report
from .results import REPO_ROOT, RunResult, machine_info
from .revision import RevisionError, checked, extract
from .scenarios import Scenario
from .sessions import Leg, ab, plain, stale_rounds

RESULTS: Final = REPO_ROOT / "docs" / "benchmarks" / "results"
PAGE: Final = REPO_ROOT / "docs" / "benchmarks.md"
RUN_TIMEOUT: Final = 3600.0
INFORMER_SCRIPT: Final = REPO_ROOT / "benchmarks" / "informer_bench.py"
IMPORT_SCRIPT: Final = REPO_ROOT / "benchmarks" / "import_bench.py"
IMPORT_BASELINE: Final = "e087485"
"""The last commit before issue 15's lean package and lazy imports: the import baseline."""
COMPONENT_TIMEOUT: Final = 900.0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m loadtests", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    for name in ("bench", "chaos", "list"):
        sub = commands.add_parser(name)
        sub.add_argument("--profile", choices=PROFILES, default="standard")
        if name != "chaos":  # chaos injects faults only the emulator takes
            sub.add_argument(
                "--kube",
                choices=WORLDS,
                default="emulator",
                help="API server: the emulator, the real control plane, or both",
            )
        sub.add_argument("--only", nargs="+", metavar="NAME", help="run only these runs")
        sub.add_argument("--results", type=Path, default=RESULTS)
        sub.add_argument("--page", type=Path, default=PAGE)
        sub.add_argument("--no-report", action="store_true", help="do not rewrite the page")
        sub.add_argument("--timeout", type=float, default=RUN_TIMEOUT, help="bound per run (s)")
        if name == "bench":
            comparison = sub.add_mutually_exclusive_group()
            comparison.add_argument(
                "--baseline", metavar="TEXT", help="save as a baseline, titled TEXT"
            )
            comparison.add_argument(
                "--ab", metavar="REF", help="also run each with the controller of commit REF"
            )
            sub.add_argument(
                "--ab-rounds",
                type=_positive,
                default=1,
                metavar="N",
                help="A/B pairs per run (medians are reported)",
            )
        else:
            sub.add_argument("--baseline", metavar="TEXT", help="save as a baseline, titled TEXT")
    for name in ("report", "components", "imports"):
        sub = commands.add_parser(name)
        sub.add_argument("--results", type=Path, default=RESULTS)
        sub.add_argument("--page", type=Path, default=PAGE)
    return parser


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _components(results: Path) -> int:
    """Run the informer benchmark (bounded) and save what it printed, dated, and its targets."""
    (results / INFORMER_TARGETS).parent.mkdir(parents=True, exist_ok=True)
    arguments = ("--targets", str(results / INFORMER_TARGETS))
    return _keep_output(INFORMER_SCRIPT, arguments, results / INFORMER_BENCH)


def _imports(results: Path) -> int:
    """Run the import benchmark against the baseline commit and save what it printed."""
    arguments = ("--baseline-ref", IMPORT_BASELINE)
    return _keep_output(IMPORT_SCRIPT, arguments, results / IMPORT_BENCH)


def _keep_output(script: Path, arguments: tuple[str, ...], saved: Path) -> int:
    """Run a component benchmark (bounded) and save what it printed, dated."""
    saved.parent.mkdir(parents=True, exist_ok=True)
    try:
        done = subprocess.run(
            [sys.executable, str(script), *arguments],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=COMPONENT_TIMEOUT,
            check=False,
        )
    except subprocess.TimeoutExpired:
        print(f"{script.name} did not finish within {COMPONENT_TIMEOUT:.0f}s")
        return 1
    if done.returncode != 0:
        print(f"{script.name} failed ({done.returncode}):\n{done.stderr[-2000:]}")
        return 1
    machine = machine_info()
    header = (
        f"# {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine['cpu']}, "
        f"{machine['usable_cpus']} CPUs, commit {machine['commit']}\n"
    )
    saved.write_text(header + done.stdout)
    print(done.stdout)
    return 0


def _describe(result: RunResult) -> str:
    lines = [
        f"  {result.name}: {result.wall_seconds:.0f} s, checks "
        f"{len(result.checks) - len(result.failures())}/{len(result.checks)} passed"
    ]
    lines += [f"    FAILED {c.name}: {c.detail}" for c in result.failures()]
    lines += [f"    skipped {c.name}: {c.detail}" for c in result.checks if c.skipped]
    lines += [
        f"    target {t.name}: {t.measured:g} {t.unit} "
        f"({'met' if t.met else 'MISSED'}, asked {'<=' if t.at_most else '>='} {t.limit:g})"
        for t in result.targets
    ]
    return "\n".join(lines)


async def _run_all(legs: list[Leg], results: Path, timeout: float) -> bool:
    passed = True
    for leg in legs:
        print(f"running {leg.name} ...", flush=True)
        machine = {**machine_info(), "read_at": "start"}  # the load before this run adds its own
        started_at = datetime.now(UTC).isoformat(timespec="seconds")
        began = time.monotonic()
        async with asyncio.timeout(timeout):
            result = await leg.scenario.run()
        result.machine, result.started_at = machine, started_at
        result.wall_seconds = round(time.monotonic() - began, 1)
        result.name = leg.name
        if leg.title_note:
            result.title = f"{result.title}: {leg.title_note}"
        result.settings.update(leg.settings)
        result.write(results)
        print(_describe(result), flush=True)
        passed = passed and result.passed
    return passed


def _ab_legs(scenarios: list[Scenario], ref: str, rounds: int, results: Path) -> list[Leg]:
    """Both sides of each run; REF's controller extracted (or found in the cache) and seen to
    import from its tree; round files of an earlier session with more rounds removed."""
    source = checked(extract(ref))
    print(f"A/B against {source.commit}: its controller from {source.tree}", flush=True)
    session = datetime.now(UTC).isoformat(timespec="seconds")
    legs = ab(scenarios, source, rounds, session)
    for stale in stale_rounds(results, legs):
        stale.unlink()
    return legs


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("report", "components", "imports"):
        run = {"components": _components, "imports": _imports}.get(args.command)
        status = run(args.results) if run else 0
        print(f"wrote {write_report(args.results, args.page)}")
        return status
    catalog: dict[str, Callable[[], list[Scenario]]] = BENCH if args.command != "chaos" else CHAOS
    scenarios = catalog[args.profile]()
    if args.command != "chaos":
        scenarios = in_worlds(scenarios, args.kube)
    if args.command == "list":
        chaos = CHAOS[args.profile]()
        print("\n".join(f"bench  {s.name}" for s in scenarios))
        print("\n".join(f"chaos  {s.name}" for s in chaos))
        return 0
    if args.only:
        unknown = set(args.only) - {s.name for s in scenarios}
        if unknown:
            print(f"no such run in profile {args.profile}: {', '.join(sorted(unknown))}")
            return 2
        scenarios = [s for s in scenarios if s.name in args.only]
    legs = plain(scenarios, args.baseline)
    if getattr(args, "ab", None):
        try:
            legs = _ab_legs(scenarios, args.ab, args.ab_rounds, args.results)
        except (RevisionError, ValueError) as exc:
            print(exc)
            return 2
    passed = asyncio.run(_run_all(legs, args.results, args.timeout))
    if not args.no_report:
        print(f"wrote {write_report(args.results, args.page)}")
    return 0 if passed else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
