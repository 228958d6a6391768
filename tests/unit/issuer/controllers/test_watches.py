"""Watches: a quiet echo of a reconciler's own write wakes nothing; every other event still does."""

from __future__ import annotations

from controller.issuer.controllers.watches import OwnWrites, Watch, Watches
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


def watching(writes: OwnWrites | None) -> tuple[HandlerFuncs, list[str]]:
    informer, woken = StubInformer(), []
    watch = Watch(informer, lambda obj: woken.append(obj.resource_version or ""), writes=writes)  # type: ignore[arg-type]
    Watches([watch]).leading = True
    return informer.handlers[0], woken


def update(handler: HandlerFuncs, old: CachedObject, new: CachedObject) -> None:
    assert handler.update is not None
    handler.update(old, new)


def test_the_quiet_echo_of_an_own_write_wakes_nothing_once() -> None:
    writes = OwnWrites()
    handler, woken = watching(writes)
    writes.wrote("default/web", "7", quiet=True)
    update(handler, order("6"), order("7"))
    assert woken == []
    update(handler, order("7"), order("8"))  # someone else's write
    assert woken == ["8"]
    assert len(writes) == 0


def test_an_earlier_event_wakes_and_the_write_s_own_is_still_quiet() -> None:
    writes = OwnWrites()
    handler, woken = watching(writes)
    writes.wrote("default/web", "9", quiet=True)
    update(handler, order("6"), order("8"))  # a write that came first: not the echo
    update(handler, order("8"), order("9"))
    assert woken == ["8"]
    assert len(writes) == 0


def test_a_later_version_than_the_write_wakes_and_ends_the_entry() -> None:
    writes = OwnWrites()
    handler, woken = watching(writes)
    writes.wrote("default/web", "9", quiet=True)
    update(handler, order("6"), order("10"))  # the write and another, seen at once
    assert woken == ["10"]
    assert len(writes) == 0


def test_an_echo_wakes_when_the_write_was_not_quiet_or_is_waited_for() -> None:
    writes = OwnWrites()
    handler, woken = watching(writes)
    writes.wrote("default/web", "7")  # not quiet: its event ends the entry and wakes
    assert handler.add is not None
    assert handler.delete is not None
    handler.add(order("7"))
    writes.wrote("default/web", "8", quiet=True)
    writes.wake_on_echo("default/web")  # the reconcile waits for its write's event
    update(handler, order("7"), order("8"))
    writes.wrote("default/web", "9", quiet=True)
    handler.delete(DeletedFinalStateUnknown("default/web", order("9")))
    assert woken == ["7", "8", "9"]
    assert len(writes) == 0


def test_without_writes_every_change_wakes() -> None:
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
