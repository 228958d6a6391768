"""An emulated api.zerossl.com for the demo, tests and load tests (reference: zerossl-api.md).

In process::

    async with ZeroSSLEmulator(host="127.0.0.1", port=0, issuance_delay="uniform:0.1:0.5") as z:
        z.url                                   # "http://127.0.0.1:PORT", the API base URL
        z.add_account("KEY", quota=3, paid=False, active=True)   # quota None: unlimited
        z.resolve("app.example.com", "127.0.0.1", 8089)          # HTTP validation target
        z.resolve_default("127.0.0.1", 8089)                     # ... for every other name
        z.set_dns_server("127.0.0.1", 5353)                      # CNAME validation DNS
        z.forbid_caa("example.com")                              # verify -> 2840
        z.faults = Faults(endpoints={"create": EndpointFaults(server_error_rate=0.2)})
        z.faults.stuck_issuance = True; z.release(cert_id); z.release_all()
        z.approve_email(cert_id, domain=None)   # EMAIL validation: click the link(s)
        z.cancel(cert_id); z.revoke(cert_id); z.expire(cert_id)   # out of band
        z.root_pem; z.intermediate_pem; z.legacy_root_pem
        z.request_log.counts_by_endpoint(); z.request_log.entries()
        z.certificates()                        # [CertificateView(id, account, status, ...)]

The same controls over HTTP (for an emulator in its own process) live under ``/_emulator``:
``GET|DELETE requests``, ``GET certificates``, ``POST certificates/{id}/{cancel|revoke|expire}``,
``POST approve-email/{id}?domain=D``, ``POST release[/{id}]``, ``GET|PUT|DELETE faults``,
``PUT resolve|dns|caa|accounts``, ``GET ca``. From a shell:
``python -m controller.sandbox zerossl --port P --account KEY[:QUOTA] --resolve D=HOST:PORT
--default-resolve HOST:PORT --dns HOST:PORT --issuance-delay SPEC --rate-limit RPS``.

Endpoint names (request log, faults): create, list, get, delete, verify, resend_email, status,
download_return, download_zip, cancel, revoke, validate_csr, route_not_found.

Choices where the real API is undocumented:
- HTTPS_CSR_HASH is refused with 2827 (not emulated); use HTTP_CSR_HASH.
- ``ca_bundle.crt`` is the intermediate only; ``include_cross_signed=1`` adds the root
  cross-signed by the legacy root. Chains verify to :attr:`root_pem` (or the legacy root).
- Keys: RSA 2048/4096 and ECDSA P-256/P-384; others give 2818. A CSR must name exactly the
  ``certificate_domains`` (2818), its CN must be the first one (2836; empty CN too unless
  ``Rules.accept_empty_cn``). Names over 64 characters give 2823.
- Quota counts draft, pending_validation, issued and revoked (plus expired on free plans);
  1-year certificates on a free plan give 2807. ``limit`` above 1000 is capped at 1000.
- Validation file content must match exactly (no trailing newline); the CNAME target is
  compared case-insensitively as the absolute name DNS returns. CAA refusal details are
  ``{domain: {"caa_check_failed": true, "info": ...}}`` (shape not published).
- Errors carry ``info`` (the emulator's explanation, null when none); the real API sends
  ``info: null`` at most.

Imports nothing from the rest of ``controller``.
"""

from controller.sandbox.zerossl.emulator import CertificateView, ZeroSSLEmulator
from controller.sandbox.zerossl.faults import EndpointFaults, Faults
from controller.sandbox.zerossl.issuance import IssuanceDelay
from controller.sandbox.zerossl.model import account_hash
from controller.sandbox.zerossl.requestlog import RequestRecord
from controller.sandbox.zerossl.rules import Rules

__all__ = [
    "CertificateView",
    "EndpointFaults",
    "Faults",
    "IssuanceDelay",
    "RequestRecord",
    "Rules",
    "ZeroSSLEmulator",
    "account_hash",
]
