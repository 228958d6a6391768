"""The order actions that talk to ZeroSSL: obtaining a certificate (adopting a lost draft or
creating one), verify, resending the email, download, cancel, and handing a certificate to the
batch poller.

Invariants:
- ZeroSSL errors and unusable API keys become :class:`ActionFailed` outcomes, never exceptions.
- Per CSR one order at a time searches, adopts or creates; what it obtains is claimed before
  that ends, and a search passes over certificates other orders own (CertificateOwners). An
  order is fresh no more from the moment its create may be sent (FreshOrders), and the term's
  searches learn which orders it sent a create for (DraftSearches).
- A verify over HTTP is asked only once this replica's cache holds the status last written
  (bounded wait): the solver server answers ZeroSSL's fetch of the file from that cache.
- "Not eligible" (2830) from verify after a lost answer or a failover means an earlier verify
  took effect: the certificate is read once and the order carries on from where ZeroSSL is.
"""

from __future__ import annotations

import logging
from typing import assert_never

from controller.clock import Clock
from controller.issuer.accounts import ZeroSSLAccounts
from controller.issuer.actions import (
    ActionFailed,
    AdoptOrCreate,
    AwaitIssuance,
    CancelAtZeroSSL,
    CancelledAtZeroSSL,
    CertificateObtained,
    Download,
    Downloaded,
    EmailResent,
    NoDraftFound,
    Outcome,
    ResendEmail,
    Verified,
    Verify,
)
from controller.issuer.conditions import IssuerReason
from controller.issuer.controllers.caches import Caches
from controller.issuer.controllers.drafts import DraftSearches
from controller.issuer.controllers.fresh import FreshOrders
from controller.issuer.controllers.order_loop import OrderRun
from controller.issuer.controllers.owners import CertificateOwners
from controller.issuer.controllers.poller import IssuancePoller
from controller.issuer.controllers.writes import caught_up
from controller.issuer.errors import IssuerError, PendingError
from controller.observability import metrics
from controller.zerossl.client import ZeroSSLClient
from controller.zerossl.csrhashes import CsrHashes
from controller.zerossl.errors import ZeroSSLError
from controller.zerossl.models import CertificateStatus, ValidationMethod

log = logging.getLogger(__name__)

NOT_ELIGIBLE = "certificate_not_eligible"  # ZeroSSL 2830: e.g. verify of a non-draft
SERVED_METHODS = (ValidationMethod.HTTP_CSR_HASH, ValidationMethod.HTTPS_CSR_HASH)
CACHE_WAIT = 2.0  # seconds a verify waits for the cache to hold the files it will serve

ZeroSSLAction = AdoptOrCreate | Verify | ResendEmail | Download | CancelAtZeroSSL


