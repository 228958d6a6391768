"""Built-in kinds the project and its clients touch, with the validation the real server does
for the fields that matter here (everything else is stored as sent)."""

from __future__ import annotations

import base64
import binascii
import copy
import re
from collections.abc import Callable
from typing import Any

from .resources import (
    AGE_COLUMN,
    CREATED_AT,
    NAME_COLUMN,
    Admission,
    Column,
    FieldLabel,
    Obj,
    ResourceType,
    default_field_labels,
    v1_type,
)
from .status import Cause

_MICRO_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$")
_RBAC = "rbac.authorization.k8s.io"


def _required(obj: Obj, path: str) -> list[Cause]:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node in (None, "", []):
        return [Cause("FieldValueRequired", "Required value", path)]
    return []


def _typed(obj: Obj, path: str, kind: type, what: str) -> list[Cause]:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None or (isinstance(node, kind) and not isinstance(node, bool)):
        return []
    return [Cause("FieldValueTypeInvalid", f"Invalid value: {node!r}: must be {what}", path)]


def _admit_secret(obj: Obj, old: Obj | None) -> Admission:
    causes: list[Cause] = []
    data = dict(obj.get("data") or {})
    string_data = obj.pop("stringData", None) or {}
    for key, value in data.items():
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, TypeError, ValueError):
            causes.append(
                Cause("FieldValueInvalid", "Invalid value: illegal base64 data", f"data[{key}]")
            )
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode()).decode()
    if data:
        obj["data"] = data
    obj.setdefault("type", "Opaque")
    if old is not None:
        if obj["type"] != old.get("type", "Opaque"):
            causes.append(Cause("FieldValueInvalid", "Invalid value: field is immutable", "type"))
        if old.get("immutable") and (
            obj.get("data") != old.get("data") or not obj.get("immutable")
        ):
            causes.append(
                Cause(
                    "FieldValueForbidden",
                    "Forbidden: field is immutable when `immutable` is set",
                    "data",
                )
            )
    return Admission(causes)


def _admit_configmap(obj: Obj, old: Obj | None) -> Admission:
    causes: list[Cause] = []
    for key, value in (obj.get("data") or {}).items():
        if not isinstance(value, str):
            causes.append(
                Cause("FieldValueTypeInvalid", "Invalid value: must be a string", f"data[{key}]")
            )
    if old is not None and old.get("immutable") and obj.get("data") != old.get("data"):
        causes.append(
            Cause(
                "FieldValueForbidden",
                "Forbidden: field is immutable when `immutable` is set",
                "data",
            )
        )
    return Admission(causes)


def _admit_namespace(obj: Obj, old: Obj | None) -> Admission:
    if old is None:
        obj["spec"] = {"finalizers": ["kubernetes"]}
        obj["status"] = {"phase": "Active"}
    return Admission()


def minimum(obj: Obj, path: str, bound: int, *, inclusive: bool) -> list[Cause]:
    """The real validation message for an integer at ``path`` below (or at) ``bound``."""
    value = cell(path)(obj)
    if not isinstance(value, int) or isinstance(value, bool):
        return []
    if value > bound or (inclusive and value == bound):
        return []
    relation = "greater than or equal to" if inclusive else "greater than"
    return [Cause("FieldValueInvalid", f"Invalid value: {value}: must be {relation} {bound}", path)]


def _micro_time(obj: Obj, path: str) -> list[Cause]:
    node: Any = obj
    for part in path.split("."):
        node = node.get(part) if isinstance(node, dict) else None
    if node is None or (isinstance(node, str) and _MICRO_TIME.match(node)):
        return []
    return [Cause("FieldValueInvalid", f"Invalid value: {node!r}: must be an RFC 3339 time", path)]


def _admit_lease(obj: Obj, old: Obj | None) -> Admission:
    causes = (
        _typed(obj, "spec.holderIdentity", str, "a string")
        + _typed(obj, "spec.leaseDurationSeconds", int, "an integer")
        + _typed(obj, "spec.leaseTransitions", int, "an integer")
        + _micro_time(obj, "spec.acquireTime")
        + _micro_time(obj, "spec.renewTime")
    )
    causes += minimum(obj, "spec.leaseDurationSeconds", 0, inclusive=False)
    return Admission(causes)


