"""docs/sandbox.md and the README's demo section say what the sandbox does: the kubectl
approval payload is the one the demo prints (and tests run), and every documented
``python -m controller.sandbox`` option exists."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from controller.sandbox.demo import KUBECTL_APPROVAL
from controller.sandbox.stack.manifests import REPO_ROOT

SANDBOX_DOC = (REPO_ROOT / "docs" / "sandbox.md").read_text()
README = (REPO_ROOT / "README.md").read_text()


def test_the_documented_kubectl_approval_is_the_demos() -> None:
    assert f"--subresource=status --type=merge \\\n  -p '{KUBECTL_APPROVAL}'" in SANDBOX_DOC


def documented_options() -> dict[str, set[str]]:
    found: dict[str, set[str]] = {}
    for text in (SANDBOX_DOC, README):
        for component, rest in re.findall(r"python -m controller\.sandbox ([\w-]+)([^\n`]*)", text):
            found.setdefault(component, set()).update(re.findall(r"(--[\w-]+)", rest))
    return found


@pytest.mark.parametrize("component", ["demo", "approve", "cert-manager"])
def test_documented_options_exist(component: str) -> None:
    options = documented_options()[component]
    help_text = subprocess.run(
        [sys.executable, "-m", "controller.sandbox", component, "--help"],
        cwd=REPO_ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    for option in options:
        assert option in help_text, f"{component} has no {option}"


def test_the_demo_options_are_in_the_docs() -> None:
    options = documented_options()
    demo_flags = {"--keep", "--no-auto-approve"}
    assert demo_flags <= options["demo"] | set(re.findall(r"`(--[\w-]+)`", SANDBOX_DOC))
    assert "no cert-manager" in README
    assert "docs/sandbox.md" in README
