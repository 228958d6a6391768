"""The controller's RBAC as rendered from manifests/, in a form the e2e suite can enforce.

A :class:`Permission` is one verb on one resource (optionally one named object), either
cluster-wide or in one namespace: the unit the RBAC-minimality e2e removes one at a time.
``controller_permissions`` follows every (Cluster)RoleBinding whose subjects include the
controller's ServiceAccount to its role and expands the rules; ``rbac_objects`` turns a set of
permissions back into standard RBAC objects, so ``rbac_objects(controller_permissions(x))``
grants exactly what ``x`` grants the controller, and ``ControllerRBAC.each_without_one``
yields, for every permission, the objects granting all the others.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from tests.manifests.render import Object, controller_deployment, overlay

RBAC_GROUP = "rbac.authorization.k8s.io"
RBAC_VERSION = f"{RBAC_GROUP}/v1"


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    namespace: str
    name: str

    @property
    def username(self) -> str:
        """The user name the API server authenticates this account's tokens as."""
        return f"system:serviceaccount:{self.namespace}:{self.name}"


@dataclass(frozen=True, slots=True)
class Permission:
    """``verb`` on ``resource`` (``plural`` or ``plural/subresource``) in ``api_group``.

    ``namespace`` is None for a cluster-wide grant; ``resource_name`` None means any object.
    """

    namespace: str | None
    api_group: str
    resource: str
    verb: str
    resource_name: str | None = None

    def __str__(self) -> str:
        group = f".{self.api_group}" if self.api_group else ""
        target = f"{self.resource}{group}" + (
            f"/{self.resource_name}" if self.resource_name else ""
        )
        where = f"namespace {self.namespace}" if self.namespace else "cluster-wide"
        return f"{self.verb} {target} ({where})"


def controller_service_account(objects: Iterable[Object]) -> ServiceAccount:
    """The ServiceAccount the rendered controller Deployment runs as."""
    deployment = controller_deployment(objects)
    name = deployment["spec"]["template"]["spec"].get("serviceAccountName", "default")
    return ServiceAccount(deployment["metadata"].get("namespace", "default"), name)


def _binds(binding: Object, account: ServiceAccount) -> bool:
    namespace = binding["metadata"].get("namespace")
    return any(
        s.get("kind") == "ServiceAccount"
        and s.get("name") == account.name
        and s.get("namespace", namespace) == account.namespace
        for s in binding.get("subjects") or ()
    )


def _role(objects: list[Object], binding: Object) -> Object:
    ref = binding["roleRef"]
    if ref.get("apiGroup") != RBAC_GROUP:
        raise ValueError(f"{binding['metadata']['name']}: roleRef outside {RBAC_GROUP}")
    namespace = binding["metadata"].get("namespace") if ref["kind"] == "Role" else None
    for obj in objects:
        meta = obj["metadata"]
        if (obj["kind"], meta["name"]) == (ref["kind"], ref["name"]) and (
            namespace is None or meta.get("namespace") == namespace
        ):
            return obj
    raise LookupError(
        f"{binding['kind']} {binding['metadata']['name']}: no {ref['kind']} {ref['name']}"
    )


def _expand(rule: Object, namespace: str | None) -> Iterator[Permission]:
    if rule.get("nonResourceURLs"):
        raise ValueError(f"nonResourceURLs are not modelled: {rule}")
    names: list[str | None] = list(rule.get("resourceNames") or [None])
    for group, resource, verb, name in itertools.product(
        rule.get("apiGroups") or [], rule.get("resources") or [], rule.get("verbs") or [], names
    ):
        yield Permission(namespace, group, resource, verb, name)


def permissions_of(objects: Iterable[Object], account: ServiceAccount) -> frozenset[Permission]:
    """Everything the RBAC objects among ``objects`` grant ``account`` (no aggregation)."""
    objects = list(objects)
    granted: set[Permission] = set()
    for binding in objects:
        if binding.get("kind") not in {"ClusterRoleBinding", "RoleBinding"}:
            continue
        if not _binds(binding, account):
            continue
        namespace = (
            binding["metadata"].get("namespace") if binding["kind"] == "RoleBinding" else None
        )
        role = _role(objects, binding)
        if role.get("aggregationRule"):
            raise ValueError(f"aggregated ClusterRole {role['metadata']['name']} is not modelled")
        for rule in role.get("rules") or ():
            granted.update(_expand(rule, namespace))
    return frozenset(granted)


