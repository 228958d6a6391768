"""Create-only virtual resources answered from who the caller is, never stored:

- ``serviceaccounts/token`` (TokenRequest): a token that authenticates as the ServiceAccount
  until ``status.expirationTimestamp`` (``spec.expirationSeconds``, default one hour, at least
  ten minutes, as the real server enforces);
- ``selfsubjectreviews`` (authentication.k8s.io/v1): the caller's user info;
- ``selfsubjectaccessreviews``, ``subjectaccessreviews``, ``localsubjectaccessreviews`` and
  ``selfsubjectrulesreviews`` (authorization.k8s.io/v1), decided by the same authorizer that
  guards every request.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from .auth import Authenticator, User
from .requestinfo import RequestInfo
from .resources import Obj, ResourceType, v1_type
from .status import Cause, bad_request, invalid, not_found, path_not_found
from .store import Store

AUTHN = "authentication.k8s.io"
AUTHZ = "authorization.k8s.io"
DEFAULT_TOKEN_SECONDS = 3600
MIN_TOKEN_SECONDS = 600
API_AUDIENCE = "https://kubernetes.default.svc.cluster.local"

Allows = Callable[[User, RequestInfo], bool]
Rules = Callable[[User, str | None], Iterable[Any]]

#: (group, resource, namespaced) of every review kind served
REVIEWS = {
    (AUTHN, "selfsubjectreviews"): ("SelfSubjectReview", False),
    (AUTHZ, "selfsubjectaccessreviews"): ("SelfSubjectAccessReview", False),
    (AUTHZ, "subjectaccessreviews"): ("SubjectAccessReview", False),
    (AUTHZ, "localsubjectaccessreviews"): ("LocalSubjectAccessReview", True),
    (AUTHZ, "selfsubjectrulesreviews"): ("SelfSubjectRulesReview", False),
}


def review_types() -> list[ResourceType]:
    """Discovery entries: create is the only verb."""
    return [
        v1_type(group, plural, kind, namespaced, verbs=("create",))
        for (group, plural), (kind, namespaced) in REVIEWS.items()
    ]


def is_token_request(info: RequestInfo) -> bool:
    return (
        info.group == ""
        and info.resource == "serviceaccounts"
        and info.subresource == "token"
        and info.verb == "create"
    )


def is_review(info: RequestInfo) -> bool:
    return (info.group, info.resource) in REVIEWS and info.subresource is None


def _rfc3339(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _body(body: Any, api_version: str, kind: str) -> Obj:
    if body is None:
        body = {}
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    if body.get("kind") not in (None, "", kind):
        raise bad_request(f"the kind in the data ({body.get('kind')}) does not match {kind}")
    out = copy.deepcopy(body)
    out["apiVersion"], out["kind"] = api_version, kind
    meta = out.get("metadata")
    out["metadata"] = dict(meta) if isinstance(meta, dict) else {}
    out["metadata"].pop("creationTimestamp", None)
    return out


def token_request(store: Store, auth: Authenticator, info: RequestInfo, body: Any) -> Obj:
    """Answer ``POST .../serviceaccounts/{name}/token``."""
    if info.namespace is None or info.name is None:
        raise path_not_found()
    if store.get("serviceaccounts", f"{info.namespace}/{info.name}") is None:
        raise not_found("serviceaccounts", "", info.name)
    request = _body(body, f"{AUTHN}/v1", "TokenRequest")
    spec = request.setdefault("spec", {})
    seconds = spec.setdefault("expirationSeconds", DEFAULT_TOKEN_SECONDS)
    if not isinstance(seconds, int) or isinstance(seconds, bool):
        raise bad_request("spec.expirationSeconds must be an integer")
    if seconds < MIN_TOKEN_SECONDS:
        raise invalid(
            "TokenRequest",
            AUTHN,
            "",  # the real server names no object here either
            [
                Cause(
                    "FieldValueInvalid",
                    f"Invalid value: {seconds}: may not specify a duration less than 10 minutes",
                    "spec.expirationSeconds",
                )
            ],
        )
    spec.setdefault("audiences", [API_AUDIENCE])
    request["metadata"].update(name=info.name, namespace=info.namespace)
    token, expires = auth.add_service_account(info.namespace, info.name, seconds)
    assert expires is not None
    request["status"] = {"token": token, "expirationTimestamp": _rfc3339(expires)}
    return request


def _attributes(spec: dict[str, Any], namespace: str | None) -> RequestInfo:
    resource = spec.get("resourceAttributes")
    if isinstance(resource, dict):
        return RequestInfo(
            verb=str(resource.get("verb") or ""),
            path="",
            resource_request=True,
            group=str(resource.get("group") or ""),
            version=str(resource.get("version") or ""),
            namespace=namespace or resource.get("namespace") or None,
            resource=str(resource.get("resource") or ""),
            subresource=resource.get("subresource") or None,
            name=resource.get("name") or None,
        )
    plain = spec.get("nonResourceAttributes")
    if isinstance(plain, dict):
        return RequestInfo(str(plain.get("verb") or ""), str(plain.get("path") or ""), False)
    raise invalid(
        "SubjectAccessReview",
        AUTHZ,
        "",
        [
            Cause(
                "FieldValueRequired",
                "Required value: exactly one of nonResourceAttributes or resourceAttributes "
                "must be specified",
                "spec.resourceAttributes",
            )
        ],
    )


def review(info: RequestInfo, body: Any, user: User, allows: Allows, rules: Rules) -> Obj:
    """Answer a POST to one of :data:`REVIEWS` for ``user`` (already authorized to ask)."""
    kind, _ = REVIEWS[(info.group, info.resource)]
    request = _body(body, f"{info.group}/v1", kind)
    spec = request.get("spec") or {}
    if kind == "SelfSubjectReview":
        request["status"] = {"userInfo": {"username": user.name, "groups": list(user.groups)}}
    elif kind == "SelfSubjectRulesReview":
        namespace = spec.get("namespace") or None
        request["status"] = rules_review(user, namespace, rules)
    else:
        subject = user
        if kind != "SelfSubjectAccessReview":
            if not spec.get("user") and not spec.get("groups"):
                raise invalid(
                    kind,
                    AUTHZ,
                    "",
                    [
                        Cause(
                            "FieldValueRequired",
                            "Required value: at least one of user or group must be specified",
                            "spec.user",
                        )
                    ],
                )
            subject = User(str(spec.get("user") or ""), tuple(spec.get("groups") or ()))
        attributes = _attributes(spec, info.namespace)
        allowed = allows(subject, attributes)
        status: dict[str, Any] = {"allowed": allowed}
        if allowed:
            status["reason"] = "allowed by the sandbox's RBAC authorizer"
        request["status"] = status
    return request


def rules_review(user: User, namespace: str | None, rules: Rules) -> dict[str, Any]:
    resource_rules: list[dict[str, Any]] = []
    url_rules: list[dict[str, Any]] = []
    for rule in rules(user, namespace):
        if not isinstance(rule, dict):
            continue
        if rule.get("nonResourceURLs"):
            url_rules.append(
                {"verbs": rule.get("verbs") or [], "nonResourceURLs": rule["nonResourceURLs"]}
            )
        else:
            resource_rules.append(
                {
                    key: rule[key]
                    for key in ("verbs", "apiGroups", "resources", "resourceNames")
                    if rule.get(key)
                }
            )
    return {"resourceRules": resource_rules, "nonResourceRules": url_rules, "incomplete": False}
