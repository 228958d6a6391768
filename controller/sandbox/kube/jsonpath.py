"""The JSONPath subset used by CRD ``additionalPrinterColumns``.

Supported: ``.field``, ``['field']``, ``[N]``, ``[*]``, ``..`` is not; filters
``[?(@.a.b == "x")]`` / ``!=`` with string, number or boolean literals. Unsupported syntax raises
``ValueError`` (CRD registration turns that into a 422).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from typing import Any

Step = Callable[[list[Any]], list[Any]]

_FILTER = re.compile(r"^\?\(@((?:\.[A-Za-z0-9_\-]+)+)\s*(==|!=)\s*(.+)\)$")


def _field(name: str) -> Step:
    return lambda nodes: [n[name] for n in nodes if isinstance(n, dict) and name in n]


def _index(i: int) -> Step:
    return lambda nodes: [n[i] for n in nodes if isinstance(n, list) and -len(n) <= i < len(n)]


def _all(nodes: list[Any]) -> list[Any]:
    out: list[Any] = []
    for n in nodes:
        if isinstance(n, list):
            out += n
        elif isinstance(n, dict):
            out += list(n.values())
    return out


def _literal(text: str) -> Any:
    text = text.strip()
    if text.startswith("'") and text.endswith("'"):
        return text[1:-1]
    return json.loads(text)


def _filter(expr: str) -> Step:
    match = _FILTER.match(expr.strip())
    if match is None:
        raise ValueError(f"unsupported JSONPath filter: [{expr}]")
    path, op, raw = match.groups()
    fields = path.strip(".").split(".")
    try:
        wanted = _literal(raw)
    except json.JSONDecodeError:
        raise ValueError(f"unsupported JSONPath literal: {raw}") from None

    def select(nodes: list[Any]) -> list[Any]:
        out: list[Any] = []
        for item in _all(nodes):
            value: Any = item
            for f in fields:
                value = value.get(f) if isinstance(value, dict) else None
            if (value == wanted) == (op == "=="):
                out.append(item)
        return out

    return select


def compile_path(expression: str) -> Callable[[Any], list[Any]]:
    text = expression.strip()
    if text.startswith("{") and text.endswith("}"):
        text = text[1:-1]
    if text.startswith("$"):
        text = text[1:]
    steps: list[Step] = []
    i = 0
    while i < len(text):
        if text.startswith("..", i):
            raise ValueError(f"unsupported JSONPath (recursive descent): {expression}")
        if text[i] == ".":
            match = re.match(r"[A-Za-z0-9_\-]+", text[i + 1 :])
            if match is None:
                raise ValueError(f"invalid JSONPath: {expression}")
            steps.append(_field(match.group(0)))
            i += 1 + match.end()
        elif text[i] == "[":
            end = text.find("]", i)
            if end < 0:
                raise ValueError(f"invalid JSONPath: {expression}")
            inner = text[i + 1 : end]
            if inner.startswith("?"):
                # filters may contain ']' inside quotes: take up to the closing ")]"
                end = text.find(")]", i) + 1
                if end <= 0:
                    raise ValueError(f"invalid JSONPath: {expression}")
                steps.append(_filter(text[i + 1 : end]))
            elif inner == "*":
                steps.append(_all)
            elif re.fullmatch(r"-?\d+", inner):
                steps.append(_index(int(inner)))
            elif len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
                steps.append(_field(inner[1:-1]))
            else:
                raise ValueError(f"unsupported JSONPath: {expression}")
            i = end + 1
        else:
            raise ValueError(f"invalid JSONPath: {expression}")

    def evaluate(obj: Any) -> list[Any]:
        nodes = [obj]
        for step in steps:
            nodes = step(nodes)
        return nodes

    return evaluate
