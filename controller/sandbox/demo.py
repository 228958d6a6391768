"""``python -m controller.sandbox demo [--keep] [--no-auto-approve]`` (``make demo``): one
certificate end to end, the way a newcomer would get it.

Starts the stack (API server with RBAC enforced, ZeroSSL emulator, one controller replica) and
the stand-in for cert-manager, which the sandbox does not have (auto-approver, Certificate ->
CertificateRequest -> Secret; see :mod:`controller.sandbox.certmanager`). Then it does what a
user does: the API-key Secret, a ZeroSSLClusterIssuer ``zerossl-http`` with an HTTP solver, a
``Certificate``; waits until its Secret holds the issued chain and prints it, every address and
the commands to look around. ``--keep`` keeps everything running until Ctrl-C. Every wait is
bounded (``--timeout``; the wait for a manual approval by ``APPROVAL_WAIT``). The work
directory (kubeconfigs, logs, replica command scripts) is removed only after a successful run
without ``--keep``; otherwise, Ctrl-C included, it is kept and its path printed.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import shutil
import signal
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Final

from cryptography import x509

from controller.sandbox.certmanager.certificate_spec import CERTIFICATE_API_VERSION
from controller.sandbox.certmanager.standin import StandInOptions, run_stand_in
from controller.sandbox.stack import (
    KubeError,
    ProcessFailed,
    RequestFailed,
    Stack,
    StackOptions,
    issuer_ref,
)
from controller.sandbox.stack.cluster import REQUEST_API_VERSION, find_condition
from controller.sandbox.stack.kubeapi import JSON
from controller.sandbox.stack.waiting import poll

NAMESPACE: Final = "demo"
CERTIFICATE: Final = "demo-cert"
REQUEST: Final = f"{CERTIFICATE}-1"
SECRET: Final = f"{CERTIFICATE}-tls"
ISSUER: Final = "zerossl-http"
NAMES: Final = ["demo.zerossl-issuer.dev", "www.demo.zerossl-issuer.dev"]
ISSUER_SPEC: Final = {
    "apiKeySecretRef": {"name": "zerossl-api-key", "key": "api-key"},
    "solvers": [{"http": {"none": {}}}],
}
APPROVAL_WAIT: Final = 600.0
DEMO_FAILURES = (ProcessFailed, RequestFailed, KubeError, TimeoutError)


class Narrator:
    """Prints each step with the seconds elapsed since the demo started."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self._start:5.1f}s] {text}", flush=True)

    def stand_in(self, text: str) -> None:
        self.say(f"(cert-manager stand-in) {text}")


