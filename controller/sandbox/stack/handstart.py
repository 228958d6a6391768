"""Replicas started by hand: the script that starts one as the stack did, and the solver
endpoints such replicas register so that the solver Service proxy forwards to them.

Each replica's start writes ``<logdir>/command.sh``: ``cd`` to where the stack ran it, its
``ZEROSSL_ISSUER_*`` settings (each overridable from the caller's environment, e.g. other
ports for a second replica), ``KUBECONFIG`` pinned to the controller's kubeconfig (the token
stays in that file), then the command. Values of variables whose names look secret are not
written: the script asks for them. Before starting, the script writes its solver address into
``<registry>/<pod name>``; :func:`registered` reads that directory on every call, skipping
what does not parse.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Final

from .ports import LOOPBACK

Address = tuple[str, int]
SCRIPT_NAME: Final = "command.sh"
PINNED: Final = frozenset({"KUBECONFIG", "PYTHONUNBUFFERED"})
SECRET_NAME: Final = re.compile(r"TOKEN|SECRET|PASSWORD|PASSWD|KEY|CREDENTIAL|AUTH", re.I)


def render_script(
    name: str,
    argv: Sequence[str],
    settings: Mapping[str, str],
    *,
    cwd: Path | None,
    registry: Path | None,
) -> str:
    """The shell script that starts replica ``name`` with ``settings`` (its environment
    beyond what it inherits) and ``argv``."""
    lines = [
        "#!/bin/sh",
        f"# Starts {name} as the sandbox stack did. Stop the stack's {name} first (same",
        "# ports), or give this one others, e.g.:",
        "#   ZEROSSL_ISSUER_POD_NAME=by-hand ZEROSSL_ISSUER_SOLVER_ADDR=127.0.0.1:18089 \\",
        "#   ZEROSSL_ISSUER_METRICS_ADDR=127.0.0.1:18080 \\",
        "#   ZEROSSL_ISSUER_PROBE_ADDR=127.0.0.1:18081 \\",
        f"#   sh {SCRIPT_NAME}",
        "# The API token is in the kubeconfig file; the ZeroSSL key is in a Secret in the cluster.",
        "set -e",
    ]
    if cwd is not None:
        lines.append(f"cd {shlex.quote(str(cwd))}")
    for variable, value in sorted(settings.items()):
        if variable in PINNED:
            lines.append(f"{variable}={shlex.quote(value)}; export {variable}")
        elif SECRET_NAME.search(variable):
            lines.append(f': "${{{variable}:?set {variable}: its value is not recorded}}"')
            lines.append(f"export {variable}")
        else:
            lines.append(f"{variable}=${{{variable}-{shlex.quote(value)}}}; export {variable}")
    if registry is not None:
        where = shlex.quote(str(registry))
        lines.append(f"mkdir -p {where}")
        lines.append(
            f'printf \'%s\\n\' "$ZEROSSL_ISSUER_SOLVER_ADDR" > {where}/"$ZEROSSL_ISSUER_POD_NAME"'
        )
    lines.append(f'exec {shlex.join(argv)} "$@"')
    return "\n".join(lines) + "\n"


def write_script(logdir: Path, text: str) -> Path:
    path = logdir / SCRIPT_NAME
    logdir.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(0o700)
    return path


def parse_address(text: str) -> Address | None:
    """``host:port`` (an empty host or ``0.0.0.0`` means loopback); None if it does not parse."""
    host, sep, port = text.strip().rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    host = host.strip("[]")
    return (LOOPBACK if host in ("", "0.0.0.0", "::") else host), int(port)  # noqa: S104


def registered(registry: Path) -> list[Address]:
    """The addresses written into ``registry`` (none when it does not exist)."""
    try:
        entries = sorted(registry.iterdir())
    except FileNotFoundError:
        return []
    found: list[Address] = []
    for entry in entries:
        try:
            address = parse_address(entry.read_text())
        except OSError:
            continue
        if address is not None:
            found.append(address)
    return found