def controller_permissions(objects: Iterable[Object]) -> frozenset[Permission]:
    """What the rendered manifests grant the controller's ServiceAccount."""
    objects = list(objects)
    return permissions_of(objects, controller_service_account(objects))


def rbac_objects(
    permissions: Iterable[Permission], account: ServiceAccount, name: str = "zerossl-issuer-e2e"
) -> list[Object]:
    """A ClusterRole (+ binding) and one Role (+ binding) per namespace granting exactly
    ``permissions`` to ``account``; one rule per (group, resource, resource name)."""
    by_scope: dict[str | None, list[Permission]] = {}
    for permission in sorted(permissions, key=_sort_key):
        by_scope.setdefault(permission.namespace, []).append(permission)
    objects: list[Object] = []
    for namespace, scoped in sorted(by_scope.items(), key=lambda kv: kv[0] or ""):
        role_kind = "ClusterRole" if namespace is None else "Role"
        meta: Object = (
            {"name": name} if namespace is None else {"name": name, "namespace": namespace}
        )
        objects.append(
            {
                "apiVersion": RBAC_VERSION,
                "kind": role_kind,
                "metadata": meta,
                "rules": _rules(scoped),
            }
        )
        objects.append(
            {
                "apiVersion": RBAC_VERSION,
                "kind": f"{role_kind}Binding",
                "metadata": dict(meta),
                "roleRef": {"apiGroup": RBAC_GROUP, "kind": role_kind, "name": name},
                "subjects": [
                    {"kind": "ServiceAccount", "name": account.name, "namespace": account.namespace}
                ],
            }
        )
    return objects


def _sort_key(p: Permission) -> tuple[str, str, str, str, str]:
    return (p.namespace or "", p.api_group, p.resource, p.resource_name or "", p.verb)


def _rules(permissions: list[Permission]) -> list[Object]:
    rules: list[Object] = []
    for (group, resource, resource_name), grouped in itertools.groupby(
        permissions, key=lambda p: (p.api_group, p.resource, p.resource_name)
    ):
        rule: Object = {
            "apiGroups": [group],
            "resources": [resource],
            "verbs": sorted(p.verb for p in grouped),
        }
        if resource_name is not None:
            rule["resourceNames"] = [resource_name]
        rules.append(rule)
    return rules


@dataclass(frozen=True, slots=True)
class ControllerRBAC:
    """The controller's RBAC rendered from one overlay, ready to load into the emulated API
    server: ``objects`` as rendered (ServiceAccount, roles, bindings), ``permissions`` flat."""

    account: ServiceAccount
    objects: list[Object]
    permissions: frozenset[Permission]

    def without(self, removed: Permission) -> list[Object]:
        """RBAC objects granting every permission but ``removed`` (which must be granted)."""
        if removed not in self.permissions:
            raise KeyError(f"not granted: {removed}")
        return rbac_objects(self.permissions - {removed}, self.account)

    def each_without_one(self) -> Iterator[tuple[Permission, list[Object]]]:
        """For every permission, in a stable order: (it, RBAC objects granting the others)."""
        for removed in sorted(self.permissions, key=_sort_key):
            yield removed, self.without(removed)


def controller_rbac(overlay_name: str = "default") -> ControllerRBAC:
    """The controller's ServiceAccount and the RBAC objects that grant it anything."""
    objects = overlay(overlay_name)
    account = controller_service_account(objects)
    relevant = [
        obj
        for obj in objects
        if (
            obj["kind"] == "ServiceAccount"
            and ServiceAccount(obj["metadata"].get("namespace", ""), obj["metadata"]["name"])
            == account
        )
        or (obj["kind"] in {"ClusterRoleBinding", "RoleBinding"} and _binds(obj, account))
    ]
    relevant += [_role(objects, b) for b in relevant if b["kind"].endswith("Binding")]
    return ControllerRBAC(account, relevant, permissions_of(objects, account))
