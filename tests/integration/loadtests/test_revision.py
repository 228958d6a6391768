"""A/B runs' other controller (``loadtests.revision``): a commit's ``controller/`` extracted
into the cache, reused, and what a replica started from it really imports."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from controller.sandbox.stack import Replica
from controller.sandbox.stack.ports import PortAllocator
from loadtests.harness import SystemSettings
from loadtests.revision import RevisionError, checked, extract, imported_from, resolve

pytestmark = pytest.mark.integration

PRINTS_ITS_FILE = "import controller\nprint('imported', controller.__file__, flush=True)\n"


def git(repo: Path, *arguments: str) -> str:
    return subprocess.run(
        ["git", *arguments], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()


@pytest.fixture
def other_repo(tmp_path: Path) -> Path:
    """A repository whose one commit has a ``controller`` package that says where it is."""
    repo = tmp_path / "other"
    (repo / "controller").mkdir(parents=True)
    (repo / "controller" / "__init__.py").write_text("")
    (repo / "controller" / "app.py").write_text("")
    (repo / "controller" / "__main__.py").write_text(PRINTS_ITS_FILE)
    (repo / "outside.txt").write_text("not part of the controller")
    git(repo, "init", "-q")
    git(repo, "add", ".")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "one")
    return repo


async def test_a_replica_of_the_extracted_commit_runs_its_code(
    other_repo: Path, tmp_path: Path
) -> None:
    source = extract("HEAD", repo=other_repo, cache=tmp_path / "cache")
    assert source.commit == git(other_repo, "rev-parse", "HEAD")
    assert source.tree == tmp_path / "cache" / source.commit
    assert sorted(p.name for p in source.tree.iterdir()) == ["controller"]
    replica = Replica(
        0,
        SystemSettings(controller_source=source).controller_options(),
        kubeconfig=tmp_path / "kubeconfig",
        zerossl_url="http://127.0.0.1:9",
        logdir=tmp_path / "replica",
        ports=PortAllocator(),
    )
    await replica.start(ready=False)  # from this checkout's directory, its controller beside
    assert await replica.wait_exit(30) == 0
    printed = replica.stdout_path.read_text()
    assert f"imported {source.tree / 'controller' / '__init__.py'}" in printed
    assert imported_from(source) == source.tree / "controller" / "__init__.py"


def test_a_cached_tree_is_reused(other_repo: Path, tmp_path: Path) -> None:
    first = extract("HEAD", repo=other_repo, cache=tmp_path / "cache")
    mark = first.tree / "controller" / "kept.txt"
    mark.write_text("still here")
    assert extract(first.commit[:7], repo=other_repo, cache=tmp_path / "cache") == first
    assert mark.read_text() == "still here"
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [first.commit]


def test_this_repositorys_controller_imports_from_its_extracted_tree(tmp_path: Path) -> None:
    source = checked(extract("HEAD", cache=tmp_path / "cache"))
    assert imported_from(source).is_relative_to(tmp_path / "cache")


def test_a_ref_naming_no_commit_is_refused(other_repo: Path) -> None:
    with pytest.raises(RevisionError, match="names no commit"):
        resolve("no-such-ref", other_repo)
