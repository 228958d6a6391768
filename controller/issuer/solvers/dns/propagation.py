"""Waiting until resolvers see a validation CNAME, so ZeroSSL's check is not wasted.

Invariants: :func:`wait_visible` returns only after every resolver answered the record's name
with a CNAME to exactly the record's target (case-insensitive, absolute); a resolver that has
seen it is not asked again. Each round asks all remaining resolvers concurrently, each query
bounded by a few seconds; rounds are ``interval`` apart. At the deadline it raises
:class:`PropagationTimeout` (retryable) saying what each lagging resolver answered instead. At
least one round always runs, so ``timeout=0`` means "check once".
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from controller.issuer.solvers.dns.errors import InvalidSolverSpec, PropagationTimeout
from controller.issuer.solvers.dns.nameserver import Nameserver
from controller.issuer.solvers.dns.observed import observed
from controller.issuer.solvers.dns.record import CNAMERecord
from controller.issuer.solvers.dns.spec import Fields

if TYPE_CHECKING:
    from controller.issuer.solvers.dns.resolvers import Probe

QUERY_TIMEOUT = 3.0
_MIN_QUERY_TIMEOUT = 0.5
SYSTEM_RESOLVER = "system resolver"


@dataclass(frozen=True, slots=True)
class Propagation:
    """How to wait for one solver's records: overall timeout and the resolvers to ask."""

    timeout: float
    resolvers: tuple[str, ...]

    @classmethod
    def from_spec(
        cls, spec: Mapping[str, Any], *, default_timeout: float, default_resolvers: Sequence[str]
    ) -> Propagation:
        """From the ``dns`` spec's optional ``propagation`` {timeoutSeconds, nameservers};
        absent values take the controller settings."""
        section = Fields.of(spec, "dns").child("propagation")
        if section is None:
            return cls(default_timeout, tuple(default_resolvers))
        timeout = section.data.get("timeoutSeconds", default_timeout)
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout < 0:
            raise InvalidSolverSpec("dns.propagation.timeoutSeconds must be a number >= 0")
        nameservers = section.data.get("nameservers") or list(default_resolvers)
        if not isinstance(nameservers, list) or not all(isinstance(n, str) for n in nameservers):
            raise InvalidSolverSpec("dns.propagation.nameservers must be a list of strings")
        for text in nameservers:
            Nameserver.parse(text)
        return cls(float(timeout), tuple(nameservers))


async def wait_visible(
    record: CNAMERecord,
    resolvers: Sequence[str],
    *,
    timeout: float,
    interval: float,
    solver: str = "dns",
) -> None:
    """Returns once every resolver (``host:port``; none: the system's resolver configuration)
    answers ``record``; raises :class:`PropagationTimeout` after ``timeout`` seconds.

    ``solver`` is the metrics label (the provider field, e.g. ``rfc2136``).
    """
    if timeout < 0 or not interval > 0:
        raise ValueError("timeout must be >= 0 and interval > 0")
    probes = _probes(resolvers)
    with observed(solver, "wait", record):
        await _poll(record, probes, timeout=timeout, interval=interval)


async def _poll(
    record: CNAMERecord, probes: dict[str, Probe], *, timeout: float, interval: float
) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    seen: dict[str, str] = {}
    while True:
        remaining = deadline - loop.time()
        query_timeout = max(min(QUERY_TIMEOUT, remaining), _MIN_QUERY_TIMEOUT)
        async with asyncio.TaskGroup() as group:
            asked = {
                label: group.create_task(probe(record.name, query_timeout))
                for label, probe in probes.items()
            }
        for label, task in asked.items():
            answer = task.result()
            if answer.target == record.target:
                del probes[label]
                seen.pop(label, None)
            else:
                seen[label] = answer.detail
        if not probes:
            return
        remaining = deadline - loop.time()
        if remaining <= 0:
            lagging = "; ".join(f"{label} answered {detail}" for label, detail in seen.items())
            raise PropagationTimeout(
                f"{record} not visible after {timeout:g}s: {lagging}", seen=dict(seen)
            )
        await asyncio.sleep(min(interval, remaining))


def _probes(resolvers: Sequence[str]) -> dict[str, Probe]:
    # dnspython is loaded by the first wait, not by the solvers that never wait.
    from controller.issuer.solvers.dns import resolvers as ask  # noqa: PLC0415

    if not resolvers:
        return {SYSTEM_RESOLVER: ask.system_probe()}
    probes: dict[str, Probe] = {}
    for text in resolvers:
        server = Nameserver.parse(text)
        probes[str(server)] = ask.server_probe(server)
    return probes
