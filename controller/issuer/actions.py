"""Actions the decide functions ask for, and the outcomes the act layer reports back.

Invariants: actions and outcomes are plain data. Every order action runs in the context of the
order being reconciled (its namespace, name, ``spec.issuerRef`` and the API key of that
issuer). An action that talks to ZeroSSL or a solver yields exactly one outcome, which the act
layer passes to ``record_outcome`` (orders) or ``record_check`` (issuers) and folds into the
status before anything else; a failure is reported as :class:`ActionFailed`, never raised past
the act layer. The status decided with an action that :func:`needs_write_ahead` is written
before the action runs. Actions without an outcome (finalizer edits, deletes, flags,
registering with the batch poller) report nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from controller.issuer.api import IssuerRef
from controller.issuer.conditions import IssuerReason
from controller.issuer.errors import Intent
from controller.issuer.orders import CnameRecord, HttpRecord
from controller.issuer.spec import Method
from controller.zerossl.errors import ZeroSSLError
from controller.zerossl.models import Certificate, ValidationMethod

# --- CertificateRequest controller -------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EnsureOrder:
    """Create this ZeroSSLOrder object; AlreadyExists counts as done (the order watch goes on)."""

    manifest: Mapping[str, Any]


# --- issuer controller -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CheckAPIKey:
    """Make the cheap authenticated ZeroSSL call with the key read from this Secret.

    The call is ``GET /certificates?certificate_status=issued&limit=1`` with the body inspected
    (ZeroSSL answers a bad key with HTTP 200). Report the ZeroSSLError, or None on success,
    to ``record_check`` together with this action: ``generation`` and ``secret_version`` say
    which spec and Secret the result is about.
    """

    secret_namespace: str
    secret_name: str
    secret_key: str
    generation: int
    secret_version: str


# --- order controller: Kubernetes --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AddFinalizer:
    """Add ``ORDER_FINALIZER`` to the order (an update of metadata, before any ZeroSSL call)."""


@dataclass(frozen=True, slots=True)
class RemoveFinalizer:
    """Remove ``ORDER_FINALIZER``: everything it guarded is cancelled and cleaned up."""


@dataclass(frozen=True, slots=True)
class DeleteOrder:
    """Delete the order: its CertificateRequest is gone (garbage collection's job, done now).

    Only decided when the act layer reported the request missing from a synced cache.
    """

    reason: str


@dataclass(frozen=True, slots=True)
class FlagIssuer:
    """Tell the issuer controller its account failed a call; it re-checks the issuer."""

    issuer: IssuerRef
    reason: IssuerReason
    message: str


# --- order controller: ZeroSSL -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AdoptOrCreate:
    """Obtain the order's ZeroSSL certificate: adopt a lost draft, else create one.

    With ``search_first`` list unfinished certificates (``draft,pending_validation``, searched
    by the common name ``domains[0]``, or one listing of the account shared with concurrent
    searches: ``DraftSearches``) and adopt the one whose validation data carries
    ``csr_md5`` (``CsrHashes.matches``); only if none matches and ``allow_create``, create
    (``strict_domains``, ``validity_days``). Report :class:`CertificateObtained`, or
    :class:`NoDraftFound` when nothing matched and creating was not allowed.

    The status written before this action (the create-attempt marker) is what makes
    ``search_first`` safe to skip on a first attempt: the act layer must reconcile orders
    from a cache at least as new as its own last write (use the object its write returned).
    """

    domains: tuple[str, ...]
    csr_pem: str
    csr_md5: str
    csr_sha256: str
    validity_days: int
    strict_domains: bool
    search_first: bool
    allow_create: bool = True


@dataclass(frozen=True, slots=True)
class Verify:
    """``POST /certificates/{id}/challenges`` with the method (and one email per domain).

    Report :class:`Verified` with the returned certificate, or :class:`ActionFailed`.
    """

    certificate_id: str
    method: ValidationMethod
    emails: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AwaitIssuance:
    """Have the batch poller watch this certificate (no GET per order); it re-enqueues the
    order with the certificate it lists once the status changes. Reports nothing."""

    certificate_id: str


@dataclass(frozen=True, slots=True)
class ResendEmail:
    """Ask ZeroSSL to send the approval email again; ``token`` is the annotation value being
    honoured. Report :class:`EmailResent`."""

    certificate_id: str
    token: str


@dataclass(frozen=True, slots=True)
class Download:
    """``GET /certificates/{id}/download/return``; report :class:`Downloaded` (leaf first)."""

    certificate_id: str


@dataclass(frozen=True, slots=True)
class CancelAtZeroSSL:
    """``POST /certificates/{id}/cancel`` (frees the quota of an unfinished certificate).

    Report :class:`CancelledAtZeroSSL`; "cannot be cancelled" (it is no longer unfinished)
    counts as cancelled.
    """

    certificate_id: str
    reason: str


# --- order controller: solvers -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Present:
    """Publish one domain's validation (HTTP routing for the file, or the CNAME record).

    ``config`` is the solver's method body copied into the order; secrets it references are
    read from the issuer's Secret namespace. Report :class:`Presented`.
    """

    domain: str
    method: Method
    solver_index: int
    config: Mapping[str, Any]
    http: HttpRecord | None = None
    cname: CnameRecord | None = None


@dataclass(frozen=True, slots=True)
class WaitPropagation:
    """Check once whether the CNAME is visible in DNS; report :class:`Propagated`."""

    domain: str
    cname: CnameRecord
    config: Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Cleanup:
    """Remove what :class:`Present` published for one domain; report :class:`CleanedUp`."""

    domain: str
    method: Method
    solver_index: int
    config: Mapping[str, Any]
    http: HttpRecord | None = None
    cname: CnameRecord | None = None


OrderAction: TypeAlias = (
    AddFinalizer
    | RemoveFinalizer
    | DeleteOrder
    | FlagIssuer
    | AdoptOrCreate
    | Verify
    | AwaitIssuance
    | ResendEmail
    | Download
    | CancelAtZeroSSL
    | Present
    | WaitPropagation
    | Cleanup
)

METADATA_ACTIONS = (AddFinalizer, RemoveFinalizer, DeleteOrder)
"""Actions that write the order object itself: the status is written before them."""


def needs_write_ahead(action: OrderAction) -> bool:
    """True when the status decided with ``action`` must be written before it runs: the
    validation records marked ``presented`` (cleanup finds what may have been published, and
    every replica's solver serves the files before ZeroSSL is asked to fetch them). A create
    needs none: only a fresh order is created without a search (see decide_order)."""
    return isinstance(action, Present)


# --- order outcomes ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CertificateObtained:
    certificate: Certificate
    adopted: bool


@dataclass(frozen=True, slots=True)
class NoDraftFound:
    pass


@dataclass(frozen=True, slots=True)
class Presented:
    domain: str


@dataclass(frozen=True, slots=True)
class Propagated:
    domain: str
    visible: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class Verified:
    certificate: Certificate


@dataclass(frozen=True, slots=True)
class EmailResent:
    token: str


@dataclass(frozen=True, slots=True)
class Downloaded:
    chain_pem: str


@dataclass(frozen=True, slots=True)
class CancelledAtZeroSSL:
    pass


@dataclass(frozen=True, slots=True)
class CleanedUp:
    domain: str


@dataclass(frozen=True, slots=True)
class ActionFailed:
    """The action failed; ``error`` is what ZeroSSL said, or an intent the act layer chose
    (a solver's fault: PendingError if transient, IssuerError for bad provider credentials)."""

    action: OrderAction
    error: ZeroSSLError | Intent


Outcome: TypeAlias = (
    CertificateObtained
    | NoDraftFound
    | Presented
    | Propagated
    | Verified
    | EmailResent
    | Downloaded
    | CancelledAtZeroSSL
    | CleanedUp
    | ActionFailed
)
