"""PNG plots of a run's series (matplotlib figures without pyplot: no backend state, no
display needed).

Issuing runs get one figure with three panels: certificates issued over time, the issuance
latency histogram and the work-queue depths; quota runs get calls per second against R.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Final

from matplotlib.figure import Figure

from .results import RunResult

DPI: Final = 90


def plot(result: RunResult, directory: Path) -> Path | None:
    """Draw the run's figure into ``directory`` (named after the run); None when the run has
    no series to draw."""
    series = result.series
    if "issued_over_time" in series:
        return _issuance(result, series, directory)
    if "calls_per_second" in series:
        return _quota(result, series, directory)
    return None


def _issuance(result: RunResult, series: dict[str, Any], directory: Path) -> Path:
    figure = Figure(figsize=(15, 4), dpi=DPI)
    issued, latency, depth = figure.subplots(1, 3)
    figure.suptitle(result.title)
    points = series["issued_over_time"]
    issued.plot([p[0] for p in points], [p[1] for p in points], color="tab:green")
    for kill in series.get("kills_at_s", []):
        issued.axvline(kill, color="tab:red", alpha=0.4, linewidth=1)
    for takeover in series.get("takeovers", []):
        issued.axvline(takeover.get("at_s", 0.0), color="tab:red", alpha=0.4, linewidth=1)
    issued.set(title="Issued over time", xlabel="seconds since the first request", ylabel="issued")
    latency.hist(series["latencies_s"], bins=40, color="tab:blue")
    latency.set(title="Issuance latency", xlabel="seconds (create to Issued)", ylabel="requests")
    samples = series["queue_depth"]
    for queue in sorted({q for _, depths in samples for q in depths}):
        depth.plot([t for t, _ in samples], [d.get(queue, 0.0) for _, d in samples], label=queue)
    depth.set(title="Work-queue depth (leader)", xlabel="seconds", ylabel="keys waiting")
    depth.legend(fontsize="small")
    return _save(figure, directory / f"{result.name}.png")


def _quota(result: RunResult, series: dict[str, Any], directory: Path) -> Path:
    figure = Figure(figsize=(8, 3.5), dpi=DPI)
    axes = figure.subplots()
    calls = series["calls_per_second"]
    axes.bar(range(len(calls)), calls, width=1.0, color="tab:blue", label="calls answered")
    axes.axhline(result.settings["rate_per_s"], color="tab:red", label="R (limit)")
    axes.set(title=result.title, xlabel="second of the window", ylabel="ZeroSSL calls")
    axes.legend(fontsize="small", loc="lower right")
    return _save(figure, directory / f"{result.name}.png")


def _save(figure: Figure, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.tight_layout()
    figure.savefig(path)
    return path
