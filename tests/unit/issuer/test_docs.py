"""docs/api.md: every example of our kinds is admitted by the CRDs and read by the controller."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.issuer.issuers import Issuer
from controller.issuer.orders import MAX_DOMAINS, MAX_REQUEST_LENGTH
from tests.unit.issuer.admission import admission_errors

DOC = Path(__file__).resolve().parents[3] / "docs" / "api.md"
PLURALS = {"ZeroSSLIssuer": "zerosslissuers", "ZeroSSLClusterIssuer": "zerosslclusterissuers"}


def examples() -> list[dict[str, Any]]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(), flags=re.S)
    objects = [yaml.safe_load(block) for block in blocks]
    return [o for o in objects if str(o.get("apiVersion", "")).startswith("zerossl.issuer.dev/")]


def test_the_reference_has_examples_of_both_issuer_kinds() -> None:
    assert {o["kind"] for o in examples()} == set(PLURALS)


@pytest.mark.parametrize(
    "example", examples(), ids=lambda o: f"{o['kind']}-{o['metadata']['name']}"
)
def test_example_is_admitted_and_readable(example: dict[str, Any]) -> None:
    assert admission_errors(PLURALS[example["kind"]], example) == []
    issuer = Issuer.from_object(example)
    assert issuer.spec_error is None


def test_the_request_rules_state_the_limits_the_controller_applies() -> None:
    rules = DOC.read_text().split("Rules the request must follow", 1)[1].split("\n## ", 1)[0]
    flat = " ".join(rules.split())
    assert f"At most {MAX_DOMAINS} distinct names" in flat
    assert f"at most {MAX_REQUEST_LENGTH:,} characters in base64" in flat
