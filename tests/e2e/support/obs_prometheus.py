"""A real Prometheus (Debian's package) on loopback scraping controller replicas every second,
configured as the shipped ServiceMonitor does (job name, ``honor_labels``, the pod namespace as a
target label); queries go through :class:`Prometheus` of the integration harness."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Final

import aiohttp
import yaml

from controller.sandbox.stack.waiting import poll
from tests.integration.observability.test_prometheus_scrape import (
    JOB,
    POD_NAMESPACE,
    Prometheus,
    free_port,
)
from tests.support import require_binary

__all__ = ["JOB", "Prometheus", "running_prometheus"]

START_TIMEOUT: Final = 30.0
STOP_GRACE: Final = 10.0


def scrape_config(targets: Sequence[str]) -> dict[str, object]:
    return {
        "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {
                "job_name": JOB,
                "honor_labels": True,
                "static_configs": [
                    {"targets": list(targets), "labels": {"namespace": POD_NAMESPACE}}
                ],
            }
        ],
    }


@contextlib.asynccontextmanager
async def running_prometheus(targets: Sequence[str], workdir: Path) -> AsyncIterator[Prometheus]:
    """Prometheus scraping ``targets`` (``host:port`` of /metrics), ready to query; its log is
    ``workdir/prometheus.log`` (a file: nothing can fill up a pipe and stall it)."""
    binary = require_binary("prometheus")
    workdir.mkdir(parents=True, exist_ok=True)
    config = workdir / "prometheus.yml"
    config.write_text(yaml.safe_dump(scrape_config(targets)))
    log = workdir / "prometheus.log"
    port = free_port()
    with log.open("wb") as stderr:
        process = await asyncio.create_subprocess_exec(
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=stderr,
        )
    try:
        timeout = aiohttp.ClientTimeout(total=5)
        async with aiohttp.ClientSession(timeout=timeout, trust_env=False) as http:
            server = Prometheus(http, port)

            async def ready() -> bool | None:
                if process.returncode is not None:
                    raise RuntimeError(f"prometheus exited: {log.read_text(errors='replace')}")
                with contextlib.suppress(aiohttp.ClientError):
                    async with http.get(f"{server.base}/-/ready") as response:
                        return True if response.status == 200 else None
                return None

            await poll(ready, timeout=START_TIMEOUT, describe=lambda: "Prometheus /-/ready")
            yield server
    finally:
        if process.returncode is None:
            process.terminate()
        try:
            await asyncio.wait_for(process.wait(), STOP_GRACE)
        except TimeoutError:
            process.kill()
            await process.wait()
