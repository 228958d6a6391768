"""``docs/benchmarks.md``: the Markdown summary of every result JSON, with a plot per run.

The page is regenerated whole from the results directory, so it only ever shows numbers from
runs actually made, each with the machine and settings it ran with; the components section
quotes the component benchmarks other scripts print, attributed to them.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from .plots import plot
from .report_ab import NOT_AVAILABLE, lease_write, short_resource
from .report_ab import render as ab_section
from .results import REAL_SUFFIX, RunResult, Target, load_results

SECTIONS: Final = (
    ("throughput", "Throughput and latency"),
    ("quota", "Quota utilisation"),
    ("informer", "Informer and cache at scale"),
    ("failover", "Failover"),
    ("chaos", "Chaos soak"),
)

COMPONENT_ROWS: Final = (
    (
        "Sandbox kube-apiserver",
        "`benchmarks/sandbox_kube_bench.py`",
        "CLI start 589 ms; in-process start 195 ms; seeding 10k CertificateRequests 0.91 s; "
        "paged list of 10k over HTTPS 324 ms (unpaged 419 ms); ~2,000 merge patches/s at 50 "
        "concurrent",
    ),
    (
        "ZeroSSL emulator",
        "`controller/sandbox/zerossl/bench_emulator.py`",
        "10k certificates end to end at 349 certs/s (1,395 req/s); peak RSS 147 MiB",
    ),
    (
        "DNS providers",
        "`benchmarks/dns_providers_bench.py`",
        "present+cleanup p50: rfc2136 6.5 ms, cloudflare 2.9 ms, route53 5.7 ms",
    ),
    (
        "Work queue",
        "work-queue benchmark (kube helper)",
        "~22k reconciles/s with 1 worker, 32k with 8 (trivial reconcile)",
    ),
)
"""Component numbers as their authors reported them from their scripts' runs."""
REPRODUCE: Final = """\
## Reproduce

```
make bench                                   # python -m loadtests bench: the standard set
make bench ARGS="--kube both"                # ... throughput and failover on both API servers
make bench ARGS="--ab e087485 --only backlog-1k throughput-1k-limiter-off"
                                             # ... each also with e087485's controller: A/B
.venv/bin/python -m loadtests bench --profile full --ab e087485 --ab-rounds 3 \\
    --only throughput-10k-limiter-off        # A/B, 3 pairs, medians
make chaos                                   # python -m loadtests chaos: the 1,000-issuance soak
.venv/bin/python -m loadtests bench --profile full      # adds 10,000-request runs, 5-min quota
.venv/bin/python -m loadtests bench --only quota-60s    # one run; `list` names them all
.venv/bin/python -m loadtests bench --profile full --kube both \\
    --only throughput-10k-limiter-off throughput-10k-limiter-off-real \\
    failover-20-kills failover-20-kills-real  # the side-by-side runs (needs make controlplane)
.venv/bin/python -m loadtests components     # benchmarks/informer_bench.py, kept for this page
.venv/bin/python -m loadtests imports        # benchmarks/import_bench.py, kept for this page
.venv/bin/python -m loadtests report         # this page again from the result files
```

Each run starts its own system: the sandbox API server, or with `--kube real` the real
control plane (RBAC enforced with the shipped manifests either way), and the ZeroSSL emulator
as child processes, `python -m controller run` replicas, the solver Service proxy in the
harness; requests are created and approved the way cert-manager does, through the status
subresource. Latency is from the create sent to the harness's watch seeing Ready=True/Issued.
Kubernetes requests are the controller ServiceAccount's, as the API server counted them (the
real one: from its audit log); ZeroSSL calls are the emulator's log.

`--ab REF` (throughput and backlog runs) makes each selected run twice back to back, once with
the replicas running REF's `controller/` package and once with this checkout's; only the
controller differs. REF's package is extracted with `git archive` into `.ab-cache/<sha>/`
(git-ignored, reused) and run as `python -P -m controller run` with `PYTHONPATH` on that tree;
before the runs the harness checks that a process started that way imports from the tree. The
side that goes first alternates from pair to pair; `--ab-rounds N` makes N pairs and the page
shows medians. REF's runs are saved as `<run>@<short sha>.json` beside `<run>.json` (rounds
after the first as `...~r<N>.json`), each recording the commit it ran. A number the older
controller does not expose (one of its own metrics) is n/a, and a check that compares it is
skipped for that side with the reason recorded; the checks measured outside the controller
(emulator counts, API-server request counts, issued certificates) run on both sides.
"""
INFORMER_BENCH: Final = "informer_bench.txt"
"""Output of ``benchmarks/informer_bench.py`` saved by ``python -m loadtests components``."""
INFORMER_TARGETS: Final = "components/informer-targets.json"
"""The targets ``benchmarks/informer_bench.py`` measured, saved with its output (apart from
the run results, which are every ``*.json`` at the top)."""
INFORMER_RUN: Final = "informer (component)"
IMPORT_BENCH: Final = "import_bench.txt"
"""Output of ``benchmarks/import_bench.py`` saved by ``python -m loadtests imports``."""


