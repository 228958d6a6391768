from __future__ import annotations

import os

import orjson
import pytest

from controller import cli


def test_config_prints_the_effective_settings(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["config", "--workers", "3"]) == 0
    printed = orjson.loads(capsys.readouterr().out)
    assert printed["workers"] == 3
    assert printed["leader_elect"] is True


def test_a_bad_setting_stops_the_start_with_its_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ZEROSSL_ISSUER_POLL_INTERVAL", "-5")
    assert cli.main([]) == 2
    assert "ZEROSSL_ISSUER_POLL_INTERVAL" in capsys.readouterr().err


def test_config_prints_the_effective_pod_name(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZEROSSL_ISSUER_POD_NAME", raising=False)
    assert cli.main(["config"]) == 0
    assert (
        orjson.loads(capsys.readouterr().out)["pod_name"] == f"{os.uname().nodename}_{os.getpid()}"
    )
    monkeypatch.setenv("ZEROSSL_ISSUER_POD_NAME", "zerossl-issuer-7d9f-abcde")
    assert cli.main(["config"]) == 0
    assert orjson.loads(capsys.readouterr().out)["pod_name"] == "zerossl-issuer-7d9f-abcde"
