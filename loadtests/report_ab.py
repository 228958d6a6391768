"""The page's "A/B against <sha>" section: each run made with another commit's controller and
with this checkout's in one session (``bench --ab``), side by side, medians over the rounds,
and the ratios issue 16 sets targets for.

Only results that record their side (``settings["ab"]``) count, and of each run and commit
only the newest session; a number a side did not record is "n/a", never estimated.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final

from .results import RunResult

NOT_AVAILABLE: Final = "n/a"
CPU_RATIO_TARGET: Final = 0.60
"""Controller CPU per issuance, this checkout over the baseline: at most (every run)."""
BACKLOG_SPEED_TARGET: Final = 1.6
"""Issued per second, this checkout over the baseline: at least (backlog runs)."""
LEASES: Final = "leases"

INTRO: Final = """\
Each run made twice back to back on the same machine in one session (`bench --ab REF`): once
with the replicas running REF's `controller/` package (extracted with `git archive`, started
as `python -P -m controller run` with `PYTHONPATH` on that tree), once with this checkout's.
The API server, the ZeroSSL emulator, the load generator and the checks are this checkout's
both times; the side that goes first alternates. Numbers are medians over the session's
rounds; a number the older controller does not expose is n/a. Ratios are this checkout over
the baseline; the targets are issue 16's: controller CPU per issuance at most
0.60 of the baseline's in every run, issued/s at least 1.6 times the baseline's with the
backlog of requests waiting.
"""


@dataclass(frozen=True, slots=True)
class Comparison:
    """One run's A/B session: the rounds of each side."""

    scenario: str
    against: str
    session: str
    baseline: tuple[RunResult, ...]
    checkout: tuple[RunResult, ...]

    @property
    def backlog(self) -> bool:
        return any("waiting_before_start" in r.settings for r in self.checkout)


def comparisons(results: Iterable[RunResult]) -> list[Comparison]:
    """The newest complete session per (run, commit compared against), in run order."""
    sides: dict[tuple[str, str, str], dict[str, list[RunResult]]] = {}
    for result in results:
        ab = result.settings.get("ab")
        if not isinstance(ab, dict):
            continue
        key = (ab["scenario"], ab["against"], ab["session"])
        sides.setdefault(key, {"baseline": [], "checkout": []})[ab["side"]].append(result)
    newest: dict[tuple[str, str], Comparison] = {}
    for (scenario, against, session), runs in sorted(sides.items()):
        if runs["baseline"] and runs["checkout"]:
            newest[(scenario, against)] = Comparison(
                scenario, against, session, tuple(runs["baseline"]), tuple(runs["checkout"])
            )
    return sorted(newest.values(), key=lambda c: (c.against, c.scenario))


def median_of(runs: Sequence[RunResult], read: Callable[[RunResult], float | None]) -> float | None:
    """The median of ``read`` over the rounds; None if any round lacks the number."""
    values = [read(r) for r in runs]
    if not values or any(v is None for v in values):
        return None
    return statistics.median(v for v in values if v is not None)


def _summary(key: str, *path: str) -> Callable[[RunResult], float | None]:
    def read(result: RunResult) -> float | None:
        value: Any = result.summary.get(key)
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        return float(value) if isinstance(value, int | float) else None

    return read


def controller_cpu_ms(result: RunResult) -> float | None:
    """Controller CPU milliseconds per issued certificate."""
    issued = result.summary.get("issued")
    usage = result.summary.get("processes", {}).get("controller")
    if not issued or not usage:
        return None
    return float(usage["cpu_seconds"]) * 1000 / float(issued)


def _write(resource: str) -> Callable[[RunResult], float | None]:
    def read(result: RunResult) -> float | None:
        return float(result.summary["kube_writes_by_resource_per_issuance"].get(resource, 0.0))

    return read


def writes_by_resource(comparison: Comparison) -> list[str]:
    """Every (verb, resource) either side wrote, Lease renewals apart."""
    return sorted(
        {
            write
            for r in (*comparison.baseline, *comparison.checkout)
            for write in r.summary["kube_writes_by_resource_per_issuance"]
            if not lease_write(write)
        }
    )


Row = tuple[str, Callable[[RunResult], float | None], int]
"""A row of the comparison: label, how to read a round, digits shown."""


def rows(comparison: Comparison) -> list[Row]:
    shown: list[Row] = [
        ("All issued in (s)", _summary("seconds_to_issue_all"), 1),
        ("Issued/s", _summary("issued_per_second"), 1),
    ]
    if comparison.backlog:
        shown += [
            ("First Ready from start (s)", _summary("first_ready_s"), 2),
            ("First Ready from leading (s)", _summary("first_ready_after_leading_s"), 2),
        ]
    shown += [
        ("p50 (s)", _summary("latency_s", "p50"), 2),
        ("p99 (s)", _summary("latency_s", "p99"), 2),
        ("Controller CPU ms/issuance", controller_cpu_ms, 1),
        ("K8s writes/issuance (Lease renewals apart)", _summary("kube_writes_per_issuance"), 2),
    ]
    shown += [(f"- {short_resource(w)}", _write(w), 2) for w in writes_by_resource(comparison)]
    shown.append(("409s on ZeroSSLOrder create", _summary("order_create_409s"), 0))
    return shown


