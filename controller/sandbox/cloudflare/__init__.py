"""An emulated Cloudflare API v4 (the DNS subset) for tests and demos.

In process::

    async with CloudflareEmulator(rate=4.0, burst=20) as cf:
        cf.url                                  # "http://127.0.0.1:PORT/client/v4"
        zone_id = cf.add_zone("example.com")
        cf.add_token("TOKEN")                   # every zone; add_token(t, zones={"example.com"})
        cf.records("example.com")               # [DnsRecord(...)]
        cf.requests                             # Counter of (method, route, status)

Endpoints: ``GET /zones?name=&page=&per_page=``, ``GET|POST /zones/{zone}/dns_records``
(filters ``type``, ``name``/``name.exact``, ``content``), ``GET|PUT|PATCH|DELETE
/zones/{zone}/dns_records/{id}``. Responses use the documented envelope ``{success, errors:
[{code, message}], messages, result, result_info}``; names come back lowercase without the
final dot.

Errors as the real API answers them (observed, since Cloudflare does not document codes):
no Authorization header → 400 code 9106; not ``Bearer <token>`` → 400 code 6003 with
``error_chain`` 6111; unknown token, or a zone outside the token's scope → 403 code 10000
"Authentication error"; past the per-token rate → 429 code 971 with ``Retry-After``; unknown
zone → 404 code 7003; unknown record → 404 code 81044; a second CNAME at a name → 400 code
81053; a name outside the zone → 400 code 1004; a bad TTL → 400 code 9021.

Imports nothing from the rest of ``controller``.
"""

from controller.sandbox.cloudflare.emulator import CloudflareEmulator
from controller.sandbox.cloudflare.state import CloudflareError, DnsRecord, Zone

__all__ = ["CloudflareEmulator", "CloudflareError", "DnsRecord", "Zone"]
