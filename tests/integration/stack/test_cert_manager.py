"""CertificateRequests made, approved and denied as cert-manager does, and the waits."""

from __future__ import annotations

import base64

import pytest
from cryptography import x509

from controller.sandbox.stack import RequestFailed, Stack, find_condition, issuer_ref, make_csr

pytestmark = pytest.mark.integration

REF = issuer_ref("ZeroSSLClusterIssuer", "zerossl")
NAMES = ["app.zerossl-issuer.dev", "www.app.zerossl-issuer.dev"]


def test_make_csr_names_key_and_usages() -> None:
    csr = x509.load_pem_x509_csr(make_csr(NAMES, ["192.0.2.7"], key="rsa"))
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == NAMES
    assert [str(ip) for ip in sans.get_values_for_type(x509.IPAddress)] == ["192.0.2.7"]
    assert csr.subject.rfc4514_string() == f"CN={NAMES[0]}"
    assert csr.public_key().key_size == 2048  # type: ignore[union-attr]
    usage = csr.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_encipherment
    only_ip = x509.load_pem_x509_csr(make_csr([], ["192.0.2.7"]))
    assert only_ip.subject.rfc4514_string() == "CN=192.0.2.7"
    no_cn = x509.load_pem_x509_csr(make_csr(NAMES, common_name=None))
    assert len(no_cn.subject) == 0
    with pytest.raises(ValueError, match="at least one"):
        make_csr([])


async def test_an_approved_request_carries_cert_managers_condition(stack: Stack) -> None:
    csr = make_csr(NAMES)
    request = await stack.cluster.create_certificate_request(
        "default", "approved", csr, REF, labels={"team": "a"}
    )
    approved = find_condition(request, "Approved")
    assert approved is not None
    assert (approved["status"], approved["reason"], approved["message"]) == (
        "True",
        "cert-manager.io",
        "Certificate request has been approved by cert-manager.io",
    )
    stored = await stack.cluster.get_request("default", "approved")
    assert base64.b64decode(stored["spec"]["request"]) == csr
    assert stored["spec"]["issuerRef"] == REF
    assert stored["metadata"]["labels"] == {"team": "a"}
    assert find_condition(stored, "Approved") == approved


async def test_denied_and_unapproved_requests(stack: Stack) -> None:
    denied = await stack.cluster.create_certificate_request(
        "default", "denied", make_csr(NAMES), REF, approved="denied"
    )
    condition = find_condition(denied, "Denied")
    assert condition is not None
    assert condition["status"] == "True"
    assert find_condition(denied, "Approved") is None
    with pytest.raises(ValueError, match="already Denied"):
        await stack.cluster.approve("default", "denied")

    waiting = await stack.cluster.create_certificate_request(
        "default", "waiting", make_csr(NAMES), REF, approved=False
    )
    assert (waiting.get("status") or {}).get("conditions") is None
    with pytest.raises(TimeoutError, match="waiting Ready=True/Issued\\? no conditions"):
        await stack.cluster.wait_for_request("default", "waiting", reason="Issued", timeout=0.3)


async def set_ready(stack: Stack, name: str, status: str, reason: str, **extra: str) -> None:
    """Write the Ready condition (and other status fields) as the controller would."""
    request = await stack.cluster.get_request("default", name)
    ready = {"type": "Ready", "status": status, "reason": reason, "message": reason}
    request["status"] = {
        **request["status"],
        **extra,
        "conditions": [*request["status"]["conditions"], ready],
    }
    await stack.kube.replace_status(request)


async def test_waiting_for_issued_fails_early_on_a_terminal_failure(stack: Stack) -> None:
    await stack.cluster.create_certificate_request("default", "doomed", make_csr(NAMES), REF)
    await set_ready(stack, "doomed", "False", "Failed")
    with pytest.raises(RequestFailed, match="doomed is Failed"):
        await stack.cluster.wait_for_request("default", "doomed", timeout=30)
    failed = await stack.cluster.wait_for_request(
        "default", "doomed", status="False", reason="Failed", timeout=1
    )
    assert find_condition(failed, "Ready") is not None


async def test_issued_chain_reads_the_status_certificate(stack: Stack) -> None:
    await stack.cluster.create_certificate_request("default", "issued", make_csr(NAMES), REF)
    with pytest.raises(ValueError, match=r"no status\.certificate"):
        await stack.cluster.issued_chain("default", "issued")
    chain_pem = stack.emulator.intermediate_pem + stack.emulator.root_pem
    await set_ready(
        stack,
        "issued",
        "True",
        "Issued",
        certificate=base64.b64encode(chain_pem.encode()).decode(),
    )
    await stack.cluster.wait_for_request("default", "issued", reason="Issued", timeout=1)
    chain = await stack.cluster.issued_chain("default", "issued")
    assert chain == x509.load_pem_x509_certificates(chain_pem.encode())
    assert len(chain) == 2


async def test_issuers(stack: Stack) -> None:
    spec = {"apiKeySecretRef": {"name": "zerossl-api-key"}, "solvers": [{"http": {"none": {}}}]}
    cluster_issuer = await stack.cluster.create_issuer(
        "ZeroSSLClusterIssuer", "zerossl", None, spec
    )
    assert cluster_issuer["spec"]["validityDays"] == 90  # defaulted by the CRD schema
    await stack.cluster.create_issuer("ZeroSSLIssuer", "local", "default", spec)
    with pytest.raises(ValueError, match="needs a namespace"):
        await stack.cluster.create_issuer("ZeroSSLIssuer", "bad", None, spec)
    with pytest.raises(
        TimeoutError, match="ZeroSSLIssuer default/local Ready=True\\? no conditions"
    ):
        await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "local", "default", timeout=0.3)
    issuer = await stack.kube.get(
        "zerossl.issuer.dev/v1alpha1", "ZeroSSLIssuer", "local", "default"
    )
    assert issuer is not None
    ready = {
        "type": "Ready",
        "status": "True",
        "reason": "Checked",
        "message": "ok",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    stale = {**ready, "observedGeneration": issuer["metadata"]["generation"] - 1}
    issuer["status"] = {"conditions": [stale]}
    issuer = await stack.kube.replace_status(issuer)
    with pytest.raises(TimeoutError):
        await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "local", "default", timeout=0.3)
    current = {**ready, "observedGeneration": issuer["metadata"]["generation"]}
    issuer["status"] = {"conditions": [current]}
    await stack.kube.replace_status(issuer)
    await stack.cluster.wait_for_issuer("ZeroSSLIssuer", "local", "default", timeout=1)
