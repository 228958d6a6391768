"""The bench's write budget: issue 16's 5 Kubernetes writes per issuance in every issuance
run, but for the 30 s issuance delay, whose accepted validation is written on its own once it
outlasts the order's defer_max (so that WaitingForIssuance shows)."""

from __future__ import annotations

from loadtests.profiles import BENCH
from loadtests.scenarios.throughput import Throughput
from loadtests.summary import MAX_KUBE_WRITES


def test_every_issuance_run_asks_five_writes_but_the_delayed_one_six() -> None:
    budgets = {
        scenario.name: scenario.max_kube_writes
        for scenario in BENCH["full"]()
        if isinstance(scenario, Throughput)
    }
    assert MAX_KUBE_WRITES == 5
    assert budgets.pop("calls-1k-delay-30s") == 6
    assert budgets
    assert set(budgets.values()) == {5}