def write_report(results_dir: Path, page: Path) -> Path:
    """Draw every result's plot next to ``page`` and write the page."""
    results = load_results(results_dir)
    saved = results_dir / INFORMER_BENCH
    informer_bench = saved.read_text() if saved.exists() else None
    saved_imports = results_dir / IMPORT_BENCH
    import_bench = saved_imports.read_text() if saved_imports.exists() else None
    saved_targets = results_dir / INFORMER_TARGETS
    component_targets = (
        [Target.from_json(t) for t in json.loads(saved_targets.read_text())]
        if saved_targets.exists()
        else []
    )
    images: dict[str, str] = {}
    for result in results:
        drawn = plot(result, page.parent / page.stem)
        if drawn is not None:
            images[result.name] = Path(os.path.relpath(drawn, page.parent)).as_posix()
    link = Path(os.path.relpath(results_dir, page.parent))
    page.write_text(render(results, images, link, informer_bench, component_targets, import_bench))
    return page


def render(
    results: Sequence[RunResult],
    images: Mapping[str, str],
    results_link: Path,
    informer_bench: str | None,
    component_targets: Sequence[Target] = (),
    import_bench: str | None = None,
) -> str:
    parts = [
        "# Benchmarks\n",
        "Generated by `make bench` and `make chaos` (`python -m loadtests bench|chaos`) from "
        f"the JSON results in [{results_link.as_posix()}/]({results_link.as_posix()}/). Every "
        "number comes from a run actually made, on the machine and with the settings stated "
        "with it; the whole system ran on that one machine (API server, ZeroSSL emulator, "
        "controller replicas and the harness, each its own process). Do not edit by hand: "
        "run the harness again.\n",
        _machines(results),
        _targets(results, component_targets),
        _correctness(results),
        _worlds(results),
        ab_section(results),
    ]
    renderers: dict[str, Callable[[list[RunResult], Mapping[str, str]], str]] = {
        "throughput": _throughput,
        "quota": _quota,
        "informer": _informer,
        "failover": _failover,
        "chaos": _chaos,
    }
    for scenario, title in SECTIONS:
        runs = [r for r in results if r.scenario == scenario]
        if runs:
            parts.append(f"## {title}\n\n" + renderers[scenario](runs, images))
    if import_bench:
        parts.append(_imports(import_bench))
    parts.append(_components(informer_bench))
    parts.append(REPRODUCE)
    return "\n".join(part for part in parts if part)


def _imports(import_bench: str) -> str:
    return (
        "## Memory by dependency\n\nWhat `import controller.app` loads, before issue 15 (the "
        "commit named) and in this checkout, and what each library loaded only on use costs "
        "(`benchmarks/import_bench.py`, run by `python -m loadtests imports` on this machine; "
        "fresh interpreters, RSS from `/proc/self/statm`):\n\n```\n"
        + import_bench.strip()
        + "\n```\n"
    )


