"""Finished work first: which queued keys take the work queues' first lane
(:class:`~controller.kube.workqueue.WorkQueue` ``urgent``), so that under a backlog the steps
that finish a certificate run before the steps that start new ones, as in the ZeroSSL limiter.

- An order past creation (its status records a ZeroSSL certificate id: verify, download,
  cleanup are left) goes ahead of orders that have not reached ZeroSSL yet.
- A request whose order has finished (Issued, Failed, Cancelled: its final status write is
  left) goes ahead of requests that still need an order.

Invariants: the lane is judged from the order cache on every add (a key's lane follows its
order's state, so retries and delayed adds land right too); a key with no cached order takes
the normal lane.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from controller.issuer.conditions import READY, TERMINAL_ORDER_REASONS, find
from controller.kube.store import Store


def _order_status(orders: Store, key: str) -> dict[str, Any] | None:
    cached = orders.get_cached(key)
    if cached is None:
        return None
    status = cached.decode().get("status")
    return status if isinstance(status, dict) else None


def order_started(orders: Store) -> Callable[[str], bool]:
    """``urgent`` of the order queue: the order has a certificate at ZeroSSL."""

    def urgent(key: str) -> bool:
        status = _order_status(orders, key)
        return bool(status and status.get("certificateID"))

    return urgent


def order_finished(orders: Store) -> Callable[[str], bool]:
    """``urgent`` of the request queue: the request's order (same key) has finished."""

    def urgent(key: str) -> bool:
        status = _order_status(orders, key)
        ready = find(status.get("conditions"), READY) if status else None
        return ready is not None and ready.get("reason") in TERMINAL_ORDER_REASONS

    return urgent
