"""Did the run end right? Checks of the final state, each a named pass/fail with the evidence.

- every planned CertificateRequest is Ready=True/Issued, none Failed or Denied;
- each issued chain is for that request: the leaf names exactly its domains and carries its
  CSR's public key;
- at ZeroSSL, each request has exactly one issued certificate (none issued twice, none lost),
  no certificate is left in draft or pending_validation (orphans eating the quota), and none
  belongs to no request;
- the controller's own metrics agree with what the emulators logged, within a stated slack
  (calls in flight when a replica was killed, requests around the sampling instants).
"""

from __future__ import annotations

import base64
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from controller.sandbox.stack import Stack

from .watcher import object_key, terminal_state
from .workload import PlannedRequest, selector

ORPHAN_STATUSES: Final = frozenset({"draft", "pending_validation"})


@dataclass(frozen=True, slots=True)
class Check:
    """A correctness check's outcome. A skipped check (the number it compares is one the
    controller under test does not expose) is ``ok``, ``detail`` says why it was skipped."""

    name: str
    ok: bool
    detail: str
    skipped: bool = False

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def skip(cls, name: str, reason: str) -> Check:
        return cls(name, True, reason, skipped=True)


def _examples(items: Sequence[str], limit: int = 5) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f" and {len(items) - limit} more" if len(items) > limit else "")


def _public_der(key: Any) -> bytes:
    return bytes(
        key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def chain_matches(request: PlannedRequest, certificate_b64: str) -> str | None:
    """None when the leaf of the base64 PEM chain is for ``request``; else what is wrong."""
    try:
        chain = x509.load_pem_x509_certificates(base64.b64decode(certificate_b64))
    except ValueError as exc:
        return f"unreadable chain: {exc}"
    leaf = chain[0]
    try:
        sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "the leaf has no subjectAltName"
    names = tuple(sans.get_values_for_type(x509.DNSName))
    if sorted(names) != sorted(request.domains):
        return f"the leaf names {names}, the request {request.domains}"
    csr = x509.load_pem_x509_csr(request.csr_pem)
    if _public_der(leaf.public_key()) != _public_der(csr.public_key()):
        return "the leaf's public key is not the CSR's"
    return None


async def audit_requests(stack: Stack, planned: Sequence[PlannedRequest], run: str) -> list[Check]:
    """Final state of the run's CertificateRequests and their chains."""
    objects = await stack.kube.list_objects(
        "cert-manager.io/v1", "CertificateRequest", label_selector=selector(run)
    )
    by_key = {object_key(obj): obj for obj in objects}
    states: dict[str, list[str]] = defaultdict(list)
    messages: dict[str, str] = {}
    wrong_chain: list[str] = []
    for request in planned:
        obj = by_key.get(request.key)
        state = terminal_state(obj) if obj is not None else None
        reason = "missing" if obj is None else (state[0] if state else "Pending")
        states[reason].append(request.key)
        if state is not None and reason != "Issued":
            messages[request.key] = state[1]
        if reason == "Issued":
            assert obj is not None
            problem = chain_matches(request, str(obj["status"].get("certificate") or ""))
            if problem is not None:
                wrong_chain.append(f"{request.key}: {problem}")
    not_issued = sorted(k for reason, keys in states.items() if reason != "Issued" for k in keys)
    summary = ", ".join(f"{reason} {len(keys)}" for reason, keys in sorted(states.items()))
    failed = sorted(
        f"{k} ({messages.get(k, '')})" for k in states.get("Failed", []) + states.get("Denied", [])
    )
    return [
        Check(
            "every request issued",
            not not_issued,
            summary + (f"; not issued: {_examples(not_issued)}" if not_issued else ""),
        ),
        Check(
            "no request failed",
            not failed,
            f"{len(failed)} Failed or Denied" + (f": {_examples(failed)}" if failed else ""),
        ),
        Check(
            "each chain is for its request",
            not wrong_chain,
            f"{len(states.get('Issued', [])) - len(wrong_chain)} chains match"
            + (f"; {_examples(wrong_chain)}" if wrong_chain else ""),
        ),
    ]


@dataclass(frozen=True, slots=True)
class ZeroSSLLedger:
    """The emulator's certificates of the run, by the request they belong to."""

    by_request: Mapping[str, Sequence[Mapping[str, Any]]]
    strays: Sequence[Mapping[str, Any]]

    def statuses(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for certificates in self.by_request.values():
            for certificate in certificates:
                out[str(certificate["status"])] += 1
        return dict(sorted(out.items()))


async def zerossl_ledger(stack: Stack, planned: Sequence[PlannedRequest]) -> ZeroSSLLedger:
    answer = await stack.zerossl_admin.call("GET", "certificates")
    owner = {tuple(sorted(r.domains)): r.key for r in planned}
    by_request: dict[str, list[Mapping[str, Any]]] = defaultdict(list)
    strays = []
    for certificate in answer["certificates"]:
        key = owner.get(tuple(sorted(certificate["domains"])))
        if key is None:
            strays.append(certificate)
        else:
            by_request[key].append(certificate)
    return ZeroSSLLedger(dict(by_request), strays)


def audit_zerossl(ledger: ZeroSSLLedger, planned: Sequence[PlannedRequest]) -> list[Check]:
    issued_count = {
        r.key: sum(1 for c in ledger.by_request.get(r.key, ()) if c["status"] == "issued")
        for r in planned
    }
    twice = sorted(f"{k} ({n}x)" for k, n in issued_count.items() if n > 1)
    lost = sorted(k for k, n in issued_count.items() if n == 0)
    orphans = sorted(
        f"{c['id']} ({c['status']})"
        for certificates in ledger.by_request.values()
        for c in certificates
        if c["status"] in ORPHAN_STATUSES
    )
    statuses = ", ".join(f"{s} {n}" for s, n in ledger.statuses().items()) or "none"
    return [
        Check(
            "no certificate issued twice",
            not twice,
            f"ZeroSSL certificates: {statuses}" + (f"; twice: {_examples(twice)}" if twice else ""),
        ),
        Check(
            "no certificate lost",
            not lost,
            f"{len(lost)} requests without an issued ZeroSSL certificate"
            + (f": {_examples(lost)}" if lost else ""),
        ),
        Check(
            "no orphan ZeroSSL certificates",
            not orphans and not ledger.strays,
            f"{len(orphans)} left in draft/pending_validation, {len(ledger.strays)} of no request"
            + (f": {_examples(orphans)}" if orphans else ""),
        ),
    ]


def compare_counts(
    name: str, controller: Mapping[str, float], served: Mapping[str, int], slack: int
) -> Check:
    """The controller's count per key against the server's (an emulator's log, or the real
    API server's audit log): agreement when every key differs by at most ``slack`` in total."""
    keys = sorted(set(controller) | set(served))
    diffs = {k: int(served.get(k, 0) - round(controller.get(k, 0.0))) for k in keys}
    off = sum(abs(d) for d in diffs.values())
    shown = ", ".join(f"{k} {round(controller.get(k, 0.0))}/{served.get(k, 0)}" for k in keys)
    return Check(
        name,
        off <= slack,
        f"controller/server: {shown or 'nothing'}; total difference {off} (slack {slack})",
    )
