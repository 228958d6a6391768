"""Label and field selectors (``labelSelector`` / ``fieldSelector`` query parameters).

A parsed selector is a predicate over an object in the view form of its resource type.
Unparseable selectors and unsupported field labels raise a 400 :class:`StatusError`.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from .resources import FieldLabel, Obj, ResourceType
from .status import bad_request

Predicate = Callable[[Obj], bool]

_TOKEN = re.compile(r"\s*(\(|\)|,|!=|==|=|!|[^\s(),!=]+)")
_EQUALITY_OPS = ("==", "=", "!=")


def _always(_: Obj) -> bool:
    return True


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if match is None:
            if text[pos:].strip():
                raise bad_request(f"unable to parse requirement: {text!r}")
            break
        out.append(match.group(1))
        pos = match.end()
    return out


def _requirement(
    tokens: list[str], i: int, text: str
) -> tuple[Callable[[dict[str, str]], bool], int]:
    def fail() -> Exception:
        return bad_request(f"unable to parse requirement: found invalid selector {text!r}")

    if tokens[i] == "!":
        if i + 1 >= len(tokens):
            raise fail()
        key = tokens[i + 1]
        return (lambda labels: key not in labels), i + 2
    key = tokens[i]
    if key in {",", "(", ")"} or key in _EQUALITY_OPS:
        raise fail()
    i += 1
    if i >= len(tokens) or tokens[i] == ",":
        return (lambda labels: key in labels), i
    op = tokens[i]
    if op in _EQUALITY_OPS:
        value = tokens[i + 1] if i + 1 < len(tokens) and tokens[i + 1] != "," else ""
        step = 2 if value else 1
        if op == "!=":
            return (lambda labels: labels.get(key) != value), i + step
        return (lambda labels: labels.get(key) == value), i + step
    if op in {"in", "notin"}:
        if i + 1 >= len(tokens) or tokens[i + 1] != "(":
            raise fail()
        values: set[str] = set()
        j = i + 2
        while j < len(tokens) and tokens[j] != ")":
            if tokens[j] != ",":
                values.add(tokens[j])
            j += 1
        if j >= len(tokens):
            raise fail()
        if op == "in":
            return (lambda labels: labels.get(key) in values), j + 1
        return (lambda labels: labels.get(key) not in values), j + 1
    raise fail()


def label_selector(text: str | None) -> Predicate:
    """``a=b,c!=d,e in (f,g),!h`` → predicate over ``metadata.labels``."""
    if not text or not text.strip():
        return _always
    tokens = _tokens(text)
    requirements: list[Callable[[dict[str, str]], bool]] = []
    i = 0
    while i < len(tokens):
        requirement, i = _requirement(tokens, i, text)
        requirements.append(requirement)
        if i < len(tokens):
            if tokens[i] != ",":
                raise bad_request(f"unable to parse requirement: found invalid selector {text!r}")
            i += 1

    def matches(obj: Obj) -> bool:
        labels = obj["metadata"].get("labels") or {}
        return all(r(labels) for r in requirements)

    return matches


def _field_check(extract: FieldLabel, value: str, *, negate: bool) -> Predicate:
    return lambda obj: ((extract(obj) or "") == value) != negate


def field_selector(text: str | None, rt: ResourceType) -> Predicate:
    """``metadata.name=x,metadata.namespace!=y`` over the resource type's field labels."""
    if not text or not text.strip():
        return _always
    checks: list[Callable[[Obj], bool]] = []
    for raw_term in text.split(","):
        term = raw_term.strip()
        for op in ("!=", "==", "="):
            field_name, sep, value = term.partition(op)
            if sep:
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        field_name = field_name.strip()
        extract = rt.field_label(field_name)
        if extract is None:
            raise bad_request(f"field label not supported: {field_name}")
        checks.append(_field_check(extract, value, negate=op == "!="))
    return lambda obj: all(c(obj) for c in checks)
