"""One set of settings everywhere: the Deployment, controller/config.py, the README table and
docs/configuration.md name the same ZEROSSL_ISSUER_* variables, and the Deployment's literal
values are exactly the documented defaults."""

from __future__ import annotations

import dataclasses
import re

import pytest

from controller import config
from tests.manifests.render import OVERLAYS, ROOT, controller_deployment, overlay

VARIABLE = re.compile(r"`(ZEROSSL_ISSUER_[A-Z0-9_]+)`")
# Set from the downward API (or from another variable) rather than to a literal default.
FROM_THE_POD = {
    "ZEROSSL_ISSUER_POD_NAME",
    "ZEROSSL_ISSUER_NAMESPACE",
    "ZEROSSL_ISSUER_CLUSTER_RESOURCE_NAMESPACE",
}


def _container_env(name: str) -> list[dict[str, object]]:
    deployment = controller_deployment(overlay(name))
    env: list[dict[str, object]] = deployment["spec"]["template"]["spec"]["containers"][0]["env"]
    return env


def table_variables(markdown: str) -> list[str]:
    """The variables named in the first cell of markdown table rows."""
    found = []
    for line in markdown.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.lstrip().startswith("|") and (match := VARIABLE.fullmatch(cells[0])):
            found.append(match.group(1))
    return found


def test_table_parser_reads_first_cells_only() -> None:
    text = (
        "| `ZEROSSL_ISSUER_A` | x |\n"
        "| `ZEROSSL_ISSUER_B` | see `ZEROSSL_ISSUER_C` |\n"
        "prose `ZEROSSL_ISSUER_D`"
    )
    assert table_variables(text) == ["ZEROSSL_ISSUER_A", "ZEROSSL_ISSUER_B"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_deployment_sets_every_setting_once(name: str) -> None:
    names = [
        str(e["name"]) for e in _container_env(name) if str(e["name"]).startswith(config.PREFIX)
    ]
    assert len(names) == len(set(names)), "a variable is set twice"
    assert set(names) == config.ENV_VARS


@pytest.mark.parametrize(
    "document", ["README.md", "docs/configuration.md"], ids=["readme", "configuration"]
)
def test_documentation_lists_every_setting_once(document: str) -> None:
    names = table_variables((ROOT / document).read_text())
    assert len(names) == len(set(names)), f"{document}: a variable is listed twice"
    assert set(names) == config.ENV_VARS


@pytest.mark.parametrize("name", OVERLAYS)
def test_deployment_values_are_the_defaults(name: str) -> None:
    literal = {
        str(e["name"]): str(e.get("value", ""))  # no value: the empty string
        for e in _container_env(name)
        if str(e["name"]) in config.ENV_VARS - FROM_THE_POD
    }
    assert set(literal) == config.ENV_VARS - FROM_THE_POD, "a setting is not a literal value"
    settings = config.load(literal)
    defaults = config.Settings()
    for field in dataclasses.fields(config.Settings):
        if config.PREFIX + field.name.upper() in FROM_THE_POD:
            continue
        assert getattr(settings, field.name) == getattr(defaults, field.name), field.name
