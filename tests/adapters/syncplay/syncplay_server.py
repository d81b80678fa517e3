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


def require_syncplay() -> str:
    """Return the server's path; skip (or fail under CI=true) when it is not installed."""
    if BINARY is not None:
        return BINARY
    why = "syncplay-server is not installed (apt-get install syncplay-server)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{why}, and CI=true does not skip the Syncplay tests")
    pytest.skip(why)


def free_port() -> int:
    """Return a loopback TCP port nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


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