def _components(informer_bench: str | None) -> str:
    text = (
        "## Components\n\nNumbers printed by the component benchmarks, which measure one part "
        "in isolation (run the scripts again to reproduce them):\n\n"
        + _table(("Component", "Script", "Measured"), COMPONENT_ROWS)
    )
    if informer_bench:
        text += (
            "\nInformer (`benchmarks/informer_bench.py`, run by `python -m loadtests "
            "components` on this machine):\n\n```\n" + informer_bench.strip() + "\n```\n"
        )
    return text


# --- shared tables ------------------------------------------------------------------------


def _table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def _num(value: Any, digits: int = 2) -> str:
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    return str(value)


def _pairs(values: Mapping[str, Any] | None, digits: int = 2) -> str:
    """``key value, ...`` of the non-zero values; "n/a" for a number the run could not read
    (a controller that does not expose it)."""
    if values is None:
        return NOT_AVAILABLE
    return ", ".join(f"{k} {_num(v, digits)}" for k, v in values.items() if v) or "none"


def writes_by_resource(summary: Mapping[str, Any]) -> dict[str, float]:
    """Writes per issuance by (verb, short resource), Lease renewals apart."""
    return {
        short_resource(write): per
        for write, per in summary["kube_writes_by_resource_per_issuance"].items()
        if not lease_write(write)
    }


def _machines(results: Sequence[RunResult]) -> str:
    seen: dict[str, list[str]] = {}
    for result in results:
        m = result.machine
        text = (
            f"{m['cpu']}, {m['usable_cpus']} usable CPUs of {m['logical_cpus']}, "
            f"{m['memory_gib']} GiB, {m['os']}, Python {m['python']}"
        )
        seen.setdefault(text, []).append(result.name)
    lines = ["## Machine\n"]
    for text, names in seen.items():
        lines.append(f"- {text} (runs: {', '.join(names)})")
    lines.append(
        "\nThe machine was shared with other work; each run states the 1-minute load average "
        "when it started and the commit it ran. Results marked *(end)* recorded both when the "
        "run had finished, so their load average includes the run's own processes. Numbers "
        "are what this machine gave at the time, a lower bound of what the code does on two "
        "dedicated cores.\n"
    )
    lines.append(
        _table(
            ("Run", "Started (UTC)", "Commit", "Load average (1 min)", "Wall time (s)"),
            (
                (
                    r.name,
                    r.started_at.replace("+00:00", "") + _at_end(r),
                    _commit(r),
                    _load(r),
                    _num(r.wall_seconds, 0),
                )
                for r in results
            ),
        )
    )
    return "\n".join(lines)


def _commit(result: RunResult) -> str:
    """The checkout's commit; for a run of another commit's controller (an A/B baseline),
    that commit too."""
    code = str(result.settings.get("controller_code", ""))
    if code.startswith("commit "):
        return f"{result.machine['commit']} (controller {code.removeprefix('commit ')[:7]})"
    return str(result.machine["commit"])


def _at_end(result: RunResult) -> str:
    """Marks results whose machine facts were read after the run, not before it."""
    return "" if result.machine.get("read_at") == "start" else " (end)"


def _load(result: RunResult) -> str:
    return _num(float(result.machine["load_average_1m"])) + _at_end(result)


def _targets(results: Sequence[RunResult], component_targets: Sequence[Target]) -> str:
    runs = [(r.name, t) for r in results for t in r.targets]
    runs += [(INFORMER_RUN, t) for t in component_targets]
    rows = [
        (
            run,
            t.name,
            f"{_num(t.measured)} {t.unit}".strip(),
            f"{'≤' if t.at_most else '≥'} {_num(t.limit)} {t.unit}".strip(),
            "met" if t.met else "**missed**",
        )
        for run, t in runs
    ]
    if not rows:
        return ""
    return "## Targets\n\n" + _table(("Run", "Target", "Measured", "Asked", "Result"), rows)


