"""``x-kubernetes-validations`` rules, evaluated with cel-python (a pure-Python CEL).

Rules are compiled at CRD registration. A rule that calls a function this evaluator does not
have (Kubernetes' ``url``, ``quantity``, ``ip``, ``format`` libraries...) or that sets
``optionalOldSelf`` is rejected there, loudly, instead of being skipped at admission time.
Supported beyond standard CEL: the Kubernetes string and list helpers listed in
``EXTENSIONS``.

Evaluation is memoised: CEL is pure, so the outcome of a rule (``None`` or the message) is a
function of the rule and the exact JSON of ``self`` (and of ``oldSelf`` for a transition rule).
Outcomes are kept in one LRU of ``CACHE_ENTRIES`` keyed by the rule's serial number and a
128-bit BLAKE2b digest of each value's orjson serialisation (key order included, so a hit
means byte-identical input). Values that serialisation cannot tell apart from others (``null``
anywhere: orjson writes NaN and infinities as ``null``) or cannot serialise (integers beyond 64
bits, non-string keys, anything but plain JSON types) are evaluated every time.

Two refinements keep the memo useful when every object is new (each order's spec is unique):

* A rule (with its messageExpression) that reads ``self`` only through field selections
  (``self.f``, ``has(self.f)``) is a function of those fields alone when ``self`` is a map: the
  selection of an absent field fails with an error naming only that field. Its key is then the
  digest of the map restricted to the fields it selects, so a solver's presence rule is
  evaluated once per distinct ``http``/``dns``/``email``, not once per order.
* ``self == oldSelf`` holds when both serialise to the same bytes (CEL equality is reflexive on
  everything but NaN, which cannot serialise apart from ``null``, which is never memoised), so
  an unchanged immutable value is not evaluated.
"""

from __future__ import annotations

import datetime
import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import celpy
import lark
import orjson
from celpy import celtypes
from celpy.evaluation import CELEvalError, base_functions

MACROS = frozenset({"has", "all", "exists", "exists_one", "map", "filter"})


def _text(value: Any) -> str:
    return str(value)


def _lower_ascii(value: Any) -> celtypes.StringType:
    return celtypes.StringType(_text(value).lower())


def _upper_ascii(value: Any) -> celtypes.StringType:
    return celtypes.StringType(_text(value).upper())


def _trim(value: Any) -> celtypes.StringType:
    return celtypes.StringType(_text(value).strip())


def _split(value: Any, sep: Any) -> celtypes.ListType:
    return celtypes.ListType([celtypes.StringType(p) for p in _text(value).split(_text(sep))])


def _join(items: Any, sep: Any = "") -> celtypes.StringType:
    return celtypes.StringType(_text(sep).join(_text(i) for i in items))


def _index_of(value: Any, sub: Any) -> celtypes.IntType:
    return celtypes.IntType(_text(value).find(_text(sub)))


def _last_index_of(value: Any, sub: Any) -> celtypes.IntType:
    return celtypes.IntType(_text(value).rfind(_text(sub)))


def _replace(value: Any, old: Any, new: Any) -> celtypes.StringType:
    return celtypes.StringType(_text(value).replace(_text(old), _text(new)))


def _is_sorted(items: Any) -> celtypes.BoolType:
    values = list(items)
    return celtypes.BoolType(all(a <= b for a, b in itertools.pairwise(values)))


def _sum(items: Any) -> Any:
    values = list(items)
    total = values[0] if values else celtypes.IntType(0)
    for v in values[1:]:
        total = total + v
    return total


def _min(items: Any) -> Any:
    return min(items)


def _max(items: Any) -> Any:
    return max(items)


EXTENSIONS: dict[str, Callable[..., Any]] = {
    "lowerAscii": _lower_ascii,
    "upperAscii": _upper_ascii,
    "trim": _trim,
    "split": _split,
    "join": _join,
    "indexOf": _index_of,
    "lastIndexOf": _last_index_of,
    "replace": _replace,
    "isSorted": _is_sorted,
    "sum": _sum,
    "min": _min,
    "max": _max,
}
SUPPORTED = frozenset(base_functions) | MACROS | frozenset(EXTENSIONS)

