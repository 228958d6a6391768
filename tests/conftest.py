"""Suite-wide rules: under CI=true a skipped test is a failure; tests that talk to an API
server run in both worlds (the sandbox's emulated one and the real control plane)."""

from __future__ import annotations

from typing import Final, Literal

import pytest

from tests.support import IN_CI, require_controlplane

KubeWorld = Literal["sandbox", "real"]
WORLDS: Final[tuple[KubeWorld, ...]] = ("sandbox", "real")


@pytest.fixture(params=WORLDS)
def kube_world(request: pytest.FixtureRequest) -> KubeWorld:
    """Which API server a test runs against: every test that depends on this fixture runs once
    per world; ``@pytest.mark.emulator_only("why")`` keeps a test to the sandbox (fault
    injection and request counts only the emulator offers)."""
    world: KubeWorld = request.param
    if world == "real":
        require_controlplane()
    return world


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    kept, dropped = [], []
    for item in items:
        world = getattr(item, "callspec", None) and item.callspec.params.get("kube_world")
        if world == "real":
            if item.get_closest_marker("emulator_only"):
                dropped.append(item)
                continue
            item.add_marker(pytest.mark.real)
        kept.append(item)
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; skips fail CI", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
