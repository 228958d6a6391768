"""Helpers shared by the test suites."""

from __future__ import annotations

import os
import shutil

import pytest

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
