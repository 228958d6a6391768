"""The sandbox's CEL evaluator: memoised outcomes and the activation conversion."""

from __future__ import annotations

import math
from typing import Any

import pytest
from celpy import adapter

from controller.sandbox.kube import cel


@pytest.fixture
def evaluations(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """The values rules were really evaluated on (cache misses), in order."""
    seen: list[Any] = []
    evaluate = cel.Rule._evaluate

    def counting(rule: cel.Rule, value: Any, old: Any) -> str | None:
        seen.append(value)
        return evaluate(rule, value, old)

    monkeypatch.setattr(cel.Rule, "_evaluate", counting)
    cel.clear_cache()
    return seen


def rule(source: str) -> cel.Rule:
    return cel.compile_rule({"rule": source, "message": "no"}, "test")


def test_outcomes_are_memoised_per_value(evaluations: list[Any]) -> None:
    small = rule("self.size < 3")
    assert small.check({"size": 1}, None, has_old=False) is None
    assert small.check({"size": 5}, None, has_old=False) == "no"
    assert small.check({"size": 1}, None, has_old=False) is None
    assert small.check({"size": 5}, None, has_old=False) == "no"
    assert evaluations == [{"size": 1}, {"size": 5}]
    # another rule on the same value is evaluated on its own
    assert rule("self.size < 3").check({"size": 1}, None, has_old=False) is None
    assert len(evaluations) == 3


def test_transition_outcomes_depend_on_the_old_value(evaluations: list[Any]) -> None:
    grows = rule("self.n > oldSelf.n")
    assert grows.check({"n": 2}, {"n": 1}, has_old=True) is None
    assert grows.check({"n": 2}, {"n": 3}, has_old=True) == "no"
    assert grows.check({"n": 2}, {"n": 1}, has_old=True) is None
    assert len(evaluations) == 2
    assert grows.check({"n": 2}, None, has_old=False) is None, "no old value: not evaluated"
    assert len(evaluations) == 2


def test_values_serialisation_cannot_tell_apart_are_not_memoised(evaluations: list[Any]) -> None:
    is_null = rule("self.x == null")
    assert is_null.check({"x": None}, None, has_old=False) is None
    # orjson writes NaN as null: the outcome for None must not be reused
    assert is_null.check({"x": math.nan}, None, has_old=False) != is_null.check(
        {"x": None}, None, has_old=False
    )
    assert len(evaluations) == 3, "None, NaN, None: each evaluated"
    assert cel.value_key({"x": 2**70}) is None
    assert cel.value_key({1: 2}) is None


def test_int_float_and_bool_values_do_not_share_outcomes(evaluations: list[Any]) -> None:
    is_int = rule("type(self.x) == int")
    assert is_int.check({"x": 1}, None, has_old=False) is None
    assert is_int.check({"x": 1.0}, None, has_old=False) == "no"
    assert is_int.check({"x": True}, None, has_old=False) == "no"
    assert len(evaluations) == 3


def test_key_order_is_part_of_the_key(evaluations: list[Any]) -> None:
    first = rule("self.map(k, k)[0] == 'a'")
    assert first.check({"a": 1, "b": 2}, None, has_old=False) is None
    assert first.check({"b": 2, "a": 1}, None, has_old=False) == "no"
    assert len(evaluations) == 2


def test_the_cache_is_bounded(monkeypatch: pytest.MonkeyPatch, evaluations: list[Any]) -> None:
    monkeypatch.setattr(cel, "CACHE_ENTRIES", 2)
    positive = rule("self.n > 0")
    for n in (1, 2, 3, 1):
        positive.check({"n": n}, None, has_old=False)
    assert len(evaluations) == 4, "1 was evicted by 3"
    positive.check({"n": 3}, None, has_old=False)
    assert len(evaluations) == 4


def test_json_to_cel_matches_celpys() -> None:
    document = {
        "s": "x",
        "i": 3,
        "f": 1.5,
        "b": True,
        "n": None,
        "l": [1, "a", [False, {"k": 2.0}]],
        "t": (1, 2),
        "e": {},
    }
    converted = cel.json_to_cel(document)
    expected = adapter.json_to_cel(document)
    assert converted == expected
    assert repr(converted) == repr(expected)

    class Text(str):
        pass

    assert repr(cel.json_to_cel({"a": Text("v")})) == repr(adapter.json_to_cel({"a": Text("v")}))
    with pytest.raises(ValueError, match="unexpected type"):
        cel.json_to_cel({"a": object()})


def test_rules_reading_self_through_fields_are_memoised_on_those_fields(
    evaluations: list[Any],
) -> None:
    solver = rule("[has(self.http), has(self.dns)].filter(x, x).size() == 1")
    assert solver.fields == ("dns", "http")
    assert solver.check({"domain": "a.example", "http": {}}, None, has_old=False) is None
    assert solver.check({"domain": "b.example", "http": {}}, None, has_old=False) is None
    assert solver.check({"domain": "c.example", "http": {}, "dns": {}}, None, has_old=False)
    assert solver.check({"domain": "d.example", "dns": {"z": 1}}, None, has_old=False) is None
    # only the selected fields are keyed: one evaluation per distinct (http, dns)
    assert evaluations == [
        {"domain": "a.example", "http": {}},
        {"domain": "c.example", "http": {}, "dns": {}},
        {"domain": "d.example", "dns": {"z": 1}},
    ]
    # the error of an absent field names only that field: memoised alike
    strict = rule("self.a == 1")
    assert strict.check({"b": 1}, None, has_old=False) == (
        "evaluation error: no such member in mapping: 'a'"
    )
    assert strict.check({"c": 2}, None, has_old=False) == (
        "evaluation error: no such member in mapping: 'a'"
    )
    assert len(evaluations) == 4
    # a value that is not a map is keyed whole (its error message shows it)
    assert strict.check([1], None, has_old=False) != strict.check([2], None, has_old=False)


def test_rules_reading_self_otherwise_are_keyed_on_the_whole_value() -> None:
    for source in (
        "self.size() > 1",
        "self == {'a': 1}",
        "self['a'] == 1",
        "self.a == 1 && self.all(k, k != 'b')",
        "[1].all(self, self > 0)",
        "self.a == oldSelf.a",
    ):
        assert rule(source).fields is None, source
    listed = cel.compile_rule(
        {"rule": "has(self.a)", "messageExpression": "'has ' + string(self.size())"}, "test"
    )
    assert listed.fields is None
    named = cel.compile_rule({"rule": "has(self.a)", "messageExpression": "self.b"}, "test")
    assert named.fields == ("a", "b")
    assert named.check({"b": "custom", "c": 1}, None, has_old=False) == "custom"
    assert named.check({"b": "other", "c": 1}, None, has_old=False) == "other"


def test_an_unchanged_value_holds_self_equals_old_self_unevaluated(
    evaluations: list[Any],
) -> None:
    immutable = rule("self == oldSelf")
    assert immutable.reflexive
    assert rule("oldSelf == self").reflexive
    assert not rule("self != oldSelf").reflexive
    spec = {"request": "A" * 64, "domains": ["a.example"], "n": 1.5, "ok": True}
    assert immutable.check(spec, dict(spec), has_old=True) is None
    assert evaluations == []
    assert immutable.check(spec, {**spec, "n": 2.5}, has_old=True) == "no"
    # 1 and 1.0 serialise apart: evaluated (and CEL's numeric equality decides)
    immutable.check({"n": 1}, {"n": 1.0}, has_old=True)
    assert len(evaluations) == 2
    # null is never keyed: evaluated
    assert immutable.check({"n": None}, {"n": None}, has_old=True) is None
    assert len(evaluations) == 3
