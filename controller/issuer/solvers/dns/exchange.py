"""DNS messages exchanged with one :class:`Nameserver`, failures classified (dnspython: loaded
only by the solvers that query a server).

Invariants: every exchange is bounded by its timeout and never blocks the event loop;
timeouts, unreachable servers and garbled answers become retryable :class:`TransportError`; a
TSIG rejection becomes :class:`AuthenticationFailed`. The caller judges the answer's rcode.
"""

from __future__ import annotations

import dns.asyncquery
import dns.exception
import dns.message
import dns.tsig

from controller.issuer.solvers.dns.errors import AuthenticationFailed, TransportError
from controller.issuer.solvers.dns.nameserver import Nameserver


async def exchange(
    server: Nameserver, query: dns.message.Message, *, timeout: float, tcp: bool = False
) -> dns.message.Message:
    """``server``'s answer to ``query`` (over TCP, or UDP falling back to TCP)."""
    where = await server.address(timeout)
    try:
        if tcp:
            return await dns.asyncquery.tcp(query, where, timeout=timeout, port=server.port)
        answer, _ = await dns.asyncquery.udp_with_fallback(
            query, where, timeout=timeout, port=server.port
        )
        return answer
    except dns.exception.Timeout:
        raise TransportError(f"no answer from nameserver {server} within {timeout:g}s") from None
    except (dns.tsig.PeerError, dns.tsig.BadSignature, dns.message.UnknownTSIGKey) as error:
        raise AuthenticationFailed(_tsig_problem(server, query, error)) from None
    except OSError as error:
        raise TransportError(f"cannot reach nameserver {server}: {error}") from None
    except dns.exception.DNSException as error:
        raise TransportError(f"bad answer from nameserver {server}: {error}") from None


def _tsig_problem(server: Nameserver, query: dns.message.Message, error: Exception) -> str:
    key = query.keyname.to_text() if query.keyname is not None else "(none)"
    if isinstance(error, dns.tsig.PeerBadKey):
        return f"nameserver {server} does not know TSIG key {key} (BADKEY): check tsigKeyName"
    if isinstance(error, dns.tsig.PeerBadTime):
        return f"nameserver {server} rejected TSIG key {key} for clock skew (BADTIME)"
    if isinstance(error, dns.tsig.PeerError):
        return (
            f"nameserver {server} rejected the signature of TSIG key {key} (BADSIG): "
            "check the TSIG secret and tsigAlgorithm"
        )
    return f"the answer of nameserver {server} failed TSIG verification with key {key}"
