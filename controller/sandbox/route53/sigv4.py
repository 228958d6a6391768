"""SigV4 verification for the emulated Route 53, recomputing the signature with botocore."""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime, timedelta

from botocore.auth import SIGV4_TIMESTAMP, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from controller.sandbox.route53.state import Route53Error

SERVICE = "route53"
MAX_SKEW = timedelta(minutes=15)
_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request, ?SignedHeaders=(?P<headers>[a-z0-9;-]+), ?"
    r"Signature=(?P<signature>[0-9a-f]{64})$"
)


def verify(
    method: str,
    url: str,
    headers: dict[str, str],
    body: bytes,
    *,
    secrets: dict[str, tuple[str, str | None]],
    now: datetime,
) -> str:
    """The caller's access key id if the request's signature is right; Route53Error if not.

    ``headers`` are lowercase-keyed; ``secrets`` maps access key id to (secret, session token).
    """
    authorization = headers.get("authorization")
    if not authorization:
        raise Route53Error(403, "MissingAuthenticationToken", "Missing Authentication Token")
    match = _AUTHORIZATION.match(authorization)
    if match is None or match["service"] != SERVICE:
        raise Route53Error(400, "IncompleteSignature", "The request signature is malformed.")
    key = match["key"]
    if key not in secrets:
        raise Route53Error(
            403, "InvalidClientTokenId", "The security token included in the request is invalid."
        )
    secret, token = secrets[key]
    if token is not None and headers.get("x-amz-security-token") != token:
        raise Route53Error(
            403, "InvalidClientTokenId", "The security token included in the request is invalid."
        )
    stamp = headers.get("x-amz-date", "")
    try:
        when = datetime.strptime(stamp, SIGV4_TIMESTAMP).replace(tzinfo=UTC)
    except ValueError:
        raise Route53Error(400, "IncompleteSignature", "X-Amz-Date is missing or bad.") from None
    if abs(now - when) > MAX_SKEW:
        raise Route53Error(403, "SignatureDoesNotMatch", "Signature expired: " + stamp)
    signed = match["headers"].split(";")
    request = AWSRequest(
        method=method, url=url, data=body, headers={h: headers.get(h, "") for h in signed}
    )
    request.context["timestamp"] = stamp
    signer = SigV4Auth(Credentials(key, secret, token), SERVICE, match["region"])
    expected = signer.signature(
        signer.string_to_sign(request, signer.canonical_request(request)), request
    )
    if not hmac.compare_digest(expected, match["signature"]):
        raise Route53Error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
    return key
