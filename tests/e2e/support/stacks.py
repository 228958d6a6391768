"""Stack options the e2e suite starts the real controller with, and what to show when a test
fails (each replica's exit status and stderr tail; the JSON logs stay in the work directory)."""

from __future__ import annotations

import dataclasses
from typing import Any

from controller.sandbox.stack import ControllerOptions, Stack, StackOptions

E2E_NAMESPACE = "e2e"
"""Where e2e tests put their namespaced objects (ZeroSSLIssuers, CertificateRequests)."""


def e2e_options(replicas: int = 1, **overrides: Any) -> StackOptions:
    """RBAC enforced with the shipped manifests, the ``e2e`` namespace, short controller
    timings; ``overrides`` replace any StackOptions field, and ``controller_env`` adds
    ZEROSSL_ISSUER_* (or other) variables to the replicas."""
    env = overrides.pop("controller_env", {})
    controller = overrides.pop("controller", ControllerOptions())
    controller = dataclasses.replace(controller, env={**controller.env, **env})
    defaults: dict[str, Any] = {
        "replicas": replicas,
        "authorization": True,
        "namespaces": ("default", E2E_NAMESPACE),
        "controller": controller,
    }
    return StackOptions(**{**defaults, **overrides})


def log_tails(stack: Stack) -> str:
    """Each replica's state and the tail of its stderr, for a failed test's report."""
    parts = []
    for replica in stack.replicas:
        if replica.pid is None:
            parts.append(f"{replica.name}: never started")
            continue
        state = "running" if replica.running else f"exited ({replica.returncode})"
        parts.append(
            f"{replica.name} (pid {replica.pid}, {state}): {replica.process.stderr_tail()}"
        )
    return "\n\n".join(parts)
