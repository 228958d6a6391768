"""The sandbox's stand-in for cert-manager, against the emulated API server with RBAC: the
auto-approver (only our group, never a Denied request, also when denied mid-write), the
``approve`` command, and Certificate -> CertificateRequest -> Secret."""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.sandbox.certmanager import keys, kubeconfig
from controller.sandbox.certmanager.approver import approve_waiting
from controller.sandbox.certmanager.certificate_spec import CERTIFICATE_API_VERSION, go_duration
from controller.sandbox.certmanager.certificates import CertificateStandIn
from controller.sandbox.stack import Stack, find_condition, issuer_ref, make_csr
from controller.sandbox.stack.cluster import REQUEST_API_VERSION
from controller.sandbox.stack.kubeapi import JSON
from controller.sandbox.stack.manifests import REPO_ROOT

pytestmark = pytest.mark.integration

OURS = issuer_ref("ZeroSSLClusterIssuer", "zerossl")
THEIRS = {"group": "cert-manager.io", "kind": "ClusterIssuer", "name": "letsencrypt"}
NAMES = ["app.zerossl-issuer.dev", "www.app.zerossl-issuer.dev"]


def approved(request: JSON) -> bool:
    return find_condition(request, "Approved") is not None


async def test_the_auto_approver_approves_only_undecided_requests_of_our_group(
    stack: Stack,
) -> None:
    cluster = stack.cluster
    await cluster.create_certificate_request(
        "default", "ours", make_csr(NAMES), OURS, approved=False
    )
    await cluster.create_certificate_request(
        "default", "theirs", make_csr(NAMES), THEIRS, approved=False
    )
    empty_group = {**OURS, "group": ""}
    await cluster.create_certificate_request(
        "default", "nogroup", make_csr(NAMES), empty_group, approved=False
    )
    await cluster.create_certificate_request(
        "default", "denied", make_csr(NAMES), OURS, approved="denied"
    )
    before = await cluster.create_certificate_request(
        "default", "done", make_csr(NAMES), OURS, approved=True
    )

    assert await approve_waiting(stack.kube) == ["default/ours"]
    assert await approve_waiting(stack.kube) == []

    ours = await cluster.get_request("default", "ours")
    condition = find_condition(ours, "Approved")
    assert condition is not None
    assert (condition["status"], condition["reason"]) == ("True", "cert-manager.io")
    assert not approved(await cluster.get_request("default", "theirs"))
    assert not approved(await cluster.get_request("default", "nogroup"))
    denied = await cluster.get_request("default", "denied")
    assert not approved(denied)
    assert find_condition(denied, "Denied") is not None
    done = await cluster.get_request("default", "done")
    assert done["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


async def test_a_request_denied_after_the_listing_or_during_the_write_is_never_approved(
    stack: Stack, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster, kube = stack.cluster, stack.kube
    await cluster.create_certificate_request(
        "default", "late", make_csr(NAMES), OURS, approved=False
    )
    stale = await kube.list_objects(REQUEST_API_VERSION, "CertificateRequest")
    await cluster.deny("default", "late")
    monkeypatch.setattr(kube, "list_objects", lambda *_a, **_k: _result(stale))
    assert await approve_waiting(kube) == []
    monkeypatch.undo()

    # Denied between the approver's read and its write: the write conflicts, the re-read sees it.
    await cluster.create_certificate_request(
        "default", "race", make_csr(NAMES), OURS, approved=False
    )
    real_get = kube.get
    reads = 0
    denying = False

    async def get_then_deny(*args: Any, **kwargs: Any) -> JSON | None:
        nonlocal reads, denying
        found = await real_get(*args, **kwargs)
        if args[1:3] == ("CertificateRequest", "race") and not denying:
            reads += 1
            if reads == 1:
                denying = True
                await cluster.deny("default", "race")
                denying = False
        return found

    monkeypatch.setattr(kube, "get", get_then_deny)
    assert await approve_waiting(kube) == []
    assert reads == 2
    monkeypatch.undo()
    race = await cluster.get_request("default", "race")
    assert not approved(race)
    assert find_condition(race, "Denied") is not None


async def _result(value: Any) -> Any:
    return value


async def run_module(*argv: str) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        *argv,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        out, _ = await process.communicate()
    assert process.returncode is not None
    return process.returncode, out.decode()


async def test_the_approve_command(stack: Stack) -> None:
    cluster = stack.cluster
    await cluster.create_certificate_request(
        "default", "manual", make_csr(NAMES), OURS, approved=False
    )
    await cluster.create_certificate_request(
        "default", "nope", make_csr(NAMES), OURS, approved=False
    )
    kubeconfig = str(stack.admin_kubeconfig)

    code, out = await run_module("approve", "default/manual", "--kubeconfig", kubeconfig)
    assert (code, out.strip()) == (0, "CertificateRequest default/manual approved")
    assert approved(await cluster.get_request("default", "manual"))

    code, out = await run_module("approve", "--deny", "default/nope", "--kubeconfig", kubeconfig)
    assert code == 0, out
    code, out = await run_module("approve", "default/nope", "--kubeconfig", kubeconfig)
    assert code == 1
    assert "CertificateRequest default/nope is already Denied" in out
    code, out = await run_module("approve", "default/missing", "--kubeconfig", kubeconfig)
    assert code == 1
    assert "CertificateRequest default/missing does not exist" in out


# --- Certificates --------------------------------------------------------------------------


class Authority:
    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
        now = datetime.now(UTC)
        self.cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(self.key.public_key())
            .serial_number(1)
            .not_valid_before(now - timedelta(minutes=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(self.key, hashes.SHA256())
        )

    def sign(self, csr_pem: bytes, age: timedelta) -> bytes:
        """A 90-day leaf for the CSR, ``age`` old."""
        csr = x509.load_pem_x509_csr(csr_pem)
        now = datetime.now(UTC) - age
        sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        leaf = (
            x509.CertificateBuilder()
            .subject_name(csr.subject)
            .issuer_name(self.cert.subject)
            .public_key(csr.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now)
            .not_valid_after(now + timedelta(days=90))
            .add_extension(sans, critical=False)
            .sign(self.key, hashes.SHA256())
        )
        pem = serialization.Encoding.PEM
        return leaf.public_bytes(pem) + self.cert.public_bytes(pem)


async def issue(stack: Stack, name: str, ca: Authority, age: timedelta = timedelta(0)) -> None:
    """What the controller does for an approved request: the chain and Ready=True/Issued."""
    request = await stack.cluster.get_request("default", name)
    assert approved(request)
    chain = ca.sign(base64.b64decode(request["spec"]["request"]), age)
    request["status"]["certificate"] = base64.b64encode(chain).decode()
    request["status"]["conditions"].append(
        {"type": "Ready", "status": "True", "reason": "Issued", "message": "issued"}
    )
    await stack.kube.replace_status(request)


async def fail(stack: Stack, name: str) -> None:
    request = await stack.cluster.approve("default", name)
    request["status"]["conditions"].append(
        {"type": "Ready", "status": "False", "reason": "Failed", "message": "names refused"}
    )
    await stack.kube.replace_status(request)


def certificate(name: str, names: list[str], **spec: Any) -> JSON:
    return {
        "apiVersion": CERTIFICATE_API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {
            "secretName": f"{name}-tls",
            "commonName": names[0],
            "dnsNames": names,
            "issuerRef": OURS,
            **spec,
        },
    }


async def get_certificate(stack: Stack, name: str) -> JSON:
    found = await stack.kube.get(CERTIFICATE_API_VERSION, "Certificate", name, "default")
    assert found is not None
    return found


async def test_a_certificate_becomes_a_request_then_a_tls_secret(stack: Stack) -> None:
    kube, ca = stack.kube, Authority()
    created = await kube.create(
        certificate("web", NAMES, privateKey={"algorithm": "ECDSA", "size": 384})
    )
    await kube.create(certificate("other", NAMES, issuerRef=THEIRS))
    standin = CertificateStandIn(kube)

    assert await standin.sync_all() == [
        "Certificate default/web: CertificateRequest default/web-1 created (DoesNotExist)"
    ]
    request = await stack.cluster.get_request("default", "web-1")
    assert request["spec"]["issuerRef"] == OURS
    assert request["metadata"]["annotations"]["cert-manager.io/certificate-revision"] == "1"
    assert request["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    csr = x509.load_pem_x509_csr(base64.b64decode(request["spec"]["request"]))
    assert csr.subject.rfc4514_string() == f"CN={NAMES[0]}"
    sans = csr.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert sans.get_values_for_type(x509.DNSName) == NAMES
    assert isinstance(csr.public_key(), ec.EllipticCurvePublicKey)
    assert csr.public_key().curve.name == "secp384r1"  # type: ignore[union-attr]
    issuing = find_condition(await get_certificate(stack, "web"), "Issuing")
    assert issuing is not None
    assert (issuing["status"], issuing["reason"]) == ("True", "DoesNotExist")
    assert await stack.cluster.get_request("default", "web-1") is not None
    assert await kube.list_objects(REQUEST_API_VERSION, "CertificateRequest") == [request]
    assert await standin.sync_all() == []  # waiting: no second request

    await approve_waiting(kube)
    await issue(stack, "web-1", ca)
    assert await standin.sync_all() == [
        "Certificate default/web: Secret default/web-tls written (revision 1)"
    ]
    secret = await kube.get("v1", "Secret", "web-tls", "default")
    assert secret is not None
    assert secret["type"] == "kubernetes.io/tls"
    data = {k: base64.b64decode(v) for k, v in secret["data"].items()}
    chain = x509.load_pem_x509_certificates(data["tls.crt"])
    assert keys.public_der(keys.from_pem(data["tls.key"])) == keys.public_der(chain[0].public_key())
    assert x509.load_pem_x509_certificate(data["ca.crt"]) == ca.cert
    assert secret["metadata"]["annotations"]["cert-manager.io/alt-names"] == ",".join(NAMES)
    assert await kube.get("v1", "Secret", "web-next-private-key", "default") is None
    status = (await get_certificate(stack, "web"))["status"]
    assert status["revision"] == 1
    assert status["notAfter"] == chain[0].not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    ready = find_condition({"status": status}, "Ready")
    assert ready is not None
    assert (ready["status"], ready["reason"]) == ("True", "Ready")
    assert find_condition({"status": status}, "Issuing") is None

    assert await standin.sync_all() == []  # current: nothing to do, nothing rewritten
    assert (await get_certificate(stack, "web"))["status"] == status

    changed = await get_certificate(stack, "web")
    changed["spec"]["dnsNames"] = [*NAMES, "api.app.zerossl-issuer.dev"]
    await kube.merge_patch({**changed, "status": None})
    assert await standin.sync_all() == [
        "Certificate default/web: CertificateRequest default/web-2 created (SecretMismatch)"
    ]


async def test_a_failed_request_is_reported_and_retried_once_deleted(stack: Stack) -> None:
    kube, ca = stack.kube, Authority()
    await kube.create(certificate("flaky", NAMES))
    standin = CertificateStandIn(kube)
    await standin.sync_all()
    await fail(stack, "flaky-1")
    assert await standin.sync_all() == [
        "Certificate default/flaky: CertificateRequest flaky-1 is Failed: names refused; "
        "delete it to try again"
    ]
    assert await standin.sync_all() == []  # reported once
    issuing = find_condition(await get_certificate(stack, "flaky"), "Issuing")
    assert issuing is not None
    assert (issuing["status"], issuing["reason"]) == ("False", "Failed")

    first_key = await kube.get("v1", "Secret", "flaky-next-private-key", "default")
    await kube.delete(REQUEST_API_VERSION, "CertificateRequest", "flaky-1", "default")
    assert await standin.sync_all() == [
        "Certificate default/flaky: CertificateRequest default/flaky-1 created (DoesNotExist)"
    ]
    retried = await stack.cluster.get_request("default", "flaky-1")
    csr = x509.load_pem_x509_csr(base64.b64decode(retried["spec"]["request"]))
    assert first_key is not None
    kept = keys.from_pem(base64.b64decode(first_key["data"]["tls.key"]))
    assert keys.public_der(csr.public_key()) == keys.public_der(kept)  # the kept key, reused
    await approve_waiting(kube)
    await issue(stack, "flaky-1", ca)
    await standin.sync_all()
    assert await kube.get("v1", "Secret", "flaky-tls", "default") is not None


async def test_bad_certificate_specs_are_reported(stack: Stack) -> None:
    await stack.kube.create(
        certificate("badkey", NAMES, privateKey={"algorithm": "ECDSA", "size": 100})
    )
    assert await CertificateStandIn(stack.kube).sync_all() == [
        "Certificate default/badkey: spec.privateKey.size 100 is not one of [256, 384, 521]"
    ]
    issuing = find_condition(await get_certificate(stack, "badkey"), "Issuing")
    assert issuing is not None
    assert (issuing["status"], issuing["reason"]) == ("False", "Failed")
    assert await CertificateStandIn(stack.kube).sync_all() == []  # reported once
    assert await stack.kube.list_objects(REQUEST_API_VERSION, "CertificateRequest") == []


def test_go_durations() -> None:
    assert go_duration("720h") == timedelta(hours=720)
    assert go_duration("1h30m5s") == timedelta(hours=1, minutes=30, seconds=5)
    for bad in ("", "1d", "h", "5 m"):
        with pytest.raises(ValueError, match="is not a duration"):
            go_duration(bad)


async def test_the_stand_in_command_approves_until_interrupted(stack: Stack) -> None:
    await stack.cluster.create_certificate_request(
        "default", "queued", make_csr(NAMES), OURS, approved=False
    )
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        "cert-manager",
        "--kubeconfig",
        str(stack.admin_kubeconfig),
        "--interval",
        "0.1",
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    assert process.stdout is not None
    lines: list[bytes] = []
    try:
        async with asyncio.timeout(20):
            while b"approved CertificateRequest default/queued (auto-approver)" not in (
                line := await process.stdout.readline()
            ):
                assert line, b"".join(lines).decode()
                lines.append(line)
        assert approved(await stack.cluster.get_request("default", "queued"))
    finally:
        process.send_signal(signal.SIGINT)
        async with asyncio.timeout(10):
            await process.communicate()
    text = b"".join(lines).decode()
    assert process.returncode == 0, text
    assert f"cert-manager stand-in on {stack.access.url}: auto-approving" in text


def test_kubeconfig_errors_are_specific(tmp_path: Path) -> None:
    path = tmp_path / "config"
    with pytest.raises(ValueError, match="cannot read the kubeconfig"):
        kubeconfig.load(path)
    base = {
        "current-context": "c",
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u"}}],
        "clusters": [{"name": "k", "cluster": {"server": "https://127.0.0.1:1"}}],
        "users": [{"name": "u", "user": {"client-certificate-data": "x"}}],
    }
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(ValueError, match="user 'u' has no token"):
        kubeconfig.load(path)
    base["users"] = [{"name": "u", "user": {"token": "t"}}]
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(ValueError, match="names no certificate authority"):
        kubeconfig.load(path)
    base["clusters"][0]["cluster"]["insecure-skip-tls-verify"] = True  # type: ignore[index]
    path.write_text(yaml.safe_dump(base))
    assert kubeconfig.load(path) == kubeconfig.Access("https://127.0.0.1:1", "t", None)
    base["current-context"] = "other"
    path.write_text(yaml.safe_dump(base))
    with pytest.raises(ValueError, match="no context named 'other'"):
        kubeconfig.load(path)


async def test_renewal_time_makes_a_new_revision_while_the_certificate_stays_ready(
    stack: Stack,
) -> None:
    kube, ca = stack.kube, Authority()
    await kube.create(certificate("renew", NAMES, renewBefore="8760h"))  # > lifetime: ignored
    standin = CertificateStandIn(kube)
    await standin.sync_all()
    await approve_waiting(kube)
    await issue(stack, "renew-1", ca, age=timedelta(days=61))  # 29 days left of 90
    assert await standin.sync_all() == [
        "Certificate default/renew: Secret default/renew-tls written (revision 1)"
    ]
    assert await standin.sync_all() == [
        "Certificate default/renew: CertificateRequest default/renew-2 created (Renewing)"
    ]
    status = (await get_certificate(stack, "renew"))["status"]
    ready = find_condition({"status": status}, "Ready")
    assert ready is not None
    assert ready["status"] == "True"
    await approve_waiting(kube)
    await issue(stack, "renew-2", ca)
    assert await standin.sync_all() == [
        "Certificate default/renew: Secret default/renew-tls written (revision 2)"
    ]
    assert await standin.sync_all() == []
