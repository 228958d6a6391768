"""Small versions of the load, failover and chaos scenarios (``python -m loadtests``), so the
harness keeps working: each runs the real system (API server and ZeroSSL emulator as child
processes, ``python -m controller run`` replicas) and asserts correctness, never speed.

The pure parts of the harness (statistics, the audit's comparisons and chain check, the report)
are checked first without a stack.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import random
from pathlib import Path
from typing import cast

import numpy
import orjson
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from controller.sandbox.stack import ApiServerAccess, ControllerOptions, Stack, make_csr
from loadtests import incluster, profiles
from loadtests.__main__ import main as loadtests_main
from loadtests.accounting import KubeCounts, KubeRequest
from loadtests.audit import Check, chain_matches, compare_counts
from loadtests.report import IMPORT_BENCH, INFORMER_TARGETS, write_report
from loadtests.results import RunResult, Target, load_results
from loadtests.sampling import ProcessSampler, ReplicaMetrics
from loadtests.scenarios import Scenario
from loadtests.scenarios.failover import Failover
from loadtests.scenarios.throughput import Throughput
from loadtests.stats import count_in_window, distribution, per_second, percentile
from loadtests.supervisor import Exit, Supervisor
from loadtests.watcher import terminal_state
from loadtests.workload import Fleet, PlannedRequest, plan
from tests.conftest import KubeWorld

# --- the harness's pure parts ----------------------------------------------------------------


def test_percentiles_match_numpy() -> None:
    rng = random.Random(7)
    for size in (1, 2, 5, 100, 1001):
        sample = [rng.expovariate(1.0) for _ in range(size)]
        for q in (0, 50, 95, 99, 100):
            assert percentile(sample, q) == pytest.approx(float(numpy.percentile(sample, q)))
    summary = distribution([3.0, 1.0, 2.0])
    assert (summary.count, summary.p50, summary.max, summary.mean) == (3, 2.0, 3.0, 2.0)
    assert distribution([]).count == 0
    with pytest.raises(ValueError, match="empty"):
        percentile([], 50)


def test_windows_count_half_open_seconds() -> None:
    times = [10.0, 10.5, 11.0, 11.99, 12.0, 13.5]
    assert count_in_window(times, 10.0, 12.0) == 4
    assert per_second(times, 10.0, 3.0) == [2, 2, 1]


def test_compare_counts_allows_only_the_stated_slack() -> None:
    exact = compare_counts("calls", {"create": 5.0, "verify": 5.0}, {"create": 5, "verify": 5}, 0)
    assert exact.ok
    assert "total difference 0" in exact.detail
    missing_key = compare_counts("calls", {"create": 5.0}, {"create": 5, "verify": 2}, 1)
    assert not missing_key.ok
    assert "verify 0/2" in missing_key.detail
    assert compare_counts("calls", {"create": 4.0}, {"create": 5}, 1).ok


def test_order_create_conflicts_count_only_409s_on_order_creates() -> None:
    rows = (
        KubeRequest("create", "zerosslorders.zerossl.issuer.dev", 409, 3),
        KubeRequest("create", "zerosslorders.zerossl.issuer.dev", 201, 10),
        KubeRequest("update", "zerosslorders.zerossl.issuer.dev/status", 409, 5),
        KubeRequest("create", "events.events.k8s.io", 409, 1),
    )
    assert KubeCounts(rows).order_create_conflicts() == 3


def test_supervisor_check_fails_on_exits_the_harness_did_not_make() -> None:
    supervisor = Supervisor(cast(Stack, None), ProcessSampler(), cast(ReplicaMetrics, None))
    assert supervisor.unplanned_check("no replica exited").ok
    supervisor.exits += [Exit("replica-0", 10, 1, planned=False), Exit("replica-1", 11, -9, True)]
    check = supervisor.unplanned_check("no replica exited")
    assert (check.ok, check.detail) == (False, "1 unplanned exits: replica-0 (1)")


def test_terminal_state_reads_the_ready_condition() -> None:
    def request(status: str, reason: str) -> dict[str, object]:
        ready = {"type": "Ready", "status": status, "reason": reason, "message": "m"}
        return {"metadata": {"name": "a", "namespace": "n"}, "status": {"conditions": [ready]}}

    assert terminal_state(request("True", "Issued")) == ("Issued", "m")
    assert terminal_state(request("False", "Failed")) == ("Failed", "m")
    assert terminal_state(request("False", "Denied")) == ("Denied", "m")
    assert terminal_state(request("False", "Pending")) is None
    assert terminal_state(request("Unknown", "Issued")) is None
    assert terminal_state({"metadata": {"name": "a"}}) is None


def _signed_chain(csr_pem: bytes, names: list[str]) -> str:
    """base64 of a PEM leaf for the CSR's key naming ``names``, signed by a throwaway CA."""
    csr = x509.load_pem_x509_csr(csr_pem)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    now = dt.datetime.now(dt.UTC)
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")]))
        .public_key(csr.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), False)
        .sign(ca_key, hashes.SHA256())
    )
    return base64.b64encode(leaf.public_bytes(Encoding.PEM)).decode()


