"""The stand-in's loop: every ``interval``, approve what waits for approval (unless turned
off) and take each Certificate one step (unless turned off). A failed pass (the API server
away, a CRD not installed) is reported once per distinct message and retried on the next."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import NoReturn

import aiohttp

from controller.sandbox.stack.kubeapi import KubeAPI, KubeError

from .approver import approve_waiting
from .certificates import CertificateStandIn

Report = Callable[[str], None]
PASS_FAILURES = (KubeError, aiohttp.ClientError, TimeoutError, LookupError, ValueError)


@dataclass(frozen=True, slots=True)
class StandInOptions:
    auto_approve: bool = True
    certificates: bool = True
    interval: float = 0.25


async def run_stand_in(kube: KubeAPI, options: StandInOptions, report: Report) -> NoReturn:
    """Until cancelled."""
    certificates = CertificateStandIn(kube)
    last_failure = ""
    while True:
        try:
            if options.auto_approve:
                for name in await approve_waiting(kube):
                    report(f"approved CertificateRequest {name} (auto-approver)")
            if options.certificates:
                for line in await certificates.sync_all():
                    report(line)
            last_failure = ""
        except PASS_FAILURES as exc:
            message = f"{type(exc).__name__}: {exc}"
            if message != last_failure:
                report(f"pass failed, retrying every {options.interval}s: {message}")
            last_failure = message
        await asyncio.sleep(options.interval)
