"""A ZeroSSLIssuer or ZeroSSLClusterIssuer as the reconcilers read it, and its status.

Invariants: :meth:`Issuer.from_object` raises only for an object of another kind; an invalid
spec is kept as ``spec_error`` (the issuer check reports it). ``ready`` means what issuer-lib's
circuit breaker means: a Ready=True condition observed at the current generation.
:meth:`IssuerStatus.to_dict` writes the complete status (``from_dict(to_dict(s)) == s``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from controller.issuer.api import IssuerKind, IssuerRef
from controller.issuer.conditions import READY, IssuerReason, Status, find
from controller.issuer.jsonfields import as_dict, parse_time, put_time
from controller.issuer.spec import IssuerSpec, SpecError, parse_issuer_spec


@dataclass(frozen=True, slots=True)
class AccountState:
    """What signing learned about the ZeroSSL account (the quota, for now)."""

    quota_exhausted: bool = False
    quota_exhausted_time: datetime | None = None
    quota_retry_time: datetime | None = None
    message: str = ""

    def quota_blocks(self, now: datetime) -> bool:
        """True while new certificates must not be created."""
        return self.quota_exhausted and (
            self.quota_retry_time is None or now < self.quota_retry_time
        )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AccountState:
        return cls(
            quota_exhausted=data.get("quotaExhausted") is True,
            quota_exhausted_time=parse_time(data.get("quotaExhaustedTime")),
            quota_retry_time=parse_time(data.get("quotaRetryTime")),
            message=str(data.get("message") or ""),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"quotaExhausted": self.quota_exhausted}
        put_time(out, "quotaExhaustedTime", self.quota_exhausted_time)
        put_time(out, "quotaRetryTime", self.quota_retry_time)
        if self.message:
            out["message"] = self.message
        return out


@dataclass(frozen=True, slots=True)
class IssuerStatus:
    conditions: tuple[Mapping[str, Any], ...] = ()
    last_check_time: datetime | None = None
    next_check_time: datetime | None = None
    checked_secret_version: str | None = None
    check_failures: int = 0
    account: AccountState = field(default_factory=AccountState)

    @property
    def ready(self) -> Mapping[str, Any] | None:
        return find(self.conditions, READY)

    def replace(self, **changes: Any) -> IssuerStatus:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> IssuerStatus:
        failures = data.get("checkFailures")
        return cls(
            conditions=tuple(c for c in data.get("conditions") or () if isinstance(c, dict)),
            last_check_time=parse_time(data.get("lastCheckTime")),
            next_check_time=parse_time(data.get("nextCheckTime")),
            checked_secret_version=data.get("checkedSecretVersion") or None,
            check_failures=failures if isinstance(failures, int) and failures > 0 else 0,
            account=AccountState.from_dict(as_dict(data.get("account"))),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"conditions": [dict(c) for c in self.conditions]}
        put_time(out, "lastCheckTime", self.last_check_time)
        put_time(out, "nextCheckTime", self.next_check_time)
        if self.checked_secret_version:
            out["checkedSecretVersion"] = self.checked_secret_version
        out["checkFailures"] = self.check_failures
        out["account"] = self.account.to_dict()
        return out


@dataclass(frozen=True, slots=True)
class Issuer:
    ref: IssuerRef
    generation: int
    spec: IssuerSpec | None
    spec_error: str | None = None
    status: IssuerStatus = field(default_factory=IssuerStatus)
    deleting: bool = False

    @classmethod
    def from_object(cls, obj: Mapping[str, Any]) -> Issuer:
        meta = as_dict(obj.get("metadata"))
        kind = IssuerKind(str(obj.get("kind")))
        namespace = str(meta.get("namespace") or "") if kind.namespaced else None
        spec: IssuerSpec | None = None
        error: str | None = None
        try:
            spec = parse_issuer_spec(obj.get("spec"))
        except SpecError as exc:
            error = str(exc)
        generation = meta.get("generation")
        return cls(
            ref=IssuerRef(kind, str(meta.get("name") or ""), namespace),
            generation=generation if isinstance(generation, int) else 0,
            spec=spec,
            spec_error=error,
            status=IssuerStatus.from_dict(as_dict(obj.get("status"))),
            deleting=bool(meta.get("deletionTimestamp")),
        )

    @property
    def ready_is_current(self) -> bool:
        """The Ready condition was written for the current generation."""
        ready = self.status.ready
        observed = ready.get("observedGeneration") if ready else None
        return isinstance(observed, int) and observed >= self.generation

    @property
    def ready(self) -> bool:
        """issuer-lib's circuit breaker: Ready=True, observed at the current generation."""
        ready = self.status.ready
        return ready is not None and ready.get("status") == Status.TRUE and self.ready_is_current

    @property
    def usable(self) -> bool:
        """ZeroSSL calls other than create may go ahead (Ready, or only the quota is used up)."""
        ready = self.status.ready
        quota_only = ready is not None and ready.get("reason") == IssuerReason.QUOTA_EXHAUSTED
        return self.ready or (quota_only and self.ready_is_current)