_ENV = celpy.Environment()
CACHE_ENTRIES = 32_768
#: anything but plain JSON types (a YAML body's timestamps, subclasses) fails to serialise
_EXACT = (
    orjson.OPT_PASSTHROUGH_DATETIME
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
)
_serials = itertools.count()
_outcomes: OrderedDict[tuple[int, bytes | None, bytes | None], str | None] = OrderedDict()


def json_to_cel(document: Any) -> Any:
    """``celpy.adapter.json_to_cel`` with the same result, without its ``typing`` isinstance
    checks (which made it the costliest part of building an activation)."""
    kind = type(document)
    if kind is str:
        return celtypes.StringType(document)
    if kind is dict:
        return celtypes.MapType({json_to_cel(k): json_to_cel(v) for k, v in document.items()})
    if kind is list or kind is tuple:
        return celtypes.ListType([json_to_cel(item) for item in document])
    if kind is bool:
        return celtypes.BoolType(document)
    if kind is int:
        return celtypes.IntType(document)
    if kind is float:
        return celtypes.DoubleType(document)
    if document is None:
        return None
    return _json_to_cel_subclass(document)


def _json_to_cel_subclass(document: Any) -> Any:
    # the same order of checks as celpy's, for subclasses of the JSON types
    if isinstance(document, bool):
        return celtypes.BoolType(document)
    if isinstance(document, float):
        return celtypes.DoubleType(document)
    if isinstance(document, int):
        return celtypes.IntType(document)
    if isinstance(document, str):
        return celtypes.StringType(document)
    if isinstance(document, tuple | list):
        return celtypes.ListType([json_to_cel(item) for item in document])
    if isinstance(document, dict):
        return celtypes.MapType({json_to_cel(k): json_to_cel(v) for k, v in document.items()})
    if isinstance(document, datetime.datetime):
        return celtypes.TimestampType(document)
    if isinstance(document, datetime.timedelta):
        return celtypes.DurationType(document)
    raise ValueError(f"unexpected type {type(document)} in JSON structure {document!r}")


def value_key(value: Any) -> bytes | None:
    """The memo key of a scope value, or None if it must not be memoised (module docstring)."""
    try:
        text = orjson.dumps(value, option=_EXACT)
    except TypeError:
        return None
    if b"null" in text:
        return None
    return hashlib.blake2b(text, digest_size=16).digest()


def clear_cache() -> None:
    _outcomes.clear()


class RuleError(ValueError):
    """A rule this evaluator cannot run (rejected at CRD registration)."""


def _called(tree: lark.Tree[Any]) -> set[str]:
    names: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data == "member_dot_arg" and len(node.children) > 1:
            names.add(str(node.children[1]))
        elif node.data == "ident_arg" and node.children:
            names.add(str(node.children[0]))
    return names


def _selected_fields(tree: lark.Tree[Any]) -> set[str] | None:
    """The fields ``self`` is read through, or None if it is also read otherwise (whole, by
    index, as a receiver of a function, bound by a macro...)."""
    parents: dict[int, lark.Tree[Any]] = {}
    for node in tree.iter_subtrees():
        for child in node.children:
            if isinstance(child, lark.Tree):
                parents[id(child)] = node
    fields: set[str] = set()
    for node in tree.iter_subtrees():
        if node.data != "ident" or not node.children or str(node.children[0]) != "self":
            continue
        primary = parents.get(id(node))
        member = parents.get(id(primary)) if primary is not None else None
        dot = parents.get(id(member)) if member is not None else None
        if (
            primary is None
            or primary.data != "primary"
            or member is None
            or member.data != "member"
            or dot is None
            or dot.data != "member_dot"
            or dot.children[0] is not member
            or len(dot.children) != 2
        ):
            return None
        fields.add(str(dot.children[1]))
    return fields


_REFLEXIVE = [_ENV.compile("self == oldSelf"), _ENV.compile("oldSelf == self")]


def _uses_old_self(tree: lark.Tree[Any]) -> bool:
    return any(
        node.data == "ident" and node.children and str(node.children[0]) == "oldSelf"
        for node in tree.iter_subtrees()
    )