def test_chain_check_wants_the_requests_names_and_key() -> None:
    names = ["a.load.zerossl-issuer.dev", "www.a.load.zerossl-issuer.dev"]
    request = PlannedRequest("ns", "a", {}, tuple(names), make_csr(names))
    assert chain_matches(request, _signed_chain(request.csr_pem, names)) is None
    other_key = _signed_chain(make_csr(names), names)
    assert chain_matches(request, other_key) == "the leaf's public key is not the CSR's"
    fewer_names = chain_matches(request, _signed_chain(request.csr_pem, names[:1]))
    assert fewer_names is not None
    assert "the leaf names" in fewer_names
    assert chain_matches(request, base64.b64encode(b"junk").decode()) is not None


def test_plan_spreads_requests_over_namespaces_and_both_issuer_kinds() -> None:
    planned = plan(Fleet.of(2), 8, "t-abc123")
    assert {p.namespace for p in planned} == {"load-0", "load-1"}
    assert {p.issuer_ref["kind"] for p in planned} == {"ZeroSSLIssuer", "ZeroSSLClusterIssuer"}
    assert len({p.domains for p in planned}) == 8
    assert any(len(p.domains) == 2 for p in planned)
    assert all(len(d) <= 64 for p in planned for d in p.domains)


MACHINE = {
    "cpu": "test CPU",
    "logical_cpus": 2,
    "usable_cpus": 2,
    "memory_gib": 4.0,
    "os": "Linux",
    "python": "3.11",
    "commit": "abc1234",
    "read_at": "start",
}


def _tiny_result(name: str = "tiny", api_server: str = "subprocess") -> RunResult:
    return RunResult(
        scenario="throughput",
        name=name,
        title="two requests",
        settings={"replicas": 1, "api_server": api_server},
        summary={
            "requests": 2,
            "issued": 2,
            "seconds_to_issue_all": 1.5,
            "issued_per_second": 1.3,
            "latency_s": {"count": 2, "mean": 1.0, "p50": 1.0, "p95": 1.4, "p99": 1.5, "max": 1.5},
            "controller_cpu_seconds": 0.5,
            "controller_peak_rss_mib": 100.0,
            "kube_writes_per_issuance": 9.0,
            "zerossl_calls_per_issuance": 3.0,
            "zerossl_429s": 0,
            "kube_requests_per_issuance": {"patch": 4.0, "get": 1.0},
            "kube_writes_by_resource_per_issuance": {"patch x": 4.0},
            "zerossl_calls_by_endpoint_per_issuance": {"create": 1.0},
            "reconciles_per_issuance": {"certificaterequests/done": 3.0},
            "draft_searches_per_issuance": {"listing": 0.25, "search": 0.5},
            "processes": {
                "controller": {"cpu_seconds": 0.5, "peak_rss_mib": 100.0},
                "kube-apiserver": {"cpu_seconds": 0.2, "peak_rss_mib": 90.0},
            },
        },
        targets=[Target("Kubernetes writes per issuance", 9.0, 8.0, "writes")],
        checks=[Check("every request issued", True, "Issued 2"), Check("lost", False, "one")],
        machine={**MACHINE, "load_average_1m": 1.25},
        series={
            "issued_over_time": [[1.0, 1], [1.5, 2]],
            "latencies_s": [1.0, 1.5],
            "queue_depth": [[0.0, {"zerosslorders": 1.0}], [1.0, {"zerosslorders": 0.0}]],
        },
    )


