"""decide_issuer and record_check: the issuer health check, as pure functions.

decide_issuer, in order (each an early return):
 1. being deleted -> nothing.
 2. spec invalid -> Ready=False/InvalidSpec until the spec changes.
 3. API key Secret missing, key missing, key empty or not a key -> Ready=False with
    SecretNotFound, SecretKeyMissing or InvalidAPIKey (the Secret watch wakes us).
 3b. a Secret a solver reads (DNS credentials) missing, or without its key (or empty) ->
    Ready=False with SolverSecretNotFound or SolverSecretKeyMissing: no request is sent to
    ZeroSSL that could never be validated. Once they are back, a check is due.
 4. signing reported the quota used up -> Ready=False/QuotaExhausted until a jittered retry
    time, then a re-check reopens it (never a retry storm: creates wait on Ready).
 5. a check is due -> CheckAPIKey: the spec generation or the Secret's resourceVersion changed
    since the last check, signing flagged an account error after it, the quota retry time or
    the (jittered) periodic check time came.
 6. otherwise -> requeue at the next due time.

record_check turns the check's answer into the status: Ready=True/Checked, or the reason of
the account error (InvalidAPIKey, InactiveAccount, AccountRestricted, QuotaExhausted), or
ZeroSSLUnavailable with a backoff when ZeroSSL did not answer (a Ready issuer tolerates one
such miss before turning not-Ready). Every status written carries observedGeneration.
"""

from __future__ import annotations

import base64
import binascii
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from controller.clock import rfc3339
from controller.config import Settings
from controller.issuer.actions import CheckAPIKey
from controller.issuer.api import secret_namespace
from controller.issuer.conditions import READY, IssuerReason, Status, condition, replace
from controller.issuer.decision import Decision, Event, EventType, requeue_in
from controller.issuer.errors import IssuerError, PendingError, intent_for
from controller.issuer.issuers import AccountState, Issuer, IssuerStatus
from controller.issuer.jsonfields import as_dict
from controller.issuer.spec import SolverSecret
from controller.issuer.timing import after, backoff, wait_until
from controller.zerossl.errors import ZeroSSLError

IssuerDecision = Decision[CheckAPIKey]
Random = Callable[[], float]
NOTHING: IssuerDecision = Decision()
_KEY_CHARACTERS = frozenset(string.ascii_letters + string.digits + string.punctuation)


@dataclass(frozen=True, slots=True)
class IssuerPolicy:
    """Timings of the issuer check (seconds); ``jitter`` is the +/- fraction applied to each."""

    check_interval: float = 300.0
    jitter: float = 0.1
    unavailable_backoff: float = 30.0
    unavailable_backoff_cap: float = 300.0
    unavailable_tolerance: int = 1  # misses a Ready issuer absorbs before turning not-Ready
    quota_retry: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> IssuerPolicy:
        return cls(check_interval=settings.issuer_check_interval, quota_retry=settings.quota_retry)

    def jittered(self, seconds: float, rand: Random) -> float:
        return seconds * (1 + self.jitter * (2 * rand() - 1))


DEFAULT_POLICY = IssuerPolicy()


class KeyState(StrEnum):
    SECRET_MISSING = "SecretMissing"  # noqa: S105 (a state, not a secret)
    KEY_MISSING = "KeyMissing"
    EMPTY = "Empty"
    MALFORMED = "Malformed"
    PRESENT = "Present"


@dataclass(frozen=True, slots=True)
class ApiKey:
    """The API key as read from its Secret; ``value`` never shows in repr."""

    state: KeyState
    secret_version: str = ""
    value: str = field(default="", repr=False)


def read_api_key(secret: Mapping[str, Any] | None, key: str) -> ApiKey:
    """The key ``key`` of a Secret object (``data`` is base64; surrounding whitespace dropped).

    A key is printable ASCII without spaces; anything else is MALFORMED, never sent to ZeroSSL.
    """
    if secret is None:
        return ApiKey(KeyState.SECRET_MISSING)
    version = str(as_dict(secret.get("metadata")).get("resourceVersion") or "")
    data = as_dict(secret.get("data"))
    if key not in data:
        return ApiKey(KeyState.KEY_MISSING, version)
    try:
        value = base64.b64decode(str(data[key]), validate=True).decode("ascii").strip()
    except (binascii.Error, UnicodeDecodeError):
        return ApiKey(KeyState.MALFORMED, version)
    if not value:
        return ApiKey(KeyState.EMPTY, version)
    if not set(value) <= _KEY_CHARACTERS:
        return ApiKey(KeyState.MALFORMED, version)
    return ApiKey(KeyState.PRESENT, version, value)


