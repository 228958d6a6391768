"""What each API call does to the emulator's state, independent of HTTP.

Every method runs on the event loop. Only :meth:`Backend.verify` awaits (validation traffic), so
it re-checks the certificate's status afterwards: a cancel may have landed meanwhile.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, time, timedelta

from controller.sandbox.zerossl.ca import CertificateAuthority
from controller.sandbox.zerossl.csr import CsrError, load_csr
from controller.sandbox.zerossl.dcv import DomainChecker
from controller.sandbox.zerossl.errors import ApiError
from controller.sandbox.zerossl.faults import Faults
from controller.sandbox.zerossl.issuance import IssuanceDelay, IssuanceQueue
from controller.sandbox.zerossl.model import (
    Account,
    Certificate,
    DcvValues,
    Status,
    ValidationMethod,
)
from controller.sandbox.zerossl.names import admin_emails, authorization_domains, is_ip, is_wildcard
from controller.sandbox.zerossl.ordering import parse_order
from controller.sandbox.zerossl.render import email_status_json, list_json
from controller.sandbox.zerossl.rules import Rules
from controller.sandbox.zerossl.store import Query, Store

REVOCATION_REASONS = {
    r.lower(): r
    for r in (
        "Unspecified",
        "keyCompromise",
        "affiliationChanged",
        "Superseded",
        "cessationOfOperation",
    )
}
CERTIFICATE_TYPES = {
    "single90days": "1",
    "wildcard90days": "2",
    "multidomain90days": "3",
    "single1year": "4",
    "wildcard1year": "5",
    "multidomain1year": "6",
    "acme90days": "7",
}
MAX_LIST_LIMIT = 1000


class StateError(Exception):
    """An admin action that does not fit the certificate's state (not an API answer)."""


