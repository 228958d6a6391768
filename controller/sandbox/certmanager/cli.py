"""``python -m controller.sandbox cert-manager``: the stand-in for cert-manager against any
API server (the sandbox's, or a real one with cert-manager's CRDs and no cert-manager);
``python -m controller.sandbox approve NS/NAME``: approve (or ``--deny``) one request."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import time

from controller.sandbox.stack.cluster import APPROVED_MESSAGE, DENIED_MESSAGE, Decision, decide
from controller.sandbox.stack.kubeapi import KubeError

from . import kubeconfig
from .standin import StandInOptions, run_stand_in


def _say(text: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {text}", flush=True)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.sandbox cert-manager",
        description="Stand in for cert-manager: approve zerossl.issuer.dev CertificateRequests "
        "and turn Certificates into CertificateRequests and Secrets, until Ctrl-C.",
    )
    kubeconfig.add_argument(parser)
    parser.add_argument(
        "--no-auto-approve", action="store_true", help="leave approval to you (see `approve`)"
    )
    parser.add_argument("--no-certificates", action="store_true", help="do not act on Certificates")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between passes")
    args = parser.parse_args(argv)
    options = StandInOptions(
        auto_approve=not args.no_auto_approve,
        certificates=not args.no_certificates,
        interval=args.interval,
    )
    try:
        access = kubeconfig.load(args.kubeconfig)
    except ValueError as exc:
        print(f"cert-manager stand-in: {exc}", file=sys.stderr)
        return 2

    async def serve() -> None:
        async with access.client() as kube:
            _say(f"cert-manager stand-in on {access.url}: {describe(options)}")
            await run_stand_in(kube, options, _say)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


def describe(options: StandInOptions) -> str:
    approval = "auto-approving" if options.auto_approve else "NOT approving (use `approve`)"
    certificates = "syncing Certificates" if options.certificates else "ignoring Certificates"
    return f"{approval} zerossl.issuer.dev CertificateRequests, {certificates}"


def approve_main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m controller.sandbox approve",
        description="Approve (or deny) a CertificateRequest as cert-manager's approver does.",
    )
    parser.add_argument("request", metavar="NAMESPACE/NAME")
    parser.add_argument("--deny", action="store_true", help="deny it instead")
    parser.add_argument("--message", help="the condition's message")
    kubeconfig.add_argument(parser)
    args = parser.parse_args(argv)
    namespace, _, name = args.request.partition("/")
    if not namespace or not name:
        parser.error(f"expected NAMESPACE/NAME, got {args.request!r}")
    kind: Decision = "Denied" if args.deny else "Approved"
    message = args.message or (DENIED_MESSAGE if args.deny else APPROVED_MESSAGE)

    async def act() -> None:
        async with kubeconfig.load(args.kubeconfig).client() as kube:
            await decide(kube, namespace, name, kind, message)

    try:
        asyncio.run(act())
    except (ValueError, LookupError, KubeError) as exc:  # AlreadyDecided is a ValueError
        print(f"approve: {exc}", file=sys.stderr)
        return 1
    print(f"CertificateRequest {namespace}/{name} {kind.lower()}")
    return 0
