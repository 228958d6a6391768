"""The Dockerfile builds a slim, non-root image that runs the console script (checked by
reading it: there is no container engine here)."""

from __future__ import annotations

import tomllib

import pytest

from tests.manifests.dockerfile import instructions, problems, stages
from tests.manifests.render import ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()
SCRIPT = "zerossl-issuer"


def test_console_script_exists() -> None:
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    assert SCRIPT in scripts


def test_dockerfile_meets_the_image_rules() -> None:
    assert problems(DOCKERFILE, [SCRIPT]) == []


def test_stages_share_one_slim_python_base() -> None:
    args = {
        i.arguments.partition("=")[0]: i.arguments.partition("=")[2]
        for i in instructions(DOCKERFILE)
        if i.keyword == "ARG"
    }
    bases = [stage[0].arguments.split()[0] for stage in stages(DOCKERFILE)]
    resolved = {args.get(b.strip("${}"), b) for b in bases}
    assert len(resolved) == 1
    (base,) = resolved
    assert base.startswith("python:3.11-slim")


def test_dockerignore_lets_the_copied_sources_in() -> None:
    ignore = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert ignore[0] == "*", "the context should start from nothing"
    sources = {
        part.rstrip("/")
        for stage in stages(DOCKERFILE)
        for i in stage
        if i.keyword == "COPY" and not i.arguments.startswith("--from=")
        for part in i.arguments.split()[:-1]
    }
    assert sources == {"pyproject.toml", "README.md", "controller"}
    for source in sources:
        assert f"!{source}" in ignore or f"!{source}/" in ignore, source
        assert (ROOT / source).exists()


GOOD = """
FROM python:3.11-slim AS builder
RUN python -m venv /opt/venv && \\
    /opt/venv/bin/pip install .
FROM python:3.11-slim
COPY --from=builder /opt/venv /opt/venv
USER 65532:65532
ENTRYPOINT ["zerossl-issuer"]
"""


@pytest.mark.parametrize(
    ("broken", "expected"),
    [
        (GOOD.split("FROM python:3.11-slim\n", maxsplit=1)[0], "not a multi-stage build"),
        (GOOD.replace("USER 65532:65532", "USER app"), "numeric"),
        (GOOD.replace("USER 65532:65532", "USER 0"), "must not be root"),
        (GOOD.replace("USER 65532:65532\n", ""), "numeric"),
        (
            GOOD.replace("USER", "RUN apt-get install -y build-essential\nUSER"),
            "build tools installed",
        ),
        (GOOD.replace("USER", "RUN apt-get install -y \\\n  libpq-dev\nUSER"), "build tools"),
        (GOOD.replace("COPY --from=builder", "COPY"), "build context"),
        (GOOD.replace('["zerossl-issuer"]', "zerossl-issuer"), "ENTRYPOINT"),
        (GOOD.replace('["zerossl-issuer"]', '["python", "-m", "x"]'), "ENTRYPOINT"),
    ],
)
def test_rules_catch_bad_dockerfiles(broken: str, expected: str) -> None:
    assert problems(GOOD, [SCRIPT]) == []
    found = problems(broken, [SCRIPT])
    assert any(expected in p for p in found), found


def test_continuations_and_comments() -> None:
    parsed = instructions("# c\nRUN a \\\n  # a comment inside a continuation\n  b\nUSER 1\n")
    assert [(i.keyword, i.arguments) for i in parsed] == [("RUN", "a b"), ("USER", "1")]