def solver_secret_state(secret: Mapping[str, Any] | None, key: str) -> KeyState:
    """SECRET_MISSING, KEY_MISSING, EMPTY or PRESENT for a solver's Secret key (never
    MALFORMED: its value is the solver's to judge, a TSIG key and a token look nothing alike)."""
    if secret is None:
        return KeyState.SECRET_MISSING
    data = as_dict(secret.get("data"))
    if key not in data:
        return KeyState.KEY_MISSING
    return KeyState.PRESENT if str(data[key]).strip() else KeyState.EMPTY


SOLVER_SECRET_REASONS = (
    IssuerReason.SOLVER_SECRET_NOT_FOUND,
    IssuerReason.SOLVER_SECRET_KEY_MISSING,
)


_SOLVER_SECRET_PROBLEMS = {
    KeyState.SECRET_MISSING: (IssuerReason.SOLVER_SECRET_NOT_FOUND, "not found"),
    KeyState.KEY_MISSING: (IssuerReason.SOLVER_SECRET_KEY_MISSING, "has no key {key!r}"),
    KeyState.EMPTY: (IssuerReason.SOLVER_SECRET_KEY_MISSING, "key {key!r} is empty"),
}


def _solver_secret_problem(
    states: Mapping[SolverSecret, KeyState], namespace: str
) -> tuple[IssuerReason, str] | None:
    """The first solver Secret that cannot be read, in spec order."""
    for secret, state in states.items():
        if (problem := _SOLVER_SECRET_PROBLEMS.get(state)) is not None:
            reason, what = problem
            where = f"{secret.field}: Secret {namespace}/{secret.ref.name}"
            return reason, f"{where} {what.format(key=secret.ref.key)}"
    return None


@dataclass(frozen=True, slots=True)
class IssuerFlag:
    """An account error signing ran into (FlagIssuer), and when."""

    reason: IssuerReason
    message: str
    time: datetime


def _with_ready(
    issuer: Issuer, status: IssuerStatus, reason: IssuerReason, message: str, now: datetime
) -> tuple[IssuerStatus, tuple[Event, ...]]:
    """Ready set for the current generation; an Event when the reason changes."""
    previous = status.ready
    ready = Status.TRUE if reason is IssuerReason.CHECKED else Status.FALSE
    new = condition(
        READY, ready, reason, message, now, previous=previous, observed_generation=issuer.generation
    )
    events: tuple[Event, ...] = ()
    if previous is None or previous.get("reason") != reason:
        kind = EventType.NORMAL if ready is Status.TRUE else EventType.WARNING
        events = (Event(kind, str(reason), message),)
    return status.replace(conditions=tuple(replace(status.conditions, new))), events


def _decision(
    issuer: Issuer,
    status: IssuerStatus,
    events: tuple[Event, ...] = (),
    requeue_after: float | None = None,
) -> IssuerDecision:
    """The status only if it changed; the requeue at least MIN_REQUEUE."""
    return Decision(
        status.to_dict() if status != issuer.status else None,
        events,
        (),
        requeue_in(requeue_after) if requeue_after is not None else None,
    )


def _set_ready(
    issuer: Issuer,
    status: IssuerStatus,
    reason: IssuerReason,
    message: str,
    *,
    now: datetime,
    requeue_after: float | None = None,
) -> IssuerDecision:
    status, events = _with_ready(issuer, status, reason, message, now)
    return _decision(issuer, status, events, requeue_after)


def _key_problem(key: ApiKey, where: str) -> tuple[IssuerReason, str] | None:
    match key.state:
        case KeyState.SECRET_MISSING:
            return IssuerReason.SECRET_NOT_FOUND, f"Secret {where} not found"
        case KeyState.KEY_MISSING:
            return IssuerReason.SECRET_KEY_MISSING, f"Secret {where} has no such key"
        case KeyState.EMPTY:
            return IssuerReason.INVALID_API_KEY, f"the API key in Secret {where} is empty"
        case KeyState.MALFORMED:
            return (
                IssuerReason.INVALID_API_KEY,
                f"Secret {where} does not hold an API key (printable characters, no spaces)",
            )
        case KeyState.PRESENT:
            return None


