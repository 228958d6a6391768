"""The samples validate and fit together: every validation method has a ZeroSSLIssuer and a
ZeroSSLClusterIssuer, every Secret they name exists where that kind reads it (in
secrets.yaml.example), the Certificate and the annotated Ingress point at a sample issuer, and
applying the samples can never overwrite a real Secret with a placeholder."""

from __future__ import annotations

import pytest

from tests.manifests.render import (
    MANIFESTS,
    NAMESPACE,
    Object,
    kustomize,
    load_yaml_files,
    of_kind,
    one,
)
from tests.manifests.schemas import KUBERNETES_VERSIONS, validation_errors

GROUP = "zerossl.issuer.dev"
KINDS = ("ZeroSSLIssuer", "ZeroSSLClusterIssuer")
METHODS = {"http", "dns", "email"}


SAMPLES = MANIFESTS / "samples"
SECRETS_EXAMPLE = SAMPLES / "secrets.yaml.example"
KUBECTL_EXTENSIONS = (".json", ".yaml", ".yml")  # what `kubectl apply -f <dir>` reads


def samples() -> list[Object]:
    return kustomize(SAMPLES)


def example_secrets() -> list[Object]:
    return list(of_kind(load_yaml_files([SECRETS_EXAMPLE]), "Secret"))


def _issuers(objects: list[Object]) -> list[Object]:
    return [o for o in objects if o["kind"] in KINDS]


def _secret_refs(issuer: Object) -> list[dict[str, str]]:
    """Every Secret key reference in an issuer's spec (API key and provider credentials)."""
    found: list[dict[str, str]] = []

    def walk(node: object) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                if key.endswith("SecretRef") and isinstance(value, dict):
                    found.append(value)
                else:
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(issuer["spec"])
    return found


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_samples_validate(version: str) -> None:
    assert validation_errors(samples(), version) == []


@pytest.mark.parametrize("kind", KINDS)
def test_every_method_has_a_sample(kind: str) -> None:
    methods = {
        method
        for issuer in of_kind(samples(), kind)
        for solver in issuer["spec"]["solvers"]
        for method in METHODS & solver.keys()
    }
    assert methods == METHODS


def test_each_solver_uses_exactly_one_method() -> None:
    # Mirrors the CRD's CEL rule, which the offline validation does not evaluate.
    for issuer in _issuers(samples()):
        for solver in issuer["spec"]["solvers"]:
            assert len(METHODS & solver.keys()) == 1, issuer["metadata"]["name"]


def test_secrets_exist_where_each_issuer_reads_them() -> None:
    objects = samples()
    secrets = {(s["metadata"]["namespace"], s["metadata"]["name"]): s for s in example_secrets()}
    for issuer in _issuers(objects):
        namespace = issuer["metadata"].get("namespace", NAMESPACE)
        if issuer["kind"] == "ZeroSSLClusterIssuer":
            namespace = NAMESPACE
        refs = _secret_refs(issuer)
        assert refs, issuer["metadata"]["name"]
        for ref in refs:
            secret = secrets.get((namespace, ref["name"]))
            assert secret is not None, f"{issuer['metadata']['name']}: no Secret {ref['name']}"
            assert ref.get("key", "api-key") in secret["stringData"]


def test_certificate_and_ingress_use_a_sample_issuer() -> None:
    objects = samples()
    issuers = {(i["kind"], i["metadata"]["name"]) for i in _issuers(objects)}
    ref = one(objects, "Certificate")["spec"]["issuerRef"]
    assert ref["group"] == GROUP
    assert (ref["kind"], ref["name"]) in issuers
    annotations = one(objects, "Ingress")["metadata"]["annotations"]
    assert "cert-manager.io/cluster-issuer" not in annotations
    assert annotations["cert-manager.io/issuer-group"] == GROUP
    kind, name = annotations["cert-manager.io/issuer-kind"], annotations["cert-manager.io/issuer"]
    assert (kind, name) in issuers


def test_secrets_hold_placeholders_only() -> None:
    assert example_secrets()
    for secret in example_secrets():
        for value in secret["stringData"].values():
            assert value.startswith("REPLACE-WITH-"), secret["metadata"]["name"]


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
def test_example_secrets_validate(version: str) -> None:
    assert validation_errors(example_secrets(), version) == []


def test_applying_the_samples_cannot_overwrite_a_secret() -> None:
    """Neither `kubectl apply -k manifests/samples` nor `kubectl apply -f manifests/samples`
    (with or without -R) sends a Secret: a real API key is never replaced by a placeholder."""
    assert list(of_kind(samples(), "Secret")) == []
    read_by_apply_f = [p for p in SAMPLES.rglob("*") if p.suffix in KUBECTL_EXTENSIONS]
    assert SECRETS_EXAMPLE not in read_by_apply_f
    documents = load_yaml_files(p for p in read_by_apply_f if p.name != "kustomization.yaml")
    assert [d["metadata"]["name"] for d in of_kind(documents, "Secret")] == []
