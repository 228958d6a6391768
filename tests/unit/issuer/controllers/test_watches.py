"""Watches: an echo of a reconciler's own write wakes nothing; every other event still does."""

from __future__ import annotations

from controller.issuer.controllers.watches import OwnEchoes, Watch, Watches
from controller.kube.informer import CachedObject, DeletedFinalStateUnknown, HandlerFuncs


class StubInformer:
    """Only what Watches uses: the handler it registers."""

    def __init__(self) -> None:
        self.handlers: list[HandlerFuncs] = []

    def add_handler(self, handler: HandlerFuncs) -> None:
        self.handlers.append(handler)


def order(version: str) -> CachedObject:
    return CachedObject.encode(
        {"metadata": {"name": "web", "namespace": "default", "resourceVersion": version}}
    )


def watching(echoes: OwnEchoes | None) -> tuple[HandlerFuncs, list[str]]:
    informer, woken = StubInformer(), []
    watch = Watch(informer, lambda obj: woken.append(obj.resource_version or ""), echoes=echoes)  # type: ignore[arg-type]
    Watches([watch]).leading = True
    return informer.handlers[0], woken


def update(handler: HandlerFuncs, old: CachedObject, new: CachedObject) -> None:
    assert handler.update is not None
    handler.update(old, new)


def test_the_echo_of_an_own_write_wakes_nothing_and_is_consumed() -> None:
    echoes = OwnEchoes()
    handler, woken = watching(echoes)
    echoes.expect("default/web", "7")
    update(handler, order("6"), order("7"))
    assert woken == []
    update(handler, order("7"), order("8"))  # someone else's write
    assert woken == ["8"]
    assert len(echoes) == 0


def test_another_version_than_the_expected_one_wakes_and_drops_the_expectation() -> None:
    echoes = OwnEchoes()
    handler, woken = watching(echoes)
    echoes.expect("default/web", "9")
    update(handler, order("6"), order("8"))  # a write that came first: not the echo
    update(handler, order("8"), order("9"))  # the expectation went with the first event
    assert woken == ["8", "9"]


def test_a_forgotten_expectation_and_a_deletion_wake() -> None:
    echoes = OwnEchoes()
    handler, woken = watching(echoes)
    echoes.expect("default/web", "7")
    echoes.forget("default/web")  # the reconcile waits for its write's event
    assert handler.add is not None
    assert handler.delete is not None
    handler.add(order("7"))
    echoes.expect("default/web", "8")
    handler.delete(DeletedFinalStateUnknown("default/web", order("8")))
    assert woken == ["7", "8"]
    assert len(echoes) == 0


def test_without_echoes_every_change_wakes() -> None:
    handler, woken = watching(None)
    update(handler, order("6"), order("7"))
    update(handler, order("7"), order("7"))  # no new version: nothing to wake
    assert woken == ["7"]


def test_an_event_judged_not_to_matter_wakes_nothing_but_a_deletion_always_wakes() -> None:
    informer, woken = StubInformer(), []
    judged: list[tuple[str | None, str | None]] = []

    def matters(old: CachedObject | None, new: CachedObject) -> bool:
        judged.append((old.resource_version if old else None, new.resource_version))
        return new.resource_version == "9"

    watch = Watch(
        informer,  # type: ignore[arg-type]
        lambda obj: woken.append(obj.resource_version or ""),
        matters=matters,
    )
    Watches([watch]).leading = True
    handler = informer.handlers[0]
    assert handler.add is not None
    assert handler.delete is not None
    handler.add(order("7"))
    update(handler, order("7"), order("8"))
    update(handler, order("8"), order("9"))
    handler.delete(order("9"))
    assert judged == [(None, "7"), ("7", "8"), ("8", "9")]
    assert woken == ["9", "9"]