def test_report_shows_targets_failures_and_plots(tmp_path: Path) -> None:
    result = _tiny_result()
    del result.machine["read_at"]  # as results recorded before the run's start was noted
    results = tmp_path / "benchmarks" / "results"
    result.write(results)
    assert [r.to_json() for r in load_results(results)] == [result.to_json()]
    component = [Target("events ratio", 4.5, 10.0, "times", at_most=False).to_json()]
    (results / INFORMER_TARGETS).parent.mkdir()
    (results / INFORMER_TARGETS).write_text(json.dumps(component))
    page = write_report(results, tmp_path / "benchmarks.md")
    text = page.read_text()
    assert (
        "| informer (component) | events ratio | 4.50 times | ≥ 10.00 times | **missed** |" in text
    )
    assert (
        "| tiny | Kubernetes writes per issuance | 9.00 writes | ≤ 8.00 writes | **missed** |"
        in text
    )
    assert "| tiny | 1/2 | lost: one |" in text
    assert (
        "create 1.00; lost-draft searches by how they were served: listing 0.25, search 0.50"
        in text
    )
    assert "![two requests](benchmarks/tiny.png)" in text
    assert (tmp_path / "benchmarks" / "tiny.png").read_bytes().startswith(b"\x89PNG")
    assert "side by side" not in text  # no run has a real twin
    assert " | abc1234 | 1.25 (end) | " in text
    assert "## Memory by dependency" not in text
    (results / IMPORT_BENCH).write_text("import controller.app\n  this checkout 0.40 52.9\n")
    text = write_report(results, tmp_path / "benchmarks.md").read_text()
    assert "## Memory by dependency" in text
    assert "  this checkout 0.40 52.9" in text


def test_in_cluster_replicas_get_a_service_account_and_no_kubeconfig(tmp_path: Path) -> None:
    access = ApiServerAccess(
        "https://127.0.0.1:6443", "admin", b"CA PEM", {"system:serviceaccount:ns:sa": "tok"}
    )
    incluster.write_service_account(tmp_path, access, "system:serviceaccount:ns:sa")
    files = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert files == {"host": b"127.0.0.1", "port": b"6443", "ca.crt": b"CA PEM", "token": b"tok"}
    options = incluster.in_cluster(ControllerOptions(env={"A": "1"}), tmp_path)
    assert options.command[:3] == ("unshare", "--mount", "--")
    assert options.command[-len(ControllerOptions().command) :] == ControllerOptions().command
    assert options.env == {"A": "1", "KUBECONFIG": ""}
    with pytest.raises(ValueError, match="TLS"):
        incluster.write_service_account(
            tmp_path, ApiServerAccess("http://127.0.0.1:1", "a", None), "u"
        )


def test_report_sets_a_run_beside_its_real_twin(tmp_path: Path) -> None:
    real = _tiny_result("tiny-real", api_server="real")
    real.summary["processes"]["etcd"] = {"cpu_seconds": 0.1, "peak_rss_mib": 50.0}
    real.summary["processes"]["kube-apiserver"]["cpu_seconds"] = 0.8
    for result in (_tiny_result(), real, _tiny_result("lonely-real", api_server="real")):
        result.write(tmp_path)
    text = write_report(tmp_path, tmp_path / "benchmarks.md").read_text()
    section = text.split("## Emulated and real API server side by side")[1].split("\n## ")[0]
    assert (
        "| tiny | emulator | 1.25 | 2 | 1.5 | 1.00 | 1.50 | 250.0 | 100.0 | n/a | 9.00 |" in section
    )
    assert (
        "| tiny-real | real | 1.25 | 2 | 1.5 | 1.00 | 1.50 | 250.0 | 400.0 | 50.0 | 9.00 |"
        in section
    )
    assert "lonely-real" not in section


def test_kube_option_picks_the_worlds(capsys: pytest.CaptureFixture[str]) -> None:
    """``--kube real`` gives the throughput and failover runs on the real control plane only;
    ``both`` each emulated run followed by its real twin; chaos stays on the emulator."""
    assert loadtests_main(["list", "--profile", "small", "--kube", "real"]) == 0
    bench = [line for line in capsys.readouterr().out.splitlines() if line.startswith("bench")]
    assert bench == ["bench  small-throughput-real", "bench  failover-small-real"]
    both = [s.name for s in profiles.in_worlds(profiles.BENCH["small"](), "both")]
    assert both[:2] == ["small-throughput", "small-throughput-real"]
    assert both[-2:] == ["failover-small", "failover-small-real"]
    real = profiles.on_real(profiles.failover(1, 1, "x"))
    assert (real.name, real.system.kube_mode) == ("failover-x-real", "real")
    with pytest.raises(SystemExit):
        loadtests_main(["chaos", "--kube", "real"])


