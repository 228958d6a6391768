"""Accounts and certificates by id, with the list endpoint's query."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from controller.sandbox.zerossl.errors import ApiError
from controller.sandbox.zerossl.model import Account, Certificate, Status, account_hash

EXPIRING_SOON = timedelta(days=30)
EXACT_SEARCH_ABOVE = 1000
"""Accounts holding more certificates than this search by exact CN only (documented limit)."""


@dataclass(frozen=True, slots=True)
class Query:
    """A list request: statuses (plus ``expiring_soon``), type ids and a search string; empty
    collections mean "any"."""

    statuses: Collection[Status] = ()
    expiring_soon: bool = False
    type_ids: Collection[str] = ()
    search: str = ""


class Store:
    """All state; every method runs on the event loop, so no locking."""

    def __init__(self) -> None:
        self._accounts: dict[str, Account] = {}
        self._certificates: dict[str, Certificate] = {}
        self._unique_values: set[str] = set()
        self._seq = 0

    def upsert_account(
        self, access_key: str, *, quota: int | None, paid: bool, active: bool
    ) -> Account:
        """Create the account or change its plan and state (its certificates stay)."""
        account = self._accounts.get(access_key)
        if account is None:
            account = Account(account_hash(access_key), quota, paid, active)
            self._accounts[access_key] = account
        else:
            account.quota, account.paid, account.active = quota, paid, active
        return account

    def account(self, access_key: str) -> Account | None:
        return self._accounts.get(access_key)

    def new_ids(self) -> tuple[str, int, str]:
        """A fresh certificate id, sequence number and never-used ``uniqueValue``."""
        unique = secrets.token_hex(8)[:15]
        while unique in self._unique_values:
            unique = secrets.token_hex(8)[:15]
        self._unique_values.add(unique)
        self._seq += 1
        return uuid.uuid4().hex, self._seq, unique

    def add(self, certificate: Certificate) -> None:
        self._certificates[certificate.id] = certificate
        certificate.account.add(certificate)

    def get(self, certificate_id: str) -> Certificate:
        """Any account's certificate (admin use); 2803 when unknown."""
        certificate = self._certificates.get(certificate_id)
        if certificate is None:
            raise ApiError(2803)
        return certificate

    def find(self, account: Account, certificate_id: str) -> Certificate:
        """The account's certificate; another account's id is as unknown as a made-up one."""
        certificate = self._certificates.get(certificate_id)
        if certificate is None or certificate.account is not account:
            raise ApiError(2803)
        return certificate

    def __iter__(self) -> Iterator[Certificate]:
        return iter(self._certificates.values())

    def query(self, account: Account, query: Query, now: datetime) -> list[Certificate]:
        """Matching certificates, newest first."""
        statuses = set(query.statuses)
        if query.expiring_soon:
            statuses.add(Status.ISSUED)
        buckets = [account.buckets[s] for s in (statuses or Status)]
        found = [
            c for bucket in buckets for c in bucket.values() if _matches(c, query, account, now)
        ]
        found.sort(key=lambda c: c.seq, reverse=True)
        return found


def _matches(certificate: Certificate, query: Query, account: Account, now: datetime) -> bool:
    if query.expiring_soon and certificate.status is Status.ISSUED:
        explicitly_issued = Status.ISSUED in query.statuses
        if not explicitly_issued and certificate.expires - now > EXPIRING_SOON:
            return False
    if query.type_ids and certificate.type_id not in query.type_ids:
        return False
    if not query.search:
        return True
    needle = query.search.lower()
    if account.total() > EXACT_SEARCH_ABOVE:
        return certificate.common_name.lower() == needle
    return any(needle in domain.lower() for domain in certificate.domains)
