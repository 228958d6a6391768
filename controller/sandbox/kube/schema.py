"""Structural schemas (a CRD version's ``openAPIV3Schema``): prune, default, validate.

Admission order follows the real server: unknown fields are pruned (and reported, for
``fieldValidation``), defaults are applied to missing fields, then the object is validated
(types, formats, bounds, enums, patterns, list types, ``x-kubernetes-validations``).
Anything the compiler does not understand is a :class:`SchemaError` at registration.

``x-kubernetes-validations`` ratchet on update as in the real server (CRDValidationRatcheting,
on by default since 1.30, GA in 1.33; apiextensions' ``ratchetingOptions``): every rule is still
evaluated, but a failing rule that does not use ``oldSelf`` is a warning instead of an error
when its value is unchanged: the value's correlated old value is deep-equal to it or, for a
value that has none (a list item of a list that is not ``x-kubernetes-list-type: map``, a value
under one), its nearest correlated ancestor's is. Equality is apiextensions'
``CachedDeepEqual``: map-lists compare item by key, a key without a schema counts as a change,
and ``1``, ``1.0`` and ``true`` all differ. Rules under ``allOf`` ratchet on the parent's
correlation, and rules under ``anyOf``/``oneOf``/``not`` never ratchet. The OpenAPI checks
themselves (types, bounds, patterns...) do not ratchet in the sandbox: it is stricter there.
"""

from __future__ import annotations

import base64
import binascii
import copy
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from .cel import Rule, RuleError, compile_rule, value_key
from .resources import Admission, Obj
from .status import Cause

_MISSING = object()
_TYPES = {"object", "array", "string", "integer", "number", "boolean"}
_OBJECT_META = {
    "name",
    "generateName",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "labels",
    "annotations",
    "ownerReferences",
    "finalizers",
    "managedFields",
    "selfLink",
}
_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
_INT_BOUNDS = {"int32": (-(2**31), 2**31 - 1), "int64": (-(2**63), 2**63 - 1)}


class SchemaError(ValueError):
    """The schema cannot be served (bad pattern, unsupported CEL, non-structural...)."""


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _show(value: Any) -> str:
    return orjson.dumps(value).decode() if not isinstance(value, dict | list) else _type_name(value)


@dataclass(slots=True)
class Node:
    type: str | None = None
    nullable: bool = False
    properties: dict[str, Node] = field(default_factory=dict)
    additional: Node | bool | None = None
    items: Node | None = None
    required: tuple[str, ...] = ()
    enum: list[Any] | None = None
    pattern: re.Pattern[str] | None = None
    pattern_text: str = ""
    format: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    min_length: int | None = None
    max_length: int | None = None
    min_items: int | None = None
    max_items: int | None = None
    min_properties: int | None = None
    max_properties: int | None = None
    default: Any = _MISSING
    preserve_unknown: bool = False
    int_or_string: bool = False
    embedded: bool = False
    list_type: str | None = None
    map_keys: tuple[str, ...] = ()
    rules: list[Rule] = field(default_factory=list)
    #: any rule here or below (ratcheting state is only carried where it can matter)
    has_rules: bool = False
    #: any bound, length, pattern, or item/property count to check
    bounded: bool = False
    all_of: list[Node] = field(default_factory=list)
    any_of: list[Node] = field(default_factory=list)
    one_of: list[Node] = field(default_factory=list)
    not_: Node | None = None


