"""A bot under benchmark in a process of its own: started, measured from /proc, stopped.

The fake server and the load generator run in the benchmark's process; the bot (watchparty's
`python -m bot`, or a baseline) runs in a child, as in production, so neither side's CPU slows
the other's clock or pacing on a two-core machine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TICKS = os.sysconf("SC_CLK_TCK")


@dataclass
class Child:
    """A started process, its log, and its CPU time when measuring began."""

    proc: subprocess.Popen[bytes]
    log: Path
    cpu0: float = 0.0
    wall0: float = field(default_factory=lambda: 0.0)

    @classmethod
    def start(cls, args: Sequence[str], env: dict[str, str], log: Path) -> Child:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env,
                                stdout=log.open("ab"), stderr=subprocess.STDOUT)
        return cls(proc, log)

    def cpu_seconds(self) -> float:
        """User and system CPU time the child has used so far."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / TICKS

    def peak_rss_mb(self) -> float:
        """The child's peak resident memory (VmHWM)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def mark(self, now: float) -> None:
        """Start measuring CPU from here."""
        self.cpu0, self.wall0 = self.cpu_seconds(), now

    def cpu_share(self, now: float) -> float:
        """CPU used since `mark`, as a share of one core."""
        return (self.cpu_seconds() - self.cpu0) / max(1e-9, now - self.wall0)

    def alive(self) -> bool:
        return self.proc.poll() is None

    async def stop(self, within: float = 60.0) -> int:
        """SIGTERM, then wait (SIGKILL after `within`); the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        for _ in range(int(within / 0.1)):
            code = self.proc.poll()
            if code is not None:
                return code
            await asyncio.sleep(0.1)
        self.proc.kill()
        return self.proc.wait()

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]
