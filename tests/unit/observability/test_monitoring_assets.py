"""The monitoring assets agree with the metric catalog and with each other.

- prometheusrule.yaml is rules/zerossl-issuer.rules.yaml wrapped in a PrometheusRule (set
  REGENERATE_MONITORING=1 to rewrite it from the rule file);
- every alert has promtool unit tests, the standard annotations and a runbook section;
- alerts and dashboard panels query only metrics that exist, and the dashboard shows every
  catalog metric; docs/metrics.md documents each one with its exact type and labels.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import textwrap
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

from controller.issuer.decide_issuer import read_api_key
from controller.zerossl.limiter import LimiterRegistry
from tests.unit.observability.catalog import (
    DOCS,
    MONITORING,
    RULES,
    catalog,
    default_collector_families,
    referenced_families,
)

PROMETHEUS_RULE = MONITORING / "prometheusrule.yaml"
RULE_TESTS = MONITORING / "rules" / "tests.yaml"
DASHBOARD = MONITORING / "dashboards" / "zerossl-issuer.json"
PROMETHEUS_RULE_HEADER = """\
# GENERATED from rules/zerossl-issuer.rules.yaml, the file promtool checks and unit-tests: edit
# that file, then run `REGENERATE_MONITORING=1 .venv/bin/pytest \\
# tests/unit/observability/test_monitoring_assets.py` to rewrite this one.
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata:
  name: zerossl-issuer
spec:
"""


def render_prometheus_rule() -> str:
    text = RULES.read_text()
    return PROMETHEUS_RULE_HEADER + textwrap.indent(text[text.index("\ngroups:") + 1 :], "  ")


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"] if "alert" in rule]


def dashboard_exprs() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel.get("targets", [])]


def github_anchors(markdown: str) -> set[str]:
    """Anchors GitHub generates for the headings of a markdown document."""
    anchors = set()
    for heading in re.findall(r"^#+\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def known_families() -> set[str]:
    return set(catalog()) | default_collector_families()


def test_prometheusrule_is_the_rule_file() -> None:
    expected = render_prometheus_rule()
    if os.environ.get("REGENERATE_MONITORING") == "1":
        PROMETHEUS_RULE.write_text(expected)
    assert PROMETHEUS_RULE.read_text() == expected, (
        "prometheusrule.yaml is stale: REGENERATE_MONITORING=1 pytest " + __file__
    )
    wrapped = yaml.safe_load(PROMETHEUS_RULE.read_text())
    assert wrapped["spec"]["groups"] == yaml.safe_load(RULES.read_text())["groups"]


def test_every_alert_is_unit_tested_and_fully_annotated() -> None:
    tests = yaml.safe_load(RULE_TESTS.read_text())["tests"]
    tested = {case["alertname"] for t in tests for case in t.get("alert_rule_test", [])}
    firing = {
        case["alertname"]
        for t in tests
        for case in t.get("alert_rule_test", [])
        if case.get("exp_alerts")
    }
    alerts = {rule["alert"] for rule in alert_rules()}
    assert len(alerts) >= 7
    assert alerts == tested == firing
    for rule in alert_rules():
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}, rule["alert"]
        assert rule["labels"]["severity"] in {"warning", "critical"}, rule["alert"]


def test_every_alert_links_to_its_runbook_section() -> None:
    anchors = github_anchors((DOCS / "runbook.md").read_text())
    for rule in alert_rules():
        url = rule["annotations"]["runbook_url"]
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", url
        assert anchor == rule["alert"].lower(), url
        assert anchor in anchors, f"docs/runbook.md has no section for {rule['alert']}"


def test_alerts_query_only_existing_metrics() -> None:
    for rule in alert_rules():
        referenced = referenced_families(rule["expr"])
        assert referenced, rule["alert"]
        assert referenced <= set(catalog()), (rule["alert"], referenced - set(catalog()))


def test_dashboard_is_built_on_the_catalog() -> None:
    referenced = set().union(*(referenced_families(expr) for expr in dashboard_exprs()))
    assert referenced <= known_families(), referenced - known_families()
    assert set(catalog()) <= referenced, f"not on the dashboard: {set(catalog()) - referenced}"


def test_dashboard_panels_are_well_formed() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    variables = {variable["name"] for variable in dashboard["templating"]["list"]}
    assert variables == {"datasource", "job", "instance"}
    for panel in dashboard["panels"]:
        if panel["type"] == "row":
            continue
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        for target in panel["targets"]:
            assert 'job=~"$job", instance=~"$instance"' in target["expr"], panel["title"]
    for a, b in zip(dashboard["panels"], dashboard["panels"][1:], strict=False):
        pa, pb = a["gridPos"], b["gridPos"]
        assert (pa["y"], pa["x"]) < (pb["y"], pb["x"]), (a["title"], b["title"])


def _documented() -> dict[str, tuple[str, tuple[str, ...]]]:
    """``### `name``` sections of docs/metrics.md: name -> (type, labels)."""
    text = (DOCS / "metrics.md").read_text()
    found = {}
    pattern = r"^### `([a-z_:]+)`\n+(Counter|Gauge|Histogram)\. Labels: (none|[`a-z_, ]+)\.$"
    for name, kind, labels in re.findall(pattern, text, flags=re.MULTILINE):
        found[name] = (kind.lower(), tuple(re.findall(r"`([a-z_]+)`", labels)))
    return found