def admit_event_v1(obj: Obj, old: Obj | None) -> Admission:
    causes: list[Cause] = []
    for path in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        causes += _required(obj, path)
    causes += _micro_time(obj, "eventTime")
    if obj.get("type") not in ("Normal", "Warning"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: {obj.get("type")!r}: supported values: "Normal", "Warning"',
                "type",
            )
        )
    if len(str(obj.get("note") or "")) > 1024:
        causes.append(
            Cause("FieldValueTooLong", "Too long: may not be more than 1024 bytes", "note")
        )
    if len(str(obj.get("reportingInstance") or "")) > 128:
        causes.append(
            Cause(
                "FieldValueTooLong", "Too long: may not be more than 128 bytes", "reportingInstance"
            )
        )
    return Admission(causes)


#: core/v1 Event fields Go always serializes (no omitempty, or struct-valued), with their zero
#: values: ``kubectl get events --sort-by=.lastTimestamp`` needs the key even when null
CORE_EVENT_ZEROS: dict[str, Any] = {
    "involvedObject": {},
    "source": {},
    "firstTimestamp": None,
    "lastTimestamp": None,
    "eventTime": None,
    "reportingComponent": "",
    "reportingInstance": "",
}


def with_zeros(obj: Obj, zeros: dict[str, Any]) -> Obj:
    for key, zero in zeros.items():
        if obj.get(key) is None:
            obj[key] = copy.deepcopy(zero)
    return obj


def _admit_core_event(obj: Obj, old: Obj | None) -> Admission:
    with_zeros(obj, CORE_EVENT_ZEROS)
    causes: list[Cause] = []
    involved = obj.get("involvedObject") or {}
    namespace = obj["metadata"].get("namespace")
    if involved.get("namespace") and involved["namespace"] != namespace:
        causes.append(
            Cause(
                "FieldValueInvalid",
                "Invalid value: does not match event.namespace",
                "involvedObject.namespace",
            )
        )
    if obj.get("type") not in (None, "", "Normal", "Warning"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: {obj.get("type")!r}: supported values: "Normal", "Warning"',
                "type",
            )
        )
    return Admission(causes)


def _admit_rule_holder(obj: Obj, old: Obj | None) -> Admission:
    causes: list[Cause] = []
    for i, rule in enumerate(obj.get("rules") or []):
        if not isinstance(rule, dict) or not rule.get("verbs"):
            causes.append(Cause("FieldValueRequired", "Required value", f"rules[{i}].verbs"))
        elif not rule.get("resources") and not rule.get("nonResourceURLs"):
            causes.append(
                Cause(
                    "FieldValueRequired",
                    "Required value: resource rules must supply at least one resource",
                    f"rules[{i}].resources",
                )
            )
    return Admission(causes)


def _admit_binding(obj: Obj, old: Obj | None) -> Admission:
    causes = _required(obj, "roleRef.kind") + _required(obj, "roleRef.name")
    kind = (obj.get("roleRef") or {}).get("kind")
    if kind not in (None, "Role", "ClusterRole"):
        causes.append(
            Cause(
                "FieldValueNotSupported",
                f'Unsupported value: "{kind}": supported values: "Role", "ClusterRole"',
                "roleRef.kind",
            )
        )
    if old is not None and obj.get("roleRef") != old.get("roleRef"):
        causes.append(Cause("FieldValueInvalid", "Invalid value: cannot change roleRef", "roleRef"))
    for i, subject in enumerate(obj.get("subjects") or []):
        if not isinstance(subject, dict) or not subject.get("kind") or not subject.get("name"):
            causes.append(Cause("FieldValueRequired", "Required value", f"subjects[{i}]"))
    return Admission(causes)


