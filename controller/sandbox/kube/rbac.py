"""RBAC authorization from the Roles, ClusterRoles and bindings stored in the server.

Evaluated per request like the real RBAC authorizer: ClusterRoleBindings grant everywhere,
RoleBindings only in their namespace (to a Role there or a ClusterRole); rules match verbs,
apiGroups, resources (``res``, ``res/sub``, ``*/sub``, ``*``), resourceNames and
nonResourceURLs (exact or ``prefix*``). ``system:masters`` bypasses everything.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from .auth import MASTERS, User
from .requestinfo import RequestInfo
from .resources import Obj
from .status import StatusError
from .store import Store

_G = "rbac.authorization.k8s.io"
ROLES, CLUSTER_ROLES = f"roles.{_G}", f"clusterroles.{_G}"
BINDINGS, CLUSTER_BINDINGS = f"rolebindings.{_G}", f"clusterrolebindings.{_G}"

PUBLIC_INFO_URLS = ["/healthz", "/livez", "/readyz", "/version", "/version/"]
DISCOVERY_URLS = ["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*", *PUBLIC_INFO_URLS]


def _cluster_role(name: str, rules: list[dict[str, Any]]) -> Obj:
    return {
        "apiVersion": f"{_G}/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": rules,
    }


def _cluster_binding(name: str, groups: list[str]) -> Obj:
    return {
        "apiVersion": f"{_G}/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": _G, "kind": "ClusterRole", "name": name},
        "subjects": [{"apiGroup": _G, "kind": "Group", "name": g} for g in groups],
    }


def bootstrap_objects() -> list[Obj]:
    """The default roles every cluster has and this sandbox needs: health and version for
    everyone; discovery and reviews of one's own access for everyone authenticated;
    ``cluster-admin``, bound to ``system:masters``."""
    return [
        _cluster_role(
            "cluster-admin",
            [
                {"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]},
                {"nonResourceURLs": ["*"], "verbs": ["*"]},
            ],
        ),
        _cluster_binding("cluster-admin", [MASTERS]),
        _cluster_role(
            "system:basic-user",
            [
                {
                    "apiGroups": ["authorization.k8s.io"],
                    "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"],
                    "verbs": ["create"],
                },
                {
                    "apiGroups": ["authentication.k8s.io"],
                    "resources": ["selfsubjectreviews"],
                    "verbs": ["create"],
                },
            ],
        ),
        _cluster_binding("system:basic-user", ["system:authenticated"]),
        _cluster_role("system:discovery", [{"nonResourceURLs": DISCOVERY_URLS, "verbs": ["get"]}]),
        _cluster_binding("system:discovery", ["system:authenticated"]),
        _cluster_role(
            "system:public-info-viewer", [{"nonResourceURLs": PUBLIC_INFO_URLS, "verbs": ["get"]}]
        ),
        _cluster_binding(
            "system:public-info-viewer", ["system:authenticated", "system:unauthenticated"]
        ),
    ]


def _subject_matches(subject: Any, user: User, binding_namespace: str | None) -> bool:
    if not isinstance(subject, dict):
        return False
    kind, name = subject.get("kind"), subject.get("name")
    if kind == "User":
        return bool(name == user.name)
    if kind == "Group":
        return name in user.groups
    if kind == "ServiceAccount":
        namespace = subject.get("namespace") or binding_namespace
        return user.name == f"system:serviceaccount:{namespace}:{name}"
    return False


def _has(values: Any, wanted: str) -> bool:
    return isinstance(values, list) and ("*" in values or wanted in values)


def _resource_matches(rule: dict[str, Any], info: RequestInfo) -> bool:
    combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    resources = rule.get("resources") or []
    if not any(
        r in ("*", combined) or (info.subresource and r == f"*/{info.subresource}")
        for r in resources
    ):
        return False
    names = rule.get("resourceNames") or []
    return not names or (info.name is not None and info.name in names)


def _url_matches(rule: dict[str, Any], path: str) -> bool:
    for url in rule.get("nonResourceURLs") or []:
        if url == path or (url.endswith("*") and path.startswith(url[:-1])):
            return True
    return False


def rule_allows(rule: Any, info: RequestInfo) -> bool:
    if not isinstance(rule, dict) or not _has(rule.get("verbs"), info.verb):
        return False
    if not info.resource_request:
        return _url_matches(rule, info.path)
    return _has(rule.get("apiGroups"), info.group) and _resource_matches(rule, info)


class RBACAuthorizer:
    def __init__(self, store: Store) -> None:
        self.store = store

    def _rules(self, role_ref: Any, namespace: str | None) -> Iterable[Any]:
        if not isinstance(role_ref, dict):
            return []
        name = str(role_ref.get("name", ""))
        if role_ref.get("kind") == "ClusterRole":
            role = self.store.get(CLUSTER_ROLES, name)
        elif role_ref.get("kind") == "Role" and namespace is not None:
            role = self.store.get(ROLES, f"{namespace}/{name}")
        else:
            role = None
        return (role or {}).get("rules") or []

    def rules(self, user: User, namespace: str | None) -> Iterator[Any]:
        """Every rule granted to ``user``: through ClusterRoleBindings, then (for a namespace)
        through that namespace's RoleBindings."""
        for binding in self.store.objects(CLUSTER_BINDINGS):
            if any(_subject_matches(s, user, None) for s in binding.get("subjects") or []):
                yield from self._rules(binding.get("roleRef"), None)
        if namespace is None:
            return
        for binding in self.store.objects(BINDINGS, namespace):
            if any(_subject_matches(s, user, namespace) for s in binding.get("subjects") or []):
                yield from self._rules(binding.get("roleRef"), namespace)

    def allows(self, user: User, info: RequestInfo) -> bool:
        if user.is_admin:
            return True
        namespace = info.namespace if info.resource_request else None
        return any(rule_allows(r, info) for r in self.rules(user, namespace))


def forbidden_error(user: User, info: RequestInfo) -> StatusError:
    """The 403 Status the real authorizer produces, naming user, verb, resource, group and
    namespace."""
    if not info.resource_request:
        return StatusError(
            403, "Forbidden", f'forbidden: User "{user.name}" cannot {info.verb} path "{info.path}"'
        )
    combined = f"{info.resource}/{info.subresource}" if info.subresource else info.resource
    target = f"{info.resource}.{info.group}" if info.group else info.resource
    subject = f'{target} "{info.name}"' if info.name else target
    scope = (
        f'in the namespace "{info.namespace}"'
        if info.namespace is not None
        else "at the cluster scope"
    )
    message = (
        f'{subject} is forbidden: User "{user.name}" cannot {info.verb} resource '
        f'"{combined}" in API group "{info.group}" {scope}'
    )
    return StatusError(
        403, "Forbidden", message, name=info.name, group=info.group, kind=info.resource
    )