def decide_issuer(
    issuer: Issuer,
    key: ApiKey,
    flag: IssuerFlag | None,
    now: datetime,
    *,
    cluster_resource_namespace: str,
    rand: Random,
    policy: IssuerPolicy = DEFAULT_POLICY,
    solver_secrets: Mapping[SolverSecret, KeyState] | None = None,
) -> IssuerDecision:
    """What to do about ``issuer`` given its API key as read, the state of each Secret its
    solvers read (``spec.solver_secrets()``; None: not read) and any flag from signing."""
    if issuer.deleting:
        return NOTHING
    spec = issuer.spec
    status = issuer.status
    if spec is None:
        message = f"the spec is invalid: {issuer.spec_error}"
        return _set_ready(issuer, status, IssuerReason.INVALID_SPEC, message, now=now)
    namespace = secret_namespace(issuer.ref, cluster_resource_namespace)
    where = f"{namespace}/{spec.api_key.name} (key {spec.api_key.key!r})"
    problem = _key_problem(key, where)
    if problem is not None:
        status = status.replace(checked_secret_version=key.secret_version or None)
        return _set_ready(issuer, status, *problem, now=now)
    problem = _solver_secret_problem(solver_secrets or {}, namespace)
    if problem is not None:
        return _set_ready(issuer, status, *problem, now=now)
    account = status.account
    quota_flag = flag is not None and flag.reason is IssuerReason.QUOTA_EXHAUSTED
    if flag is not None and quota_flag:
        since = account.quota_exhausted_time
        # The status keeps whole seconds: compare at that precision, or a flag raised within
        # a second of the one recorded would look newer at every reconcile.
        if since is None or flag.time.replace(microsecond=0) > since:
            return _quota_exhausted(
                issuer, status, flag.message, since=flag.time, now=now, rand=rand, policy=policy
            )
    flagged = (
        flag is not None
        and not quota_flag
        and (status.last_check_time is None or flag.time > status.last_check_time)
    )
    next_check = status.next_check_time
    due = (
        not issuer.ready_is_current
        or status.checked_secret_version != key.secret_version
        or flagged
        or (status.ready or {}).get("reason") in SOLVER_SECRET_REASONS
        or (account.quota_exhausted and not account.quota_blocks(now))
    )
    if due or next_check is None or now >= next_check:
        check = CheckAPIKey(
            namespace, spec.api_key.name, spec.api_key.key, issuer.generation, key.secret_version
        )
        return Decision(actions=(check,))
    wake = next_check
    if account.quota_blocks(now) and account.quota_retry_time is not None:
        wake = min(wake, account.quota_retry_time)
    return Decision(requeue_after=wait_until(wake, now))


def _quota_exhausted(
    issuer: Issuer,
    status: IssuerStatus,
    message: str,
    *,
    since: datetime,
    now: datetime,
    rand: Random,
    policy: IssuerPolicy,
) -> IssuerDecision:
    """Ready=False/QuotaExhausted until a jittered retry time, when a re-check reopens it."""
    retry = after(now, policy.jittered(policy.quota_retry, rand))
    status = status.replace(account=AccountState(True, since, retry, message))
    text = f"the ZeroSSL certificate quota is used up; no new certificates before {rfc3339(retry)}"
    reason, full = IssuerReason.QUOTA_EXHAUSTED, f"{text}: {message}"
    return _set_ready(issuer, status, reason, full, now=now, requeue_after=wait_until(retry, now))


def record_check(
    issuer: Issuer,
    check: CheckAPIKey,
    error: ZeroSSLError | None,
    now: datetime,
    *,
    rand: Random,
    policy: IssuerPolicy = DEFAULT_POLICY,
) -> IssuerDecision:
    """The status after ``check`` answered (``error`` None: the key works)."""
    if issuer.deleting or check.generation != issuer.generation:
        return NOTHING  # the spec moved on while checking; the next reconcile checks again
    interval = policy.jittered(policy.check_interval, rand)
    checked = issuer.status.replace(
        last_check_time=now,
        checked_secret_version=check.secret_version,
        next_check_time=after(now, interval),
        check_failures=0,
    )
    if error is None:
        account = checked.account
        if account.quota_blocks(now) and account.quota_retry_time is not None:
            return _decision(
                issuer, checked, requeue_after=wait_until(account.quota_retry_time, now)
            )
        checked = checked.replace(account=AccountState())
        message = "the API key works"
        return _set_ready(
            issuer, checked, IssuerReason.CHECKED, message, now=now, requeue_after=interval
        )
    intent = intent_for(error)
    if isinstance(intent, IssuerError):
        if intent.reason is IssuerReason.QUOTA_EXHAUSTED:
            return _quota_exhausted(
                issuer, checked, intent.message, since=now, now=now, rand=rand, policy=policy
            )
        return _set_ready(
            issuer, checked, intent.reason, intent.message, now=now, requeue_after=interval
        )
    failures = issuer.status.check_failures + 1
    if not isinstance(intent, PendingError):  # ZeroSSL refused the check call itself
        failed = checked.replace(check_failures=failures)
        reason = IssuerReason.CHECK_FAILED
        return _set_ready(issuer, failed, reason, intent.message, now=now, requeue_after=interval)
    base = backoff(failures, policy.unavailable_backoff, policy.unavailable_backoff_cap)
    wait = policy.jittered(intent.requeue_after or base, rand)
    failed = checked.replace(check_failures=failures, next_check_time=after(now, wait))
    if issuer.ready and failures <= policy.unavailable_tolerance:
        return _decision(issuer, failed, requeue_after=wait)
    reason = IssuerReason.ZEROSSL_UNAVAILABLE
    return _set_ready(issuer, failed, reason, intent.message, now=now, requeue_after=wait)
