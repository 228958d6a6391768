"""OwnWrites: a reconciler never decides from a cache older than its own last write."""

from __future__ import annotations

from controller.issuer.controllers.writes import OwnWrites


def _obj(version: str) -> dict[str, dict[str, str]]:
    return {"metadata": {"resourceVersion": version}}


def test_a_key_never_written_is_caught_up() -> None:
    assert OwnWrites().caught_up("ns/a", _obj("1"))


def test_the_cache_must_reach_the_written_version() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", _obj("12"))
    assert not writes.caught_up("ns/a", _obj("9"))  # 9 < 12 as numbers, not as text
    assert not writes.caught_up("ns/a", _obj("11"))
    assert writes.caught_up("ns/a", _obj("12"))
    assert writes.caught_up("ns/a", _obj("3"))  # forgotten once caught up
    assert OwnWrites().caught_up("ns/b", _obj("1"))


def test_other_keys_and_forgotten_keys_are_not_held_back() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", _obj("20"))
    assert writes.caught_up("ns/b", _obj("1"))
    writes.forget("ns/a")
    assert writes.caught_up("ns/a", _obj("1"))


def test_opaque_versions_count_as_caught_up() -> None:
    writes = OwnWrites()
    writes.wrote("ns/a", _obj("abc"))
    assert writes.caught_up("ns/a", _obj("1"))
