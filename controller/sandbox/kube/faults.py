"""Fault injection the tests drive: error rates and latency per verb/resource, pause, and
(through the store) dropped watches and compacted history. Everything is off by default."""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from typing import Any

from .status import StatusError, too_many_requests
from .store import Store


@dataclass(frozen=True, slots=True)
class ErrorRule:
    rate: float
    status: int
    retry_after: int | None


_REASONS = {
    400: "BadRequest",
    401: "Unauthorized",
    403: "Forbidden",
    404: "NotFound",
    409: "Conflict",
    410: "Expired",
    429: "TooManyRequests",
    500: "InternalError",
    503: "ServiceUnavailable",
    504: "Timeout",
}


def _matches(pattern: str, value: str) -> bool:
    """``*``, the exact label, or the label without its group (``plural``, ``plural/sub``)."""
    if pattern in ("*", value):
        return True
    base, _, sub = value.partition("/")
    plural = base.split(".", 1)[0]
    return pattern in (plural, f"{plural}/{sub}" if sub else plural, base)


def _check_target(verb: str, resource: str) -> None:
    if not verb or not resource:
        raise ValueError("verb and resource must be non-empty ('*' matches any)")


class Faults:
    def __init__(self, store: Store, rng: random.Random | None = None) -> None:
        self._store = store
        self._rng = rng or random.Random()
        self._errors: dict[tuple[str, str], ErrorRule] = {}
        self._latency: dict[tuple[str, str], float] = {}
        self._running = asyncio.Event()
        self._running.set()

    def set_error(
        self,
        verb: str,
        resource: str,
        rate: float,
        status: int = 500,
        retry_after: int | None = None,
    ) -> None:
        """Fail ``rate`` of matching requests with ``status`` (429 and 5xx may carry
        Retry-After). ``resource`` is a plural, ``plural.group``, ``plural/subresource``
        or ``*``."""
        _check_target(verb, resource)
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"rate must be within [0, 1], got {rate}")
        if not 400 <= status <= 599:
            raise ValueError(f"status must be an HTTP error code, got {status}")
        self._errors[(verb, resource)] = ErrorRule(rate, status, retry_after)

    def set_latency(self, verb: str, resource: str, seconds: float) -> None:
        _check_target(verb, resource)
        if seconds < 0:
            raise ValueError(f"latency must be >= 0, got {seconds}")
        self._latency[(verb, resource)] = seconds

    def pause(self) -> None:
        """Hold every request and every watch stream until :meth:`resume`."""
        self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    def drop_watches(self) -> int:
        return self._store.drop_watches()

    def compact(self) -> None:
        self._store.compact()

    def clear(self) -> None:
        self._errors.clear()
        self._latency.clear()
        self.resume()

    async def gate(self) -> None:
        await self._running.wait()

    async def before(self, verb: str, resource: str) -> None:
        """Apply pause, latency and injected errors to one request."""
        await self._running.wait()
        delay = max(
            (
                s
                for (v, r), s in self._latency.items()
                if _matches(v, verb) and _matches(r, resource)
            ),
            default=0.0,
        )
        if delay:
            await asyncio.sleep(delay)
        for (v, r), rule in self._errors.items():
            if _matches(v, verb) and _matches(r, resource) and self._rng.random() < rule.rate:
                raise _injected(rule)

    def describe(self) -> dict[str, Any]:
        return {
            "paused": self.paused,
            "errors": [
                {
                    "verb": v,
                    "resource": r,
                    "rate": e.rate,
                    "status": e.status,
                    "retryAfter": e.retry_after,
                }
                for (v, r), e in self._errors.items()
            ],
            "latency": [
                {"verb": v, "resource": r, "seconds": s} for (v, r), s in self._latency.items()
            ],
        }

    def apply(self, command: dict[str, Any]) -> dict[str, Any]:
        """The JSON form used by ``POST /_sandbox/faults`` (one action per request)."""
        action = command.get("action")
        if action == "drop_watches":
            return {"dropped": self.drop_watches()}
        if action == "compact":
            self.compact()
        elif action == "set_error":
            self.set_error(
                str(command.get("verb", "*")),
                str(command.get("resource", "*")),
                float(command["rate"]),
                int(command.get("status", 500)),
                _optional_int(command.get("retryAfter")),
            )
        elif action == "set_latency":
            self.set_latency(
                str(command.get("verb", "*")),
                str(command.get("resource", "*")),
                float(command["seconds"]),
            )
        elif action == "pause":
            self.pause()
        elif action == "resume":
            self.resume()
        elif action == "clear":
            self.clear()
        else:
            raise ValueError(
                f"unknown fault action {action!r}; expected one of drop_watches, "
                "compact, set_error, set_latency, pause, resume, clear"
            )
        return self.describe()


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _injected(rule: ErrorRule) -> StatusError:
    if rule.status == 429:
        return too_many_requests(rule.retry_after or 1)
    reason = _REASONS.get(rule.status, "InternalError" if rule.status >= 500 else "BadRequest")
    return StatusError(
        rule.status, reason, f"injected fault ({rule.status})", retry_after=rule.retry_after
    )
