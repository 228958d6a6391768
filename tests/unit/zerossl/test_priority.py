from __future__ import annotations

from controller.zerossl.priority import Priority, priority_of
from controller.zerossl.protocol import Endpoint


def test_only_calls_that_begin_a_certificate_wait_behind_the_others() -> None:
    starting = {e for e in Endpoint if priority_of(e) is Priority.START}
    assert starting == {Endpoint.CREATE, Endpoint.VALIDATE_CSR}
    assert priority_of(Endpoint.DOWNLOAD) < priority_of(Endpoint.CREATE)  # served first
    assert [p.label for p in Priority] == ["finish", "start"]
