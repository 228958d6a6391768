"""Every condition reason the controller can write has a row in docs/runbook.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.issuer.conditions import IssuerReason, OrderReason, RequestReason

RUNBOOK = (Path(__file__).parents[3] / "docs" / "runbook.md").read_text()


def _section(title: str) -> str:
    return RUNBOOK.split(title, 1)[1].split("\n### ", 1)[0]


@pytest.mark.parametrize(
    ("title", "reasons"),
    [
        ("### CertificateRequest `Ready`", list(RequestReason)),
        ("### ZeroSSLIssuer and ZeroSSLClusterIssuer `Ready`", list(IssuerReason)),
        ("### ZeroSSLOrder `Ready`", list(OrderReason)),
    ],
)
def test_each_reason_has_a_row(title: str, reasons: list[str]) -> None:
    section = _section(title)
    missing = [r for r in reasons if f"| `{r}` |" not in section]
    assert missing == []