def _correctness(results: Sequence[RunResult]) -> str:
    rows = []
    for r in results:
        failed = r.failures()
        skipped = [c for c in r.checks if c.skipped]
        run = len(r.checks) - len(skipped)
        detail = "; ".join(f"{c.name}: {c.detail}" for c in failed) or "all passed"
        if skipped:
            detail += "; skipped: " + "; ".join(f"{c.name} ({c.detail})" for c in skipped)
        rows.append((r.name, f"{run - len(failed)}/{run}", detail))
    return "## Correctness checks\n\n" + _table(("Run", "Passed", "Failures"), rows)


WORLDS_TEXT: Final = """\
Each pair is one scenario run twice in the same session, back to back (`--kube both`): on the
project's emulated API server, then on the real control plane (etcd, kube-apiserver and
kube-controller-manager built by `make controlplane`, TLS, RBAC with the shipped manifests,
the controller on a TokenRequest ServiceAccount token). Everything else is the same: the
ZeroSSL emulator, the controller, the harness.

- *Kubernetes writes and requests per issuance* are the controller ServiceAccount's requests:
  the emulator's counters, or the real API server's audit log (`--audit-log-path`, Metadata
  level, one event per request) read into the same (user, verb, resource, code) keys. Writes
  (create, update, patch, delete) are counted once per request in both worlds, so they compare
  directly. Watches (not writes) differ by a few per run: the emulator counts a watch when it
  ends, the audit log already when it starts, so the real count also holds the watches still
  open when the window closes (the controller renews its watches every minute or two).
- *API server CPU* on the real control plane includes writing that audit log: every request
  is serialised to JSON and written (`--audit-log-mode=blocking`) before it is answered, a cost
  a cluster without auditing would not pay. etcd runs with `--unsafe-no-fsync` (its disk
  flushes are not measured) and kube-controller-manager runs only namespace, garbage-collector
  and ServiceAccount controllers, so its CPU is near zero.
- Emulator-only, with no real twin: quota utilisation (it measures the controller against the
  ZeroSSL emulator's limit, the API server plays no part), informer scale (its 10,000 and
  50,000 requests are put straight into the in-process emulator's store: creating them over
  HTTP would take longer than the measurement) and the chaos soak (faults are injected
  through the emulator's `/_sandbox/faults`: dropped watches, compactions, error answers).
"""


def _worlds(results: Sequence[RunResult]) -> str:
    """Each run with a ``-real`` twin beside that twin: issuance numbers, then takeovers."""
    by_name = {r.name: r for r in results}
    pairs = [
        (by_name[r.name.removesuffix(REAL_SUFFIX)], r)
        for r in results
        if r.name.endswith(REAL_SUFFIX) and r.name.removesuffix(REAL_SUFFIX) in by_name
    ]
    if not pairs:
        return ""
    issuance = _table(
        (
            "Run",
            "API server",
            "Load avg (1 min)",
            "Issued",
            "All issued in (s)",
            "p50 (s)",
            "p99 (s)",
            "Controller CPU ms/issuance",
            "API server CPU ms/issuance",
            "etcd CPU ms/issuance",
            "K8s writes/issuance",
            "K8s requests/issuance",
        ),
        (_world_row(run, world) for run, world in _side_by_side(pairs)),
    )
    failovers = [pair for pair in pairs if pair[0].scenario == "failover"]
    takeovers = _table(
        (
            "Run",
            "API server",
            "SIGKILL: Lease taken p50 / max (s)",
            "SIGKILL: first reconcile p50 / p95 / max (s)",
            "SIGTERM: Lease taken p50 / max (s)",
            "SIGTERM: first reconcile p50 / p95 / max (s)",
        ),
        ((run.name, world, *_takeover_cells(run)) for run, world in _side_by_side(failovers)),
    )
    return (
        "## Emulated and real API server side by side\n\n"
        + WORLDS_TEXT
        + "\n"
        + issuance
        + (
            "\nFailover: seconds from the signal to the next leader.\n\n" + takeovers
            if failovers
            else ""
        )
    )


def _side_by_side(
    pairs: Sequence[tuple[RunResult, RunResult]],
) -> Iterable[tuple[RunResult, str]]:
    for emulated, real in pairs:
        yield emulated, "emulator"
        yield real, "real"


