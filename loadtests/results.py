"""One run's result as JSON: what ran (scenario, settings, machine), what it measured (summary
numbers, time series for the plots), the targets it was held to and the correctness checks.

Results are written one file per run (``<name>.json``) and read back by the report, so the
Markdown and the plots only ever show numbers from runs actually made.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

import orjson
import psutil

from .audit import Check

REPO_ROOT: Final = Path(__file__).resolve().parents[1]
REAL_SUFFIX: Final = "-real"
"""Appended to a run's name on the real control plane: ``<run>-real.json`` is the twin of
``<run>.json`` (the emulated API server), and the report sets the two side by side."""


def machine_info() -> dict[str, Any]:
    """The machine and software a run used, as the report states them."""
    return {
        "cpu": _cpu_model(),
        "logical_cpus": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "commit": _git_commit(),
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str:
    try:
        done = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=REPO_ROOT,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return done.stdout.strip()


@dataclass(frozen=True, slots=True)
class Target:
    """A number the issue asks for: ``measured`` against ``limit`` (``at_most`` or not)."""

    name: str
    measured: float
    limit: float
    unit: str
    at_most: bool = True

    @property
    def met(self) -> bool:
        return self.measured <= self.limit if self.at_most else self.measured >= self.limit

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "met": self.met}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Target:
        return cls(data["name"], data["measured"], data["limit"], data["unit"], data["at_most"])


@dataclass(slots=True)
class RunResult:
    scenario: str
    name: str
    title: str
    settings: dict[str, Any]
    summary: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    series: dict[str, Any] = field(default_factory=dict)
    machine: dict[str, Any] = field(default_factory=machine_info)
    started_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))
    wall_seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(check.ok for check in self.checks)

    def failures(self) -> list[Check]:
        return [check for check in self.checks if not check.ok]

    def to_json(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario,
            "name": self.name,
            "title": self.title,
            "started_at": self.started_at,
            "wall_seconds": self.wall_seconds,
            "machine": self.machine,
            "settings": self.settings,
            "summary": self.summary,
            "targets": [t.to_json() for t in self.targets],
            "checks": [c.to_json() for c in self.checks],
            "passed": self.passed,
            "series": self.series,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        return cls(
            scenario=data["scenario"],
            name=data["name"],
            title=data["title"],
            settings=data["settings"],
            summary=data["summary"],
            targets=[Target.from_json(t) for t in data["targets"]],
            checks=[
                Check(c["name"], c["ok"], c["detail"], c.get("skipped", False))
                for c in data["checks"]
            ],
            series=data["series"],
            machine=data["machine"],
            started_at=data["started_at"],
            wall_seconds=data["wall_seconds"],
        )

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"{self.name}.json"
        path.write_bytes(orjson.dumps(self.to_json(), option=orjson.OPT_INDENT_2))
        return path


def load_results(directory: Path) -> list[RunResult]:
    """Every result in ``directory``, in name order."""
    return [
        RunResult.from_json(orjson.loads(path.read_bytes()))
        for path in sorted(directory.glob("*.json"))
    ]
