"""A real Syncplay server (Debian's `syncplay-server`) on a free loopback port, for the tests."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

BINARY = shutil.which("syncplay-server")
START_DEADLINE = 30.0
PASSWORD = "popcorn-42"


WHY = "syncplay-server is not installed (apt-get install syncplay-server)"


def running_in_ci() -> bool:
    """CI=true: the Syncplay tests must run, so a missing server fails them."""
    return os.environ.get("CI", "").lower() == "true"


def skip_module_without_syncplay() -> None:
    """Skip a whole test module when the server is missing (one summary line), except in CI."""
    if BINARY is None and not running_in_ci():
        pytest.skip(WHY, allow_module_level=True)


def require_syncplay() -> str:
    """Return the server's path; skip the test, or fail it under CI=true, when it is missing."""
    if BINARY is not None:
        return BINARY
    if running_in_ci():
        pytest.fail(f"{WHY}, and CI=true does not skip the Syncplay tests", pytrace=False)
    pytest.skip(WHY)


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def make_certificates(folder: Path) -> Path:
    """Write a test CA and a certificate for 127.0.0.1 in the files `--tls` reads; return the CA."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed, so no test certificate for the TLS server")

    def run(*args: str) -> None:
        subprocess.run([openssl, *args], cwd=folder, check=True, capture_output=True)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem",
        "-days", "2", "-subj", "/CN=watchparty test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "privkey.pem", "-out", "server.csr",
        "-subj", "/CN=localhost")
    (folder / "san.ext").write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "cert.pem", "-days", "2", "-extfile", "san.ext")
    (folder / "chain.pem").write_bytes((folder / "ca.pem").read_bytes())
    return folder / "ca.pem"


class SyncplayServer:
    """One `syncplay-server` process; `restart` brings it back on the same port."""

    def __init__(self, binary: str, log: Path, password: str | None = None,
                 tls_dir: Path | None = None) -> None:
        self.binary, self.log_path = binary, log
        self.password = password
        self.tls_dir = tls_dir
        self.port = free_port()
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the server and return once it accepts connections."""
        args = [self.binary, "--port", str(self.port), "--isolate-rooms", "--salt", "tests"]
        if self.password:
            args += ["--password", self.password]
        if self.tls_dir:
            args += ["--tls", str(self.tls_dir)]
        # the server reads its password and salt from these when no option is given
        env = {k: v for k, v in os.environ.items() if k not in {"SYNCPLAY_PASSWORD",
                                                                 "SYNCPLAY_SALT"}}
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + START_DEADLINE
        while True:
            if self._proc.poll() is not None:
                raise RuntimeError(f"syncplay-server exited: {self.log_path.read_text()}")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("syncplay-server did not listen in time") from None
                time.sleep(0.05)  # nothing to await: the server only says so by listening

    def stop(self) -> None:
        """Stop the server; its connections drop."""
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        self._proc = None

    def restart(self) -> None:
        """Stop, then start again on the same port."""
        self.stop()
        self.start()