def _per_issuance_ms(result: RunResult, role: str) -> str:
    s = result.summary
    usage = s.get("processes", {}).get(role)
    if not usage or not s.get("issued"):
        return "n/a"
    return _num(usage["cpu_seconds"] * 1000 / s["issued"], 1)


def _world_row(result: RunResult, world: str) -> tuple[str, ...]:
    s = result.summary
    issued = s.get("issued") or 0
    requests = sum(s["kube_requests_per_issuance"].values())
    return (
        result.name,
        world,
        _load(result),
        _num(issued),
        _num(s["seconds_to_issue_all"], 1),
        _num(s["latency_s"]["p50"]),
        _num(s["latency_s"]["p99"]),
        _per_issuance_ms(result, "controller"),
        _per_issuance_ms(result, "kube-apiserver"),
        _per_issuance_ms(result, "etcd"),
        _num(s["kube_writes_per_issuance"]),
        _num(float(requests)),
    )


def _takeover_cells(result: RunResult) -> tuple[str, ...]:
    cells = []
    for how in ("SIGKILL", "SIGTERM"):
        lease = result.summary["takeover_lease_acquired_s"][how]
        first = result.summary["takeover_first_reconcile_s"][how]
        if not first["count"]:
            cells += ["none", "none"]
            continue
        cells.append(f"{_num(lease['p50'])} / {_num(lease['max'])}")
        cells.append(f"{_num(first['p50'])} / {_num(first['p95'])} / {_num(first['max'])}")
    return tuple(cells)


def _settings(result: RunResult) -> str:
    shown = {k: v for k, v in result.settings.items() if v not in ({}, None, "")}
    return "Settings: " + ", ".join(f"`{k}`={v}" for k, v in shown.items()) + "."


def _image(result: RunResult, images: Mapping[str, str]) -> str:
    path = images.get(result.name)
    return f"\n![{result.title}]({path})\n" if path else ""


def _processes(summary: Mapping[str, Any]) -> str:
    return "; ".join(
        f"{role} {_num(u['cpu_seconds'], 1)} CPU s, peak {_num(u['peak_rss_mib'], 0)} MiB"
        for role, u in summary.get("processes", {}).items()
    )


def _cpu_per_issuance(result: RunResult) -> str:
    """CPU milliseconds per issued certificate by process, and how busy the machine's cores
    were with this run over the time it took to issue everything."""
    s = result.summary
    issued, seconds = s.get("issued") or 0, s.get("seconds_to_issue_all") or 0.0
    processes = s.get("processes", {})
    if not issued or not seconds:
        return "n/a"
    per = ", ".join(
        f"{role} {u['cpu_seconds'] * 1000 / issued:,.1f}" for role, u in processes.items()
    )
    cores = result.machine.get("usable_cpus") or 1
    spent = sum(u["cpu_seconds"] for u in processes.values())
    busy = spent / (seconds * cores)
    top, usage = max(processes.items(), key=lambda item: float(item[1]["cpu_seconds"]))
    return (
        f"{per}; the run's processes kept {busy:.0%} of {cores} cores busy, "
        f"{usage['cpu_seconds'] / spent:.0%} of it in the {top}"
    )


def _issuance_details(result: RunResult) -> str:
    s = result.summary
    return "\n".join(
        [
            f"- CPU ms per issuance: {_cpu_per_issuance(result)}",
            "- Kubernetes requests per issuance by verb: "
            f"{_pairs(s['kube_requests_per_issuance'])}",
            f"- Kubernetes writes per issuance by resource: "
            f"{_pairs(s['kube_writes_by_resource_per_issuance'])}; Lease renewals "
            f"{s.get('lease_writes_per_second', 0)}/s (a cost of leadership, not of issuance: "
            "apart from the writes-per-issuance target)",
            f"- ZeroSSL calls per issuance by endpoint: "
            f"{_pairs(s['zerossl_calls_by_endpoint_per_issuance'])}{_draft_searches(s)}",
            f"- Reconciles per issuance: {_pairs(s['reconciles_per_issuance'])}",
            f"- Processes: {_processes(s)}",
            f"- {_settings(result)}",
        ]
    )


