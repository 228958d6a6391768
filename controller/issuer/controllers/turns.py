"""HTTP validation of orders sharing a CSR, one order at a time.

ZeroSSL names the HTTP validation file after the CSR's MD5 (``/.well-known/pki-validation/
<MD5>.txt``) while its content holds a value of each certificate, so orders with byte-identical
CSRs (same names, same key) want one URL with different contents: while one is validated the
other must not publish or verify, or one of them fails with ``wrong_file_content`` and backs off.

Invariants:
- Per CSR (validation file name) at most one order holds the turn, and only it is decided to
  present and verify over HTTP; the HTTP solver serves the holder's file
  (:meth:`~controller.issuer.controllers.caches.Caches.validation_file`).
- An order wants the turn while its certificate is a draft it validates over HTTP; it releases
  it as soon as it stops wanting it (ZeroSSL accepted the validation, the order finished, is
  being deleted, or is gone), and every order that waited is woken at once (no backoff).
- The holder is kept in memory for the term; when none is known, an order whose status shows
  a presented file not accepted yet (the previous term's holder, or a holder whose accepted
  validation is not written yet) keeps the turn, else the order asking takes it. Decisions
  are made on the event loop, so taking is atomic.
- Memory: one holder and its waiters per CSR in validation.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable


class HttpTurns:
    def __init__(self, validating: Callable[[str], Iterable[str]], wake: Callable[[str], None]):
        """``validating(file)``: keys of orders whose status shows ``file`` presented and not
        accepted yet; ``wake(key)`` enqueues an order that waited."""
        self._validating = validating
        self._wake = wake
        self._holders: dict[str, str] = {}  # file name -> order key
        self._waiting: dict[str, set[str]] = {}  # file name -> order keys

    def turn(self, file_name: str, order_key: str, *, wants: bool) -> str | None:
        """The key of the order whose turn it is, if not ``order_key``'s (which then waits);
        None when the order may validate (or does not want to)."""
        holder = self._holders.get(file_name)
        if not wants:
            self._stop_waiting(file_name, order_key)
            if holder == order_key:
                self._release(file_name)
            return None
        if holder is None:
            previous = [key for key in self._validating(file_name) if key != order_key]
            holder = self._holders[file_name] = previous[0] if previous else order_key
        if holder == order_key:
            return None
        self._waiting.setdefault(file_name, set()).add(order_key)
        return holder

    def waiting(self, file_name: str) -> bool:
        """True while some order waits for the turn of ``file_name``."""
        return bool(self._waiting.get(file_name))

    def forget(self, order_key: str) -> None:
        """The order is gone: its turn passes on."""
        for file_name in [f for f, holder in self._holders.items() if holder == order_key]:
            self._release(file_name)
        for file_name in list(self._waiting):
            self._stop_waiting(file_name, order_key)

    def _stop_waiting(self, file_name: str, order_key: str) -> None:
        waiting = self._waiting.get(file_name)
        if waiting is not None:
            waiting.discard(order_key)
            if not waiting:
                del self._waiting[file_name]

    def _release(self, file_name: str) -> None:
        del self._holders[file_name]
        for key in sorted(self._waiting.pop(file_name, ())):
            self._wake(key)
