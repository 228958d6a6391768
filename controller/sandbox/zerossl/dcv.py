"""Domain control validation: the result of checking one domain, and who can check one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from controller.sandbox.zerossl.model import DcvValues


@dataclass(frozen=True, slots=True)
class DomainCheck:
    """Whether one domain passed, and its entry for the ``details`` of a failed verify."""

    passed: bool
    detail: dict[str, object]


class DomainChecker(Protocol):
    async def check(self, domain: str, dcv: DcvValues) -> DomainCheck: ...
