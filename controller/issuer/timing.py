"""Time arithmetic shared by the decide functions: exponential backoff and deadlines.

Invariants: waits handed to the work queue are at least ``MIN_REQUEUE`` (decision.requeue_in),
so a deadline in the past never turns into a busy loop; deadlines from :func:`after` are
rounded up to the whole second, the precision status timestamps keep, so a stored backoff
window is never shorter than the one decided.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from controller.issuer.decision import requeue_in


def backoff(attempts: int, base: float, cap: float) -> float:
    """``base * 2**(attempts-1)`` capped at ``cap`` (attempts counts from 1)."""
    return float(min(cap, base * 2.0 ** max(attempts - 1, 0)))


def after(now: datetime, seconds: float) -> datetime:
    """``now + seconds``, rounded up to a whole second."""
    moment = now + timedelta(seconds=seconds)
    whole = moment.replace(microsecond=0)
    return whole if whole == moment else whole + timedelta(seconds=1)


def wait_until(moment: datetime, now: datetime) -> float:
    """Seconds from ``now`` to ``moment``, as a requeue delay."""
    return requeue_in((moment - now).total_seconds())
