"""What one ``bench`` command runs, in which order and under which names: :class:`Leg`\\ s.

- plain: each scenario once, saved as ``<name>.json`` (with ``--baseline TEXT``:
  ``<name>@baseline.json``, titled with the text);
- A/B (``--ab REF``): each scenario with REF's controller and with this checkout's, back to
  back on the same machine, ``rounds`` times. The side that goes first alternates from pair
  to pair (and from scenario to scenario), so neither always meets the machine as the other
  left it. Round 1 is saved as ``<name>@<short sha>.json`` (REF) and ``<name>.json`` (this
  checkout), round r > 1 as ``...~r<r>.json``; each records the commit, its side, its round
  and the session, so the report takes the medians of one session's rounds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Literal

from .revision import ControllerSource
from .scenarios import Scenario
from .scenarios.backlog import Backlog
from .scenarios.throughput import Throughput

Side = Literal["baseline", "checkout"]
ROUND_MARK: Final = "~r"
AB_SCENARIOS: Final = (Throughput, Backlog)
"""The runs an A/B compares: those that issue a known number of certificates from a start."""


@dataclass(frozen=True, slots=True)
class Leg:
    """One run of a command: ``scenario`` (with the system it runs), saved as ``name``;
    ``title_note`` is appended to its title, ``settings`` merged into its recorded settings."""

    scenario: Scenario
    name: str
    title_note: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)


def plain(scenarios: Sequence[Scenario], baseline: str | None = None) -> list[Leg]:
    if baseline is None:
        return [Leg(s, s.name) for s in scenarios]
    return [Leg(s, f"{s.name}@baseline", baseline) for s in scenarios]


def ab_name(name: str, side: Side, source: ControllerSource, round_: int) -> str:
    """The file stem of one side of one round."""
    stem = f"{name}@{source.short}" if side == "baseline" else name
    return stem if round_ == 1 else f"{stem}{ROUND_MARK}{round_}"


def ab(
    scenarios: Sequence[Scenario], source: ControllerSource, rounds: int, session: str
) -> list[Leg]:
    """Both sides of every scenario, ``rounds`` times; ValueError for a scenario an A/B
    does not compare."""
    legs = []
    for index, scenario in enumerate(scenarios):
        if not isinstance(scenario, AB_SCENARIOS):
            raise ValueError(f"--ab compares throughput and backlog runs, not {scenario.name}")
        for round_ in range(1, rounds + 1):
            sides: list[Side] = ["baseline", "checkout"]
            if (index + round_) % 2 == 0:
                sides.reverse()
            for side in sides:
                system = scenario.system
                if side == "baseline":
                    system = system.with_(controller_source=source)
                legs.append(
                    Leg(
                        dataclasses.replace(scenario, system=system),
                        ab_name(scenario.name, side, source, round_),
                        f"controller of {source.short}" if side == "baseline" else None,
                        {
                            "ab": {
                                "against": source.commit,
                                "side": side,
                                "round": round_,
                                "rounds": rounds,
                                "session": session,
                                "scenario": scenario.name,
                            }
                        },
                    )
                )
    return legs


def stale_rounds(results: Path, legs: Sequence[Leg]) -> list[Path]:
    """Round files of earlier sessions that these legs will not overwrite (a session of more
    rounds left them), which would otherwise stand in the tables beside this session's."""
    names = {leg.name for leg in legs}
    stems = {leg.name.split(ROUND_MARK)[0] for leg in legs if "ab" in leg.settings}
    return sorted(
        path
        for stem in stems
        for path in results.glob(f"{stem}{ROUND_MARK}*.json")
        if path.stem not in names
    )