class ZeroSSLActs:
    """One per leadership term, with the term's fresh orders, searches and claims."""

    def __init__(
        self,
        caches: Caches,
        *,
        accounts: ZeroSSLAccounts,
        poller: IssuancePoller,
        fresh: FreshOrders,
        drafts: DraftSearches,
        owners: CertificateOwners,
        clock: Clock,
    ) -> None:
        self._caches = caches
        self._accounts = accounts
        self._poller = poller
        self._fresh = fresh
        self._drafts = drafts
        self._owners = owners
        self._clock = clock

    async def await_issuance(self, run: OrderRun, action: AwaitIssuance) -> ActionFailed | None:
        """Hands the certificate to the batch poller, with the client of the order's issuer."""
        try:
            client = await self._client(run)
        except (IssuerError, PendingError) as error:
            return ActionFailed(action, error)
        self._poller.watch(client, action.certificate_id, run.key)
        return None

    async def call(self, run: OrderRun, action: ZeroSSLAction) -> Outcome:
        if isinstance(action, Download) and (chain := self._poller.bundle(action.certificate_id)):
            return Downloaded(chain)
        if isinstance(action, Verify) and action.method in SERVED_METHODS:
            await self._cache_holds(run)
        try:
            client = await self._client(run)
            match action:
                case AdoptOrCreate():
                    self._fresh.forget(run.key)  # from here on, a certificate may exist
                    async with self._owners.obtaining(action.csr_md5):
                        return await self._adopt_or_create(client, action, run.key)
                case Verify():
                    return await _verify(client, action)
                case ResendEmail(cert_id, token):
                    await client.resend_verification_email(cert_id)
                    return EmailResent(token)
                case Download(cert_id):
                    return Downloaded((await client.download(cert_id)).chain_pem())
                case CancelAtZeroSSL(cert_id, reason):
                    await client.cancel(cert_id)
                    log.info(
                        "order %s: cancelled ZeroSSL certificate %s: %s", run.key, cert_id, reason
                    )
                    metrics.certificate_cancels.labels(outcome="cancelled").inc()
                    return CancelledAtZeroSSL()
                case _:
                    assert_never(action)
        except (ZeroSSLError, IssuerError, PendingError) as error:
            return ActionFailed(action, error)

    async def _client(self, run: OrderRun) -> ZeroSSLClient:
        """The issuer's ZeroSSL client; IssuerError if its key cannot be used. An order being
        deleted whose issuer or Secret is gone (its namespace is being deleted) uses the client
        last used for that issuer, if this process knows one, to cancel its certificate."""
        ref = run.order.issuer_ref
        try:
            issuer = self._caches.issuer(ref) if ref is not None else None
            if ref is None or issuer is None:
                raise PendingError(f"the order's issuer {ref} does not exist")
            if issuer.spec is None:
                raise IssuerError(IssuerReason.INVALID_SPEC, issuer.spec_error or "invalid spec")
            return await self._accounts.client(ref, issuer.spec)
        except (IssuerError, PendingError):
            known = self._accounts.last_client(ref) if ref is not None else None
            if known is None or not run.order.deleting:
                raise
            return known

    async def _adopt_or_create(
        self, client: ZeroSSLClient, action: AdoptOrCreate, order_key: str
    ) -> Outcome:
        """Adopt the unfinished certificate created from this CSR that no other order owns
        (searching for it when asked, coalesced with the account's other searches), else
        create one if allowed; what is obtained is claimed before the CSR's lock is left."""
        if action.search_first:
            hashes = CsrHashes(action.csr_md5, action.csr_sha256)
            found = await self._drafts.find(
                client,
                action.domains[0],
                hashes,
                order_key,
                lambda certificate: not self._owners.foreign(certificate.id, order_key),
            )
            if found is not None:
                self._owners.claim(found.id, order_key)
                return CertificateObtained(found, adopted=True)
        if not action.allow_create:
            return NoDraftFound()
        self._drafts.attempting(order_key)  # from here on, this term may have made its draft
        created = await client.create_certificate(
            action.domains,
            action.csr_pem,
            validity_days=action.validity_days,
            strict_domains=action.strict_domains,
        )
        self._owners.claim(created.id, order_key)
        return CertificateObtained(created, adopted=False)

    async def _cache_holds(self, run: OrderRun) -> None:
        """Waits until this replica's cache holds the last status written: the solver server
        answers ZeroSSL's fetch of a validation file from that cache."""
        version = str(run.obj["metadata"].get("resourceVersion") or "")
        store = self._caches.orders.store
        if not await caught_up(store, run.key, version, self._clock, timeout=CACHE_WAIT):
            log.info("order %s: the cache lags its last write; asking ZeroSSL anyway", run.key)


async def _verify(client: ZeroSSLClient, action: Verify) -> Outcome:
    """Verify; "not eligible" after a lost answer or a failover means an earlier verify of
    this certificate took effect: read it once and carry on from where ZeroSSL is."""
    try:
        return Verified(
            await client.verify_domains(action.certificate_id, action.method, emails=action.emails)
        )
    except ZeroSSLError as error:
        if error.type != NOT_ELIGIBLE:
            raise
        current = await client.get_certificate(action.certificate_id)
        if current.status in (CertificateStatus.PENDING_VALIDATION, CertificateStatus.ISSUED):
            return Verified(current)
        raise
