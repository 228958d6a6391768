"""Protobuf field tables for the kinds kubectl sends as protobuf, from k8s.io/api and
k8s.io/apimachinery ``generated.proto`` (field numbers are stable across releases).

A table maps field number to :class:`Field`; top-level kinds are keyed ``apiVersion/Kind``,
nested messages by their proto name. ``kind`` is a scalar (``string``, ``bytes``, ``int``,
``bool``, ``time``, ``intstr``) or the name of another table; ``pointer`` marks Go pointer
fields, whose zero values are kept because their presence means something.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Field:
    name: str
    kind: str = "string"
    repeated: bool = False
    map: bool = False
    pointer: bool = False


Message = dict[int, Field]


def _list(name: str, kind: str = "string") -> Field:
    return Field(name, kind, repeated=True)


def _map(name: str, kind: str = "string") -> Field:
    return Field(name, kind, map=True)


_RBAC = "rbac.authorization.k8s.io/v1"
_AUTHN = "authentication.k8s.io/v1"
_AUTHZ = "authorization.k8s.io/v1"

_META = {1: Field("metadata", "ObjectMeta")}

MESSAGES: dict[str, Message] = {
    # k8s.io/apimachinery/pkg/apis/meta/v1
    "ObjectMeta": {
        1: Field("name"),
        2: Field("generateName"),
        3: Field("namespace"),
        5: Field("uid"),
        6: Field("resourceVersion"),
        7: Field("generation", "int"),
        8: Field("creationTimestamp", "time"),
        9: Field("deletionTimestamp", "time"),
        10: Field("deletionGracePeriodSeconds", "int", pointer=True),
        11: _map("labels"),
        12: _map("annotations"),
        13: _list("ownerReferences", "OwnerReference"),
        14: _list("finalizers"),
    },
    "OwnerReference": {
        5: Field("apiVersion"),
        1: Field("kind"),
        3: Field("name"),
        4: Field("uid"),
        6: Field("controller", "bool", pointer=True),
        7: Field("blockOwnerDeletion", "bool", pointer=True),
    },
    "LabelSelector": {
        1: _map("matchLabels"),
        2: _list("matchExpressions", "LabelSelectorRequirement"),
    },
    "LabelSelectorRequirement": {1: Field("key"), 2: Field("operator"), 3: _list("values")},
    # k8s.io/api/core/v1
    "v1/Namespace": {**_META, 2: Field("spec", "NamespaceSpec")},
    "NamespaceSpec": {1: _list("finalizers")},
    "v1/Secret": {
        **_META,
        5: Field("immutable", "bool", pointer=True),
        2: _map("data", "bytes"),
        4: _map("stringData"),
        3: Field("type"),
    },
    "v1/ConfigMap": {
        **_META,
        4: Field("immutable", "bool", pointer=True),
        2: _map("data"),
        3: _map("binaryData", "bytes"),
    },
    "v1/ServiceAccount": {
        **_META,
        2: _list("secrets", "ObjectReference"),
        3: _list("imagePullSecrets", "LocalObjectReference"),
        4: Field("automountServiceAccountToken", "bool", pointer=True),
    },
    "ObjectReference": {
        1: Field("kind"),
        2: Field("namespace"),
        3: Field("name"),
        4: Field("uid"),
        5: Field("apiVersion"),
        6: Field("resourceVersion"),
        7: Field("fieldPath"),
    },
    "LocalObjectReference": {1: Field("name")},
    "v1/Service": {**_META, 2: Field("spec", "ServiceSpec")},
    "ServiceSpec": {
        1: _list("ports", "ServicePort"),
        2: _map("selector"),
        3: Field("clusterIP"),
        18: _list("clusterIPs"),
        4: Field("type"),
        5: _list("externalIPs"),
        7: Field("sessionAffinity"),
        10: Field("externalName"),
        11: Field("externalTrafficPolicy"),
        19: _list("ipFamilies"),
        17: Field("ipFamilyPolicy", pointer=True),
        22: Field("internalTrafficPolicy", pointer=True),
    },
    "ServicePort": {
        1: Field("name"),
        2: Field("protocol"),
        6: Field("appProtocol", pointer=True),
        3: Field("port", "int"),
        4: Field("targetPort", "intstr"),
        5: Field("nodePort", "int"),
    },
    # k8s.io/api/rbac/v1
    f"{_RBAC}/Role": {**_META, 2: _list("rules", "PolicyRule")},
    f"{_RBAC}/ClusterRole": {
        **_META,
        2: _list("rules", "PolicyRule"),
        3: Field("aggregationRule", "AggregationRule", pointer=True),
    },
    f"{_RBAC}/RoleBinding": {
        **_META,
        2: _list("subjects", "Subject"),
        3: Field("roleRef", "RoleRef"),
    },
    f"{_RBAC}/ClusterRoleBinding": {
        **_META,
        2: _list("subjects", "Subject"),
        3: Field("roleRef", "RoleRef"),
    },
    "PolicyRule": {
        1: _list("verbs"),
        2: _list("apiGroups"),
        3: _list("resources"),
        4: _list("resourceNames"),
        5: _list("nonResourceURLs"),
    },
    "AggregationRule": {1: _list("clusterRoleSelectors", "LabelSelector")},
    "Subject": {1: Field("kind"), 2: Field("apiGroup"), 3: Field("name"), 4: Field("namespace")},
    "RoleRef": {1: Field("apiGroup"), 2: Field("kind"), 3: Field("name")},
    # k8s.io/api/authentication/v1
    f"{_AUTHN}/TokenRequest": {**_META, 2: Field("spec", "TokenRequestSpec")},
    "TokenRequestSpec": {
        1: _list("audiences"),
        4: Field("expirationSeconds", "int", pointer=True),
        3: Field("boundObjectRef", "BoundObjectReference", pointer=True),
    },
    "BoundObjectReference": {
        1: Field("kind"),
        2: Field("apiVersion"),
        3: Field("name"),
        4: Field("uid"),
    },
    f"{_AUTHN}/SelfSubjectReview": {**_META},
    # k8s.io/api/authorization/v1
    f"{_AUTHZ}/SubjectAccessReview": {**_META, 2: Field("spec", "SubjectAccessReviewSpec")},
    "SubjectAccessReviewSpec": {
        1: Field("resourceAttributes", "ResourceAttributes", pointer=True),
        2: Field("nonResourceAttributes", "NonResourceAttributes", pointer=True),
        3: Field("user"),
        4: _list("groups"),
        6: Field("uid"),
    },
    f"{_AUTHZ}/SelfSubjectAccessReview": {
        **_META,
        2: Field("spec", "SelfSubjectAccessReviewSpec"),
    },
    "SelfSubjectAccessReviewSpec": {
        1: Field("resourceAttributes", "ResourceAttributes", pointer=True),
        2: Field("nonResourceAttributes", "NonResourceAttributes", pointer=True),
    },
    "ResourceAttributes": {
        1: Field("namespace"),
        2: Field("verb"),
        3: Field("group"),
        4: Field("version"),
        5: Field("resource"),
        6: Field("subresource"),
        7: Field("name"),
    },
    "NonResourceAttributes": {1: Field("path"), 2: Field("verb")},
    f"{_AUTHZ}/SelfSubjectRulesReview": {**_META, 2: Field("spec", "SelfSubjectRulesReviewSpec")},
    "SelfSubjectRulesReviewSpec": {1: Field("namespace")},
}
