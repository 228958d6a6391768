"""``bench --ab``: its options, the order and names of its runs, and the page's A/B section."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from loadtests.__main__ import _parser
from loadtests.harness import SystemSettings
from loadtests.report import render
from loadtests.report_ab import comparisons
from loadtests.report_ab import render as render_ab
from loadtests.results import RunResult
from loadtests.revision import ControllerSource
from loadtests.scenarios.backlog import Backlog
from loadtests.scenarios.quota import QuotaUtilisation
from loadtests.scenarios.throughput import Throughput
from loadtests.sessions import ab, stale_rounds

SHA = "e087485060fd9a5a9f8dce6ddd280fb157cdef8d"
SOURCE = ControllerSource(SHA, Path("/cache") / SHA)
SYSTEM = SystemSettings()
THROUGHPUT = Throughput("tp-1k", "1,000 requests", 1000, SYSTEM)
BACKLOG = Backlog("backlog-1k", "1,000 waiting", 1000, SYSTEM)
MACHINE = {
    "cpu": "Test CPU",
    "logical_cpus": 2,
    "usable_cpus": 2,
    "memory_gib": 4.0,
    "os": "Linux",
    "python": "3.12.0",
    "commit": "abc1234",
    "load_average_1m": 2.5,
    "read_at": "start",
}


# --- options -------------------------------------------------------------------------------


def test_ab_takes_a_ref_and_rounds() -> None:
    args = _parser().parse_args(["bench", "--ab", "e087485", "--only", "backlog-1k"])
    assert (args.ab, args.ab_rounds, args.only) == ("e087485", 1, ["backlog-1k"])
    assert _parser().parse_args(["bench", "--ab", "main", "--ab-rounds", "3"]).ab_rounds == 3


@pytest.mark.parametrize(
    "argv",
    [
        ["bench", "--ab", "e087485", "--ab-rounds", "0"],
        ["bench", "--ab", "e087485", "--baseline", "before"],
        ["chaos", "--ab", "e087485"],
    ],
)
def test_ab_refuses_what_it_cannot_do(argv: list[str]) -> None:
    with pytest.raises(SystemExit):
        _parser().parse_args(argv)


# --- the runs ------------------------------------------------------------------------------


def test_each_scenario_runs_on_both_sides_first_side_alternating() -> None:
    legs = ab([THROUGHPUT, BACKLOG], SOURCE, 2, "s1")
    assert [leg.name for leg in legs] == [
        "tp-1k@e087485",
        "tp-1k",
        "tp-1k~r2",
        "tp-1k@e087485~r2",
        "backlog-1k",
        "backlog-1k@e087485",
        "backlog-1k@e087485~r2",
        "backlog-1k~r2",
    ]
    sources = [
        s.system.controller_source
        for leg in legs
        if isinstance(s := leg.scenario, Throughput | Backlog)
    ]
    assert sources == [SOURCE, None, None, SOURCE, None, SOURCE, SOURCE, None]
    assert legs[3].settings["ab"] == {
        "against": SHA,
        "side": "baseline",
        "round": 2,
        "rounds": 2,
        "session": "s1",
        "scenario": "tp-1k",
    }
    assert legs[0].title_note == "controller of e087485"
    assert legs[1].title_note is None


def test_the_baseline_replicas_run_the_extracted_tree() -> None:
    options = SYSTEM.with_(controller_source=SOURCE).controller_options()
    assert options.command[1:] == ("-P", "-m", "controller", "run")
    assert options.env["PYTHONPATH"] == str(SOURCE.tree)
    assert SYSTEM.with_(controller_source=SOURCE).to_json()["controller_code"] == f"commit {SHA}"
    assert "PYTHONPATH" not in SYSTEM.controller_options().env


def test_only_issuance_runs_are_compared() -> None:
    quota = QuotaUtilisation("quota-60s", "quota", 20.0, 60.0, SYSTEM)
    with pytest.raises(ValueError, match="quota-60s"):
        ab([THROUGHPUT, quota], SOURCE, 1, "s1")


def test_round_files_beyond_this_sessions_rounds_are_stale(tmp_path: Path) -> None:
    for stem in ("tp-1k", "tp-1k~r2", "tp-1k~r3", "tp-1k@e087485~r3", "other~r2"):
        (tmp_path / f"{stem}.json").write_text("{}")
    stale = stale_rounds(tmp_path, ab([THROUGHPUT], SOURCE, 2, "s1"))
    assert [p.name for p in stale] == ["tp-1k@e087485~r3.json", "tp-1k~r3.json"]


# --- the page ------------------------------------------------------------------------------


def result(
    name: str, side: str, round_: int, *, cpu: float, rate: float, session: str = "s1", **extra: Any
) -> RunResult:
    summary: dict[str, Any] = {
        "requests": 1000,
        "issued": 1000,
        "seconds_to_issue_all": 1000 / rate,
        "issued_per_second": rate,
        "latency_s": {"count": 1000, "mean": 4.0, "p50": 4.0, "p95": 7.0, "p99": 8.0, "max": 9.0},
        "controller_cpu_seconds": cpu,
        "controller_peak_rss_mib": 100.0,
        "kube_writes_per_issuance": 7.0,
        "zerossl_calls_per_issuance": 3.0,
        "zerossl_429s": 0,
        "kube_requests_per_issuance": {"create": 2.0},
        "kube_writes_by_resource_per_issuance": {
            "create zerosslorders.zerossl.issuer.dev": 1.0,
            "update zerosslorders.zerossl.issuer.dev/status": 3.0,
            "update leases.coordination.k8s.io": 0.03,
        },
        "zerossl_calls_by_endpoint_per_issuance": {"create": 1.0},
        "reconciles_per_issuance": None,
        "processes": {"controller": {"cpu_seconds": cpu, "peak_rss_mib": 100.0}},
        **extra,
    }
    settings = {
        "replicas": 1,
        "ab": {
            "against": SHA,
            "side": side,
            "round": round_,
            "rounds": 3,
            "session": session,
            "scenario": "backlog-1k",
        },
        "waiting_before_start": 1000,
        "controller_code": f"commit {SHA}" if side == "baseline" else "this checkout",
    }
    return RunResult(
        "throughput", name, "backlog", settings, summary, machine=dict(MACHINE), started_at="t"
    )


def backlog_session() -> list[RunResult]:
    """Three rounds: the baseline at 13, 12 and 11 ms per issuance (median 12) and 50-70/s;
    this checkout at 7, 6 and 9 ms (median 7) and 80-100/s (median 90); the baseline reports
    409s, this checkout does not."""
    return [
        result("backlog-1k@e087485", "baseline", 1, cpu=13.0, rate=60.0, order_create_409s=6),
        result("backlog-1k@e087485~r2", "baseline", 2, cpu=12.0, rate=50.0, order_create_409s=2),
        result("backlog-1k@e087485~r3", "baseline", 3, cpu=11.0, rate=70.0, order_create_409s=4),
        result("backlog-1k", "checkout", 1, cpu=7.0, rate=80.0),
        result("backlog-1k~r2", "checkout", 2, cpu=6.0, rate=90.0),
        result("backlog-1k~r3", "checkout", 3, cpu=9.0, rate=100.0),
    ]


def test_ab_section_shows_medians_ratios_and_targets() -> None:
    text = render_ab(backlog_session())
    assert "## A/B against e087485" in text
    assert "| backlog-1k | baseline e087485 | this checkout abc1234 | this/baseline |" in text
    assert "| Controller CPU ms/issuance | 12.0 | 7.0 | 0.58 |" in text
    assert "| Issued/s | 60.0 | 90.0 | 1.50 |" in text
    assert "| backlog-1k | Controller CPU per issuance, this/baseline | 0.58 | ≤ 0.60 | met |" in (
        text
    )
    assert "| backlog-1k | Issued/s, this/baseline | 1.50 | ≥ 1.60 | **missed** |" in text
    assert "| - create zerosslorders | 1.00 | 1.00 | 1.00 |" in text
    assert "| - update zerosslorders/status | 3.00 | 3.00 | 1.00 |" in text
    assert "leases" not in text
    # a number one side lacks (this checkout recorded no 409s here) is n/a, never zero
    assert "| 409s on ZeroSSLOrder create | 4 | n/a | n/a |" in text


def test_only_the_newest_whole_session_counts() -> None:
    older = [
        result("backlog-1k@e087485~r9", "baseline", 1, cpu=99.0, rate=1.0, session="s0"),
        result("backlog-1k~r9", "checkout", 1, cpu=1.0, rate=99.0, session="s0"),
    ]
    lonely = [result("backlog-1k@e087485~r8", "baseline", 1, cpu=5.0, rate=5.0, session="s2")]
    (found,) = comparisons([*older, *backlog_session(), *lonely])
    assert found.session == "s1"
    assert len(found.baseline) == len(found.checkout) == 3


def test_the_page_has_the_section_and_the_general_tables_the_writes_and_409s() -> None:
    text = render(backlog_session(), {}, Path("results"), None)
    assert "## A/B against e087485" in text
    assert "409s on order create |" in text
    header = "| Run | create zerosslorders | update zerosslorders/status | Total |"
    assert header in text
    assert "| backlog-1k@e087485 | 1.00 | 3.00 | 4.00 |" in text
    assert "- Reconciles per issuance: n/a" in text
    assert "| backlog-1k@e087485 | t | abc1234 (controller e087485) | 2.50 | 0 |" in text
    assert "| backlog-1k | t | abc1234 | 2.50 | 0 |" in text
    assert render_ab(backlog_session()[3:]) == ""  # one side only: no comparison
