"""The layering contracts in pyproject.toml (``make lint`` runs lint-imports) hold on this tree
and break on a forbidden import: each case adds one import to a copy of the sources."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.manifests.render import ROOT

LINT = Path(sys.executable).with_name("lint-imports")


def lint(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT), "--no-cache"],
        cwd=tree,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def copy_of_the_sources(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(
        ROOT / "controller", tmp_path / "controller", ignore=shutil.ignore_patterns("__pycache__")
    )
    return tmp_path


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    done = lint(copy_of_the_sources(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:]
    assert "0 broken" in done.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        (
            "kube/backoff.py",
            "from controller.observability import metrics",
            "kube/ is generic plumbing",
        ),
        ("kube/backoff.py", "from controller.config import Settings", "kube/ is generic plumbing"),
        ("kube/backoff.py", "import controller.issuer.api", "cli > app > issuer"),
        ("observability/redact.py", "import controller.zerossl.fields", "cli > app > issuer"),
        ("zerossl/fields.py", "import controller.kube.resource", "cli > app > issuer"),
        ("app.py", "import controller.sandbox", "production code never imports the test world"),
        (
            "sandbox/__init__.py",
            "import controller.clock",
            "the sandbox imports nothing of the controller outside itself",
        ),
    ],
    ids=["kube-catalog", "kube-settings", "kube-issuer", "obs-zerossl", "siblings", "app", "sbx"],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    tree = copy_of_the_sources(tmp_path)
    path = tree / "controller" / module
    path.write_text(path.read_text() + f"\n{line}  # forbidden\n")
    done = lint(tree)
    assert done.returncode == 1, done.stdout[-3000:]
    broken = done.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
