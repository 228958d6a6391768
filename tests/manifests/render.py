"""Renders the kustomize tree under manifests/ with ``kubectl kustomize``.

Invariant: a render is a list of plain dicts, exactly what ``kubectl apply -k`` would send;
renders are cached per directory for the test session (the tree does not change under it).
"""

from __future__ import annotations

import copy
import functools
import subprocess
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import yaml

from tests.support import require_binary

ROOT = Path(__file__).resolve().parents[2]
MANIFESTS = ROOT / "manifests"
OVERLAYS = ("default", "ha", "monitoring")
NAMESPACE = "zerossl-issuer-system"

Object = dict[str, Any]


class RenderError(RuntimeError):
    """kubectl kustomize failed; the message carries its stderr."""


def kustomize(directory: Path) -> list[Object]:
    """The objects ``kubectl kustomize <directory>`` builds (a fresh list each call)."""
    return copy.deepcopy(list(_kustomize(directory.resolve())))


@functools.cache
def _kustomize(directory: Path) -> tuple[Object, ...]:
    kubectl = require_binary("kubectl")
    result = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if result.returncode != 0:
        raise RenderError(f"kubectl kustomize {directory} failed:\n{result.stderr.strip()}")
    return tuple(obj for obj in yaml.safe_load_all(result.stdout) if obj)


def overlay(name: str) -> list[Object]:
    return kustomize(MANIFESTS / "overlays" / name)


def load_yaml_files(paths: Iterable[Path]) -> list[Object]:
    """Every non-empty document of the given YAML files, in order."""
    return [obj for path in paths for obj in yaml.safe_load_all(path.read_text()) if obj]


def of_kind(objects: Iterable[Object], kind: str) -> Iterator[Object]:
    return (obj for obj in objects if obj.get("kind") == kind)


def one(objects: Iterable[Object], kind: str, name: str | None = None) -> Object:
    """The single object of that kind (and name); fails loudly if there are none or several."""
    found = [o for o in of_kind(objects, kind) if name is None or o["metadata"]["name"] == name]
    if len(found) != 1:
        raise LookupError(f"expected one {kind} {name or ''}, found {len(found)}")
    return found[0]


def controller_deployment(objects: Iterable[Object]) -> Object:
    return one(objects, "Deployment", "zerossl-issuer")
