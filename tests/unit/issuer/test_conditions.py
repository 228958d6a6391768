"""Conditions: transition times, and CertificateRequest patches cert-manager's schema accepts."""

from __future__ import annotations

import base64
from datetime import timedelta
from typing import Any

import pytest

from controller.clock import rfc3339
from controller.issuer import conditions as c
from tests.unit.issuer.admission import certificate_request_status_errors
from tests.unit.issuer.factories import APPROVED, DENIED, NOW, T0, condition

LATER = NOW + timedelta(minutes=5)


def test_transition_time_kept_while_status_unchanged() -> None:
    previous = condition("Ready", "False", "Pending", "old message")
    new = c.condition("Ready", c.Status.FALSE, "Pending", "new message", LATER, previous=previous)
    assert new["lastTransitionTime"] == T0
    assert new["message"] == "new message"


def test_transition_time_moves_when_status_changes() -> None:
    previous = condition("Ready", "False", "Pending")
    new = c.condition("Ready", c.Status.TRUE, "Issued", "done", LATER, previous=previous)
    assert new["lastTransitionTime"] == rfc3339(LATER)


def test_observed_generation_only_when_given() -> None:
    assert "observedGeneration" not in c.condition(
        "Ready", c.Status.TRUE, "X", "", NOW, previous=None
    )
    with_gen = c.condition(
        "Ready", c.Status.TRUE, "X", "", NOW, previous=None, observed_generation=3
    )
    assert with_gen["observedGeneration"] == 3


def test_replace_keeps_other_conditions() -> None:
    ready = c.condition("Ready", c.Status.TRUE, "Issued", "", NOW, previous=None)
    assert c.replace([APPROVED, condition("Ready", "False")], ready) == [APPROVED, ready]


CHAIN = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n"
FAILED_BEFORE = rfc3339(NOW - timedelta(days=1))


@pytest.mark.parametrize(
    ("patch", "reason", "status"),
    [
        (c.request_pending([APPROVED], "waiting", NOW), "Pending", "False"),
        (c.request_failed([APPROVED], None, "bad CSR", NOW), "Failed", "False"),
        (c.request_denied([DENIED], None, NOW), "Denied", "False"),
        (c.request_issued([APPROVED], CHAIN, "c1", NOW), "Issued", "True"),
    ],
    ids=["pending", "failed", "denied", "issued"],
)
def test_request_patches_fit_cert_managers_schema(
    patch: dict[str, Any], reason: str, status: str
) -> None:
    assert certificate_request_status_errors(patch) == []
    (ready,) = patch["conditions"]
    assert (ready["type"], ready["reason"], ready["status"]) == ("Ready", reason, status)
    assert "observedGeneration" not in ready


def test_failure_time_is_set_once() -> None:
    assert c.request_failed([], None, "x", NOW)["failureTime"] == rfc3339(NOW)
    assert c.request_failed([], FAILED_BEFORE, "x", NOW)["failureTime"] == FAILED_BEFORE
    assert c.request_denied([DENIED], FAILED_BEFORE, NOW)["failureTime"] == FAILED_BEFORE


def test_denied_message_names_the_approver_reason() -> None:
    message = c.request_denied([DENIED], None, NOW)["conditions"][0]["message"]
    assert "policy: not allowed" in message


def test_issued_certificate_is_base64_of_the_chain() -> None:
    patch = c.request_issued([], CHAIN, "c1", NOW)
    assert base64.b64decode(patch["certificate"]).decode() == CHAIN
    assert "c1" in patch["conditions"][0]["message"]
