"""Fault injection, off by default; settable in-process or as JSON over ``/_emulator/faults``.

Per endpoint (or ``"*"`` for every endpoint without its own entry), each request draws at most
one fault: an HTML 5xx, a hang of ``hang_seconds`` ended by an HTML 504 (longer than client
timeouts, but bounded), or HTTP 200 carrying error 111. With ``after_effect`` the fault strikes
after the request took effect (the answer is lost, e.g. a created certificate nobody hears of).
Global knobs: ``validation_delay`` slows every verify call; ``stuck_issuance`` holds certificates
accepted for issuance until released.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import Enum
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

MAX_HANG_SECONDS: Final = 300.0
_Config = TypeVar("_Config", bound="DataclassInstance")


class Fault(Enum):
    SERVER_ERROR = "server_error"
    TIMEOUT = "timeout"
    INTERNAL_ERROR = "internal_error"


@dataclass(slots=True)
class EndpointFaults:
    server_error_rate: float = 0.0
    timeout_rate: float = 0.0
    internal_error_rate: float = 0.0
    after_effect: bool = False

    def __post_init__(self) -> None:
        rates = (self.server_error_rate, self.timeout_rate, self.internal_error_rate)
        if not all(0.0 <= rate <= 1.0 for rate in rates) or sum(rates) > 1.0:
            raise ValueError(f"fault rates must be in [0, 1] and sum to at most 1, got {rates}")

    def draw(self, rng: random.Random) -> Fault | None:
        roll = rng.random()
        for fault, rate in (
            (Fault.SERVER_ERROR, self.server_error_rate),
            (Fault.TIMEOUT, self.timeout_rate),
            (Fault.INTERNAL_ERROR, self.internal_error_rate),
        ):
            if roll < rate:
                return fault
            roll -= rate
        return None


@dataclass(slots=True)
class Faults:
    endpoints: dict[str, EndpointFaults] = field(default_factory=dict)
    server_error_status: int = 503
    hang_seconds: float = 30.0
    validation_delay: float = 0.0
    stuck_issuance: bool = False

    def __post_init__(self) -> None:
        if not 500 <= self.server_error_status <= 599:
            raise ValueError(f"server_error_status must be 5xx, got {self.server_error_status}")
        if not 0 <= self.hang_seconds <= MAX_HANG_SECONDS:
            raise ValueError(f"hang_seconds must be in [0, {MAX_HANG_SECONDS}]")
        if self.validation_delay < 0:
            raise ValueError("validation_delay must not be negative")

    def draw(self, endpoint: str, rng: random.Random, *, after_effect: bool) -> Fault | None:
        """The fault striking this request at this phase, if any."""
        config = self.endpoints.get(endpoint) or self.endpoints.get("*")
        if config is None or config.after_effect != after_effect:
            return None
        return config.draw(rng)

    def to_json(self) -> dict[str, object]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, object], endpoints: Collection[str]) -> Faults:
        """Parse the admin JSON; ValueError naming the bad field (unknown keys included)."""
        raw_endpoints = data.get("endpoints", {})
        if not isinstance(raw_endpoints, Mapping):
            raise ValueError("endpoints must be an object")
        parsed: dict[str, EndpointFaults] = {}
        for name, config in raw_endpoints.items():
            if name != "*" and name not in endpoints:
                raise ValueError(
                    f"unknown endpoint {name!r}; known: *, {', '.join(sorted(endpoints))}"
                )
            if not isinstance(config, Mapping):
                raise ValueError(f"endpoints.{name} must be an object")
            parsed[name] = _build(EndpointFaults, config, f"endpoints.{name}")
        rest = {k: v for k, v in data.items() if k != "endpoints"}
        faults = _build(cls, rest, "faults")
        faults.endpoints = parsed
        return faults


def _build(kind: type[_Config], values: Mapping[str, object], where: str) -> _Config:
    types = {f.name: f.type for f in fields(kind) if f.name != "endpoints"}
    for key, value in values.items():
        if key not in types:
            raise ValueError(f"{where}: unknown field {key!r}")
        if not _has_type(value, str(types[key])):
            raise ValueError(f"{where}.{key}: expected {types[key]}, got {value!r}")
    try:
        return kind(**values)
    except ValueError as exc:
        raise ValueError(f"{where}: {exc}") from exc


def _has_type(value: object, type_name: str) -> bool:
    if type_name == "bool":
        return isinstance(value, bool)
    if isinstance(value, bool):
        return False
    return isinstance(value, int) if type_name == "int" else isinstance(value, int | float)
