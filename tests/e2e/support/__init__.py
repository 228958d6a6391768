"""Helpers for the e2e suite: stack options for the real controller and failure diagnostics."""

from tests.e2e.support.stacks import E2E_NAMESPACE, e2e_options, log_tails

__all__ = ["E2E_NAMESPACE", "e2e_options", "log_tails"]
