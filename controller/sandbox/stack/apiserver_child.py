"""``python -m controller.sandbox.stack.apiserver_child``: the stack's API server in its own
process. Prints one JSON line (:class:`ApiServerAccess`: URL, admin token, CA, tokens for the
``--service-account`` arguments) once listening, then serves until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from .apiserver import ApiServerAccess, ApiServerSettings, issue_tokens, new_server


def _service_account(text: str) -> tuple[str, str]:
    namespace, sep, name = text.partition("/")
    if not sep or not namespace or not name:
        raise argparse.ArgumentTypeError(f"expected NAMESPACE/NAME, got {text!r}")
    return namespace, name


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m controller.sandbox.stack.apiserver_child")
    parser.add_argument("--authorization", action="store_true", help="enforce RBAC")
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    parser.add_argument("--history", type=int, default=10_000)
    parser.add_argument("--service-account", action="append", default=[], type=_service_account)
    return parser


async def _serve(args: argparse.Namespace) -> None:
    settings = ApiServerSettings(
        authorization=args.authorization,
        bookmark_interval=args.bookmark_interval,
        history=args.history,
        service_accounts=tuple(args.service_account),
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with new_server(settings) as server:
        tokens = issue_tokens(server, settings.service_accounts)
        access = ApiServerAccess(server.url, server.admin_token, server.ca_pem, tokens)
        sys.stdout.write(access.to_json().decode() + "\n")
        sys.stdout.flush()
        await stop.wait()


def main(argv: list[str]) -> int:
    asyncio.run(_serve(_parser().parse_args(argv)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