def _admit_service(obj: Obj, old: Obj | None) -> Admission:
    spec = obj.setdefault("spec", {})
    spec.setdefault("type", "ClusterIP")
    if old is not None:
        spec.setdefault("clusterIP", (old.get("spec") or {}).get("clusterIP"))
    elif spec["type"] != "ExternalName":
        digest = sum(obj["metadata"]["name"].encode()) % 250 + 2
        spec.setdefault("clusterIP", f"10.96.{len(obj['metadata']['name']) % 250}.{digest}")
    causes: list[Cause] = []
    for i, port in enumerate(spec.get("ports") or []):
        if not isinstance(port, dict) or not isinstance(port.get("port"), int):
            causes.append(Cause("FieldValueRequired", "Required value", f"spec.ports[{i}].port"))
    return Admission(causes)


def cell(path: str) -> Callable[[Obj], Any]:
    parts = path.split(".")

    def get(obj: Obj) -> Any:
        node: Any = obj
        for part in parts:
            node = node.get(part) if isinstance(node, dict) else None
        return node

    return get


def _count(path: str) -> Callable[[Obj], Any]:
    get = cell(path)
    return lambda obj: len(get(obj) or {})


def _last_seen(obj: Obj) -> Any:
    series = obj.get("series") or {}
    return series.get("lastObservedTime") or obj.get("lastTimestamp") or obj.get("eventTime")


def _event_object(obj: Obj) -> str:
    involved = obj.get("involvedObject") or {}
    return f"{str(involved.get('kind', '')).lower()}/{involved.get('name', '')}"


def _ports(obj: Obj) -> str:
    ports = (obj.get("spec") or {}).get("ports") or []
    return ",".join(f"{p.get('port')}/{p.get('protocol', 'TCP')}" for p in ports) or "<none>"


def _external_ip(obj: Obj) -> str:
    """The real printer's EXTERNAL-IP: external IPs, load balancer ingress, or the name."""
    spec = obj.get("spec") or {}
    if spec.get("type") == "ExternalName":
        return str(spec.get("externalName") or "<none>")
    found = [*(spec.get("externalIPs") or []), *_load_balancer(obj)]
    if found:
        return ",".join(str(f) for f in found)
    return "<pending>" if spec.get("type") == "LoadBalancer" else "<none>"


def _hosts(obj: Obj) -> str:
    rules = (obj.get("spec") or {}).get("rules") or []
    return ",".join(r.get("host", "*") for r in rules) or "*"


