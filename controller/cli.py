"""Command line: ``zerossl-issuer [run|config] [--flag value ...]``.

``run`` (the default) runs the controller; ``config`` prints the effective settings as JSON.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
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
        default="run",
        choices=["run", "config"],
        help="run the controller (default) or print the effective settings as JSON",
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
    # Set before prometheus_client is first imported: no *_created series.
    os.environ.setdefault("PROMETHEUS_DISABLE_CREATED_SERIES", "True")
    from controller.app import run  # noqa: PLC0415 (keeps `config` light)

    return run(settings)
