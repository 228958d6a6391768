"""An emulated Amazon Route 53 (REST-XML API 2013-04-01, the record subset) for tests and demos.

In process::

    async with Route53Emulator(insync_delay=0.2, rate=5.0, burst=5) as r53:
        r53.url                                  # "http://127.0.0.1:PORT" (the endpoint)
        zone_id = r53.add_zone("example.com")    # "Z..." ; add_zone(name, private=True)
        r53.add_credentials("AKID", "SECRET")    # optional session token as a third argument
        r53.rrsets(zone_id)                      # {(name, type): RecordSet}
        r53.requests                             # Counter of (operation, status)

Operations: ``POST /2013-04-01/hostedzone/{Id}/rrset[/]`` (ChangeResourceRecordSets: CREATE,
UPSERT, DELETE; a change is PENDING until ``insync_delay`` has passed, then INSYNC), ``GET
/2013-04-01/hostedzone/{Id}/rrset`` (ListResourceRecordSets from ``name``/``type`` on, in
Route 53's order), ``GET /2013-04-01/hostedzonesbyname?dnsname=`` (zones in reversed-label
order from ``dnsname`` on), ``GET /2013-04-01/hostedzone/{Id}``, ``GET /2013-04-01/change/{Id}``.

Every request must carry a valid SigV4 signature (service ``route53``), recomputed with
botocore: unknown access key → 403 InvalidClientTokenId; wrong secret or a date more than 15
minutes off → 403 SignatureDoesNotMatch; none → 403 MissingAuthenticationToken. Past the rate
→ 400 Throttling "Rate exceeded" (as Route 53 answers, without Retry-After). Deleting a record
set that does not exist, or a name outside the zone → 400 InvalidChangeBatch (its own root
element with ``Messages``); an unknown zone → 404 NoSuchHostedZone.

Imports nothing from the rest of ``controller``.
"""

from controller.sandbox.route53.emulator import Route53Emulator
from controller.sandbox.route53.state import RecordSet, Route53Error

__all__ = ["RecordSet", "Route53Emulator", "Route53Error"]
