"""Which resource types the server serves, by group/version/plural (discovery's source).

Invariant: every registered type views a storage; removing the last type of a storage is the
caller's cue to drop that storage's objects.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .resources import ResourceType

_VERSION = re.compile(r"^v(\d+)(?:(alpha|beta)(\d+))?$")


def version_priority(version: str) -> tuple[int, int, int, str]:
    """Kubernetes version order: GA > beta > alpha, higher numbers first (sort ascending)."""
    match = _VERSION.match(version)
    if match is None:
        return (3, 0, 0, version)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), version)


class Catalog:
    def __init__(self) -> None:
        self._types: dict[tuple[str, str, str], ResourceType] = {}

    def add(self, rt: ResourceType) -> None:
        self._types[(rt.group, rt.version, rt.plural)] = rt

    def remove_crd(self, crd_name: str) -> list[ResourceType]:
        gone = [rt for rt in self._types.values() if rt.crd_name == crd_name]
        for rt in gone:
            del self._types[(rt.group, rt.version, rt.plural)]
        return gone

    def get(self, group: str, version: str, plural: str) -> ResourceType | None:
        return self._types.get((group, version, plural))

    def all(self) -> Iterable[ResourceType]:
        return self._types.values()

    def versions(self, group: str) -> list[str]:
        found = {rt.version for rt in self._types.values() if rt.group == group}
        return sorted(found, key=version_priority)

    def groups(self) -> list[str]:
        """Named groups (not the core group), in registration order."""
        seen: dict[str, None] = {}
        for rt in self._types.values():
            if rt.group:
                seen.setdefault(rt.group, None)
        return list(seen)

    def resources(self, group: str, version: str) -> list[ResourceType]:
        return [rt for rt in self._types.values() if rt.group == group and rt.version == version]

    def for_storage(self, storage: str) -> ResourceType | None:
        """The preferred view of a storage (used by garbage collection and cleanup)."""
        views = [rt for rt in self._types.values() if rt.storage == storage]
        return (
            min(views, key=lambda rt: (not rt.same_form, version_priority(rt.version)))
            if views
            else None
        )

    def namespaced_storages(self) -> set[str]:
        return {rt.storage for rt in self._types.values() if rt.namespaced}