def compile_schema(raw: Any, where: str = "openAPIV3Schema") -> Node:
    if not isinstance(raw, dict):
        raise SchemaError(f"{where}: must be an object")
    node = Node()
    kind = raw.get("type")
    if kind is not None and kind not in _TYPES:
        raise SchemaError(f"{where}.type: unsupported type {kind!r}")
    node.type = kind
    node.nullable = bool(raw.get("nullable", False))
    node.preserve_unknown = bool(raw.get("x-kubernetes-preserve-unknown-fields", False))
    node.int_or_string = bool(raw.get("x-kubernetes-int-or-string", False))
    node.embedded = bool(raw.get("x-kubernetes-embedded-resource", False))
    if (
        kind is None
        and not (node.preserve_unknown or node.int_or_string)
        and where.count(".")
        and not any(k in raw for k in ("allOf", "anyOf", "oneOf", "not"))
    ):
        raise SchemaError(
            f"{where}.type: Required value: must not be empty for specified object fields"
        )
    for name, sub in (raw.get("properties") or {}).items():
        node.properties[name] = compile_schema(sub, f"{where}.properties[{name}]")
    additional = raw.get("additionalProperties")
    if isinstance(additional, dict):
        node.additional = compile_schema(additional, f"{where}.additionalProperties")
    elif isinstance(additional, bool):
        node.additional = additional
    if "items" in raw:
        node.items = compile_schema(raw["items"], f"{where}.items")
    node.required = tuple(raw.get("required") or ())
    node.enum = list(raw["enum"]) if "enum" in raw else None
    if "pattern" in raw:
        node.pattern_text = str(raw["pattern"])
        try:
            node.pattern = re.compile(node.pattern_text)
        except re.error as exc:
            raise SchemaError(f"{where}.pattern: invalid regular expression: {exc}") from None
    node.format = raw.get("format")
    node.minimum, node.maximum = raw.get("minimum"), raw.get("maximum")
    node.exclusive_minimum = bool(raw.get("exclusiveMinimum", False))
    node.exclusive_maximum = bool(raw.get("exclusiveMaximum", False))
    node.min_length, node.max_length = raw.get("minLength"), raw.get("maxLength")
    node.min_items, node.max_items = raw.get("minItems"), raw.get("maxItems")
    node.min_properties, node.max_properties = raw.get("minProperties"), raw.get("maxProperties")
    if "default" in raw:
        node.default = raw["default"]
    node.list_type = raw.get("x-kubernetes-list-type")
    if node.list_type not in (None, "atomic", "set", "map"):
        raise SchemaError(f"{where}.x-kubernetes-list-type: unsupported {node.list_type!r}")
    node.map_keys = tuple(raw.get("x-kubernetes-list-map-keys") or ())
    if node.list_type == "map" and not node.map_keys:
        raise SchemaError(f"{where}: x-kubernetes-list-type map needs x-kubernetes-list-map-keys")
    for i, spec in enumerate(raw.get("x-kubernetes-validations") or []):
        try:
            node.rules.append(compile_rule(spec, f"{where}.x-kubernetes-validations[{i}]"))
        except RuleError as exc:
            raise SchemaError(str(exc)) from None
    for key, target in (("allOf", node.all_of), ("anyOf", node.any_of), ("oneOf", node.one_of)):
        for i, sub in enumerate(raw.get(key) or []):
            target.append(
                compile_schema(
                    {"type": None, **sub} if "type" not in sub else sub, f"{where}.{key}[{i}]"
                )
            )
    if "not" in raw:
        node.not_ = compile_schema(raw["not"], f"{where}.not")
    node.bounded = any(
        limit is not None
        for limit in (
            node.minimum,
            node.maximum,
            node.min_length,
            node.max_length,
            node.pattern,
            node.min_items,
            node.max_items,
            node.min_properties,
            node.max_properties,
        )
    )
    node.has_rules = bool(node.rules) or any(
        child is not None and child.has_rules
        for child in (
            *node.properties.values(),
            node.additional if isinstance(node.additional, Node) else None,
            node.items,
            *node.all_of,
            *node.any_of,
            *node.one_of,
            node.not_,
        )
    )
    return node


