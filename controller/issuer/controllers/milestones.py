"""Log lines for an issuance's milestones, from the outcomes the act layer already has: no
Kubernetes write, no ZeroSSL call. At INFO, what people follow a request by: a name's
validation published, the validation accepted by ZeroSSL, a lost draft adopted (the order
created and the request issued are logged by the request reconciler). At DEBUG, the routine
steps between: the ZeroSSL certificate created, the chain downloaded. Every line carries
``milestone`` (a stable name) for log queries. Each INFO line costs the event loop about as
much as a watch event, so routine steps stay below it.
"""

from __future__ import annotations

import logging

from controller.issuer.actions import (
    CertificateObtained,
    Downloaded,
    Outcome,
    Presented,
    Verified,
)

log = logging.getLogger(__name__)


def log_milestone(order_key: str, outcome: Outcome) -> None:
    """Logs ``outcome`` at INFO if it is a milestone of the order ``order_key``."""
    match outcome:
        case CertificateObtained(certificate, adopted):
            verb = "adopted the lost draft" if adopted else "created"
            log.log(
                logging.INFO if adopted else logging.DEBUG,
                "order %s: %s ZeroSSL certificate %s",
                order_key,
                verb,
                certificate.id,
                extra={"milestone": "certificate_adopted" if adopted else "certificate_created"},
            )
        case Presented(domain):
            log.info(
                "order %s: validation of %s published",
                order_key,
                domain,
                extra={"milestone": "validation_published"},
            )
        case Verified(certificate):
            log.info(
                "order %s: ZeroSSL accepted the validation of certificate %s",
                order_key,
                certificate.id,
                extra={"milestone": "verified"},
            )
        case Downloaded():
            log.debug(
                "order %s: certificate issued, chain downloaded",
                order_key,
                extra={"milestone": "downloaded"},
            )
        case _:
            return
