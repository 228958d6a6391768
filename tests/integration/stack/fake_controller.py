"""A stand-in for ``python -m controller run`` that proves the stack's plumbing, not the
controller: it binds the three addresses the stack assigns, answers ``/readyz`` and
``/metrics``, serves validation files from ``$FAKE_SOLVER_DIR`` on the solver address, logs one
JSON line with the settings it was given, and exits 0 on SIGTERM.

``python -m tests.integration.stack.fake_controller``
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

from aiohttp import web

PREFIX = "ZEROSSL_ISSUER_"
SOLVER_PREFIX = "/.well-known/pki-validation/"


def _address(name: str) -> tuple[str, int]:
    host, _, port = os.environ[PREFIX + name].rpartition(":")
    return host, int(port)


async def _serve() -> None:
    solver_dir = Path(os.environ.get("FAKE_SOLVER_DIR", "."))
    hits = {"solver": 0}

    async def readyz(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=f"fake_solver_requests_total {hits['solver']}\n")

    async def solver(request: web.Request) -> web.Response:
        hits["solver"] += 1
        path = solver_dir / request.match_info["file"]
        if not path.is_file():
            raise web.HTTPNotFound()
        return web.Response(body=path.read_bytes(), content_type="text/plain")

    apps = {
        "PROBE_ADDR": [web.get("/readyz", readyz)],
        "METRICS_ADDR": [web.get("/metrics", metrics)],
        "SOLVER_ADDR": [web.get(SOLVER_PREFIX + "{file}", solver)],
    }
    runners = []
    try:
        for variable, routes in apps.items():
            app = web.Application()
            app.add_routes(routes)
            runner = web.AppRunner(app, access_log=None)
            await runner.setup()
            runners.append(runner)
            await web.TCPSite(runner, *_address(variable)).start()
        settings = {k: v for k, v in os.environ.items() if k.startswith(PREFIX)}
        print(
            json.dumps(
                {
                    "msg": "fake controller up",
                    "settings": settings,
                    "kubeconfig": os.environ.get("KUBECONFIG"),
                }
            ),
            flush=True,
        )
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
    finally:
        for runner in runners:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(_serve())