def map_list_keys(node: Node, prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Dotted field path → list-map keys, for server-side apply ownership."""
    out: dict[str, tuple[str, ...]] = {}
    if node.list_type == "map":
        out[".".join(prefix)] = node.map_keys
    for name, child in node.properties.items():
        out.update(map_list_keys(child, (*prefix, name)))
    if node.items is not None:
        out.update(map_list_keys(node.items, prefix))
    return out


# -- pruning and defaulting ------------------------------------------------------------


def _prune(node: Node, value: Any, path: str, unknown: list[str]) -> None:
    if isinstance(value, dict):
        if node.embedded:
            for key in list(value):
                if key == "metadata" and isinstance(value[key], dict):
                    for meta_key in [k for k in value[key] if k not in _OBJECT_META]:
                        del value[key][meta_key]
        if node.preserve_unknown and not node.properties and node.additional is None:
            return
        for key in list(value):
            child = node.properties.get(key)
            if child is None and isinstance(node.additional, Node):
                child = node.additional
            if child is None:
                if (
                    node.preserve_unknown
                    or node.additional is True
                    or (node.embedded and key in ("apiVersion", "kind", "metadata"))
                ):
                    continue
                unknown.append(f"{path}.{key}" if path else key)
                del value[key]
            else:
                _prune(child, value[key], f"{path}.{key}" if path else key, unknown)
    elif isinstance(value, list) and node.items is not None:
        for i, item in enumerate(value):
            _prune(node.items, item, f"{path}[{i}]", unknown)


def _default(node: Node, value: Any) -> None:
    if isinstance(value, dict):
        for key, child in node.properties.items():
            current = value.get(key, _MISSING)
            unset = current is _MISSING or (current is None and not child.nullable)
            if unset and child.default is not _MISSING:
                value[key] = copy.deepcopy(child.default)
            if key in value:
                _default(child, value[key])
        if isinstance(node.additional, Node):
            for key in value.keys() - node.properties.keys():
                _default(node.additional, value[key])
    elif isinstance(value, list) and node.items is not None:
        for item in value:
            _default(node.items, item)


# -- validation ------------------------------------------------------------------------


def _cause(reason: str, message: str, path: str) -> Cause:
    return Cause(reason, message, path)


_JSON_TYPES = {
    str: "string",
    dict: "object",
    list: "array",
    bool: "boolean",
    int: "integer",
    float: "number",
}


def _check_type(node: Node, value: Any, path: str) -> list[Cause]:
    if not node.int_or_string:  # the common case, decided without building anything
        actual = _JSON_TYPES.get(type(value))
        expected = node.type
        if actual is not None and (
            expected is None or actual == expected or (expected == "number" and actual == "integer")
        ):
            return []
    if value is None:
        if node.nullable or node.type is None:
            return []
        return [
            _cause(
                "FieldValueTypeInvalid",
                f'Invalid value: "null": {path} in body must be of type {node.type}: "null"',
                path,
            )
        ]
    if node.int_or_string:
        if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
            return []
        return [
            _cause(
                "FieldValueTypeInvalid",
                f"Invalid value: {_show(value)}: {path} in body must be of type integer or string",
                path,
            )
        ]
    actual = _type_name(value)
    expected = node.type
    if expected is None or actual == expected or (expected == "number" and actual == "integer"):
        return []
    return [
        _cause(
            "FieldValueTypeInvalid",
            f'Invalid value: "{actual}": {path} in body must be of type {expected}: "{actual}"',
            path,
        )
    ]


def _check_format(node: Node, value: Any, path: str) -> list[Cause]:
    fmt = node.format
    if fmt is None or value is None:
        return []
    bad = False
    if fmt == "date-time" and isinstance(value, str):
        bad = not _DATE_TIME.match(value) or not _parses(value)
    elif fmt == "date" and isinstance(value, str):
        bad = not re.fullmatch(r"\d{4}-\d{2}-\d{2}", value)
    elif fmt == "byte" and isinstance(value, str):
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            bad = True
    elif fmt in _INT_BOUNDS and isinstance(value, int) and not isinstance(value, bool):
        low, high = _INT_BOUNDS[fmt]
        bad = not low <= value <= high
    if bad:
        return [
            _cause(
                "FieldValueInvalid",
                f"Invalid value: {_show(value)}: {path} in body must "
                f"be of type {fmt}: {_show(value)}",
                path,
            )
        ]
    return []


def _parses(value: str) -> bool:
    try:
        datetime.fromisoformat(value.replace("z", "Z").replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _check_bounds(node: Node, value: Any, path: str) -> list[Cause]:
    causes: list[Cause] = []
    if isinstance(value, int | float) and not isinstance(value, bool):
        if node.minimum is not None and (
            value < node.minimum or (node.exclusive_minimum and value == node.minimum)
        ):
            op = "greater than" if node.exclusive_minimum else "greater than or equal to"
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {path} in body should be {op} {node.minimum}",
                    path,
                )
            )
        if node.maximum is not None and (
            value > node.maximum or (node.exclusive_maximum and value == node.maximum)
        ):
            op = "less than" if node.exclusive_maximum else "less than or equal to"
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {path} in body should be {op} {node.maximum}",
                    path,
                )
            )
    if isinstance(value, str):
        if node.max_length is not None and len(value) > node.max_length:
            causes.append(
                _cause(
                    "FieldValueTooLong",
                    f"Too long: may not be more than {node.max_length} bytes",
                    path,
                )
            )
        if node.min_length is not None and len(value) < node.min_length:
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {path} in "
                    f"body should be at least {node.min_length} chars long",
                    path,
                )
            )
        if node.pattern is not None and not node.pattern.search(value):
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    f"Invalid value: {_show(value)}: {path} in "
                    f"body should match '{node.pattern_text}'",
                    path,
                )
            )
    if isinstance(value, list):
        if node.max_items is not None and len(value) > node.max_items:
            causes.append(
                _cause(
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {node.max_items} items",
                    path,
                )
            )
        if node.min_items is not None and len(value) < node.min_items:
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {path} in "
                    f"body should have at least {node.min_items} items",
                    path,
                )
            )
    if isinstance(value, dict):
        if node.max_properties is not None and len(value) > node.max_properties:
            causes.append(
                _cause(
                    "FieldValueTooMany",
                    f"Too many: {len(value)}: must have at most {node.max_properties} items",
                    path,
                )
            )
        if node.min_properties is not None and len(value) < node.min_properties:
            causes.append(
                _cause(
                    "FieldValueInvalid",
                    f"Invalid value: {len(value)}: {path} in "
                    f"body should have at least {node.min_properties} properties",
                    path,
                )
            )
    return causes


def _check_list_type(node: Node, value: list[Any], path: str) -> list[Cause]:
    if node.list_type == "set":
        seen: list[Any] = []
        for i, item in enumerate(value):
            if item in seen:
                return [
                    _cause("FieldValueDuplicate", f"Duplicate value: {_show(item)}", f"{path}[{i}]")
                ]
            seen.append(item)
    if node.list_type == "map":
        keys: set[bytes] = set()
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                continue
            key = orjson.dumps({k: item.get(k) for k in node.map_keys})
            if key in keys:
                return [
                    _cause(
                        "FieldValueDuplicate", f"Duplicate value: {key.decode()}", f"{path}[{i}]"
                    )
                ]
            keys.add(key)
    return []


class _Correlated:
    """A value and its correlated old value (apiextensions' ``CorrelatedObject``)."""

    __slots__ = ("_equal", "node", "old", "value")

    def __init__(self, node: Node, value: Any, old: Any) -> None:
        self.node, self.value, self.old = node, value, old
        self._equal: bool | None = None

    def equal(self) -> bool:
        if self._equal is None:
            self._equal = _deep_equal(self.node, self.value, self.old)
        return self._equal


#: (the node's own correlation or None, the nearest correlated ancestor's or None)
_Ratchet = tuple[_Correlated | None, _Correlated | None]
_NO_RATCHET: _Ratchet = (None, None)


def _deep_equal(node: Node | None, value: Any, old: Any) -> bool:
    """apiextensions' ``CachedDeepEqual`` (see the module docstring)."""
    if value is None or old is None:
        return value is None and old is None
    kind = type(value)
    if kind is not type(old):
        return False
    if kind is dict:
        if len(value) != len(old):
            return False
        if node is None:  # reflect.DeepEqual, inside a list that is not a map-list
            return all(k in old and _deep_equal(None, v, old[k]) for k, v in value.items())
        for key, child_value in value.items():
            child = node.properties.get(key)
            if child is None and isinstance(node.additional, Node):
                child = node.additional
            if child is None or key not in old or not _deep_equal(child, child_value, old[key]):
                return False
        return True
    if kind is list:
        if len(value) != len(old):
            return False
        if node is not None and node.list_type == "map" and node.items is not None:
            olds = _correlate(node, value, old)
            return all(
                o is not _MISSING and _deep_equal(node.items, v, o)
                for v, o in zip(value, olds, strict=True)
            )
        return all(_deep_equal(None, v, o) for v, o in zip(value, old, strict=True))
    return bool(value == old)


def _ratchet_key(ratchet: _Ratchet | None, node: Node, value: Any, old: Any, key: str) -> _Ratchet:
    current, nearest = ratchet or _NO_RATCHET
    if current is None:
        return current, nearest
    if nearest is None and key in ("apiVersion", "kind"):
        return _NO_RATCHET
    if not isinstance(old, dict) or key not in old:
        return None, current
    return _Correlated(node, value[key], old[key]), current


def _ratchet_index(ratchet: _Ratchet | None, node: Node, value: Any, old: Any) -> _Ratchet:
    current, nearest = ratchet or _NO_RATCHET
    if current is None:
        return current, nearest
    if old is _MISSING:
        return None, current
    return _Correlated(node, value, old), current


def _ratcheted(ratchet: _Ratchet | None) -> bool:
    current, nearest = ratchet or _NO_RATCHET
    target = current if current is not None else nearest
    return target is not None and target.equal()


def _validate(
    node: Node,
    value: Any,
    old: Any,
    path: str,
    *,
    ratchet: _Ratchet | None = None,
    warnings: list[str] | None = None,
) -> list[Cause]:
    """The causes against ``value``; a ratcheted rule's failure goes to ``warnings``.

    ``ratchet`` is None where no rule is below (the state is not carried there)."""
    causes = _check_type(node, value, path)
    if causes or value is None:
        return causes
    if node.enum is not None and value not in node.enum:
        supported = ", ".join(_show(v) for v in node.enum)
        return [
            _cause(
                "FieldValueNotSupported",
                f"Unsupported value: {_show(value)}: supported values: {supported}",
                path,
            )
        ]
    if node.format is not None:
        causes += _check_format(node, value, path)
    if node.bounded:
        causes += _check_bounds(node, value, path)
    if isinstance(value, dict):
        for name in node.required:
            if name not in value:
                child_path = f"{path}.{name}" if path else name
                causes.append(_cause("FieldValueRequired", "Required value", child_path))
        for key, child_value in value.items():
            child = node.properties.get(key)
            if child is None and isinstance(node.additional, Node):
                child = node.additional
            if child is not None:
                child_old = old.get(key, _MISSING) if isinstance(old, dict) else _MISSING
                causes += _validate(
                    child,
                    child_value,
                    child_old,
                    f"{path}.{key}" if path else key,
                    ratchet=_ratchet_key(ratchet, child, value, old, key)
                    if child.has_rules
                    else None,
                    warnings=warnings,
                )
    elif isinstance(value, list):
        causes += _check_list_type(node, value, path)
        items = node.items
        if items is not None:
            olds = _correlate(node, value, old)
            by_key = node.list_type == "map"
            for i, item in enumerate(value):
                item_ratchet = None
                if items.has_rules:
                    item_old = olds[i] if by_key else _MISSING
                    item_ratchet = _ratchet_index(ratchet, items, item, item_old)
                causes += _validate(
                    items, item, olds[i], f"{path}[{i}]", ratchet=item_ratchet, warnings=warnings
                )
    for sub in node.all_of:
        # like apiextensions: no correlation of its own, ratcheted on the parent's
        parent = None if ratchet is None else (None, ratchet[1])
        causes += _validate(sub, value, old, path, ratchet=parent, warnings=warnings)
    if node.any_of and not any(not _validate(s, value, old, path) for s in node.any_of):
        causes.append(
            _cause(
                "FieldValueInvalid",
                f"Invalid value: {_show(value)}: {path} in "
                "body must match at least one schema in anyOf",
                path,
            )
        )
    if node.one_of and sum(1 for s in node.one_of if not _validate(s, value, old, path)) != 1:
        causes.append(
            _cause(
                "FieldValueInvalid",
                f"Invalid value: {_show(value)}: {path} in "
                "body must match exactly one schema in oneOf",
                path,
            )
        )
    if node.not_ is not None and not _validate(node.not_, value, old, path):
        causes.append(
            _cause(
                "FieldValueInvalid",
                f"Invalid value: {_show(value)}: {path} in body must not match the schema in not",
                path,
            )
        )
    if node.rules and not causes:
        causes += _check_rules(node, value, old, path, ratchet=ratchet, warnings=warnings)
    return causes


def _check_rules(
    node: Node,
    value: Any,
    old: Any,
    path: str,
    *,
    ratchet: _Ratchet | None,
    warnings: list[str] | None,
) -> list[Cause]:
    causes: list[Cause] = []
    has_old = old is not _MISSING
    old_value = old if has_old else None
    projected = type(value) is dict and all(rule.fields is not None for rule in node.rules)
    self_key = None if projected else value_key(value)  # unused by rules keyed on their fields
    old_key = None
    if has_old and any(rule.transition for rule in node.rules):
        old_key = value_key(old_value)
    for rule in node.rules:
        message = rule.check(value, old_value, has_old=has_old, keys=(self_key, old_key))
        if message is None:
            continue
        where = f"{path}{rule.field_path}" if rule.field_path else path
        cause = _cause(rule.reason, f'Invalid value: "{_type_name(value)}": {message}', where)
        if warnings is not None and not rule.transition and _ratcheted(ratchet):
            warnings.append(f"{where}: {cause.message}" if where else cause.message)
        else:
            causes.append(cause)
    return causes


def _correlate(node: Node, value: list[Any], old: Any) -> list[Any]:
    """Old items matching new ones (by map keys, or by value for sets), for transition rules."""
    if not isinstance(old, list) or node.list_type not in ("map", "set"):
        return [_MISSING] * len(value)
    if node.list_type == "set":
        return [item if item in old else _MISSING for item in value]
    by_key = {
        orjson.dumps({k: o.get(k) for k in node.map_keys}): o for o in old if isinstance(o, dict)
    }
    return [
        by_key.get(orjson.dumps({k: item.get(k) for k in node.map_keys}), _MISSING)
        if isinstance(item, dict)
        else _MISSING
        for item in value
    ]


class Validator:
    """Admission for one CRD version: prune, default, validate (see module docstring)."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def __call__(self, obj: Obj, old: Obj | None) -> Admission:
        unknown: list[str] = []
        body = {k: v for k, v in obj.items() if k not in ("apiVersion", "kind", "metadata")}
        _prune(self.node, body, "", unknown)
        _default(self.node, body)
        for key in [k for k in obj if k not in ("apiVersion", "kind", "metadata")]:
            del obj[key]
        obj.update(body)
        old_body: Any = _MISSING
        new_body = {**body, "metadata": obj["metadata"]}
        ratchet: _Ratchet = _NO_RATCHET
        if old is not None:
            old_body = {k: v for k, v in old.items() if k not in ("apiVersion", "kind")}
            ratchet = (_Correlated(self.node, new_body, old_body), None)
        warnings: list[str] = []
        causes = _validate(self.node, new_body, old_body, "", ratchet=ratchet, warnings=warnings)
        return Admission(causes, unknown, warnings)