# --- the scenarios, small, against the real system -------------------------------------------


def _assert_passed(result: RunResult) -> None:
    """Every correctness check of the run passed."""
    failures = result.failures()
    failed = "\n".join(f"{c.name}: {c.detail}" for c in failures)
    assert not failures, f"{result.name} failed checks:\n{failed}"


def _scenario(name: str) -> Scenario:
    return next(s for s in profiles.BENCH["small"]() if s.name == name)


async def test_throughput_small_issues_everything_once(kube_world: KubeWorld) -> None:
    """On both worlds: on the real control plane the Kubernetes counts come from the audit log
    and must agree with the controller's own metrics just as the emulator's do."""
    scenario = _scenario("small-throughput")
    assert isinstance(scenario, Throughput)
    result = await (profiles.on_real(scenario) if kube_world == "real" else scenario).run()
    _assert_passed(result)
    summary = result.summary
    assert summary["issued"] == summary["requests"] == 30
    assert len(result.series["latencies_s"]) == 30
    calls = summary["zerossl_calls_by_endpoint_per_issuance"]
    assert calls["create"] == calls["verify"] == calls["download_return"] == 1.0
    assert summary["zerossl_calls_per_issuance"] >= 3.0
    assert summary["zerossl_429s"] == 0
    assert summary["kube_writes_per_issuance"] > 0
    assert summary["processes"]["controller"]["cpu_seconds"] > 0
    assert summary["processes"]["kube-apiserver"]["processes"] == 1
    assert ("etcd" in summary["processes"]) == (kube_world == "real")
    assert result.settings["api_server"] == ("real" if kube_world == "real" else "subprocess")


async def test_backlog_small_works_off_requests_waiting_at_start() -> None:
    result = await _scenario("small-backlog").run()
    _assert_passed(result)
    summary = result.summary
    assert summary["issued"] == summary["requests"] == 30
    assert summary["order_create_409s"] == 0
    assert 0 < summary["leading_s"] < summary["first_ready_s"] <= summary["seconds_to_issue_all"]
    assert summary["first_ready_after_leading_s"] > 0
    assert summary["latency_s"]["count"] == 30


async def test_quota_small_stays_under_the_enforced_rate() -> None:
    result = await _scenario("small-quota").run()
    _assert_passed(result)
    assert result.summary["zerossl_429s"] == 0
    assert result.summary["calls_in_window"] > 0
    assert len(result.series["calls_per_second"]) == 4


async def test_informer_small_caches_everything_without_writing() -> None:
    result = await _scenario("small-informer").run()
    _assert_passed(result)
    sizes = {row["requests"]: row for row in result.summary["sizes"]}
    assert sizes[300]["cached"] == 300
    assert sizes[300]["reconciled"] >= 300
    assert sizes[300]["rss_after_sync_mib"] > 0
    mode = result.settings["kube_config"]
    assert mode == ("in-cluster (service account)" if incluster.supported() else "kubeconfig")
    assert {t.name for t in result.targets} == {
        "controller RSS after sync, 0 Issued requests cached",
        "start to ready, nothing cached",
    }


async def test_failover_small_hands_over_and_loses_nothing(kube_world: KubeWorld) -> None:
    scenario = _scenario("failover-small")
    assert isinstance(scenario, Failover)
    result = await (profiles.on_real(scenario) if kube_world == "real" else scenario).run()
    _assert_passed(result)
    takeovers = result.series["takeovers"]
    assert [t["how"] for t in takeovers] == ["SIGKILL", "SIGTERM"]
    assert all(t["new"] != t["old"] for t in takeovers)
    assert all(0 < t["lease_acquired_s"] <= t["first_reconcile_s"] for t in takeovers)
    assert result.summary["issued"] == result.summary["requests"] > 0


def test_chaos_small_ends_all_issued(tmp_path: Path) -> None:
    results = tmp_path / "results"
    page = tmp_path / "benchmarks.md"
    status = loadtests_main(
        ["chaos", "--profile", "small", "--results", str(results), "--page", str(page)]
    )
    (result,) = load_results(results)
    _assert_passed(result)
    assert status == 0
    summary = result.summary
    assert summary["leader_kills"] >= 1
    assert summary["kube_error_answers"] > 0
    assert summary["issued"] == 30
    assert "## Chaos soak" in page.read_text()
    assert orjson.loads((results / "small-chaos.json").read_bytes())["passed"] is True
