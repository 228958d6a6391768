"""Behaviour the public sources leave open, as options (defaults: the reference's reading)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

DEFAULT_MAX_DOMAINS: Final = 100


@dataclass(frozen=True, slots=True)
class Rules:
    accept_empty_cn: bool = False
    """A CSR without CN: 2836 csr_cn_is_invalid as observed in 2024 (caddy#6746) unless True."""
    max_domains: int = DEFAULT_MAX_DOMAINS
    """More names in ``certificate_domains`` give 2880 invalid_san (no published number)."""
    empty_list_without_status: bool = False
    """List without ``certificate_status`` returns nothing (caddyserver/zerossl's claim) if True."""

    def __post_init__(self) -> None:
        if self.max_domains < 1:
            raise ValueError(f"max_domains must be at least 1, got {self.max_domains}")