@dataclass(frozen=True, slots=True)
class Ratio:
    name: str
    value: float | None
    limit: float
    at_most: bool

    @property
    def met(self) -> bool | None:
        if self.value is None:
            return None
        return self.value <= self.limit if self.at_most else self.value >= self.limit


def ratios(comparison: Comparison) -> list[Ratio]:
    """The issue's targets for this run, this checkout over the baseline."""
    found = [
        Ratio(
            "Controller CPU per issuance, this/baseline",
            _ratio(comparison, controller_cpu_ms),
            CPU_RATIO_TARGET,
            at_most=True,
        )
    ]
    if comparison.backlog:
        found.append(
            Ratio(
                "Issued/s, this/baseline",
                _ratio(comparison, _summary("issued_per_second")),
                BACKLOG_SPEED_TARGET,
                at_most=False,
            )
        )
    return found


def _ratio(comparison: Comparison, read: Callable[[RunResult], float | None]) -> float | None:
    mine, theirs = median_of(comparison.checkout, read), median_of(comparison.baseline, read)
    if mine is None or not theirs:
        return None
    return mine / theirs


def render(results: Sequence[RunResult]) -> str:
    """The section (empty without A/B results): one heading per commit compared against."""
    found = comparisons(results)
    if not found:
        return ""
    parts = []
    for against in dict.fromkeys(c.against for c in found):
        mine = [c for c in found if c.against == against]
        parts.append(f"## A/B against {against[:7]}\n\n{INTRO}\n{_targets(mine)}")
        parts += [_comparison(c) for c in mine]
    return "\n".join(parts)


def _targets(found: Sequence[Comparison]) -> str:
    lines = [
        "| Run | Ratio | Measured | Asked | Result |",
        "|---|---|---|---|---|",
    ]
    for comparison in found:
        for ratio in ratios(comparison):
            result = {None: NOT_AVAILABLE, True: "met", False: "**missed**"}[ratio.met]
            lines.append(
                f"| {comparison.scenario} | {ratio.name} | {_cell(ratio.value, 2)} | "
                f"{'≤' if ratio.at_most else '≥'} {ratio.limit:.2f} | {result} |"
            )
    return "\n".join(lines) + "\n"


def _comparison(comparison: Comparison) -> str:
    base, mine = comparison.baseline, comparison.checkout
    header = (
        f"| {comparison.scenario} | baseline {comparison.against[:7]} | "
        f"this checkout {_commits(mine)} | this/baseline |"
    )
    lines = [
        f"### {comparison.scenario}\n",
        f"Session {comparison.session}, {len(base)} round(s) a side; runs "
        + ", ".join(f"`{r.name}`" for r in (*base, *mine))
        + f"; load average at their starts {_loads(base, mine)}.\n",
        header,
        "|---|---|---|---|",
    ]
    for label, read, digits in rows(comparison):
        theirs, ours = median_of(base, read), median_of(mine, read)
        ratio = _cell(None if theirs is None or ours is None or not theirs else ours / theirs, 2)
        lines.append(f"| {label} | {_cell(theirs, digits)} | {_cell(ours, digits)} | {ratio} |")
    return "\n".join(lines) + "\n"


def _commits(runs: Sequence[RunResult]) -> str:
    return "/".join(dict.fromkeys(str(r.machine.get("commit", "?")) for r in runs))


def _loads(base: Sequence[RunResult], mine: Sequence[RunResult]) -> str:
    def load(runs: Sequence[RunResult]) -> str:
        return ", ".join(f"{float(r.machine['load_average_1m']):.2f}" for r in runs)

    return f"{load(base)} (baseline) and {load(mine)} (this checkout)"


def _cell(value: float | None, digits: int) -> str:
    return NOT_AVAILABLE if value is None else f"{value:,.{digits}f}"


def short_resource(write: str) -> str:
    """``create zerosslorders.zerossl.issuer.dev/status`` -> ``create zerosslorders/status``."""
    verb, _, resource = write.partition(" ")
    name, _, subresource = resource.partition("/")
    return f"{verb} {name.split('.')[0]}" + (f"/{subresource}" if subresource else "")


def lease_write(write: str) -> bool:
    """A Lease renewal: a cost of leadership, not of issuance."""
    return write.split(" ", 1)[-1].startswith(LEASES)
