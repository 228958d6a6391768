"""A real BIND9 ``named`` on loopback for the DNS tests.

``Bind9.start()`` writes a configuration into a fresh temporary directory, runs ``named -g``
(foreground, log to stderr, as the current user: root in CI needs no ``-u``) on 127.0.0.1 and a
free port, and returns once it answers SOA for every zone; ``stop()`` ends it. The ``bind9``
fixture is session-scoped: one server serves the whole run.

Zones (all with SOA, NS and an A record for the nameserver):

- ``example.com``: dynamic updates of CNAMEs under the zone, signed by any of :attr:`keys`
  (one TSIG key per algorithm of the CRD enum); delegates ``sub.example.com``.
- ``sub.example.com``: its own zone with the same update policy, for SOA discovery.
- ``locked.example.net``: refuses every update (``allow-update { none; }``).
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import dns.exception
import dns.message
import dns.query
import dns.rcode
import dns.rdatatype
import pytest

from tests.support import require_binary

UPDATABLE_ZONES = ("example.com", "sub.example.com")
LOCKED_ZONE = "locked.example.net"
# CRD tsigAlgorithm value -> BIND's algorithm name.
ALGORITHMS = {
    "HMACMD5": "hmac-md5",
    "HMACSHA1": "hmac-sha1",
    "HMACSHA256": "hmac-sha256",
    "HMACSHA512": "hmac-sha512",
}
_START_TIMEOUT = 20.0


@dataclass(frozen=True, slots=True)
class TsigKey:
    name: str  # absolute, e.g. "zerossl-hmacsha256."
    algorithm: str  # the CRD's name, e.g. "HMACSHA256"
    secret: str  # base64


@dataclass
class Bind9:
    """One ``named`` process; :attr:`port` is known after :meth:`start`."""

    directory: Path
    host: str = "127.0.0.1"
    port: int = 0
    keys: dict[str, TsigKey] = field(default_factory=dict)
    _process: subprocess.Popen[bytes] | None = None

    @property
    def address(self) -> str:
        """``host:port``, the form the rfc2136 spec's ``nameserver`` and resolvers take."""
        return f"{self.host}:{self.port}"

    def log(self) -> str:
        path = self.directory / "named.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def start(self) -> None:
        named = require_binary("named")
        self.keys = {
            algorithm: TsigKey(
                f"zerossl-{algorithm.lower()}.",
                algorithm,
                base64.b64encode(secrets.token_bytes(32)).decode(),
            )
            for algorithm in ALGORITHMS
        }
        self.port = _free_port(self.host)
        self._write_config()
        with (self.directory / "named.log").open("wb") as log:
            self._process = subprocess.Popen(
                [named, "-g", "-4", "-n", "1", "-c", str(self.directory / "named.conf")],
                cwd=self.directory,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def query(self, name: str, rdtype: str = "CNAME") -> dns.message.Message:
        """A direct (blocking) query, for assertions in tests."""
        request = dns.message.make_query(name, dns.rdatatype.from_text(rdtype))
        return dns.query.udp(request, self.host, timeout=2.0, port=self.port)

    def cname(self, name: str) -> str | None:
        """The CNAME target at ``name`` as BIND serves it (absolute text), or None."""
        for rrset in self.query(name).answer:
            if rrset.rdtype == dns.rdatatype.CNAME:
                return str(rrset[0].target.to_text())
        return None

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + _START_TIMEOUT
        pending = [*UPDATABLE_ZONES, LOCKED_ZONE]
        while pending:
            assert self._process is not None
            if self._process.poll() is not None:
                raise RuntimeError(f"named exited with {self._process.returncode}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"named did not serve {pending} in time:\n{self.log()}")
            with contextlib.suppress(dns.exception.DNSException, OSError):
                if self.query(pending[0], "SOA").rcode() == dns.rcode.NOERROR:
                    pending.pop(0)
                    continue
            time.sleep(0.05)

    def _write_config(self) -> None:
        d = self.directory
        keys = "".join(
            f'key "{k.name}" {{ algorithm {ALGORITHMS[k.algorithm]}; secret "{k.secret}"; }};\n'
            for k in self.keys.values()
        )
        grants = "".join(f"grant {k.name} subdomain {{zone}}. CNAME; " for k in self.keys.values())
        zones = "".join(
            f'zone "{zone}" {{ type primary; file "{zone}.db"; '
            f"update-policy {{ {grants.format(zone=zone)}}}; }};\n"
            for zone in UPDATABLE_ZONES
        )
        zones += (
            f'zone "{LOCKED_ZONE}" {{ type primary; file "{LOCKED_ZONE}.db"; '
            "allow-update { none; }; };\n"
        )
        (d / "named.conf").write_text(
            "options {\n"
            f'  directory "{d}";\n'
            f'  pid-file "{d}/named.pid";\n'
            f'  session-keyfile "{d}/session.key";\n'
            f'  managed-keys-directory "{d}";\n'
            f"  listen-on port {self.port} {{ {self.host}; }};\n"
            "  listen-on-v6 { none; };\n"
            "  recursion no;\n"
            "  allow-query { any; };\n"
            "  dnssec-validation no;\n"
            "  notify no;\n"
            "};\n"
            "controls { };\n" + keys + zones
        )
        for zone in (*UPDATABLE_ZONES, LOCKED_ZONE):
            delegation = "sub 300 IN NS ns.example.com.\n" if zone == "example.com" else ""
            (d / f"{zone}.db").write_text(
                f"$ORIGIN {zone}.\n$TTL 300\n"
                f"@ IN SOA ns.example.com. hostmaster.{zone}. 1 3600 600 86400 60\n"
                "@ IN NS ns.example.com.\n"
                f"ns IN A {self.host}\n" + delegation
            )


def _free_port(host: str) -> int:
    """A port free for both UDP and TCP on ``host`` right now."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind((host, 0))
            port: int = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind((host, port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no free port for named")


@pytest.fixture(scope="session")
def bind9() -> Iterator[Bind9]:
    """A running ``named`` for the whole session (skips loudly, or fails in CI, without it)."""
    directory = Path(tempfile.mkdtemp(prefix="bind9-"))
    os.chmod(directory, 0o755)
    server = Bind9(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)
