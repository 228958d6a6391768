"""A small Dockerfile reader and the image rules this project holds its Dockerfile to.

``instructions`` joins continuation lines and drops comments; ``problems`` checks: more than
one stage, a final stage that runs as a numeric non-root user, installs no build tools and
starts the ``zerossl-issuer`` console script in exec form.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

BUILD_TOOLS = re.compile(
    r"\b(build-essential|gcc|g\+\+|clang|make|cmake|cargo|rustc|[a-z0-9.+-]*-dev)\b"
)
NUMERIC_USER = re.compile(r"(\d+)(?::(\d+))?")


@dataclass(frozen=True, slots=True)
class Instruction:
    keyword: str
    arguments: str


def instructions(text: str) -> list[Instruction]:
    """Instructions in order; continuation lines joined, comments and blank lines dropped."""
    result: list[Instruction] = []
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        pending = f"{pending} {line[:-1].strip()}" if line.endswith("\\") else f"{pending} {line}"
        if line.endswith("\\"):
            continue
        keyword, _, arguments = pending.strip().partition(" ")
        result.append(Instruction(keyword.upper(), arguments.strip()))
        pending = ""
    return result


def stages(text: str) -> list[list[Instruction]]:
    """Instructions grouped by build stage, each starting with its FROM."""
    grouped: list[list[Instruction]] = []
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            grouped.append([])
        if grouped:
            grouped[-1].append(instruction)
    return grouped


def problems(text: str, entrypoint: list[str]) -> list[str]:
    """Every image rule the Dockerfile breaks ([] when it meets them all)."""
    found: list[str] = []
    built = stages(text)
    if len(built) < 2:
        return ["not a multi-stage build"]
    final = built[-1]
    users = [i.arguments for i in final if i.keyword == "USER"]
    match = NUMERIC_USER.fullmatch(users[-1]) if users else None
    if match is None:
        found.append("final stage: USER must be a numeric uid[:gid]")
    elif int(match.group(1)) == 0 or match.group(2) == "0":
        found.append("final stage: USER must not be root")
    for instruction in final:
        if instruction.keyword == "RUN" and BUILD_TOOLS.search(instruction.arguments):
            found.append(f"final stage: build tools installed: RUN {instruction.arguments}")
    copies = [i.arguments for i in final if i.keyword == "COPY"]
    if not any(c.startswith("--from=") for c in copies):
        found.append("final stage: copies nothing from an earlier stage")
    if any(not c.startswith("--from=") for c in copies):
        found.append("final stage: copies from the build context (only build outputs belong)")
    entrypoints = [i.arguments for i in final if i.keyword == "ENTRYPOINT"]
    try:
        exec_form = json.loads(entrypoints[-1]) if entrypoints else None
    except json.JSONDecodeError:
        exec_form = None
    if exec_form != entrypoint:
        found.append(f"final stage: ENTRYPOINT must be the exec form {json.dumps(entrypoint)}")
    return found
