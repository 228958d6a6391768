from __future__ import annotations

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