def _draft_searches(summary: Mapping[str, Any]) -> str:
    """Lost-draft searches by how they were served (runs recorded before it was: nothing)."""
    searches = summary.get("draft_searches_per_issuance")
    if searches is None:
        return ""
    return f"; lost-draft searches by how they were served: {_pairs(searches)}"


# --- sections -----------------------------------------------------------------------------


def _throughput(runs: list[RunResult], images: Mapping[str, str]) -> str:
    header = (
        "Run",
        "Requests",
        "All issued in (s)",
        "Issued/s",
        "p50 (s)",
        "p95 (s)",
        "p99 (s)",
        "Controller CPU (s)",
        "Controller peak RSS (MiB)",
        "K8s writes/issuance",
        "ZeroSSL calls/issuance",
        "429s",
        "409s on order create",
    )
    rows = []
    for r in runs:
        s, lat = r.summary, r.summary["latency_s"]
        rows.append(
            (
                r.name,
                _num(s["requests"]),
                _num(s["seconds_to_issue_all"], 1),
                _num(s["issued_per_second"], 1),
                _num(lat["p50"]),
                _num(lat["p95"]),
                _num(lat["p99"]),
                _num(s["controller_cpu_seconds"], 1),
                _num(s["controller_peak_rss_mib"], 0),
                _num(s["kube_writes_per_issuance"]),
                _num(s["zerossl_calls_per_issuance"]),
                _num(s["zerossl_429s"]),
                _num(s.get("order_create_409s", NOT_AVAILABLE)),
            )
        )
    parts = [_table(header, rows), _writes_table(runs)]
    for r in runs:
        parts.append(f"### {r.title}\n\n{_issuance_details(r)}\n{_image(r, images)}")
    return "\n".join(parts)


def _writes_table(runs: Sequence[RunResult]) -> str:
    """Kubernetes writes per issuance by verb and resource, one row per run."""
    by_run = {r.name: writes_by_resource(r.summary) for r in runs}
    columns = sorted({write for writes in by_run.values() for write in writes})
    rows = [
        (name, *(_num(writes.get(c, 0.0)) for c in columns), _num(sum(writes.values())))
        for name, writes in by_run.items()
    ]
    return (
        "Kubernetes writes per issuance by verb and resource (Lease renewals apart):\n\n"
        + _table(("Run", *columns, "Total"), rows)
    )


def _quota(runs: list[RunResult], images: Mapping[str, str]) -> str:
    header = ("Run", "R (calls/s)", "Window (s)", "Calls in window", "Share of R", "429s", "Issued")
    rows = [
        (
            r.name,
            _num(r.settings["rate_per_s"], 0),
            _num(r.settings["window_s"], 0),
            _num(r.summary["calls_in_window"]),
            f"{r.summary['utilisation']:.1%}",
            _num(r.summary["zerossl_429s"]),
            _num(r.summary["issued"]),
        )
        for r in runs
    ]
    parts = [_table(header, rows)]
    for r in runs:
        parts.append(f"### {r.title}\n\n- {_settings(r)}\n{_image(r, images)}")
    return "\n".join(parts)


def _informer(runs: list[RunResult], images: Mapping[str, str]) -> str:
    header = (
        "Requests present",
        "Cache sync (s)",
        "Start to ready (s)",
        "RSS after sync (MiB)",
        "Peak RSS (MiB)",
        "Initial pass (s)",
        "Writes to requests",
        "Relists of requests",
    )
    parts = []
    for r in runs:
        rows = [
            (
                _num(row["requests"]),
                _num(row["sync_s"]),
                _num(row["start_to_ready_s"]),
                _num(row["rss_after_sync_mib"], 0),
                _num(row["peak_rss_mib"], 0),
                _num(row["initial_pass_s"]),
                _num(row["request_writes"]),
                _num(row.get("request_relists", "-")),
            )
            for row in r.summary["sizes"]
        ]
        parts.append(
            f"### {r.title}\n\nRequests are this controller's, approved and already Issued "
            "(a CSR in each spec, a chain in each status): the steady state of a large cluster. "
            "*Initial pass*: the new leader reconciling every cached request once.\n\n"
            + _table(header, rows)
            + f"\n- {_settings(r)}\n"
        )
    return "\n".join(parts) + _REQUEST_CACHE


