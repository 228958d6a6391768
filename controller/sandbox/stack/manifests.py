"""The YAML the stack installs: our CRDs, cert-manager's CRDs and the controller's RBAC, read
from the repository like ``kubectl apply -k`` would send them."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Final

import yaml

from .kubeapi import JSON

SANDBOX_DIR: Final = Path(__file__).resolve().parents[1]
REPO_ROOT: Final = SANDBOX_DIR.parents[1]
CRD_DIRS: Final = (REPO_ROOT / "manifests" / "crds", SANDBOX_DIR / "crds")
RBAC_DIR: Final = REPO_ROOT / "manifests" / "rbac"
MANIFEST_NAMESPACE: Final = "zerossl-issuer-system"
"""The namespace the RBAC manifests are written for (kustomize sets the same one)."""


def load_documents(directory: Path) -> list[JSON]:
    """Every object in ``directory``'s YAML files, in file name order, kustomization files
    excluded."""
    files = sorted(p for p in directory.glob("*.yaml") if p.name != "kustomization.yaml")
    if not files:
        raise FileNotFoundError(f"no manifests in {directory}")
    return [doc for path in files for doc in yaml.safe_load_all(path.read_text()) if doc]


def custom_resource_definitions() -> list[JSON]:
    return [
        doc
        for directory in CRD_DIRS
        for doc in load_documents(directory)
        if doc.get("kind") == "CustomResourceDefinition"
    ]


def controller_rbac(namespace: str) -> list[JSON]:
    """manifests/rbac moved into ``namespace`` as kustomize's namespace transformer does:
    namespaced objects and the ServiceAccount subjects that named the manifests' namespace."""
    return [move_to_namespace(doc, namespace) for doc in load_documents(RBAC_DIR)]


def move_to_namespace(obj: JSON, namespace: str) -> JSON:
    moved = copy.deepcopy(obj)
    if moved["metadata"].get("namespace") == MANIFEST_NAMESPACE:
        moved["metadata"]["namespace"] = namespace
    for subject in moved.get("subjects") or ():
        if subject.get("kind") == "ServiceAccount" and subject.get("namespace") in (
            MANIFEST_NAMESPACE,
            None,
        ):
            subject["namespace"] = namespace
    return moved
