"""The three CRDs: structural, in step with each other, and admitting exactly what they should."""

from __future__ import annotations

import copy
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from tests.manifests.schemas import crd_violations
from tests.unit.issuer.admission import (
    admission_errors,
    compile_rule,
    load_crd,
    rules,
    schema_of,
)

PLURALS = ("zerosslissuers", "zerosslclusterissuers", "zerosslorders")


@pytest.mark.parametrize("plural", PLURALS)
def test_crd_is_structural(plural: str) -> None:
    assert crd_violations(load_crd(plural)) == []


@pytest.mark.parametrize("plural", PLURALS)
def test_every_cel_rule_compiles(plural: str) -> None:
    found = list(rules(schema_of(plural)))
    assert found
    for _path, rule, message in found:
        compile_rule(rule)
        assert message, f"rule {rule!r} has no message"


def _defaults(node: dict[str, Any]) -> list[tuple[dict[str, Any], Any]]:
    found = [(node, node["default"])] if "default" in node else []
    for child in (node.get("properties") or {}).values():
        found += _defaults(child)
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict):
            found += _defaults(node[key])
    return found


@pytest.mark.parametrize("plural", PLURALS)
def test_defaults_satisfy_their_schema(plural: str) -> None:
    for node, default in _defaults(schema_of(plural)):
        jsonschema.validate(default, node)


def test_issuer_kinds_share_one_schema() -> None:
    namespaced, cluster = load_crd("zerosslissuers"), load_crd("zerosslclusterissuers")
    assert namespaced["spec"]["scope"] == "Namespaced"
    assert cluster["spec"]["scope"] == "Cluster"
    for part in ("spec", "status"):
        assert (
            schema_of("zerosslissuers")["properties"][part]
            == schema_of("zerosslclusterissuers")["properties"][part]
        )
    ns_version, cluster_version = namespaced["spec"]["versions"], cluster["spec"]["versions"]
    assert (
        ns_version[0]["additionalPrinterColumns"] == cluster_version[0]["additionalPrinterColumns"]
    )


def test_order_solver_methods_are_the_issuers() -> None:
    issuer_solver = schema_of("zerosslissuers")["properties"]["spec"]["properties"]["solvers"]
    order_solver = schema_of("zerosslorders")["properties"]["spec"]["properties"]["solvers"]
    methods = ("http", "dns", "email")
    for method in methods:
        assert (
            order_solver["items"]["properties"][method]
            == issuer_solver["items"]["properties"][method]
        )
    assert (
        order_solver["items"]["x-kubernetes-validations"]
        == issuer_solver["items"]["x-kubernetes-validations"]
    )


@pytest.mark.parametrize(
    ("plural", "short_name", "columns"),
    [
        ("zerosslissuers", "zsi", {"Ready", "Reason", "Age"}),
        ("zerosslclusterissuers", "zsci", {"Ready", "Reason", "Age"}),
        ("zerosslorders", "zso", {"Ready", "Reason", "ZeroSSL Status", "Domains", "Age"}),
    ],
)
def test_names_and_printer_columns(plural: str, short_name: str, columns: set[str]) -> None:
    spec = load_crd(plural)["spec"]
    assert spec["names"]["shortNames"] == [short_name]
    (version,) = spec["versions"]
    assert version["subresources"] == {"status": {}}
    shown = {c["name"] for c in version["additionalPrinterColumns"] if not c.get("priority")}
    assert shown == columns


# --- admission of issuers ---------------------------------------------------------------------

SECRET_REF = {"name": "zerossl", "key": "api-key"}


def issuer(*solvers: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "zerossl.issuer.dev/v1alpha1",
        "kind": "ZeroSSLIssuer",
        "metadata": {"name": "zerossl", "namespace": "default"},
        "spec": {"apiKeySecretRef": SECRET_REF, "solvers": list(solvers), **spec},
    }


HTTP_INGRESS = {"http": {"ingress": {"ingressClassName": "nginx"}}}
HTTP_ROUTE = {"http": {"gatewayHTTPRoute": {"parentRefs": [{"name": "gw", "namespace": "infra"}]}}}
HTTP_NONE = {"http": {"none": {}}}
RFC2136 = {
    "dns": {
        "rfc2136": {
            "nameserver": "10.0.0.53:53",
            "tsigKeyName": "k",
            "tsigSecretRef": {"name": "tsig", "key": "secret"},
        }
    }
}
CLOUDFLARE = {"dns": {"cloudflare": {"apiTokenSecretRef": {"name": "cf", "key": "token"}}}}
ROUTE53 = {"dns": {"route53": {"region": "eu-west-1"}}}
EXTERNAL_DNS = {"dns": {"externalDNS": {"labels": {"dns": "public"}}}}
EMAIL = {"email": {"localPart": "hostmaster", "domain": "example.com"}}


VALID_SOLVERS = [
    pytest.param(solver, id=name)
    for name, solver in {
        "ingress": HTTP_INGRESS,
        "httproute": HTTP_ROUTE,
        "none": HTTP_NONE,
        "rfc2136": RFC2136,
        "cloudflare": CLOUDFLARE,
        "route53": ROUTE53,
        "externaldns": EXTERNAL_DNS,
        "email": EMAIL,
    }.items()
]
"""Solvers an issuer may have (also checked against both API-server worlds)."""


def with_selector(solver: dict[str, Any]) -> dict[str, Any]:
    return issuer(
        {"selector": {"dnsZones": ["example.com"], "matchLabels": {"team": "a"}}, **solver}
    )


