"""Fresh ZeroSSL-shaped CNAME records, so tests sharing one nameserver never collide."""

from __future__ import annotations

import secrets

from controller.issuer.solvers.dns import CNAMERecord


def zerossl_record(domain: str = "www.example.com") -> CNAMERecord:
    """``_<MD5>.<domain>`` → ``<sha256 a>.<sha256 b>.<unique>.comodoca.com`` as ZeroSSL sends
    them: uppercase hex, no trailing dot."""
    md5 = secrets.token_hex(16).upper()
    sha = secrets.token_hex(32).upper()
    target = f"{sha[:32]}.{sha[32:]}.{secrets.token_hex(8)}.comodoca.com"
    return CNAMERecord.from_zerossl(f"_{md5}.{domain}", target)
