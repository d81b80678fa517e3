"""The one migration runner: numbered files storage/migrations/<dialect>/V<n>__<name>.sql."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from importlib import resources
from typing import Protocol

from storage import StoreUnavailable

log = logging.getLogger(__name__)

_MIGRATION = re.compile(r"^V(\d+)__(\w+)\.sql$")


@dataclass(frozen=True, slots=True)
class Migration:
    """One numbered schema change of one dialect."""

    version: int
    name: str
    sql: str


class MigrationTarget(Protocol):
    """A database the runner migrates: each migration runs in one write transaction."""

    async def prepare(self) -> int | None:
        """Create the schema_version table if needed; return the newest version applied."""
        ...

    async def apply(self, migration: Migration) -> bool:
        """In one transaction, apply `migration` unless it is recorded; return whether applied.

        Checked inside the write transaction: another process may have just applied it.
        """
        ...


def migration_files(dialect: str) -> list[Migration]:
    """Return every migration of `dialect`, in version order."""
    folder = resources.files("storage") / "migrations" / dialect
    found = []
    for entry in folder.iterdir():
        match = _MIGRATION.match(entry.name)
        if match:
            found.append(Migration(int(match[1]), entry.name.removesuffix(".sql"),
                                   entry.read_text(encoding="utf-8")))
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise RuntimeError(f"two {dialect} migrations share a version: "
                           f"{[m.name for m in found]}")
    return found


async def run_migrations(target: MigrationTarget, dialect: str) -> list[str]:
    """Bring `target` to the newest schema of `dialect`; return the names applied."""
    files = migration_files(dialect)
    newest = await target.prepare()
    if newest is not None and files and newest > files[-1].version:
        raise StoreUnavailable(
            f"the database schema is at V{newest}, newer than this version of the bot knows "
            f"(V{files[-1].version}); run the newer bot or restore a backup"
        )
    applied = []
    for migration in files:
        if await target.apply(migration):
            log.debug("applied migration %s", migration.name)
            applied.append(migration.name)
    return applied
