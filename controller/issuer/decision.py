"""What a decide function returns: a status to write, Events, actions, and when to look again.

Invariants: a :class:`Decision` is plain data; executing it is the act layer's job, in this
order: write ``status`` first (write-ahead: a crash after it never loses what the actions are
about to do; if the write fails, run no action and retry the reconcile), then run ``actions``
in order, then requeue after ``requeue_after`` seconds (None: wait for a watch event).
``requeue_after`` is always positive when set. An empty decision means "nothing to do".

Writing ``status`` on the status subresource: for our own kinds it is the complete status, so
replace it whole (an update carrying the resourceVersion decided from, or server-side apply); a
field it omits is one to remove, which a JSON merge patch would keep: never use one. For a
CertificateRequest it holds only this controller's fields: server-side apply (one field
manager, ``force``) keeps the other conditions, ``conditions`` being a list-map.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Generic, TypeVar

A = TypeVar("A")

MIN_REQUEUE = 1.0


class EventType(StrEnum):
    NORMAL = "Normal"
    WARNING = "Warning"


@dataclass(frozen=True, slots=True)
class Event:
    """A Kubernetes Event to record on the object being reconciled."""

    type: EventType
    reason: str
    note: str


@dataclass(frozen=True, slots=True)
class Decision(Generic[A]):
    """The outcome of one decide call; ``status`` None means the status is unchanged."""

    status: dict[str, Any] | None = None
    events: tuple[Event, ...] = ()
    actions: tuple[A, ...] = ()
    requeue_after: float | None = None

    def __post_init__(self) -> None:
        if self.requeue_after is not None and not self.requeue_after > 0:
            raise ValueError(f"requeue_after must be positive, got {self.requeue_after!r}")

    @property
    def empty(self) -> bool:
        return self.status is None and not self.events and not self.actions


def requeue_in(seconds: float) -> float:
    """A requeue delay of at least :data:`MIN_REQUEUE` seconds (timers never spin)."""
    return max(seconds, MIN_REQUEUE)


def warning(reason: str, note: str) -> Event:
    return Event(EventType.WARNING, reason, note)


def normal(reason: str, note: str) -> Event:
    return Event(EventType.NORMAL, reason, note)
