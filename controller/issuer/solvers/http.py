"""HTTP validation routing: make ZeroSSL's ``GET /.well-known/pki-validation/<MD5>.txt`` reach
the built-in solver (the Service ``zerossl-issuer-solver``, port 80, in the controller's
namespace), as the solver's ``http`` spec says.

- ``none``: nothing to publish; traffic for the names already reaches the solver.
- ``ingress``: one networking.k8s.io/v1 Ingress per order, one rule per presented name
  (``host`` = the name; one host-less rule for IP addresses, which Ingress hosts cannot be).
- ``gatewayHTTPRoute``: one gateway.networking.k8s.io/v1 HTTPRoute per order attached to the
  spec's ``parentRefs``, ``hostnames`` = the presented DNS names (none while an IP address is
  presented or more than 16 names are: HTTPRoute hostnames cannot be IPs and hold at most 16;
  the exact path alone is specific to the CSR).

Invariants:
- The object lives in the controller's namespace (a backend Service must share it, and owner
  references cannot cross namespaces), is named ``zerossl-solver-<hash of the order's
  namespace/name>``, labelled with the order's namespace and uid and annotated with the order
  and the names it routes. Its rules are a function of that set of names, the validation path
  and the spec; ``present`` adds a name and ``cleanup`` removes one, deleting the object with
  the last name. Both are idempotent; an object left behind by an earlier order of the same
  name (another uid) is taken over, never merged with.
- Writes are conditional on the resourceVersion read. Every API failure is a
  :class:`RoutingError`; ``retryable`` False means the spec or the controller's permissions
  must change first. Each operation counts once in ``solver_operations``.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from controller.issuer.api import GROUP, MANAGED_BY, MANAGED_BY_LABEL
from controller.kube.errors import (
    ApiError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    Unauthorized,
)
from controller.kube.objects import ObjectApi
from controller.kube.resource import INGRESSES, Resource
from controller.observability.metrics import solver_operations
from controller.observability.redact import redact_text
from controller.observability.tracing import start_span

HTTPROUTES = Resource("gateway.networking.k8s.io", "v1", "httproutes", "HTTPRoute", namespaced=True)
SOLVER_SERVICE = "zerossl-issuer-solver"
SOLVER_PORT = 80
NAME_PREFIX = "zerossl-solver-"
ORDER_NAMESPACE_LABEL = f"{GROUP}/order-namespace"
ORDER_UID_LABEL = f"{GROUP}/order-uid"
ORDER_ANNOTATION = f"{GROUP}/order"
DOMAINS_ANNOTATION = f"{GROUP}/domains"
LEGACY_CLASS_ANNOTATION = "kubernetes.io/ingress.class"
MAX_HOSTNAMES = 16  # HTTPRoute spec.hostnames maxItems
ROUTINGS = ("ingress", "gatewayHTTPRoute", "none")


class RoutingError(Exception):
    """Routing a validation path failed; ``kind`` is a short, bounded name (metrics, reasons)."""

    retry_after: float | None = None  # the API server names no wait: back off

    def __init__(self, kind: str, message: str, *, retryable: bool) -> None:
        self.kind = kind
        self.message = redact_text(message)
        self.retryable = retryable
        super().__init__(self.message)


@dataclass(frozen=True, slots=True)
class OrderRef:
    """The order a routing object serves."""

    namespace: str
    name: str
    uid: str

    @classmethod
    def of(cls, order: Mapping[str, Any]) -> OrderRef:
        meta = order.get("metadata") or {}
        return cls(str(meta.get("namespace")), str(meta.get("name")), str(meta.get("uid")))

    @property
    def object_name(self) -> str:
        digest = hashlib.sha256(f"{self.namespace}/{self.name}".encode()).hexdigest()[:20]
        return NAME_PREFIX + digest


def routing_of(spec: Mapping[str, Any]) -> str:
    """Which routing the ``http`` spec uses: ``ingress``, ``gatewayHTTPRoute`` or ``none``."""
    named = [r for r in ROUTINGS if spec.get(r) is not None]
    if len(named) != 1:
        raise RoutingError(
            "invalid_spec", f"http needs exactly one of {', '.join(ROUTINGS)}", retryable=False
        )
    return named[0]


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HttpRouting:
    """Routing objects in ``namespace`` (the controller's) towards ``service``:``port``."""

    def __init__(
        self,
        kube: ObjectApi,
        *,
        namespace: str,
        service: str = SOLVER_SERVICE,
        port: int = SOLVER_PORT,
    ) -> None:
        self._kube = kube
        self._namespace = namespace
        self._service = service
        self._port = port

    async def present(
        self, order: Mapping[str, Any], domain: str, path: str, spec: Mapping[str, Any]
    ) -> None:
        """Route ``path`` for ``domain`` to the solver (create or extend the order's object)."""
        routing = routing_of(spec)
        if routing == "none":
            return
        with _observed(routing, "present", domain):
            await self._change(OrderRef.of(order), routing, spec, path, add=domain)

    async def cleanup(
        self, order: Mapping[str, Any], domain: str, path: str, spec: Mapping[str, Any]
    ) -> None:
        """Stop routing ``domain``; the object goes when no name is left."""
        routing = routing_of(spec)
        if routing == "none":
            return
        with _observed(routing, "cleanup", domain):
            await self._change(OrderRef.of(order), routing, spec, path, remove=domain)

    async def _change(
        self,
        order: OrderRef,
        routing: str,
        spec: Mapping[str, Any],
        path: str,
        *,
        add: str | None = None,
        remove: str | None = None,
    ) -> None:
        resource = INGRESSES if routing == "ingress" else HTTPROUTES
        name = order.object_name
        verb = "get"
        try:
            current = await self._get(resource, name)
            ours = current is not None and _labels(current).get(ORDER_UID_LABEL) == order.uid
            domains = _domains(current) if current is not None and ours else []
            wanted = [d for d in domains if d != remove]
            if add is not None and add not in wanted:
                wanted.append(add)
            if current is not None and ours and wanted == domains:
                return
            if not wanted:
                if current is not None:
                    verb = "delete"
                    version = current["metadata"]["resourceVersion"]
                    with contextlib.suppress(NotFound):
                        await self._kube.delete(
                            resource,
                            name,
                            self._namespace,
                            preconditions={"resourceVersion": version},
                        )
                return
            body = self._manifest(resource, order, spec, wanted, path)
            if current is None:
                verb = "create"
                await self._kube.create(resource, body, self._namespace)
            else:
                verb = "update"
                body["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
                await self._kube.replace(resource, body, self._namespace)
        except ApiError as error:
            raise self._error(error, verb, resource) from None

    async def _get(self, resource: Resource, name: str) -> dict[str, Any] | None:
        try:
            return await self._kube.get(resource, name, self._namespace)
        except NotFound as error:
            if _missing_api(error):
                raise
            return None

    def _manifest(
        self,
        resource: Resource,
        order: OrderRef,
        spec: Mapping[str, Any],
        domains: Sequence[str],
        path: str,
    ) -> dict[str, Any]:
        routing = routing_of(spec)
        config = _section(spec, routing)
        labels = {
            **_string_map(config, routing, "labels"),
            MANAGED_BY_LABEL: MANAGED_BY,
            ORDER_NAMESPACE_LABEL: order.namespace,
            ORDER_UID_LABEL: order.uid,
        }
        annotations = {
            **_string_map(config, routing, "annotations"),
            ORDER_ANNOTATION: f"{order.namespace}/{order.name}",
            DOMAINS_ANNOTATION: ",".join(domains),
        }
        if routing == "ingress":
            wanted = self._ingress_spec(config, domains, path)
            legacy_class = _text(config, routing, "class")
            if legacy_class:
                annotations[LEGACY_CLASS_ANNOTATION] = legacy_class
        else:
            wanted = self._route_spec(config, domains, path)
        return {
            "apiVersion": resource.api_version,
            "kind": resource.kind,
            "metadata": {
                "name": order.object_name,
                "namespace": self._namespace,
                "labels": labels,
                "annotations": annotations,
            },
            "spec": wanted,
        }

    def _ingress_spec(
        self, config: Mapping[str, Any], domains: Sequence[str], path: str
    ) -> dict[str, Any]:
        port = config.get("servicePort") or self._port
        if not isinstance(port, int) or isinstance(port, bool):
            raise RoutingError(
                "invalid_spec", "http.ingress.servicePort must be a number", retryable=False
            )
        backend = {
            "service": {
                "name": _text(config, "ingress", "serviceName") or self._service,
                "port": {"number": port},
            }
        }
        http = {
            "paths": [
                {
                    "path": path,
                    "pathType": _text(config, "ingress", "pathType") or "Exact",
                    "backend": backend,
                }
            ]
        }
        rules: list[dict[str, Any]] = [{"host": d, "http": http} for d in domains if not is_ip(d)]
        if any(is_ip(d) for d in domains):
            rules.append({"http": http})
        spec: dict[str, Any] = {"rules": rules}
        if class_name := _text(config, "ingress", "ingressClassName"):
            spec["ingressClassName"] = class_name
        return spec

    def _route_spec(
        self, config: Mapping[str, Any], domains: Sequence[str], path: str
    ) -> dict[str, Any]:
        parents = config.get("parentRefs")
        if not isinstance(parents, list) or not parents:
            raise RoutingError(
                "invalid_spec",
                "http.gatewayHTTPRoute.parentRefs must list at least one Gateway",
                retryable=False,
            )
        spec: dict[str, Any] = {
            "parentRefs": [dict(p) for p in parents],
            "rules": [
                {
                    "matches": [{"path": {"type": "Exact", "value": path}}],
                    "backendRefs": [{"name": self._service, "port": self._port}],
                }
            ],
        }
        if len(domains) <= MAX_HOSTNAMES and not any(is_ip(d) for d in domains):
            spec["hostnames"] = list(domains)
        return spec

    def _error(self, error: ApiError, verb: str, resource: Resource) -> RoutingError:
        what = f"{resource.kind} in namespace {self._namespace}"
        detail = error.message or error.reason or str(error.status)
        if isinstance(error, Unauthorized | Forbidden):
            return RoutingError(
                "refused",
                f"the controller may not {verb} an {what}: grant {resource} in its Role ({detail})",
                retryable=False,
            )
        if isinstance(error, NotFound) and _missing_api(error):
            return RoutingError(
                "api_missing",
                f"cannot {verb} an {what}: the {resource.api_version} API is not installed",
                retryable=False,
            )
        if isinstance(error, Invalid):
            return RoutingError(
                "invalid_spec", f"the API server rejected the {what}: {detail}", retryable=False
            )
        retryable = isinstance(error, Conflict | NotFound) or error.retryable
        return RoutingError(
            "api_error", f"could not {verb} an {what}: {detail}", retryable=retryable
        )


def _missing_api(error: NotFound) -> bool:
    """A 404 about the resource type itself (no such API), not about the object."""
    details = error.body.get("details") or {}
    return isinstance(details, dict) and not details.get("name")


def _section(spec: Mapping[str, Any], routing: str) -> Mapping[str, Any]:
    section = spec.get(routing)
    if not isinstance(section, Mapping):
        raise RoutingError("invalid_spec", f"http.{routing} must be an object", retryable=False)
    return section


def _text(config: Mapping[str, Any], routing: str, field: str) -> str | None:
    value = config.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise RoutingError(
            "invalid_spec", f"http.{routing}.{field} must be a string", retryable=False
        )
    return value.strip() or None


def _string_map(config: Mapping[str, Any], routing: str, field: str) -> dict[str, str]:
    value = config.get(field) or {}
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise RoutingError(
            "invalid_spec", f"http.{routing}.{field} must map strings to strings", retryable=False
        )
    return dict(value)


def _labels(obj: Mapping[str, Any]) -> Mapping[str, str]:
    return (obj.get("metadata") or {}).get("labels") or {}


def _domains(obj: Mapping[str, Any]) -> list[str]:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return [d for d in str(annotations.get(DOMAINS_ANNOTATION) or "").split(",") if d]


@contextlib.contextmanager
def _observed(routing: str, operation: str, domain: str) -> Iterator[None]:
    """Counts and traces one routing operation (outcome ``ok``, the error kind, or ``error``)."""
    with start_span(f"http.{operation}", {"solver": routing, "domain": domain}):
        try:
            yield
        except RoutingError as error:
            solver_operations.labels(routing, operation, error.kind).inc()
            raise
        except Exception:
            solver_operations.labels(routing, operation, "error").inc()
            raise
    solver_operations.labels(routing, operation, "ok").inc()
