"""What the API server would say about one of our custom resources, offline.

``admission_errors`` validates an object against its CRD the way a create (or, with ``old``,
an update) is admitted: the schema closed as strict field validation closes it (via
``tests.manifests.schemas``), then every ``x-kubernetes-validations`` CEL rule evaluated with
cel-python at the node it is declared on, ``oldSelf`` bound for transition rules. The
``date-time`` and ``byte`` formats are checked as the API server checks them. Defaults are not
applied.
"""

from __future__ import annotations

import base64
import binascii
import functools
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import celpy  # type: ignore[import-untyped]
import jsonschema  # type: ignore[import-untyped]
import yaml

from tests.manifests.schemas import closed_schema

ROOT = Path(__file__).resolve().parents[3]
CRD_DIR = ROOT / "manifests" / "crds"
CERT_MANAGER_CRDS = ROOT / "controller" / "sandbox" / "crds"
Schema = dict[str, Any]
RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$")
FORMATS = jsonschema.FormatChecker(formats=())


@FORMATS.checks("date-time")
def _date_time(value: object) -> bool:
    return not isinstance(value, str) or bool(RFC3339.match(value))


@FORMATS.checks("byte", raises=binascii.Error)
def _byte(value: object) -> bool:
    return not isinstance(value, str) or base64.b64decode(value, validate=True) is not None


@functools.cache
def load_crd(plural: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(
        (CRD_DIR / f"zerossl.issuer.dev_{plural}.yaml").read_text()
    )
    return data


def schema_of(plural: str) -> Schema:
    (version,) = load_crd(plural)["spec"]["versions"]
    schema: Schema = version["schema"]["openAPIV3Schema"]
    return schema


def certificate_request_status_errors(status: dict[str, Any]) -> list[str]:
    """Errors of a CertificateRequest status against cert-manager's published schema."""
    crd = yaml.safe_load(
        (CERT_MANAGER_CRDS / "cert-manager.io_certificaterequests.yaml").read_text()
    )
    (version,) = [v for v in crd["spec"]["versions"] if v["name"] == "v1"]
    schema = closed_schema(version["schema"]["openAPIV3Schema"]["properties"]["status"])
    checker = jsonschema.Draft7Validator(schema, format_checker=FORMATS)
    return [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in checker.iter_errors(status)
    ]


def rules(schema: Schema, path: str = "") -> Iterator[tuple[str, str, str]]:
    """(path, rule, message) of every CEL rule in a schema."""
    for rule in schema.get("x-kubernetes-validations") or ():
        yield path or "<root>", rule["rule"], rule.get("message", "")
    for name, child in (schema.get("properties") or {}).items():
        yield from rules(child, f"{path}.{name}")
    for key in ("items", "additionalProperties"):
        if isinstance(schema.get(key), dict):
            yield from rules(schema[key], f"{path}.{key}")


@functools.cache
def _program(rule: str) -> Any:
    env = celpy.Environment()
    return env.program(env.compile(rule))


def compile_rule(rule: str) -> None:
    """Raises if the rule does not parse."""
    _program(rule)


def admission_errors(
    plural: str, obj: dict[str, Any], old: dict[str, Any] | None = None
) -> list[str]:
    """Every schema or CEL error of ``obj`` ([] when the API server would admit it)."""
    schema = schema_of(plural)
    body = {k: v for k, v in obj.items() if k != "metadata"}
    errors = [
        f"{'.'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
        for e in jsonschema.Draft7Validator(
            closed_schema(schema), format_checker=FORMATS
        ).iter_errors(body)
    ]
    errors += _cel_errors(
        schema, body, old and {k: v for k, v in old.items() if k != "metadata"}, ""
    )
    return errors


def _cel_errors(schema: Schema, value: Any, old: Any, path: str) -> list[str]:
    errors: list[str] = []
    for rule in schema.get("x-kubernetes-validations") or ():
        transition = "oldSelf" in rule["rule"]
        if transition and old is None:
            continue
        bindings = {"self": celpy.json_to_cel(value)}
        if transition:
            bindings["oldSelf"] = celpy.json_to_cel(old)
        message = rule.get("message") or rule["rule"]
        try:
            ok = bool(_program(rule["rule"]).evaluate(bindings))
        except celpy.CELEvalError as exc:
            ok, message = False, f"{message} ({exc})"
        if not ok:
            errors.append(f"{path or '<root>'}: {message}")
    properties = schema.get("properties") or {}
    if isinstance(value, dict):
        for name, child in value.items():
            sub = properties.get(name) or schema.get("additionalProperties")
            if isinstance(sub, dict):
                prior = old.get(name) if isinstance(old, dict) else None
                errors += _cel_errors(sub, child, prior, f"{path}.{name}")
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        for index, item in enumerate(value):
            errors += _cel_errors(schema["items"], item, None, f"{path}[{index}]")
    return errors