def _load_balancer(obj: Obj) -> list[str]:
    ingress = ((obj.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return [str(i.get("ip") or i.get("hostname")) for i in ingress if isinstance(i, dict)]


def _ingress_address(obj: Obj) -> str:
    return ",".join(_load_balancer(obj))


def _ingress_ports(obj: Obj) -> str:
    """The real printer's PORTS: 80, and 443 when TLS is configured."""
    return "80, 443" if (obj.get("spec") or {}).get("tls") else "80"


def _role_ref(obj: Obj) -> str:
    ref = obj.get("roleRef") or {}
    return f"{ref.get('kind')}/{ref.get('name')}"


def _labels(namespaced: bool, **extra: FieldLabel) -> dict[str, FieldLabel]:
    return {**default_field_labels(namespaced), **extra}


def _event_labels() -> dict[str, FieldLabel]:
    involved = {
        f"involvedObject.{f}": (lambda o, f=f: (o.get("involvedObject") or {}).get(f))
        for f in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath")
    }
    return _labels(
        True,
        reason=cell("reason"),
        type=cell("type"),
        reportingComponent=cell("reportingComponent"),
        source=cell("source.component"),
        **involved,
    )


def builtin_types() -> list[ResourceType]:
    """Core kinds; events.k8s.io/v1 Events are added by the events module."""

    def core(plural: str, kind: str, namespaced: bool = True, **kw: Any) -> ResourceType:
        return v1_type("", plural, kind, namespaced, **kw)

    def rbac(plural: str, kind: str, namespaced: bool, **kw: Any) -> ResourceType:
        return v1_type(_RBAC, plural, kind, namespaced, name_rule="path", **kw)

    return [
        core(
            "namespaces",
            "Namespace",
            False,
            short_names=("ns",),
            status_subresource=True,
            name_rule="label",
            admit=_admit_namespace,
            field_labels=_labels(False, **{"status.phase": cell("status.phase")}),
            columns=(NAME_COLUMN, Column("Status", "string", cell("status.phase")), AGE_COLUMN),
        ),
        core(
            "secrets",
            "Secret",
            admit=_admit_secret,
            field_labels=_labels(True, type=cell("type")),
            columns=(
                NAME_COLUMN,
                Column("Type", "string", cell("type")),
                Column("Data", "string", _count("data")),
                AGE_COLUMN,
            ),
        ),
        core(
            "configmaps",
            "ConfigMap",
            short_names=("cm",),
            admit=_admit_configmap,
            columns=(NAME_COLUMN, Column("Data", "string", _count("data")), AGE_COLUMN),
        ),
        core(
            "services",
            "Service",
            short_names=("svc",),
            status_subresource=True,
            admit=_admit_service,
            map_list_keys={"spec.ports": ("port", "protocol")},
            categories=("all",),
            columns=(
                NAME_COLUMN,
                Column("Type", "string", cell("spec.type")),
                Column("Cluster-IP", "string", cell("spec.clusterIP")),
                Column("External-IP", "string", _external_ip),
                Column("Port(s)", "string", _ports),
                AGE_COLUMN,
            ),
        ),
        core(
            "serviceaccounts",
            "ServiceAccount",
            short_names=("sa",),
            columns=(NAME_COLUMN, Column("Secrets", "string", _count("secrets")), AGE_COLUMN),
        ),
        core(
            "events",
            "Event",
            short_names=("ev",),
            admit=_admit_core_event,
            field_labels=_event_labels(),
            columns=(
                Column("Last Seen", "date", _last_seen),
                Column("Type", "string", cell("type")),
                Column("Reason", "string", cell("reason")),
                Column("Object", "string", _event_object),
                Column("Message", "string", cell("message")),
            ),
        ),
        ResourceType(
            group="coordination.k8s.io",
            version="v1",
            plural="leases",
            singular="lease",
            kind="Lease",
            namespaced=True,
            storage="leases.coordination.k8s.io",
            unconditional_update=False,
            create_on_update=True,
            admit=_admit_lease,
            columns=(
                NAME_COLUMN,
                Column("Holder", "string", cell("spec.holderIdentity")),
                AGE_COLUMN,
            ),
        ),
        ResourceType(
            group="networking.k8s.io",
            version="v1",
            plural="ingresses",
            singular="ingress",
            kind="Ingress",
            namespaced=True,
            short_names=("ing",),
            storage="ingresses.networking.k8s.io",
            status_subresource=True,
            generation=True,
            columns=(
                NAME_COLUMN,
                Column("Class", "string", lambda o: cell("spec.ingressClassName")(o) or "<none>"),
                Column("Hosts", "string", _hosts),
                Column("Address", "string", _ingress_address),
                Column("Ports", "string", _ingress_ports),
                AGE_COLUMN,
            ),
        ),
        rbac("roles", "Role", True, admit=_admit_rule_holder, columns=(NAME_COLUMN, CREATED_AT)),
        rbac(
            "clusterroles",
            "ClusterRole",
            False,
            admit=_admit_rule_holder,
            columns=(NAME_COLUMN, CREATED_AT),
        ),
        rbac(
            "rolebindings",
            "RoleBinding",
            True,
            admit=_admit_binding,
            columns=(NAME_COLUMN, Column("Role", "string", _role_ref), AGE_COLUMN),
        ),
        rbac(
            "clusterrolebindings",
            "ClusterRoleBinding",
            False,
            admit=_admit_binding,
            columns=(NAME_COLUMN, Column("Role", "string", _role_ref), AGE_COLUMN),
        ),
    ]