def describe(chain: list[x509.Certificate]) -> Iterator[str]:
    leaf = chain[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    yield f"Issued certificate (chain of {len(chain)}), in Secret {NAMESPACE}/{SECRET}:"
    yield f"  subject:  {leaf.subject.rfc4514_string()}"
    yield f"  names:    {', '.join(sans.get_values_for_type(x509.DNSName))}"
    yield f"  issuer:   {leaf.issuer.rfc4514_string()}"
    yield (
        f"  valid:    {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        f" to {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )
    yield f"  serial:   {leaf.serial_number:x}"


def addresses(stack: Stack) -> Iterator[str]:
    """Everything a newcomer may want to reach or read; no secret value."""
    proxy_host, proxy_port = stack.proxy.address
    yield "Sandbox addresses:"
    yield f"  API server:        {stack.access.url}"
    yield f"  kubeconfig:        {stack.admin_kubeconfig} (admin)"
    yield f"                     {stack.controller_kubeconfig} (the controller's ServiceAccount)"
    yield f"  ZeroSSL emulator:  {stack.zerossl_url} (its API key is only in the Secret)"
    yield f"  solver Service:    http://{proxy_host}:{proxy_port} (ZeroSSL's HTTP validation)"
    for replica in stack.replicas:
        yield f"  {replica.name} (pid {replica.pid}):"
        yield f"    metrics:         {replica.metrics_url}"
        yield f"    probes:          {replica.probe_url}/healthz, {replica.probe_url}/readyz"
        host, port = replica.solver_address
        yield f"    solver:          http://{host}:{port}/.well-known/pki-validation/"
        yield f"    logs (JSON):     {replica.stderr_path}"
        yield f"    start by hand:   sh {replica.command_script}"
    yield f"  work directory:    {stack.workdir}"


def kubectl_commands(stack: Stack) -> Iterator[str]:
    yield "Look around with kubectl:"
    yield f"  export KUBECONFIG={stack.admin_kubeconfig}"
    yield "  kubectl get zerosslclusterissuers"
    yield "  kubectl get certificates,certificaterequests,zerosslorders -A"
    yield f"  kubectl describe certificaterequest -n {NAMESPACE} {REQUEST}"
    yield f"  kubectl get zerosslorder -n {NAMESPACE} {REQUEST} -o yaml"
    yield f"  kubectl get secret -n {NAMESPACE} {SECRET} -o yaml"
    yield f"  kubectl get events -n {NAMESPACE}"
    yield "There is no cert-manager here: the stand-in approves requests and handles"
    yield "Certificates while the demo runs (docs/sandbox.md). With --keep, try"
    yield "  kubectl apply -f manifests/samples/certificate.yaml"
    yield f"(its issuerRef is ClusterIssuer {ISSUER}, the demo's)."


def approval_commands(stack: Stack, namespace: str, name: str) -> Iterator[str]:
    yield f"CertificateRequest {namespace}/{name} waits for approval. Approve it with"
    yield f"  python -m controller.sandbox approve {namespace}/{name} \\"
    yield f"    --kubeconfig {stack.admin_kubeconfig}"
    yield "or with kubectl (cmctl is not here), through the status subresource:"
    yield f"  KUBECONFIG={stack.admin_kubeconfig} \\"
    yield f"    {kubectl_approve(namespace, name)}"


def kubectl_approve(namespace: str, name: str) -> str:
    """The kubectl command that approves a request (merges an Approved condition into status;
    an undecided request has no other condition)."""
    return (
        f"kubectl patch certificaterequest -n {namespace} {name} --subresource=status "
        f"--type=merge -p '{KUBECTL_APPROVAL}'"
    )


KUBECTL_APPROVAL: Final = (
    '{"status":{"conditions":[{"type":"Approved","status":"True",'
    '"reason":"kubectl","message":"approved by hand"}]}}'
)


def certificate() -> JSON:
    return {
        "apiVersion": CERTIFICATE_API_VERSION,
        "kind": "Certificate",
        "metadata": {"name": CERTIFICATE, "namespace": NAMESPACE},
        "spec": {
            "secretName": SECRET,
            "commonName": NAMES[0],
            "dnsNames": NAMES,
            "privateKey": {"algorithm": "ECDSA", "size": 256},
            "issuerRef": issuer_ref("ZeroSSLClusterIssuer", ISSUER),
        },
    }


async def wait_for_secret(stack: Stack, timeout: float) -> list[x509.Certificate]:
    async def probe() -> list[x509.Certificate] | None:
        secret = await stack.kube.get("v1", "Secret", SECRET, NAMESPACE)
        data = (secret or {}).get("data") or {}
        if "tls.crt" not in data:
            return None
        return x509.load_pem_x509_certificates(base64.b64decode(data["tls.crt"]))

    return await poll(
        probe, timeout=timeout, describe=lambda: f"Secret {NAMESPACE}/{SECRET} has no tls.crt"
    )


async def issue_one(
    stack: Stack, say: Narrator, deadline: asyncio.Timeout, timeout: float, auto_approve: bool
) -> list[x509.Certificate]:
    cluster = stack.cluster
    secret = await cluster.create_api_key_secret()
    say.say(f"Secret {secret['metadata']['namespace']}/zerossl-api-key holds the API key")
    await cluster.create_issuer("ZeroSSLClusterIssuer", ISSUER, None, ISSUER_SPEC)
    say.say(f"ZeroSSLClusterIssuer {ISSUER} created (HTTP validation); waiting for Ready")
    await cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, timeout=30)
    say.say(f"ZeroSSLClusterIssuer {ISSUER} is Ready")
    await stack.kube.create(certificate())
    say.say(f"Certificate {NAMESPACE}/{CERTIFICATE} for {', '.join(NAMES)} created")
    await poll(
        lambda: stack.kube.get(REQUEST_API_VERSION, "CertificateRequest", REQUEST, NAMESPACE),
        timeout=10,
        describe=lambda: f"the stand-in made no CertificateRequest {NAMESPACE}/{REQUEST}",
    )
    if not auto_approve:
        print("\n".join(approval_commands(stack, NAMESPACE, REQUEST)), flush=True)
        deadline.reschedule(None)
        await cluster.wait_for_request(
            NAMESPACE, REQUEST, condition="Approved", timeout=APPROVAL_WAIT
        )
        deadline.reschedule(asyncio.get_running_loop().time() + timeout)
        say.say(f"CertificateRequest {NAMESPACE}/{REQUEST} approved")
    await cluster.wait_for_request(NAMESPACE, REQUEST, reason="Issued", timeout=timeout)
    say.say(f"CertificateRequest {NAMESPACE}/{REQUEST} is Ready: Issued")
    chain = await wait_for_secret(stack, timeout=10)
    ready = find_condition(
        await stack.kube.get(CERTIFICATE_API_VERSION, "Certificate", CERTIFICATE, NAMESPACE),
        "Ready",
    )
    say.say(f"Certificate {NAMESPACE}/{CERTIFICATE} Ready={(ready or {}).get('status')}")
    return chain


async def wait_for_interrupt() -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


async def demonstrate(
    stack: Stack, say: Narrator, keep: bool, timeout: float, auto_approve: bool
) -> int:
    print("\n".join(addresses(stack)), flush=True)
    try:
        async with asyncio.timeout(timeout) as deadline:
            chain = await issue_one(stack, say, deadline, timeout, auto_approve)
    except DEMO_FAILURES as exc:
        print(f"\ndemo failed: {exc or f'gave up after {timeout}s'}", file=sys.stderr)
        print(stack.replicas[0].process.stderr_tail(), file=sys.stderr)
        return 1
    print()
    print("\n".join(describe(chain)))
    print()
    print("\n".join(kubectl_commands(stack)))
    if keep:
        print("\nThe sandbox keeps running; Ctrl-C stops it (its files stay).", flush=True)
        await wait_for_interrupt()
        say.say("Stopping the sandbox")
    return 0


async def run(keep: bool, timeout: float, auto_approve: bool) -> int:
    say = Narrator()
    if keep:
        say.say("--keep: the sandbox stays up after the certificate is issued, until Ctrl-C")
    else:
        say.say("Tip: `make demo ARGS=--keep` keeps the sandbox up afterwards to look around")
    say.say(
        "This sandbox has no cert-manager; a stand-in "
        + ("auto-approves" if auto_approve else "does NOT approve (--no-auto-approve)")
        + " zerossl.issuer.dev requests and turns Certificates into them (docs/sandbox.md)"
    )
    say.say("Starting: kube-apiserver (RBAC on), ZeroSSL emulator, one controller replica")
    workdir = Path(tempfile.mkdtemp(prefix="zerossl-demo-"))
    options = StackOptions(
        replicas=1,
        authorization=True,
        namespaces=("default", NAMESPACE),
        api_key_secret=None,
        workdir=workdir,
    )
    code = 1
    try:
        async with Stack(options) as stack, asyncio.TaskGroup() as tasks:
            stand_in = tasks.create_task(
                run_stand_in(stack.kube, StandInOptions(auto_approve=auto_approve), say.stand_in)
            )
            try:
                code = await demonstrate(stack, say, keep, timeout, auto_approve)
            finally:
                stand_in.cancel()
    except ProcessFailed as exc:
        print(f"demo failed: the sandbox did not start: {exc}", file=sys.stderr)
    finally:
        if code == 0 and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
            print("\nThe sandbox stopped and its files are removed; --keep keeps them running.")
        else:
            print(
                f"\nThe sandbox's files (kubeconfigs, logs, replica command scripts) are kept in "
                f"{workdir}\n  remove them with: rm -rf {workdir}",
                flush=True,
            )
    return code


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.sandbox demo",
        description="Issue one certificate through the controller against the sandbox.",
    )
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    parser.add_argument(
        "--no-auto-approve",
        action="store_true",
        help="leave approving the request to you (the demo prints how)",
    )
    parser.add_argument(
        "--timeout", type=float, default=50.0, help="bound on issuing (seconds, default 50)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args.keep, args.timeout, not args.no_auto_approve))
    return 130
