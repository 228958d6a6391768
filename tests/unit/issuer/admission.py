"""What the API server would say about one of our custom resources, offline.

One implementation of CRD admission serves the tests and the sandbox: ``admission_errors``
runs the emulated API server's own validator (:mod:`controller.sandbox.kube.schema`: the
structural schema, formats, bounds, list types and every ``x-kubernetes-validations`` CEL rule
with ``oldSelf`` for transition rules) on an object as a create, or with ``old`` as an update,
and refuses unknown fields as strict field validation does. That validator is in turn checked
against the real kube-apiserver (tests/integration/controlplane/test_crd_admission.py).
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from controller.sandbox.kube import cel
from controller.sandbox.kube.schema import Validator, compile_schema

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "manifests" / "crds"
CERT_MANAGER_CRDS = ROOT / "controller" / "sandbox" / "crds"
Schema = dict[str, Any]


def load_crd(plural: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (CRD_DIR / f"zerossl.issuer.dev_{plural}.yaml").read_text()
    )
    return data


def schema_of(plural: str) -> Schema:
    (version,) = load_crd(plural)["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


@functools.cache
def _validator(path: Path, version: str) -> Validator:
    crd = yaml.safe_load(path.read_text())
    (served,) = [v for v in crd["spec"]["versions"] if v["name"] == version]
    return Validator(compile_schema(served["schema"]["openAPIV3Schema"]))


def _errors(validator: Validator, obj: dict[str, Any], old: dict[str, Any] | None) -> list[str]:
    candidate = copy.deepcopy(obj)
    candidate.setdefault("metadata", {}).setdefault("name", "x")
    prior = None
    if old is not None:
        prior = copy.deepcopy(old)
        prior.setdefault("metadata", {}).setdefault("name", "x")
    admission = validator(candidate, prior)
    return [f"{c.field}: {c.message}" for c in admission.causes] + [
        f"{field}: unknown field" for field in admission.unknown_fields
    ]


def admission_errors(
    plural: str, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[str]:
    """Every schema or CEL error of ``obj`` ([] when the API server would admit it)."""
    path = CRD_DIR / f"zerossl.issuer.dev_{plural}.yaml"
    return _errors(_validator(path, "v1alpha1"), obj, old)


def certificate_request_status_errors(status: dict[str, Any]) -> list[str]:
    """Errors of a CertificateRequest status against cert-manager's published schema."""
    path = CERT_MANAGER_CRDS / "cert-manager.io_certificaterequests.yaml"
    request = {
        "apiVersion": "cert-manager.io/v1",
        "kind": "CertificateRequest",
        "spec": {"request": "LS0t", "issuerRef": {"name": "x"}},
        "status": status,
    }
    return _errors(_validator(path, "v1"), request, None)


def rules(schema: Schema, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, rule, message) of every CEL rule in a schema."""
    for rule in schema.get("x-kubernetes-validations") or ():
        yield path or "<root>", rule["rule"], rule.get("message", "")
    for name, child in (schema.get("properties") or {}).items():
        yield from rules(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from rules(schema[key], f"{path}.{key}")


def compile_rule(rule: str) -> None:
    """Raises if the rule does not compile (as the API server compiles it)."""
    cel.compile_rule({"rule": rule}, "test")
