"""Fixtures for the DNS provider tests: the real BIND9 and fake Secrets."""

from __future__ import annotations

import pytest

from tests.integration.issuer.solvers.dns.fakes import FakeSecrets
from tests.support.bind9 import bind9

__all__ = ["bind9"]


@pytest.fixture
def secrets() -> FakeSecrets:
    return FakeSecrets()
