"""``python -m controller.sandbox demo [--keep]`` (``make demo``): one certificate end to end.

Starts the stack (API server with RBAC enforced, ZeroSSL emulator, one controller replica),
then does what a user and cert-manager would: the API-key Secret, a ZeroSSLClusterIssuer with
an HTTP solver, an approved CertificateRequest; waits until it is issued and prints the
certificate and the kubectl commands to look around. ``--keep`` keeps everything running until
Ctrl-C. Every wait is bounded; the whole run is bounded by ``--timeout``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
import time
from collections.abc import Iterator

from cryptography import x509

from controller.sandbox.stack import (
    KubeError,
    ProcessFailed,
    RequestFailed,
    Stack,
    StackOptions,
    issuer_ref,
    make_csr,
)

NAMESPACE = "demo"
REQUEST = "demo-cert"
ISSUER = "zerossl"
NAMES = ["demo.zerossl-issuer.dev", "www.demo.zerossl-issuer.dev"]
ISSUER_SPEC = {
    "apiKeySecretRef": {"name": "zerossl-api-key", "key": "api-key"},
    "solvers": [{"http": {"none": {}}}],
}
DEMO_FAILURES = (ProcessFailed, RequestFailed, KubeError, TimeoutError)


class Narrator:
    """Prints each step with the seconds elapsed since the demo started."""

    def __init__(self) -> None:
        self._start = time.monotonic()

    def say(self, text: str) -> None:
        print(f"[{time.monotonic() - self._start:5.1f}s] {text}", flush=True)


def describe(chain: list[x509.Certificate]) -> Iterator[str]:
    leaf = chain[0]
    sans = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    yield f"Issued certificate (chain of {len(chain)}):"
    yield f"  subject:  {leaf.subject.rfc4514_string()}"
    yield f"  names:    {', '.join(sans.get_values_for_type(x509.DNSName))}"
    yield f"  issuer:   {leaf.issuer.rfc4514_string()}"
    yield (
        f"  valid:    {leaf.not_valid_before_utc:%Y-%m-%d %H:%M} UTC"
        f" to {leaf.not_valid_after_utc:%Y-%m-%d %H:%M} UTC"
    )
    yield f"  serial:   {leaf.serial_number:x}"


def kubectl_commands(stack: Stack) -> Iterator[str]:
    yield "Look around with kubectl:"
    yield f"  export KUBECONFIG={stack.admin_kubeconfig}"
    yield "  kubectl get zerosslclusterissuers"
    yield "  kubectl get certificaterequests,zerosslorders -A"
    yield f"  kubectl describe certificaterequest -n {NAMESPACE} {REQUEST}"
    yield f"  kubectl get zerosslorder -n {NAMESPACE} {REQUEST} -o yaml"
    yield f"  kubectl get events -n {NAMESPACE}"
    yield f"Controller logs (JSON): {stack.replicas[0].stderr_path}"
    yield f"                        {stack.replicas[0].stdout_path}"


async def issue_one(stack: Stack, say: Narrator) -> list[x509.Certificate]:
    cluster = stack.cluster
    secret = await cluster.create_api_key_secret()
    say.say(f"Secret {secret['metadata']['namespace']}/zerossl-api-key holds the API key")
    await cluster.create_issuer("ZeroSSLClusterIssuer", ISSUER, None, ISSUER_SPEC)
    say.say(f"ZeroSSLClusterIssuer {ISSUER} created (HTTP validation); waiting for Ready")
    await cluster.wait_for_issuer("ZeroSSLClusterIssuer", ISSUER, timeout=30)
    say.say(f"ZeroSSLClusterIssuer {ISSUER} is Ready")
    ref = issuer_ref("ZeroSSLClusterIssuer", ISSUER)
    await cluster.create_certificate_request(NAMESPACE, REQUEST, make_csr(NAMES), ref)
    say.say(f"CertificateRequest {NAMESPACE}/{REQUEST} for {', '.join(NAMES)} created and approved")
    await cluster.wait_for_request(NAMESPACE, REQUEST, reason="Issued", timeout=45)
    say.say(f"CertificateRequest {NAMESPACE}/{REQUEST} is Ready: Issued")
    return await cluster.issued_chain(NAMESPACE, REQUEST)


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


async def run(keep: bool, timeout: float) -> int:
    say = Narrator()
    say.say("Starting the sandbox: kube-apiserver (RBAC on), ZeroSSL emulator, one controller")
    options = StackOptions(
        replicas=1,
        authorization=True,
        namespaces=("default", NAMESPACE),
        api_key_secret=None,
    )
    try:
        async with Stack(options) as stack:
            say.say(f"Sandbox up: API server {stack.access.url}, ZeroSSL {stack.zerossl_url}")
            try:
                async with asyncio.timeout(timeout):
                    chain = await issue_one(stack, say)
            except DEMO_FAILURES as exc:
                print(f"\ndemo failed: {exc or f'gave up after {timeout}s'}", file=sys.stderr)
                print(stack.replicas[0].process.stderr_tail(), file=sys.stderr)
                return 1
            print()
            print("\n".join(describe(chain)))
            print()
            print("\n".join(kubectl_commands(stack)))
            if not keep:
                print("\nThe sandbox stops now; add --keep to keep it running for these commands.")
                return 0
            print("\nThe sandbox keeps running; Ctrl-C stops it and removes its files.", flush=True)
            await wait_for_interrupt()
            say.say("Stopping the sandbox")
    except ProcessFailed as exc:
        print(f"demo failed: the sandbox did not start: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.sandbox demo",
        description="Issue one certificate through the controller against the sandbox.",
    )
    parser.add_argument("--keep", action="store_true", help="keep running until Ctrl-C")
    parser.add_argument(
        "--timeout", type=float, default=50.0, help="bound on issuing (seconds, default 50)"
    )
    args = parser.parse_args(argv)
    with contextlib.suppress(KeyboardInterrupt):
        return asyncio.run(run(args.keep, args.timeout))
    return 130
