"""``python -m controller.sandbox zerossl``: serves until SIGTERM, configured by flags."""

from __future__ import annotations

import asyncio
import signal
import sys

import aiohttp
import pytest

from controller.sandbox.zerossl.cli import main
from tests.integration.sandbox.zerossl.conftest import Api, make_csr


async def test_cli_serves_with_accounts_and_faults_until_sigterm(
    session: aiohttp.ClientSession,
) -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        "zerossl",
        "--port",
        "0",
        "--account",
        "cli-key:1",
        "--free-account",
        "free-key",
        "--issuance-delay",
        "uniform:0:0.1",
        "--rate-limit",
        "100",
        "--faults",
        '{"endpoints": {"validate_csr": {"server_error_rate": 1.0}}}',
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stdout is not None
        async with asyncio.timeout(30):
            url = (await process.stdout.readline()).decode().strip()
        assert url.startswith("http://127.0.0.1:")
        api = Api(session, url)
        await api.create(["cli.example.com"], key="cli-key")
        data = {
            "certificate_domains": "two.example.com",
            "certificate_csr": make_csr(["two.example.com"]),
        }
        full = await api.error("POST", "/certificates", key="cli-key", data=data)
        assert full["code"] == 2817
        free_one_year = await api.error(
            "POST",
            "/certificates",
            key="free-key",
            data={**data, "certificate_validity_days": "365"},
        )
        assert free_one_year["code"] == 2807
        assert (await api.call("POST", "/validation/csr", key="cli-key"))[0] == 503
    finally:
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(30):
            _, stderr = await process.communicate()
    assert process.returncode == 0, stderr.decode()


@pytest.mark.parametrize(
    "argv",
    [
        ["--issuance-delay", "soon"],
        ["--account", "key:lots"],
        ["--resolve", "example.com"],
        ["--dns", "localhost"],
        ["--faults", '{"endpoints": {"bogus": {}}}'],
    ],
)
def test_bad_flags_exit_with_usage_error(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "error:" in capsys.readouterr().err
