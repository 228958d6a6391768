"""Parse a request path and method into Kubernetes request attributes (``RequestInfo``)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from urllib.parse import unquote

_NAMESPACE_SUBRESOURCES = {"status", "finalize"}
_METHOD_VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch"}


_TRUE = {"1", "t", "T", "TRUE", "true", "True"}


def query_bool(value: str | None) -> bool:
    """Go's ``strconv.ParseBool`` truth values (what the real server accepts)."""
    return value in _TRUE


@dataclass(frozen=True, slots=True)
class RequestInfo:
    verb: str
    path: str
    resource_request: bool
    group: str = ""
    version: str = ""
    namespace: str | None = None
    resource: str = ""
    subresource: str | None = None
    name: str | None = None

    @property
    def resource_label(self) -> str:
        """``certificaterequests.cert-manager.io/status``-style label for counts and errors."""
        if not self.resource_request:
            return self.path
        base = f"{self.resource}.{self.group}" if self.group else self.resource
        return f"{base}/{self.subresource}" if self.subresource else base


def parse(method: str, path: str, watch_param: bool) -> RequestInfo:
    parts = [unquote(p) for p in path.strip("/").split("/")] if path.strip("/") else []
    non_resource = RequestInfo(verb=method.lower(), path=path, resource_request=False)
    if len(parts) >= 2 and parts[0] == "api":
        group, version, rest = "", parts[1], parts[2:]
    elif len(parts) >= 3 and parts[0] == "apis":
        group, version, rest = parts[1], parts[2], parts[3:]
    else:
        return non_resource
    if not rest:
        return non_resource
    watch = watch_param
    if rest[0] == "watch":
        watch, rest = True, rest[1:]
    namespace: str | None = None
    if rest and rest[0] == "namespaces" and len(rest) > 1:
        namespace = rest[1]
        if len(rest) > 2 and rest[2] not in _NAMESPACE_SUBRESOURCES:
            rest = rest[2:]
    if not rest:
        return non_resource
    resource = rest[0]
    name = rest[1] if len(rest) > 1 else None
    subresource = rest[2] if len(rest) > 2 else None
    if len(rest) > 3:
        return non_resource
    if method in {"GET", "HEAD"}:
        verb = "watch" if watch else ("get" if name else "list")
    elif method == "DELETE":
        verb = "delete" if name else "deletecollection"
    else:
        verb = _METHOD_VERBS.get(method, method.lower())
    return RequestInfo(verb, path, True, group, version, namespace, resource, subresource, name)


def with_selected_name(info: RequestInfo, field_selector: str | None) -> RequestInfo:
    """For authorization: a list or watch whose field selector requires ``metadata.name=x``
    is a request about ``x``, so ``resourceNames`` can allow it (the real server's
    ``RequestInfoFactory`` does the same, for names that are valid path segments)."""
    if info.verb not in ("list", "watch") or info.name is not None or not field_selector:
        return info
    for term in field_selector.split(","):
        for op in ("!=", "==", "="):
            field, sep, value = term.partition(op)
            if sep:
                break
        else:
            continue
        if field.strip() == "metadata.name" and op != "!=":
            name = value.strip()
            valid = name not in ("", ".", "..") and "/" not in name and "%" not in name
            return replace(info, name=name) if valid else info
    return info
