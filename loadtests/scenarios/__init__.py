"""The runs the issue asks for, each a frozen description with ``async run() -> RunResult``:
throughput and latency, quota utilisation, informer scale, failover, and the chaos soak."""

from __future__ import annotations

from typing import Protocol

from loadtests.results import RunResult


class Scenario(Protocol):
    @property
    def name(self) -> str: ...

    async def run(self) -> RunResult: ...