@pytest.mark.parametrize("solver", VALID_SOLVERS)
def test_valid_solver_is_admitted(solver: dict[str, Any]) -> None:
    assert admission_errors("zerosslissuers", with_selector(solver)) == []


def with_value(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    obj = copy.deepcopy(base)
    *parents, last = path.split(".")
    node = obj
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value
    return obj


INVALID_ISSUERS = [
    pytest.param(
        issuer({**HTTP_INGRESS, **CLOUDFLARE}),
        "exactly one of http, dns or email",
        id="two-methods",
    ),
    pytest.param(issuer({"selector": {}}), "exactly one of http, dns or email", id="no-method"),
    pytest.param(
        issuer({"http": {"ingress": {}, "none": {}}}),
        "exactly one of ingress, gatewayHTTPRoute or none",
        id="two-routings",
    ),
    pytest.param(
        issuer({"dns": {**CLOUDFLARE["dns"], **ROUTE53["dns"]}}),
        "exactly one of rfc2136, cloudflare, route53 or externalDNS",
        id="two-dns-providers",
    ),
    pytest.param(
        issuer({"dns": {"propagation": {"timeoutSeconds": 10}}}),
        "exactly one of rfc2136",
        id="no-dns-provider",
    ),
    pytest.param(issuer(HTTP_NONE, validityDays=30), "validityDays", id="validity-30"),
    pytest.param(issuer(HTTP_NONE, validityDays=366), "validityDays", id="validity-366"),
    pytest.param(issuer(), "solvers", id="no-solvers"),
    pytest.param(
        with_value(issuer(HTTP_NONE), "spec.apiKeySecretRef", {"key": "k"}),
        "name",
        id="no-secret-name",
    ),
    pytest.param(
        issuer({"dns": {"rfc2136": {"nameserver": "ns1:53", "tsigKeyName": "k"}}}),
        "tsigKeyName and tsigSecretRef go together",
        id="tsig-without-secret",
    ),
    pytest.param(
        issuer({"dns": {"route53": {"accessKeyIDSecretRef": {"name": "a", "key": "b"}}}}),
        "go together",
        id="route53-half-credentials",
    ),
    pytest.param(
        issuer({"selector": {"dnsZones": ["*.example.com"]}, **RFC2136}),
        "dnsZones are zones",
        id="wildcard-zone",
    ),
    pytest.param(issuer({"email": {"localPart": "ceo"}}), "localPart", id="email-local-part"),
    pytest.param(
        issuer({"http": {"ingress": {"ingressClassName": "a", "class": "b"}}}),
        "ingressClassName or class",
        id="ingress-class-twice",
    ),
    pytest.param(
        issuer({"http": {"gatewayHTTPRoute": {"parentRefs": []}}}),
        "parentRefs",
        id="httproute-no-parent",
    ),
    pytest.param(issuer(HTTP_NONE, strictDomains="yes"), "strictDomains", id="strict-not-bool"),
    pytest.param(issuer(HTTP_NONE, apiKey="inline"), "apiKey", id="unknown-field"),
]
"""(issuer, a part of the refusal message): also checked against both API-server worlds."""


@pytest.mark.parametrize(("obj", "expected"), INVALID_ISSUERS)
def test_invalid_issuer_is_rejected(obj: dict[str, Any], expected: str) -> None:
    errors = admission_errors("zerosslissuers", obj)
    assert errors, "admitted"
    assert any(expected in e for e in errors), errors


# --- admission of orders ----------------------------------------------------------------------

ORDER: dict[str, Any] = {
    "apiVersion": "zerossl.issuer.dev/v1alpha1",
    "kind": "ZeroSSLOrder",
    "metadata": {"name": "www", "namespace": "default"},
    "spec": {
        "certificateRequestRef": {"name": "www", "uid": "0b6c1f4e"},
        "issuerRef": {"kind": "ZeroSSLClusterIssuer", "name": "zerossl"},
        "request": "LS0tLS1CRUdJTg==",
        "domains": ["www.example.com", "example.com"],
        "validityDays": 90,
        "strictDomains": True,
        "csrHash": {"md5": "0" * 32, "sha256": "A" * 64},
        "validationMethod": "HTTP_CSR_HASH",
        "solvers": [
            {"domain": "www.example.com", "solverIndex": 0, **HTTP_NONE},
            {"domain": "example.com", "solverIndex": 0, **HTTP_NONE},
        ],
    },
}


def test_order_is_admitted() -> None:
    assert admission_errors("zerosslorders", ORDER) == []


def test_order_spec_is_immutable() -> None:
    assert admission_errors("zerosslorders", ORDER, old=ORDER) == []
    changed = with_value(ORDER, "spec.validityDays", 365)
    assert any("spec is immutable" in e for e in admission_errors("zerosslorders", changed, ORDER))


INVALID_ORDER_CHANGES = [
    ("spec.csrHash.md5", "a" * 32, "md5"),
    ("spec.issuerRef.kind", "Issuer", "kind"),
    ("spec.validationMethod", "HTTPS_CSR_HASH", "validationMethod"),
    ("spec.domains", [], "domains"),
]
"""(path, value, a part of the refusal message) applied to ORDER."""


@pytest.mark.parametrize(("path", "value", "expected"), INVALID_ORDER_CHANGES)
def test_invalid_order_is_rejected(path: str, value: Any, expected: str) -> None:
    errors = admission_errors("zerosslorders", with_value(ORDER, path, value))
    assert any(expected in e for e in errors), errors
