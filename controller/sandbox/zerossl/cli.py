"""``python -m controller.sandbox zerossl ...``: serve the emulator until SIGINT/SIGTERM.

Prints the base URL as the first line on stdout once listening.
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import orjson

from controller.sandbox.zerossl.emulator import ZeroSSLEmulator
from controller.sandbox.zerossl.faults import Faults
from controller.sandbox.zerossl.http_api import ENDPOINTS
from controller.sandbox.zerossl.issuance import IssuanceDelay
from controller.sandbox.zerossl.resolver import Address, parse_address
from controller.sandbox.zerossl.rules import DEFAULT_MAX_DOMAINS, Rules

FREE_PLAN_QUOTA = 3


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    asyncio.run(_serve(args))
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m controller.sandbox zerossl", description="Emulated ZeroSSL REST API"
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port")
    parser.add_argument(
        "--account",
        action="append",
        default=[],
        type=_account,
        metavar="KEY[:QUOTA]",
        help="paid account (no QUOTA: unlimited); repeatable",
    )
    parser.add_argument(
        "--free-account",
        action="append",
        default=[],
        type=_account,
        metavar="KEY[:QUOTA]",
        help=f"free-plan account (default quota {FREE_PLAN_QUOTA}); repeatable",
    )
    parser.add_argument(
        "--resolve", action="append", default=[], type=_resolve, metavar="DOMAIN=HOST:PORT"
    )
    parser.add_argument("--default-resolve", type=_address, metavar="HOST:PORT")
    parser.add_argument("--dns", type=_address, metavar="HOST:PORT", help="DNS for CNAME checks")
    parser.add_argument(
        "--issuance-delay",
        type=IssuanceDelay.parse,
        default=IssuanceDelay(),
        metavar="SPEC",
        help="zero | SECONDS | fixed:SECONDS | uniform:LOW:HIGH (default zero)",
    )
    parser.add_argument("--rate-limit", type=float, metavar="RPS", help="per access key")
    parser.add_argument("--rate-burst", type=int, metavar="N", help="default: ceil(RPS)")
    parser.add_argument(
        "--retry-after", type=int, metavar="SECONDS", help="send Retry-After on 429"
    )
    parser.add_argument("--dcv-timeout", type=float, default=5.0, metavar="SECONDS")
    parser.add_argument("--faults", type=_faults, metavar="JSON", help="as PUT /_emulator/faults")
    parser.add_argument("--seed", type=int, help="seed for delays and fault draws")
    parser.add_argument("--accept-empty-cn", action="store_true")
    parser.add_argument("--max-domains", type=int, default=DEFAULT_MAX_DOMAINS)
    return parser


async def _serve(args: argparse.Namespace) -> None:
    emulator = ZeroSSLEmulator(
        args.host,
        args.port,
        issuance_delay=args.issuance_delay,
        rate_limit=args.rate_limit,
        rate_burst=args.rate_burst,
        retry_after=args.retry_after,
        dcv_timeout=args.dcv_timeout,
        rules=Rules(accept_empty_cn=args.accept_empty_cn, max_domains=args.max_domains),
        faults=args.faults,
        seed=args.seed,
    )
    for key, quota in args.account:
        emulator.add_account(key, quota=quota)
    for key, quota in args.free_account:
        emulator.add_account(key, quota=FREE_PLAN_QUOTA if quota is None else quota, paid=False)
    for domain, (host, port) in args.resolve:
        emulator.resolve(domain, host, port)
    if args.default_resolve:
        emulator.resolve_default(*args.default_resolve)
    if args.dns:
        emulator.set_dns_server(*args.dns)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with emulator:
        print(emulator.url, flush=True)
        await stop.wait()


def _account(text: str) -> tuple[str, int | None]:
    key, sep, quota = text.partition(":")
    if not key or (sep and not quota.isdigit()):
        raise argparse.ArgumentTypeError(f"expected KEY or KEY:QUOTA, got {text!r}")
    return key, int(quota) if sep else None


def _address(text: str) -> Address:
    try:
        return parse_address(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _resolve(text: str) -> tuple[str, Address]:
    domain, sep, address = text.partition("=")
    if not sep or not domain:
        raise argparse.ArgumentTypeError(f"expected DOMAIN=HOST:PORT, got {text!r}")
    return domain, _address(address)


def _faults(text: str) -> Faults:
    try:
        data = orjson.loads(text)
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return Faults.from_json(data, ENDPOINTS)
    except (orjson.JSONDecodeError, ValueError) as exc:
        raise argparse.ArgumentTypeError(f"bad --faults: {exc}") from None