class Backend:
    """The API's effects. ``faults`` and ``issuance_delay`` may be replaced at any time."""

    def __init__(
        self,
        store: Store,
        ca: CertificateAuthority,
        *,
        http_check: DomainChecker,
        cname_check: DomainChecker,
        faults: Faults,
        issuance_delay: IssuanceDelay,
        rules: Rules,
        rng: random.Random,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.ca = ca
        self.faults = faults
        self.issuance_delay = issuance_delay
        self.rules = rules
        self.caa_forbidden: set[str] = set()
        self.issuance = IssuanceQueue(self._issue)
        self._checkers: dict[ValidationMethod, DomainChecker] = {
            ValidationMethod.HTTP_CSR_HASH: http_check,
            ValidationMethod.CNAME_CSR_HASH: cname_check,
        }
        self._rng = rng
        self._clock = clock

    # --- API calls -----------------------------------------------------------------------

    def create(self, account: Account, params: Mapping[str, str]) -> Certificate:
        order = parse_order(params, paid=account.paid, rules=self.rules)
        original = self._original(account, order.replacement_for, order.domains[0])
        if account.quota is not None and account.used_quota() >= account.quota:
            raise ApiError(2817, f"{account.used_quota()} of {account.quota} certificates used")
        certificate_id, seq, unique = self.store.new_ids()
        created = self._clock().replace(microsecond=0)
        expires_on = created.date() + timedelta(days=order.validity_days)
        certificate = Certificate(
            id=certificate_id,
            seq=seq,
            account=account,
            domains=order.domains,
            csr=order.csr,
            validity_days=order.validity_days,
            created=created,
            expires=datetime.combine(expires_on, time(), tzinfo=UTC),
            dcv=DcvValues(order.csr.md5, order.csr.sha256, unique),
            replacement_for=order.replacement_for,
        )
        self.store.add(certificate)
        if original is not None:
            original.replaced_by = certificate_id
        return certificate

    async def verify(self, certificate: Certificate, params: Mapping[str, str]) -> Certificate:
        _require_verifiable(certificate)
        method = _validation_method(params)
        if certificate.status is Status.PENDING_VALIDATION and (
            certificate.validation_type is not ValidationMethod.EMAIL
            or certificate.issuance_scheduled
        ):
            return certificate
        _check_method_fits(certificate.domains, method)
        emails = (
            _validation_emails(certificate.domains, params)
            if method is ValidationMethod.EMAIL
            else ()
        )
        self._check_caa(certificate.domains)
        if self.faults.validation_delay:
            await asyncio.sleep(self.faults.validation_delay)
        failures = (
            {} if method is ValidationMethod.EMAIL else await self._failures(certificate, method)
        )
        _require_verifiable(certificate)
        if failures:
            if certificate.status is not Status.DRAFT:
                certificate.account.move(certificate, Status.DRAFT)
            raise ApiError(0, details=failures)
        certificate.validation_type = method
        certificate.validation_emails = emails
        certificate.account.move(certificate, Status.PENDING_VALIDATION)
        if method is ValidationMethod.EMAIL:
            certificate.approved_domains.clear()
            certificate.emails_sent += 1
        else:
            self._schedule(certificate)
        return certificate

    def email_status(self, certificate: Certificate) -> dict[str, object]:
        if certificate.validation_type is not ValidationMethod.EMAIL:
            raise ApiError(2838, "the certificate is not on email validation")
        return email_status_json(certificate)

    def resend_email(self, certificate: Certificate) -> None:
        if not _awaiting_email(certificate):
            raise ApiError(2837, "no verification email is outstanding")
        certificate.emails_sent += 1

    def download(self, certificate: Certificate, *, cross_signed: bool) -> dict[str, str]:
        if certificate.issued is None or certificate.status is not Status.ISSUED:
            if certificate.status in (Status.DRAFT, Status.PENDING_VALIDATION):
                raise ApiError(2832)
            raise ApiError(2860, f"the certificate is {certificate.status}")
        return {
            "certificate.crt": certificate.issued.pem,
            "ca_bundle.crt": self.ca.bundle(cross_signed=cross_signed),
        }

    def cancel(self, certificate: Certificate) -> None:
        if certificate.status is Status.CANCELLED:
            # observed: code 2834 with the type of 2833 (tinkernels/zerossl-ip-cert#16)
            raise ApiError(2834, type_="certificate_cannot_be_cancelled")
        if certificate.status not in (Status.DRAFT, Status.PENDING_VALIDATION):
            raise ApiError(2833, f"the certificate is {certificate.status}")
        certificate.account.move(certificate, Status.CANCELLED)
        self.issuance.discard(certificate.id)

    def revoke(self, certificate: Certificate, reason: str) -> None:
        if reason.strip().lower() not in REVOCATION_REASONS:
            raise ApiError(
                2906, f"unknown reason {reason!r}; one of {sorted(REVOCATION_REASONS.values())}"
            )
        if certificate.status is Status.REVOKED:
            return
        if certificate.status is not Status.ISSUED:
            raise ApiError(2907, f"the certificate is {certificate.status}")
        certificate.account.move(certificate, Status.REVOKED)

    def list(self, account: Account, params: Mapping[str, str]) -> dict[str, object]:
        limit = min(_positive_int(params, "limit", 100), MAX_LIST_LIMIT)
        page = _positive_int(params, "page", 1)
        raw_statuses = _csv(params, "certificate_status")
        if not raw_statuses and self.rules.empty_list_without_status:
            return list_json([], total=0, page_number=page, limit=limit)
        query = Query(
            statuses=[_status(s) for s in raw_statuses if s != "expiring_soon"],
            expiring_soon="expiring_soon" in raw_statuses,
            type_ids=[_certificate_type(t) for t in _csv(params, "certificate_type")],
            search=params.get("search", "").strip(),
        )
        found = self.store.query(account, query, self._clock())
        window = found[(page - 1) * limit : page * limit]
        return list_json(window, total=len(found), page_number=page, limit=limit)

    def validate_csr(self, params: Mapping[str, str]) -> dict[str, object]:
        pem = params.get("csr", "").strip()
        if not pem:
            raise ApiError(2819)
        try:
            csr = load_csr(pem)
        except CsrError as exc:
            return {"valid": False, "error": f"-10 {exc}!; ", "csrResponse": None}
        return {
            "valid": True,
            "error": None,
            "csrResponse": [str(csr.key_bits), f"sigalg={csr.signature_algorithm}"],
        }

    # --- out-of-band actions (admin) -----------------------------------------------------

    def approve_email(self, certificate: Certificate, domain: str | None = None) -> None:
        """Approve one domain's email (all when None); issuance starts once all are approved."""
        if not _awaiting_email(certificate):
            raise StateError(f"{certificate.id} is not waiting for email approval")
        by_name = {d.lower(): d for d in certificate.domains}
        if domain is not None and domain.lower() not in by_name:
            raise StateError(f"{domain!r} is not a domain of {certificate.id}")
        targets = certificate.domains if domain is None else (by_name[domain.lower()],)
        certificate.approved_domains.update(targets)
        if len(certificate.approved_domains) == len(certificate.domains):
            self._schedule(certificate)

    def expire(self, certificate: Certificate) -> None:
        if certificate.status is not Status.ISSUED:
            raise StateError(
                f"only issued certificates expire; {certificate.id} is {certificate.status}"
            )
        certificate.account.move(certificate, Status.EXPIRED)

    # --- internals -----------------------------------------------------------------------

    def _original(self, account: Account, original_id: str, common_name: str) -> Certificate | None:
        if not original_id:
            return None
        try:
            original = self.store.find(account, original_id)
        except ApiError:
            raise ApiError(2816) from None
        if original.status is not Status.ISSUED:
            raise ApiError(2815, f"the original certificate is {original.status}")
        if (
            original.replaced_by
            and self.store.get(original.replaced_by).status is not Status.CANCELLED
        ):
            raise ApiError(2813)
        if original.common_name.lower() != common_name.lower():
            raise ApiError(2842)
        return original

    def _check_caa(self, domains: tuple[str, ...]) -> None:
        blocked = {
            domain: {
                "caa_check_failed": True,
                "info": f"CAA records of {adn} do not allow sectigo.com",
            }
            for domain in domains
            for adn in authorization_domains(domain)
            if adn.lower() in self.caa_forbidden
        }
        if blocked:
            raise ApiError(2840, details=blocked)

    async def _failures(
        self, certificate: Certificate, method: ValidationMethod
    ) -> dict[str, object]:
        checker = self._checkers[method]
        async with asyncio.TaskGroup() as group:
            tasks = {
                d: group.create_task(checker.check(d, certificate.dcv)) for d in certificate.domains
            }
        results = {domain: task.result() for domain, task in tasks.items()}
        if all(result.passed for result in results.values()):
            return {}
        return {domain: result.detail for domain, result in results.items()}

    def _schedule(self, certificate: Certificate) -> None:
        if certificate.issuance_scheduled:
            return
        certificate.issuance_scheduled = True
        delay = self.issuance_delay.sample(self._rng)
        self.issuance.schedule(certificate.id, delay, hold=self.faults.stuck_issuance)

    def _issue(self, certificate_id: str) -> None:
        certificate = self.store.get(certificate_id)
        if certificate.status is not Status.PENDING_VALIDATION:
            return
        issued = self.ca.sign(
            certificate.csr.public_key,
            certificate.domains,
            certificate.validity_days,
            self._clock(),
        )
        certificate.issued = issued
        certificate.expires = issued.not_after
        certificate.account.move(certificate, Status.ISSUED)


def _require_verifiable(certificate: Certificate) -> None:
    if certificate.status not in (Status.DRAFT, Status.PENDING_VALIDATION):
        raise ApiError(2830, f"the certificate is {certificate.status}")


def _awaiting_email(certificate: Certificate) -> bool:
    return (
        certificate.status is Status.PENDING_VALIDATION
        and certificate.validation_type is ValidationMethod.EMAIL
        and not certificate.issuance_scheduled
    )


def _validation_method(params: Mapping[str, str]) -> ValidationMethod:
    raw = params.get("validation_method", "").strip()
    if not raw:
        raise ApiError(2828)
    try:
        method = ValidationMethod(raw.upper())
    except ValueError:
        raise ApiError(2827, f"{raw!r} is not a validation method") from None
    if method is ValidationMethod.HTTPS_CSR_HASH:
        raise ApiError(2827, "HTTPS_CSR_HASH is not emulated; use HTTP_CSR_HASH")
    return method


def _check_method_fits(domains: tuple[str, ...], method: ValidationMethod) -> None:
    if method is not ValidationMethod.HTTP_CSR_HASH and any(is_ip(d) for d in domains):
        raise ApiError(2829, "IP addresses can only be verified by file upload")
    if method is ValidationMethod.HTTP_CSR_HASH and any(is_wildcard(d) for d in domains):
        raise ApiError(2829, "wildcards cannot be verified by file upload")


def _validation_emails(domains: tuple[str, ...], params: Mapping[str, str]) -> tuple[str, ...]:
    raw = params.get("validation_email", "").strip()
    if not raw:
        raise ApiError(2824)
    emails = tuple(e.strip() for e in raw.split(","))
    if len(emails) != len(domains):
        raise ApiError(2825, f"one address per domain: {len(domains)} domains, {len(emails)} given")
    for domain, email in zip(domains, emails, strict=True):
        if email.lower() not in admin_emails(domain):
            raise ApiError(2825, f"{email!r} is not an admin address of {domain}")
    return emails


def _csv(params: Mapping[str, str], name: str) -> list[str]:
    return [part.strip() for part in params.get(name, "").split(",") if part.strip()]


def _positive_int(params: Mapping[str, str], name: str, default: int) -> int:
    raw = params.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < 1:
        raise ApiError(110, f"{name} must be a positive integer, got {raw!r}")
    return int(raw)


def _status(raw: str) -> Status:
    try:
        return Status(raw)
    except ValueError:
        raise ApiError(110, f"unknown certificate_status {raw!r}") from None


def _certificate_type(raw: str) -> str:
    if raw in CERTIFICATE_TYPES.values():
        return raw
    try:
        return CERTIFICATE_TYPES[raw.lower()]
    except KeyError:
        raise ApiError(110, f"unknown certificate_type {raw!r}") from None
