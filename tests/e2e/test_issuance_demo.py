"""End to end: ``python -m controller.sandbox demo`` (what ``make demo`` runs) as a newcomer
drives it. It says up front that ``--keep`` exists and that there is no cert-manager (a
stand-in approves and turns the Certificate into a request and a Secret), prints every address,
issues one certificate well within the minute it is allowed and removes its files. With
``--keep --no-auto-approve`` it waits for a manual approval (the kubectl command it prints
works), stays up (its addresses answer, the sample Certificate is issued) and keeps its files
after Ctrl-C; an interrupted run keeps them too and says where."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import re
import shlex
import shutil
import signal
import sys
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from controller.sandbox.stack.manifests import REPO_ROOT
from controller.sandbox.stack.replica import http_get

DEMO_LIMIT = 60.0
"""What the issue allows the demo on a fresh machine."""
KEPT = re.compile(r"files \(kubeconfigs, logs, replica command scripts\) are kept in (\S+)")


async def test_demo_issues_and_prints_the_certificate() -> None:
    started = time.monotonic()
    async with demo() as running:
        code, output = await running.finish(DEMO_LIMIT)
    elapsed = time.monotonic() - started
    lines = output.splitlines()

    assert code == 0, output
    # Up front, before anything slow: --keep, and what stands in for cert-manager.
    assert "make demo ARGS=--keep" in lines[0]
    assert "has no cert-manager" in lines[1]
    assert "auto-approves" in lines[1]
    assert "Starting" in lines[2]
    # Every address.
    for label in (
        r"API server: +https://127\.0\.0\.1:\d+$",
        r"kubeconfig: +/\S+/kubeconfig \(admin\)$",
        r"ZeroSSL emulator: +http://127\.0\.0\.1:\d+ ",
        r"solver Service: +http://127\.0\.0\.1:\d+ ",
        r"replica-0 \(pid \d+\):$",
        r"metrics: +http://127\.0\.0\.1:\d+/metrics$",
        r"probes: +http://127\.0\.0\.1:\d+/healthz, http://127\.0\.0\.1:\d+/readyz$",
        r"solver: +http://127\.0\.0\.1:\d+/\.well-known/pki-validation/$",
        r"logs \(JSON\): +/\S+/replica-0/stderr\.log$",
        r"start by hand: +sh /\S+/replica-0/command\.sh$",
    ):
        assert any(re.search(label, line) for line in lines), label
    assert "sandbox-zerossl-access-key" not in output  # the emulator account's key
    assert "(cert-manager stand-in) approved CertificateRequest demo/demo-cert-1" in output
    assert "CertificateRequest demo/demo-cert-1 is Ready: Issued" in output
    assert "Certificate demo/demo-cert Ready=True" in output
    assert "subject:  CN=demo.zerossl-issuer.dev\n" in output
    assert "names:    demo.zerossl-issuer.dev, www.demo.zerossl-issuer.dev\n" in output
    assert re.search(r"issuer: +CN=ZeroSSL Emulator .*,O=ZeroSSL Emulator\n", output)
    assert re.search(
        r"valid: +\d{4}-\d\d-\d\d \d\d:\d\d UTC to \d{4}-\d\d-\d\d \d\d:\d\d UTC\n", output
    )
    for command in (
        "kubectl get zerosslclusterissuers",
        "kubectl get certificates,certificaterequests,zerosslorders -A",
        "kubectl describe certificaterequest -n demo demo-cert-1",
        "kubectl get secret -n demo demo-cert-tls -o yaml",
        "kubectl get events -n demo",
    ):
        assert command in output
    kubeconfig = re.search(r"export KUBECONFIG=(\S+)", output)
    assert kubeconfig is not None
    assert not Path(kubeconfig.group(1)).exists(), "the sandbox's work directory was left behind"
    print(f"demo finished in {elapsed:.1f}s")


class Demo:
    """A running demo whose stdout is read line by line."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.lines: list[str] = []

    async def until(self, pattern: str, timeout: float = DEMO_LIMIT) -> re.Match[str]:
        """The first line from now on matching ``pattern``."""
        assert self.process.stdout is not None
        async with asyncio.timeout(timeout):
            while True:
                raw = await self.process.stdout.readline()
                if not raw:
                    pytest.fail(f"the demo ended before {pattern!r}:\n" + "\n".join(self.lines))
                line = raw.decode().rstrip("\n")
                self.lines.append(line)
                if found := re.search(pattern, line):
                    return found

    async def interrupt(self) -> tuple[int, str]:
        self.process.send_signal(signal.SIGINT)
        return await self.finish(30)

    async def finish(self, timeout: float) -> tuple[int, str]:
        """The exit status and the whole output, once the demo exits within ``timeout``."""
        try:
            async with asyncio.timeout(timeout):
                rest, _ = await self.process.communicate()
        except TimeoutError:
            pytest.fail(f"the demo did not finish within {timeout:g}s")
        self.lines += rest.decode().splitlines()
        assert self.process.returncode is not None
        return self.process.returncode, "\n".join(self.lines)


