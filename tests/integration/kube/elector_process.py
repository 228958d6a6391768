"""One leader-election candidate as an OS process, for the multi-process tests.

``python -m tests.integration.kube.elector_process KUBECONFIG IDENTITY LEASE RENEW RETRY``
prints ``START <t>`` when its leader work starts and ``STOP <t>`` when it stops (t is
CLOCK_MONOTONIC, comparable across processes on one host), ``LOST`` when the lease was lost
(exit status 3). SIGTERM is a graceful stop: the work is cancelled, then the Lease released.
Like the controller, it watches the Lease through the same client.
"""

from __future__ import annotations

import asyncio
import signal
import sys
import time

from controller.kube.client import KubeClient
from controller.kube.leaderelection import LeaderElector, LeadershipLost

LOST_EXIT = 3


def say(word: str) -> None:
    print(f"{word} {time.monotonic():.6f}", flush=True)


async def lead() -> None:
    say("START")
    try:
        await asyncio.Event().wait()
    finally:
        say("STOP")


async def main(argv: list[str]) -> int:
    kubeconfig, identity, lease, renew, retry = argv
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    async with await KubeClient.from_kubeconfig(kubeconfig, timeout=float(renew)) as client:
        elector = LeaderElector(
            client,
            "default",
            "process-election",
            identity,
            lease_duration=float(lease),
            renew_deadline=float(renew),
            retry_period=float(retry),
            watch=client,
        )
        say("READY")
        try:
            await elector.run(lead)
        except LeadershipLost:
            say("LOST")
            return LOST_EXIT
        except asyncio.CancelledError:
            return 0
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main(sys.argv[1:])))
