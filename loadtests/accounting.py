"""What the emulators saw: the API server's request counts (``/_sandbox/requests``, by user,
verb, resource and code) and the ZeroSSL emulator's request log (``/_emulator/requests``).

Both are reset at the start of a run's measured phase, so the counts are the run's own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from controller.sandbox.stack import Stack

WRITE_VERBS: Final = frozenset({"create", "update", "patch", "delete", "deletecollection"})
LONG_RUNNING_VERBS: Final = frozenset({"watch"})
"""Counted by the API server only once the stream ends, so never compared while open."""


@dataclass(frozen=True, slots=True)
class KubeRequest:
    verb: str
    resource: str
    code: int
    count: int


@dataclass(frozen=True, slots=True)
class KubeCounts:
    """The controller's requests as the API server counted them."""

    rows: tuple[KubeRequest, ...]

    def by_verb(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for row in self.rows:
            out[row.verb] += row.count
        return dict(sorted(out.items()))

    def writes(self, *, exclude: Collection[str] = ()) -> int:
        """Write requests, but for resources whose name starts with one of ``exclude``."""
        return sum(
            row.count
            for row in self.rows
            if row.verb in WRITE_VERBS and not row.resource.startswith(tuple(exclude))
        )

    def writes_by_resource(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for row in self.rows:
            if row.verb in WRITE_VERBS:
                out[f"{row.verb} {row.resource}"] += row.count
        return dict(sorted(out.items()))

    def order_create_conflicts(self) -> int:
        """409 answers to ZeroSSLOrder creates (an order is created once per request: any 409
        means creation raced the cache)."""
        return sum(
            row.count
            for row in self.rows
            if row.verb == "create" and row.resource.startswith("zerosslorders") and row.code == 409
        )

    def by_code(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for row in self.rows:
            out[str(row.code)] += row.count
        return dict(sorted(out.items()))


async def reset_kube_counts(stack: Stack) -> None:
    if stack.options.kube_mode == "subprocess":
        await stack.kube.request("DELETE", "/_sandbox/requests")
    else:
        stack.reset_request_counts()


async def kube_counts(stack: Stack) -> KubeCounts:
    """The controller ServiceAccount's requests since the last reset (the emulator's counters,
    or the real API server's audit log)."""
    user = stack.controller_user
    if stack.options.kube_mode != "subprocess":
        return KubeCounts(
            tuple(
                KubeRequest(key.verb, key.resource, key.code, count)
                for key, count in stack.request_counts().items()
                if key.user == user
            )
        )
    answer = await stack.kube.request("GET", "/_sandbox/requests")
    return KubeCounts(
        tuple(
            KubeRequest(str(r["verb"]), str(r["resource"]), int(r["code"]), int(r["count"]))
            for r in answer["requests"]
            if r["user"] == user
        )
    )


@dataclass(frozen=True, slots=True)
class ZeroSSLCall:
    time: float
    endpoint: str
    status: int
    error_code: int | None


@dataclass(frozen=True, slots=True)
class ZeroSSLLog:
    """Calls the emulator answered since the last reset (counts cover every call; entries
    the emulator's ring still holds)."""

    counts: Mapping[str, int]
    entries: tuple[ZeroSSLCall, ...]

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def throttled(self) -> int:
        return sum(1 for call in self.entries if call.status == 429)

    def answered_times(self) -> list[float]:
        """Wall-clock times of calls that got past the rate limit."""
        return [call.time for call in self.entries if call.status != 429]


async def reset_zerossl_log(stack: Stack) -> None:
    await stack.zerossl_admin.call("DELETE", "requests")


async def zerossl_log(stack: Stack) -> ZeroSSLLog:
    answer = await stack.zerossl_admin.call("GET", "requests")
    return ZeroSSLLog(
        {str(k): int(v) for k, v in answer["counts"].items()},
        tuple(_call(entry) for entry in answer["entries"]),
    )


def _call(entry: Mapping[str, Any]) -> ZeroSSLCall:
    code = entry.get("error_code")
    return ZeroSSLCall(
        float(entry["time"]),
        str(entry["endpoint"]),
        int(entry["status"]),
        None if code is None else int(code),
    )


CONTROLLER_ENDPOINTS: Final = {"download": "download_return"}
"""The controller's endpoint label where it differs from the emulator's log name."""


def emulator_endpoint(controller_label: str) -> str:
    return CONTROLLER_ENDPOINTS.get(controller_label, controller_label)
