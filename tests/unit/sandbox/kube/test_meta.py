"""Object metadata helpers."""

from __future__ import annotations

import pytest

from controller.sandbox.kube import meta


def test_now_is_formatted_per_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [1_767_323_045.2]
    monkeypatch.setattr(meta.time, "time", lambda: clock[0])
    assert meta.now_rfc3339() == "2026-01-02T03:04:05Z"
    clock[0] = 1_767_323_045.9
    assert meta.now_rfc3339() == "2026-01-02T03:04:05Z"
    clock[0] = 1_767_323_046.0
    assert meta.now_rfc3339() == "2026-01-02T03:04:06Z"
