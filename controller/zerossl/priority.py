"""Which ZeroSSL calls get the account's tokens first: work already started before new work.

Under a rate limit every certificate costs a create, a verify and a download. Served in arrival
order, a deep queue of new orders takes most of the tokens with creates while certificates
ZeroSSL has already issued wait to be downloaded, so few certificates finish. Calls that move an
existing certificate along (FINISH) go first; calls that begin a new one (START) take the tokens
left. Creates still progress: FINISH calls come only from certificates already at ZeroSSL (a
verify and a download each, retries backing off, plus one list per poll round), so they dry up
unless creates feed them; and, as a hard bound, a START call that has waited the scheduler's
aging time is served by arrival with the FINISH calls (:mod:`controller.zerossl.scheduler`).
"""

from __future__ import annotations

from enum import IntEnum
from typing import assert_never

from controller.zerossl.protocol import Endpoint


class Priority(IntEnum):
    """Lower values are served first; the names label ``zerossl_limiter_wait_seconds``."""

    FINISH = 0
    START = 1

    @property
    def label(self) -> str:
        return self.name.lower()


def priority_of(endpoint: Endpoint) -> Priority:
    """The priority of a call to ``endpoint``; exhaustive over :class:`Endpoint` (mypy checks).

    START: ``create`` opens a new certificate and takes quota; ``validate_csr`` only precedes a
    create. Everything else acts on a certificate that exists: ``verify``, ``resend_email``,
    ``status``, ``get``, ``download`` finish one; ``cancel`` and ``revoke`` end one; ``list``
    is the batch poller's one call per round that finds the finished ones (also the adoption
    search that recovers a lost draft, and the issuer's rare health check).
    """
    match endpoint:
        case Endpoint.CREATE | Endpoint.VALIDATE_CSR:
            return Priority.START
        case (
            Endpoint.VERIFY
            | Endpoint.RESEND_EMAIL
            | Endpoint.STATUS
            | Endpoint.GET
            | Endpoint.DOWNLOAD
            | Endpoint.CANCEL
            | Endpoint.REVOKE
            | Endpoint.LIST
        ):
            return Priority.FINISH
        case _:
            assert_never(endpoint)
