"""Helpers shared by the test suites."""

from __future__ import annotations

import os
import shutil

import pytest

from controller.sandbox.stack import controlplane

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def require_binary(name: str) -> str:
    """The path of a system binary; a loud skip locally, a failure under CI=true."""
    path = shutil.which(name) or next(
        (p for p in (f"/usr/sbin/{name}", f"/usr/bin/{name}") if os.access(p, os.X_OK)), None
    )
    if path is None:
        message = f"{name} is not installed (run `make sysdeps`)"
        if IN_CI:
            pytest.fail(f"CI=true: {message}")
        pytest.skip(f"SKIPPED LOUDLY: {message}")
    return path


def require_controlplane() -> None:
    """The real control plane's binaries are built; a loud skip locally, a failure under CI."""
    try:
        for name in ("etcd", "kube-apiserver", "kube-controller-manager", "kubectl"):
            controlplane.binary(name)
    except controlplane.ControlPlaneMissing as missing:
        if IN_CI:
            pytest.fail(f"CI=true: {missing}")
        pytest.skip(f"SKIPPED LOUDLY: {missing}")


def kubectl_for(world: str) -> str:
    """The kubectl to drive a world with: the control plane's own (same release as its API
    server) for the real one; the machine's (what users of the sandbox have) for the sandbox."""
    if world == "real":
        require_controlplane()
        return controlplane.kubectl()
    return require_binary("kubectl")
