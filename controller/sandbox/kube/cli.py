"""``python -m controller.sandbox kube``: serve the emulated API server until SIGINT/SIGTERM.

Prints the kubeconfig path (one line on stdout) once the server accepts connections.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from pathlib import Path

from .server import KubeAPIServer
from .status import StatusError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m controller.sandbox kube",
        description="Emulated kube-apiserver for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6443, help="0 picks a free port")
    parser.add_argument(
        "--kubeconfig",
        type=Path,
        default=Path(".sandbox/kubeconfig"),
        help="where to write the admin kubeconfig",
    )
    parser.add_argument(
        "--crds",
        action="append",
        default=[],
        type=Path,
        metavar="DIR_OR_FILE",
        help="CRD YAML to register (repeatable)",
    )
    parser.add_argument("--http", action="store_true", help="serve plain HTTP instead of TLS")
    parser.add_argument(
        "--authorization",
        action="store_true",
        help="enforce RBAC from the stored Roles and bindings",
    )
    parser.add_argument("--bookmark-interval", type=float, default=60.0, metavar="S")
    parser.add_argument(
        "--history",
        type=int,
        default=10_000,
        metavar="N",
        help="watch events kept per resource before 410 Expired",
    )
    parser.add_argument(
        "--watch-capacity",
        type=int,
        default=10_000,
        metavar="N",
        help="queued events per watcher before it is closed as too slow",
    )
    parser.add_argument(
        "--namespace-grace",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds a deleted namespace waits before its contents are deleted (as the real "
        "namespace controller)",
    )
    return parser


async def serve(args: argparse.Namespace) -> int:
    try:
        server = KubeAPIServer(
            args.host,
            args.port,
            tls=not args.http,
            authorization=args.authorization,
            bookmark_interval=args.bookmark_interval,
            history=args.history,
            watch_capacity=args.watch_capacity,
            namespace_grace=args.namespace_grace,
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    async with server:
        try:
            server.register_crds(args.crds)
        except (OSError, StatusError) as exc:
            print(f"error: cannot register CRDs: {exc}", file=sys.stderr)
            return 1
        path = server.write_kubeconfig(args.kubeconfig)
        print(path, flush=True)
        print(f"serving {server.url}", file=sys.stderr, flush=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    return 0


def main(argv: list[str]) -> int:
    return asyncio.run(serve(_parser().parse_args(argv)))
