"""The kinds the install overlays carry beside CRDs, RBAC and core kinds: apps/v1 Deployment,
policy/v1 PodDisruptionBudget, networking.k8s.io/v1 NetworkPolicy.

They are stored and validated where a mistake in a manifest would show (a Deployment whose
selector does not select its template, a changed selector, a container without name or image;
a PodDisruptionBudget with both minAvailable and maxUnavailable). No controller runs them: a
Deployment's status stays empty, so ``kubectl rollout status`` waits (there are no pods).
The list keys are the real schema's, so strategic merge and server-side apply merge container,
env, port and volume lists item by item.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .builtins import cell, minimum
from .fields import ATOMIC
from .resources import AGE_COLUMN, NAME_COLUMN, Admission, Column, Obj, ResourceType, v1_type
from .status import Cause

_POD = "spec.template.spec"

#: dotted path → strategic-merge-patch merge key (``patchMergeKey``)
DEPLOYMENT_MERGE_KEYS: Mapping[str, str] = {
    f"{_POD}.containers": "name",
    f"{_POD}.initContainers": "name",
    f"{_POD}.containers.env": "name",
    f"{_POD}.containers.ports": "containerPort",
    f"{_POD}.containers.volumeMounts": "mountPath",
    f"{_POD}.volumes": "name",
    f"{_POD}.imagePullSecrets": "name",
    f"{_POD}.topologySpreadConstraints": "topologyKey",
}

_ATOMIC_SELECTORS = ("fieldRef", "resourceFieldRef", "configMapKeyRef", "secretKeyRef")

#: dotted path → x-kubernetes-list-map-keys, or ATOMIC for ``structType=atomic`` (server-side
#: apply); container paths hold for init containers too
_DEPLOYMENT_APPLY_KEYS: Mapping[str, tuple[str, ...]] = {
    f"{_POD}.volumes": ("name",),
    f"{_POD}.topologySpreadConstraints": ("topologyKey", "whenUnsatisfiable"),
    **{
        f"{_POD}.{containers}{path}": keys
        for containers in ("containers", "initContainers")
        for path, keys in {
            "": ("name",),
            ".env": ("name",),
            ".ports": ("containerPort", "protocol"),
            ".volumeMounts": ("mountPath",),
            **{f".env.valueFrom.{s}": ATOMIC for s in _ATOMIC_SELECTORS},
        }.items()
    },
}


def _selects(selector: Any, labels: Any) -> bool:
    if not isinstance(selector, dict) or not isinstance(labels, dict):
        return False
    wanted = selector.get("matchLabels") or {}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for requirement in selector.get("matchExpressions") or []:
        key, op = requirement.get("key"), requirement.get("operator")
        values = requirement.get("values") or []
        present = key in labels
        if (
            (op == "In" and labels.get(key) not in values)
            or (op == "NotIn" and present and labels[key] in values)
            or (op == "Exists" and not present)
            or (op == "DoesNotExist" and present)
        ):
            return False
    return bool(wanted or selector.get("matchExpressions"))


def _normalize_env(pod_spec: Any) -> None:
    """As the real server stores env vars: ``value: ""`` is dropped (Go's ``omitempty``), so a
    manifest that sets it differs from the live object on every client-side apply; and
    ``valueFrom.fieldRef.apiVersion`` defaults to ``v1``, so a server-side apply of a manifest
    without it conflicts with client-side apply's ownership of the atomic ``fieldRef``."""
    if not isinstance(pod_spec, dict):
        return
    for container in [*(pod_spec.get("initContainers") or []), *(pod_spec.get("containers") or [])]:
        for var in (container.get("env") or []) if isinstance(container, dict) else []:
            if not isinstance(var, dict):
                continue
            if var.get("value") == "":
                del var["value"]
            field_ref = (var.get("valueFrom") or {}).get("fieldRef")
            if isinstance(field_ref, dict):
                field_ref.setdefault("apiVersion", "v1")


def _admit_deployment(obj: Obj, old: Obj | None) -> Admission:
    spec = obj.get("spec") or {}
    _normalize_env((spec.get("template") or {}).get("spec"))
    selector = spec.get("selector")
    template = spec.get("template") or {}
    labels = (template.get("metadata") or {}).get("labels")
    causes: list[Cause] = []
    if not selector:
        causes.append(Cause("FieldValueRequired", "Required value", "spec.selector"))
    elif not _selects(selector, labels):
        causes.append(
            Cause(
                "FieldValueInvalid",
                f"Invalid value: {labels!r}: `selector` does not match template `labels`",
                "spec.template.metadata.labels",
            )
        )
    if old is not None and selector != (old.get("spec") or {}).get("selector"):
        causes.append(
            Cause("FieldValueInvalid", "Invalid value: field is immutable", "spec.selector")
        )
    containers = (template.get("spec") or {}).get("containers")
    if not containers:
        causes.append(Cause("FieldValueRequired", "Required value", f"{_POD}.containers"))
    for i, container in enumerate(containers or []):
        for key in ("name", "image"):
            if not isinstance(container, dict) or not container.get(key):
                causes.append(
                    Cause("FieldValueRequired", "Required value", f"{_POD}.containers[{i}].{key}")
                )
    causes += minimum(obj, "spec.replicas", 0, inclusive=True)
    return Admission(causes)


def _admit_pdb(obj: Obj, old: Obj | None) -> Admission:
    spec = obj.get("spec") or {}
    if "minAvailable" in spec and "maxUnavailable" in spec:
        return Admission(
            [
                Cause(
                    "FieldValueInvalid",
                    "Invalid value: minAvailable and maxUnavailable cannot be both set",
                    "spec",
                )
            ]
        )
    return Admission()


def _ready(obj: Obj) -> str:
    status = obj.get("status") or {}
    return f"{status.get('readyReplicas', 0)}/{(obj.get('spec') or {}).get('replicas', 1)}"


def workload_types() -> list[ResourceType]:
    return [
        v1_type(
            "apps",
            "deployments",
            "Deployment",
            True,
            short_names=("deploy",),
            categories=("all",),
            status_subresource=True,
            generation=True,
            admit=_admit_deployment,
            map_list_keys=_DEPLOYMENT_APPLY_KEYS,
            columns=(
                NAME_COLUMN,
                Column("Ready", "string", _ready),
                Column("Up-to-date", "integer", lambda o: cell("status.updatedReplicas")(o) or 0),
                Column("Available", "integer", lambda o: cell("status.availableReplicas")(o) or 0),
                AGE_COLUMN,
            ),
        ),
        v1_type(
            "policy",
            "poddisruptionbudgets",
            "PodDisruptionBudget",
            True,
            short_names=("pdb",),
            status_subresource=True,
            generation=True,
            admit=_admit_pdb,
            columns=(
                NAME_COLUMN,
                Column("Min Available", "string", lambda o: cell("spec.minAvailable")(o) or "N/A"),
                Column(
                    "Max Unavailable", "string", lambda o: cell("spec.maxUnavailable")(o) or "N/A"
                ),
                Column(
                    "Allowed Disruptions",
                    "integer",
                    lambda o: cell("status.disruptionsAllowed")(o) or 0,
                ),
                AGE_COLUMN,
            ),
        ),
        v1_type(
            "networking.k8s.io",
            "networkpolicies",
            "NetworkPolicy",
            True,
            short_names=("netpol",),
            generation=True,
            columns=(
                NAME_COLUMN,
                Column("Pod-Selector", "string", _pod_selector),
                AGE_COLUMN,
            ),
        ),
    ]


def _pod_selector(obj: Obj) -> str:
    labels = (cell("spec.podSelector")(obj) or {}).get("matchLabels") or {}
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items())) or "<none>"
