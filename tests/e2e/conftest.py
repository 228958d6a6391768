"""Fixtures for the e2e suite: the real controller (``python -m controller run`` processes)
against the sandbox stack (emulated kube-apiserver with RBAC, ZeroSSL emulator, solver Service).

Every test under tests/e2e is marked ``e2e``. Fixtures (function scoped, each a fresh stack):

- ``stack``: one replica; ``ha_stack``: three replicas, each ready before the test starts;
  each runs once per API-server world (``kube_world``: the sandbox's, then the real one);
- ``stack_factory``: ``async with stack_factory(replicas=2, controller_env={...}) as s:``
  for any other options (see :func:`tests.e2e.support.e2e_options`).

A failed test's report gets a section per stack with each replica's state and stderr tail.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

import pytest

from controller.sandbox.stack import Stack
from tests.conftest import KubeWorld
from tests.e2e.support import e2e_options, log_tails

StackFactory = Callable[..., contextlib.AbstractAsyncContextManager[Stack]]
STACKS = pytest.StashKey[list[Stack]]()
"""Stacks open in this test (fixtures stay open until teardown, after the report)."""
CLOSED_ON_ERROR = pytest.StashKey[list[tuple[str, str]]]()
"""(title, log tails) of stacks the test's exception closed before the report was made."""


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = config.rootpath / "tests" / "e2e"
    for item in items:
        if item.path.is_relative_to(here):
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, Any, Any]:
    report = yield
    if report.when == "call" and report.failed:
        report.sections.extend(item.stash.get(CLOSED_ON_ERROR, []))
        for stack in item.stash.get(STACKS, []):
            report.sections.append(_section(stack))
    return report


def _section(stack: Stack) -> tuple[str, str]:
    return f"controller replicas ({stack.workdir})", log_tails(stack)


@pytest.fixture
def stack_factory(request: pytest.FixtureRequest, kube_world: KubeWorld) -> StackFactory:
    """Stacks on this test's world: the sandbox's in-process API server, or the real one."""
    kube_mode = "real" if kube_world == "real" else "in-process"

    @contextlib.asynccontextmanager
    async def started(**options: Any) -> AsyncIterator[Stack]:
        async with Stack(e2e_options(**{"kube_mode": kube_mode, **options})) as running:
            stacks = request.node.stash.setdefault(STACKS, [])
            stacks.append(running)
            try:
                yield running
            except BaseException:
                request.node.stash.setdefault(CLOSED_ON_ERROR, []).append(_section(running))
                raise
            finally:
                stacks.remove(running)

    return started


@pytest.fixture
async def stack(stack_factory: StackFactory) -> AsyncIterator[Stack]:
    async with stack_factory(replicas=1) as running:
        yield running


@pytest.fixture
async def ha_stack(stack_factory: StackFactory) -> AsyncIterator[Stack]:
    async with stack_factory(replicas=3) as running:
        yield running
