"""deferrable: only the accepted validation over HTTP or DNS, over a stored status that shows
no backoff, may wait unwritten for the certificate's write."""

from __future__ import annotations

from typing import Any

import pytest

from controller.issuer.order_steps import deferrable
from controller.issuer.orders import Order
from tests.unit.issuer.factories import (
    DNS_SOLVER,
    EMAIL_SOLVER,
    HTTP_SOLVER,
    order_object,
    order_ready,
)

ACCEPTED = {
    "conditions": [order_ready("WaitingForIssuance", "validation accepted")],
    "certificateID": "c1",
    "zerosslStatus": "pending_validation",
}
PRESENTING = {"conditions": [order_ready("Presenting", "publishing")], "certificateID": "c1"}
BACKOFF = {"verify": {"attempts": 1, "nextTime": "2026-03-01T12:05:00Z"}}
RETRY = {"retry": {"attempts": 1, "notBefore": "2026-03-01T12:05:00Z"}}


def order(status: dict[str, Any], solver: dict[str, Any] = HTTP_SOLVER) -> Order:
    return Order.from_object(order_object(solvers=[solver], status=status))


@pytest.mark.parametrize(
    ("pending", "stored", "expected"),
    [
        pytest.param(order(ACCEPTED), PRESENTING, True, id="accepted-over-http"),
        pytest.param(order(ACCEPTED, DNS_SOLVER), PRESENTING, True, id="accepted-over-dns"),
        pytest.param(
            order(ACCEPTED),
            {**PRESENTING, "conditions": [order_ready("Validating", "asking")]},
            True,
            id="accepted-over-validating",
        ),
        pytest.param(order(ACCEPTED, EMAIL_SOLVER), PRESENTING, False, id="email-is-shown-at-once"),
        pytest.param(order(ACCEPTED), {**PRESENTING, **BACKOFF}, False, id="over-a-verify-backoff"),
        pytest.param(order(ACCEPTED), {**PRESENTING, **RETRY}, False, id="over-a-retry"),
        pytest.param(
            order(ACCEPTED),
            {"conditions": [order_ready("WaitingForIssuer", "quota")]},
            False,
            id="over-a-wait-for-the-issuer",
        ),
        pytest.param(order(ACCEPTED), {}, False, id="over-no-status"),
        pytest.param(
            order({**ACCEPTED, "zerosslStatus": "issued"}), PRESENTING, False, id="issued"
        ),
        pytest.param(order(PRESENTING), {}, False, id="anything-else"),
    ],
)
def test_deferrable(pending: Order, stored: dict[str, Any], expected: bool) -> None:
    assert deferrable(pending, stored) is expected
