"""promtool on the real artefacts: a live scrape of /metrics, the rule file and its unit tests."""

from __future__ import annotations

import asyncio
import re
import subprocess

import aiohttp

from controller.server import Server
from tests.support import require_binary
from tests.unit.observability.catalog import RULES, catalog

RULE_TESTS = RULES.parent / "tests.yaml"


def promtool(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [require_binary("promtool"), *args],
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=RULES.parent,
    )


async def test_promtool_check_metrics_on_a_live_scrape(populated_server: Server) -> None:
    url = f"http://127.0.0.1:{populated_server.port('metrics')}/metrics"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http,
        http.get(url) as response,
    ):
        assert response.status == 200
        body = await response.read()
    sampled = {
        re.split(r"[{ ]", line, maxsplit=1)[0]
        for line in body.decode().splitlines()
        if line and not line.startswith("#")
    }
    missing = {
        family.name
        for family in catalog().values()
        if family.name not in sampled and f"{family.name}_bucket" not in sampled
    }
    assert not missing, f"families without samples: {missing}"
    result = await asyncio.to_thread(promtool, "check", "metrics", stdin=body)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


def test_promtool_check_rules() -> None:
    result = promtool("check", "rules", RULES.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 8 rules found" in result.stdout


def test_promtool_test_rules() -> None:
    result = promtool("test", "rules", RULE_TESTS.name)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
