"""Which order owns which ZeroSSL certificate: an order owns only what it created or can prove
is its own.

ZeroSSL stores nothing an order could mark a certificate with: a certificate carries its CSR's
hashes, and requests with byte-identical CSRs (cert-manager's renewals with ``rotationPolicy:
Never``, or two requests made from one key) share them. A lost-draft search by CSR hash alone
could reach another order's certificate, so adoption is narrowed to what no other order owns.

Invariants:
- An order owns the certificate its status records (the cache, any namespace, whatever its
  state, while the order exists) and, for this leadership term, each certificate a create or
  an adoption of its own returned (:meth:`claim`, made before :meth:`obtaining` is left, so
  before the id is written): this covers the gap between ZeroSSL's answer and the status write.
- Per CSR (its MD5), one order at a time searches, adopts or creates (:meth:`obtaining`): a
  search never runs while a create of the same CSR is in flight in this term, so a draft it
  finds and nobody owns was left by a create whose answer was lost (a crash, a timeout, the
  previous term) and is as good as a new one for any order of that CSR and account; the
  first to find it owns it, the others create.
- A search accepts only certificates no other order owns (:meth:`foreign`), so adoption and
  cancel-on-delete never reach another order's certificate. The previous term's owned
  certificates are in the cache when this term begins: its leader wrote them before its Lease
  expired, and the leader's workers start from synced caches.
- Memory: one claim per certificate obtained this term, dropped when its order is gone; one
  lock per CSR while an order of it obtains.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Iterable


class CertificateOwners:
    """This term's claims, over the owners the orders' statuses record."""

    def __init__(self, recorded: Callable[[str], Iterable[str]]) -> None:
        """``recorded``: the keys of the orders whose status records a certificate id."""
        self._recorded = recorded
        self._claims: dict[str, str] = {}  # certificate id -> order key
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}  # CSR MD5 -> lock, users

    @contextlib.asynccontextmanager
    async def obtaining(self, csr_md5: str) -> AsyncIterator[None]:
        """Around one order's search, adoption or create of a certificate of this CSR."""
        lock, users = self._locks.get(csr_md5) or (asyncio.Lock(), 0)
        self._locks[csr_md5] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[csr_md5]
            if users == 1:
                del self._locks[csr_md5]
            else:
                self._locks[csr_md5] = (lock, users - 1)

    def claim(self, cert_id: str, order_key: str) -> None:
        """``order_key`` obtained ``cert_id`` (its status will record it)."""
        self._claims[cert_id] = order_key

    def foreign(self, cert_id: str, order_key: str) -> bool:
        """True if an order other than ``order_key`` owns ``cert_id``."""
        claimed = self._claims.get(cert_id)
        if claimed is not None and claimed != order_key:
            return True
        return any(owner != order_key for owner in self._recorded(cert_id))

    def forget(self, order_key: str) -> None:
        """The order is gone: its claims go with it."""
        for cert_id in [c for c, owner in self._claims.items() if owner == order_key]:
            del self._claims[cert_id]
