"""Adapters reach the core through its entry points only: never its store or its outbox."""

from __future__ import annotations

import re
from pathlib import Path

ADAPTERS = Path(__file__).resolve().parent.parent / "adapters"
REACHES_IN = re.compile(r"\bcore\.(store|outbox|deps|clock|guides|config)\b")


def test_no_adapter_reads_the_cores_store_or_outbox() -> None:
    offenders = [f"{path.relative_to(ADAPTERS.parent)}:{number}: {line.strip()}"
                 for path in sorted(ADAPTERS.rglob("*.py"))
                 for number, line in enumerate(path.read_text("utf-8").splitlines(), start=1)
                 if REACHES_IN.search(line)]
    assert offenders == []