_REQUEST_CACHE = """
What the CertificateRequest cache keeps (`controller/issuer/controllers/caches.py`): of another
issuer's request, only its `issuerRef`; of an unfinished request of ours, everything; of a
finished one (Ready=True, Ready=False with reason Failed or Denied, or InvalidRequest=True:
`request_finished`, the decider's terminal states) all but `spec.request`, `status.certificate`
and `status.ca`, about 2 KB of the 2.8 KB an Issued request takes. Runs of commits before that
trim (the baselines) cached the CSR and chain of every request. Why nothing misses them: from a
finished state the request reconciler decides nothing, whatever the request's spec, issuer or
order (step 3 of `decide_request`, the same predicate as the trim), so it writes nothing; the
order reconciler reads only the request's uid (is its request gone?), the cache metrics only
conditions and `creationTimestamp`. Every list item and watch event carries the whole object and
is trimmed afresh, so a request whose status is reset is cached whole from that event on, and
issued again from its order with the chain checked against its CSR
(`tests/unit/issuer/controllers/test_request_cache.py`,
`tests/integration/issuer/test_issuance.py`). The most memory per object is now an unfinished
request's, cached whole; a cluster holds few at a time.
"""


def _failover(runs: list[RunResult], images: Mapping[str, str]) -> str:
    parts = []
    for r in runs:
        s = r.summary
        rows = []
        for how in ("SIGKILL", "SIGTERM"):
            first, lease = s["takeover_first_reconcile_s"][how], s["takeover_lease_acquired_s"][how]
            if first["count"]:
                rows.append(
                    (
                        how,
                        _num(first["count"]),
                        _num(lease["p50"]),
                        _num(lease["max"]),
                        _num(first["p50"]),
                        _num(first["p95"]),
                        _num(first["max"]),
                    )
                )
        table = _table(
            (
                "Stop",
                "Rounds",
                "Lease taken p50 (s)",
                "Lease taken max (s)",
                "First reconcile p50 (s)",
                "p95 (s)",
                "max (s)",
            ),
            rows,
        )
        parts.append(
            f"### {r.title}\n\nSeconds from the signal to the Lease naming another replica, "
            "and to that replica's first completed reconcile.\n\n"
            + table
            + f"\n- Issued {_num(s['issued'])} of {_num(s['requests'])} requests fed during "
            f"the rounds; all issued in {_num(s['seconds_to_issue_all'], 1)} s; latency p50 "
            f"{_num(s['latency_s']['p50'])} s, p99 {_num(s['latency_s']['p99'])} s\n"
            + _issuance_details(r)
            + "\n"
            + _image(r, images)
        )
    return "\n".join(parts)


def _chaos(runs: list[RunResult], images: Mapping[str, str]) -> str:
    parts = []
    for r in runs:
        s = r.summary
        faults = r.settings.get("faults", {})
        parts.append(
            f"### {r.title}\n\n"
            f"- {_num(s['requests'])} requests fed over {_num(s['chaos_seconds'], 0)} s of "
            f"chaos: {_num(s['leader_kills'])} leader kills, {_num(s['watch_drops'])} watch "
            f"drops, {_num(s['compactions'])} compactions; {_num(s['kube_error_answers'])} "
            f"Kubernetes error answers, {_num(s['zerossl_error_answers'])} ZeroSSL error "
            f"answers, {_num(s['zerossl_429s'])} ZeroSSL 429s\n"
            f"- Issued {_num(s['issued'])}; all issued {_num(s['seconds_to_issue_all'], 1)} s "
            f"after the first request; latency p50 {_num(s['latency_s']['p50'])} s, p99 "
            f"{_num(s['latency_s']['p99'])} s\n"
            f"- Faults: {_pairs(faults, 3)}\n" + _issuance_details(r) + "\n" + _image(r, images)
        )
    return "\n".join(parts)