@asynccontextmanager
async def demo(*args: str) -> AsyncIterator[Demo]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "controller.sandbox",
        "demo",
        *args,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    running = Demo(process)
    try:
        yield running
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
        kept = KEPT.search("\n".join(running.lines))
        if kept:
            shutil.rmtree(kept.group(1), ignore_errors=True)


async def kubectl(kubeconfig: str, command: str) -> str:
    process = await asyncio.create_subprocess_exec(
        *shlex.split(command),
        env={**os.environ, "KUBECONFIG": kubeconfig},
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    async with asyncio.timeout(30):
        out, _ = await process.communicate()
    assert process.returncode == 0, f"{command}: {out.decode()}"
    return out.decode()


async def test_keep_with_manual_approval_stays_up_and_keeps_its_files() -> None:
    async with demo("--keep", "--no-auto-approve") as running:
        await running.until(r"--keep: the sandbox stays up")
        await running.until(r"does NOT approve \(--no-auto-approve\)")
        kubeconfig = (await running.until(r"kubeconfig: +(\S+) \(admin\)")).group(1)
        metrics = (await running.until(r"metrics: +(\S+)")).group(1)
        await running.until(r"CertificateRequest demo/demo-cert-1 waits for approval")
        command = (await running.until(r"^ +(kubectl patch certificaterequest .*)$")).group(1)
        await kubectl(kubeconfig, command)
        await running.until(r"CertificateRequest demo/demo-cert-1 approved")
        await running.until(r"is Ready: Issued")
        await running.until(r"The sandbox keeps running")

        status, text = await http_get(metrics)
        assert status == 200
        assert "zerossl_issuer" in text
        # The sample Certificate works in the kept sandbox (the stand-in is still running, but
        # approves nothing: --no-auto-approve).
        await kubectl(kubeconfig, "kubectl apply -f manifests/samples/certificate.yaml")
        async with asyncio.timeout(30):
            while "www-example-com-1" not in await kubectl(
                kubeconfig, "kubectl get certificaterequests -n default -o name"
            ):
                await asyncio.sleep(0.2)
        await kubectl(
            kubeconfig,
            f"{sys.executable} -m controller.sandbox approve default/www-example-com-1",
        )
        async with asyncio.timeout(30):
            while True:
                found = json.loads(
                    await kubectl(kubeconfig, "kubectl get secrets -n default -o json")
                )
                names = {s["metadata"]["name"]: s for s in found["items"]}
                if "www-example-com-tls" in names:
                    break
                await asyncio.sleep(0.2)
        data = names["www-example-com-tls"]["data"]
        assert sorted(data) == ["ca.crt", "tls.crt", "tls.key"]
        assert b"BEGIN CERTIFICATE" in base64.b64decode(data["tls.crt"])

        code, output = await running.interrupt()
        assert code == 0, output
        kept = KEPT.search(output)
        assert kept is not None, output
        workdir = Path(kept.group(1))
        assert (workdir / "replica-0" / "stderr.log").stat().st_size > 0
        assert (workdir / "replica-0" / "command.sh").exists()


async def test_an_interrupted_demo_keeps_its_logs_and_says_where() -> None:
    async with demo() as running:
        await running.until(r"Certificate demo/demo-cert for .* created")
        code, output = await running.interrupt()
        assert code == 130, output
        kept = KEPT.search(output)
        assert kept is not None, output
        assert (Path(kept.group(1)) / "replica-0" / "stderr.log").stat().st_size > 0