def test_docs_list_every_metric_with_type_and_labels() -> None:
    documented = _documented()
    for family in catalog().values():
        assert family.name in documented, f"docs/metrics.md does not document {family.name}"
        assert documented[family.name] == (family.kind, family.labels), family.name
    assert set(documented) <= known_families(), set(documented) - known_families()


def test_docs_examples_query_the_metric_they_describe() -> None:
    text = (DOCS / "metrics.md").read_text()
    sections = re.split(r"^### ", text, flags=re.MULTILINE)[1:]
    for section in sections:
        name = section.split("`")[1]
        examples = re.findall(r"```promql\n(.+?)```", section, flags=re.DOTALL)
        assert examples, f"{name} has no example"
        assert all(name.removesuffix("_total") in ex or name in ex for ex in examples), name


@pytest.mark.parametrize("alert", [rule["alert"] for rule in alert_rules()])
def test_runbook_section_says_what_to_check_and_do(alert: str) -> None:
    text = (DOCS / "runbook.md").read_text()
    section = text.split(f"### {alert}\n", 1)[1].split("\n### ", 1)[0]
    for part in ("**Meaning**", "**Check**", "**Do**"):
        assert part in section, f"{alert}: missing {part}"


def test_the_documented_account_label_is_the_one_emitted() -> None:
    """docs/metrics.md's recipe for the ``account`` value of a key gives the label the
    controller emits for that key, read from a Secret as the issuer reads it."""
    text = (DOCS / "metrics.md").read_text()
    (recipe,) = re.findall(r"^\s*kubectl get secret .*\| base64 -d (\|.*)$", text, re.M)
    key = "0123456789abcdef0123456789abcdef"
    secret = {"data": {"api-key": base64.b64encode(f"{key}\n".encode()).decode()}}
    limiter = LimiterRegistry(1.0, 1).for_account(read_api_key(secret, "api-key").value)
    limiter.throttle(0)
    printed = subprocess.run(
        ["/bin/sh", "-c", f"printf '%s\\n' \"$KEY\" {recipe}"],
        env={"KEY": key, "PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    labels = {
        sample.labels["account"]
        for family in REGISTRY.collect()
        if family.name == "zerossl_issuer_zerossl_throttled"
        for sample in family.samples
    }
    assert printed in labels
    assert printed == limiter.name
    assert len(printed) == 16
    assert key not in labels
