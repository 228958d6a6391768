"""Another commit's controller, for A/B runs (``bench --ab REF``): that commit's ``controller/``
extracted with ``git archive`` into a git-ignored cache keyed by the full commit sha (reused
when present), and how a replica runs it.

Invariants: a tree in the cache is whole (extracted aside, then renamed into place); a
process started with :attr:`ControllerSource.command` and :attr:`ControllerSource.env` imports
the extracted ``controller``, never this checkout's: ``-P`` keeps the working directory off
``sys.path`` and ``PYTHONPATH`` comes before the site-packages, where this checkout is
installed (editable). :func:`imported_from` asks such a process where its code came from.
Only the controller differs: the emulators, API server, load generator and checks are this
checkout's.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from .results import REPO_ROOT

CACHE: Final = REPO_ROOT / ".ab-cache"
PACKAGE: Final = "controller"
GIT_TIMEOUT: Final = 60.0


class RevisionError(Exception):
    """The commit cannot be resolved or extracted, or its controller does not import."""


@dataclass(frozen=True, slots=True)
class ControllerSource:
    """``controller/`` of ``commit`` (full sha), extracted under ``tree``."""

    commit: str
    tree: Path

    @property
    def short(self) -> str:
        return self.commit[:7]

    @property
    def command(self) -> tuple[str, ...]:
        return (sys.executable, "-P", "-m", PACKAGE, "run")

    @property
    def env(self) -> dict[str, str]:
        return {"PYTHONPATH": str(self.tree)}


def resolve(ref: str, repo: Path = REPO_ROOT) -> str:
    """The full sha of the commit ``ref`` names."""
    try:
        return _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").decode().strip()
    except RevisionError as exc:
        raise RevisionError(f"{ref!r} names no commit of {repo}") from exc


def extract(ref: str, *, repo: Path = REPO_ROOT, cache: Path = CACHE) -> ControllerSource:
    """The controller of commit ``ref``, extracted into ``cache/<sha>`` unless already there."""
    commit = resolve(ref, repo)
    tree = cache / commit
    if not (tree / PACKAGE / "__init__.py").is_file():
        archive = _git(repo, "archive", "--format=tar", commit, PACKAGE)
        cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{commit}-", dir=cache))
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(partial, filter="data")
        try:
            partial.rename(tree)
        except OSError:  # extracted meanwhile by another run: keep that one
            shutil.rmtree(partial)
            if not (tree / PACKAGE / "__init__.py").is_file():
                raise
    return ControllerSource(commit, tree)


def imported_from(source: ControllerSource) -> Path:
    """Where a process started as a replica of ``source`` is (command and environment, from
    this checkout's directory) imports ``controller`` from, once it has imported the app."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | source.env
    probe = "import controller.app, controller; print(controller.__file__)"
    done = subprocess.run(
        [*source.command[:2], "-c", probe],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=GIT_TIMEOUT,
        check=False,
    )
    if done.returncode != 0:
        raise RevisionError(f"the controller of {source.short} does not import: {done.stderr}")
    return Path(done.stdout.strip())


def checked(source: ControllerSource) -> ControllerSource:
    """``source``, once a replica-like process is seen to import its tree (not this checkout)."""
    found = imported_from(source)
    if not found.is_relative_to(source.tree):
        raise RevisionError(f"a replica of {source.short} would import {found}, not its tree")
    return source


def _git(repo: Path, *arguments: str) -> bytes:
    command = f"git {' '.join(arguments)}"
    try:
        return subprocess.run(
            ["git", *arguments], cwd=repo, capture_output=True, check=True, timeout=GIT_TIMEOUT
        ).stdout
    except subprocess.CalledProcessError as exc:
        detail = exc.stderr.decode(errors="replace").strip()
        raise RevisionError(f"{command} failed in {repo}: {detail}") from None
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RevisionError(f"{command} failed in {repo}: {exc}") from None
