"""Protobuf field tables for the kinds kubectl sends as protobuf, from k8s.io/api and
k8s.io/apimachinery ``generated.proto`` (field numbers are stable across releases).

A table maps field number to :class:`Field`; top-level kinds are keyed ``apiVersion/Kind``,
nested messages by their proto name. ``kind`` is a scalar (``string``, ``bytes``, ``int``,
``bool``, ``time``, ``intstr``, ``quantity``) or the name of another table; ``pointer`` marks
Go pointer fields, whose zero values are kept because their presence means something;
``inline`` marks embedded structs whose fields JSON shows in the parent. Tables may be partial
(workload kinds carry what ``kubectl create deployment``/``ingress`` set): the decoder refuses a
value in a field a table lacks.
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
    inline: bool = False


Message = dict[int, Field]


def _list(name: str, kind: str = "string") -> Field:
    return Field(name, kind, repeated=True)


def _map(name: str, kind: str = "string") -> Field:
    return Field(name, kind, map=True)


_APPS = "apps/v1"
_NETWORKING = "networking.k8s.io/v1"
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
    # k8s.io/api/apps/v1 (what `kubectl create deployment` sets)
    f"{_APPS}/Deployment": {**_META, 2: Field("spec", "DeploymentSpec")},
    "DeploymentSpec": {
        1: Field("replicas", "int", pointer=True),
        2: Field("selector", "LabelSelector", pointer=True),
        3: Field("template", "PodTemplateSpec"),
        4: Field("strategy", "DeploymentStrategy"),
        5: Field("minReadySeconds", "int"),
        6: Field("revisionHistoryLimit", "int", pointer=True),
        7: Field("paused", "bool"),
        9: Field("progressDeadlineSeconds", "int", pointer=True),
    },
    "DeploymentStrategy": {1: Field("type"), 2: Field("rollingUpdate", "RollingUpdate")},
    "RollingUpdate": {
        1: Field("maxUnavailable", "intstr", pointer=True),
        2: Field("maxSurge", "intstr", pointer=True),
    },
    "PodTemplateSpec": {**_META, 2: Field("spec", "PodSpec")},
    "PodSpec": {
        20: _list("initContainers", "Container"),
        2: _list("containers", "Container"),
        3: Field("restartPolicy"),
        4: Field("terminationGracePeriodSeconds", "int", pointer=True),
        6: Field("dnsPolicy"),
        7: _map("nodeSelector"),
        8: Field("serviceAccountName"),
        21: Field("automountServiceAccountToken", "bool", pointer=True),
        15: _list("imagePullSecrets", "LocalObjectReference"),
        19: Field("schedulerName"),
        30: Field("enableServiceLinks", "bool", pointer=True),
    },
    "Container": {
        1: Field("name"),
        2: Field("image"),
        3: _list("command"),
        4: _list("args"),
        5: Field("workingDir"),
        6: _list("ports", "ContainerPort"),
        7: _list("env", "EnvVar"),
        8: Field("resources", "ResourceRequirements"),
        13: Field("terminationMessagePath"),
        20: Field("terminationMessagePolicy"),
        14: Field("imagePullPolicy"),
        16: Field("stdin", "bool"),
        17: Field("stdinOnce", "bool"),
        18: Field("tty", "bool"),
    },
    "ContainerPort": {
        1: Field("name"),
        2: Field("hostPort", "int"),
        3: Field("containerPort", "int"),
        4: Field("protocol"),
        5: Field("hostIP"),
    },
    "EnvVar": {1: Field("name"), 2: Field("value")},
    "ResourceRequirements": {1: _map("limits", "quantity"), 2: _map("requests", "quantity")},
    # k8s.io/api/networking/v1 (what `kubectl create ingress` sets)
    f"{_NETWORKING}/Ingress": {**_META, 2: Field("spec", "IngressSpec")},
    "IngressSpec": {
        4: Field("ingressClassName", pointer=True),
        1: Field("defaultBackend", "IngressBackend", pointer=True),
        2: _list("tls", "IngressTLS"),
        3: _list("rules", "IngressRule"),
    },
    "IngressRule": {1: Field("host"), 2: Field("", "IngressRuleValue", inline=True)},
    "IngressRuleValue": {1: Field("http", "HTTPIngressRuleValue", pointer=True)},
    "HTTPIngressRuleValue": {1: _list("paths", "HTTPIngressPath")},
    "HTTPIngressPath": {
        1: Field("path"),
        3: Field("pathType", pointer=True),
        2: Field("backend", "IngressBackend"),
    },
    "IngressBackend": {4: Field("service", "IngressServiceBackend", pointer=True)},
    "IngressServiceBackend": {1: Field("name"), 2: Field("port", "ServiceBackendPort")},
    "ServiceBackendPort": {1: Field("name"), 2: Field("number", "int")},
    "IngressTLS": {1: _list("hosts"), 2: Field("secretName")},
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