@dataclass(frozen=True, slots=True)
class Rule:
    source: str
    message: str
    reason: str
    field_path: str
    transition: bool
    program: Any
    message_program: Any | None
    #: the fields of ``self`` the rule reads, when it reads it only through them (docstring)
    fields: tuple[str, ...] | None = None
    #: the rule is ``self == oldSelf``: it holds when both serialise alike
    reflexive: bool = False
    serial: int = field(default_factory=lambda: next(_serials))

    def check(
        self,
        value: Any,
        old: Any,
        *,
        has_old: bool,
        keys: tuple[bytes | None, bytes | None] | None = None,
    ) -> str | None:
        """None when the rule holds, else the message to report.

        ``keys`` are :func:`value_key` of ``value`` and ``old`` when the caller has them (one
        serialisation per scope for all its rules); they are computed here otherwise."""
        if self.transition and not has_old:
            return None
        if self.fields is not None and type(value) is dict:
            self_key, old_key = value_key({f: value[f] for f in self.fields if f in value}), None
        else:
            self_key, old_key = keys if keys is not None else (value_key(value), None)
        if self.transition:
            if keys is None:
                old_key = value_key(old)
            if old_key is None:
                self_key = None
            elif self.reflexive and self_key == old_key:
                return None
        if self_key is None:
            return self._evaluate(value, old)
        memo = (self.serial, self_key, old_key if self.transition else None)
        try:
            outcome = _outcomes[memo]
        except KeyError:
            outcome = _outcomes[memo] = self._evaluate(value, old)
            if len(_outcomes) > CACHE_ENTRIES:
                _outcomes.popitem(last=False)
        else:
            _outcomes.move_to_end(memo)
        return outcome

    def _evaluate(self, value: Any, old: Any) -> str | None:
        activation = {"self": json_to_cel(value)}
        if self.transition:
            activation["oldSelf"] = json_to_cel(old)
        try:
            result = self.program.evaluate(activation)
        except CELEvalError as exc:
            return f"evaluation error: {exc.args[0] if exc.args else exc}"
        if isinstance(result, CELEvalError):
            return f"evaluation error: {result.args[0] if result.args else result}"
        if result is True or (isinstance(result, celtypes.BoolType) and bool(result)):
            return None
        if self.message_program is not None:
            try:
                text = self.message_program.evaluate(activation)
                if isinstance(text, (str, celtypes.StringType)) and str(text).strip():
                    return str(text)
            except CELEvalError:
                pass
        return self.message


def _compile(source: str, where: str) -> tuple[Any, lark.Tree[Any]]:
    try:
        tree = _ENV.compile(source)
    except Exception as exc:  # celpy raises its own parse error types
        raise RuleError(f"{where}: compilation failed: {exc}") from None
    unsupported = _called(tree) - SUPPORTED
    if unsupported:
        raise RuleError(
            f"{where}: rule {source!r} uses CEL functions the sandbox cannot evaluate: "
            f"{', '.join(sorted(unsupported))}"
        )
    return _ENV.program(tree, functions=EXTENSIONS), tree


def compile_rule(spec: Any, where: str) -> Rule:
    if not isinstance(spec, dict) or not isinstance(spec.get("rule"), str):
        raise RuleError(f"{where}: each x-kubernetes-validations entry needs a string rule")
    if spec.get("optionalOldSelf"):
        raise RuleError(f"{where}: optionalOldSelf is not supported by the sandbox evaluator")
    source = spec["rule"]
    program, tree = _compile(source, where)
    message_program = None
    transition = _uses_old_self(tree)
    fields = _selected_fields(tree)
    if isinstance(spec.get("messageExpression"), str):
        message_program, message_tree = _compile(spec["messageExpression"], where)
        message_fields = _selected_fields(message_tree)
        fields = None if message_fields is None or fields is None else fields | message_fields
    return Rule(
        source=source,
        message=str(spec.get("message") or f"failed rule: {source}"),
        reason=str(spec.get("reason") or "FieldValueInvalid"),
        field_path=str(spec.get("fieldPath") or ""),
        transition=transition,
        program=program,
        message_program=message_program,
        fields=None if transition or fields is None else tuple(sorted(fields)),
        reflexive=transition and tree in _REFLEXIVE,
    )
