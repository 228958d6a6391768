"""Suite-wide rules: under CI=true a skipped test is a failure."""

from __future__ import annotations

import pytest

from tests.support import IN_CI


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        if reporter:
            reporter.write_line(f"CI=true: {skipped} test(s) skipped; skips fail CI", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
