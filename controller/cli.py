"""Command line: ``zerossl-issuer config [--flag value ...]`` prints the effective settings."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Sequence

import orjson

from controller import config


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zerossl-issuer",
        description="cert-manager external issuer for ZeroSSL",
        parents=[config.argument_parser()],
    )
    parser.add_argument(
        "command",
        nargs="?",
        default="config",
        choices=["config"],
        help="print the effective settings as JSON",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    parsed, _ = _parser().parse_known_args(args)
    flags = [a for a in args if a != parsed.command]
    try:
        settings = config.load(argv=flags)
    except config.ConfigError as exc:
        print(f"zerossl-issuer: invalid setting: {exc}", file=sys.stderr)
        return 2
    if parsed.command == "config":
        sys.stdout.write(
            orjson.dumps(dataclasses.asdict(settings), option=orjson.OPT_INDENT_2).decode()
        )
        sys.stdout.write("\n")
        return 0
    return 0
