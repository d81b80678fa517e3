"""`python -m bot migrate --from sqlite:///old.db`: an SQLite file with real parties copied into
PostgreSQL, twice, gives the same data once, and the bot goes on from there."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

from bot.actions import ActionKind
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import LinkStatus, PartyChat, PartyState
from bot.ports import LogEntry, SentKind, SentMessage, Store
from storage.sqlite import SqliteStore
from tests.postgres import empty_database
from tests.reads import pending_actions
from tests.storage.test_contract import DISCORD, T0, TELEGRAM, action, party, record

ROOT = Path(__file__).resolve().parents[1]


def bot(*args: str, env: dict[str, str], stdin: str = "",
        cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run `python -m bot …` as a user would, with only these settings."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DISCORD_", "TELEGRAM_", "DATABASE_", "GUIDES_"))}
    base.update({"PYTHONPATH": str(ROOT), **env})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          env=base, cwd=cwd, input=stdin, timeout=120, check=False)


async def everything(store: Store, party_ids: list[int]) -> list[object]:
    """What the store API says of these parties and the rest, for comparing two stores."""
    seen: list[object] = []
    for party_id in party_ids:
        loaded = await store.get_party(party_id)
        assert loaded is not None
        seen += [loaded, [r async for r in store.iter_records(party_id)],
                 await pending_actions(store, party_id), await store.sent_messages(party_id),
                 await store.party_log(party_id)]
        seen.append(await store.get_party_by_code(loaded.code))
    seen += [await store.forgotten([DISCORD, TELEGRAM]), await store.get_chat_settings(DISCORD),
             await store.list_guides("discord:guild:1"),
             await store.get_guide_source("discord:guild:1", "ours"),
             await store.find_message_ref("telegram", "poll:1"),
             await pending_actions(store, 0), await store.next_wakeup()]
    return seen


async def test_migrate_from_sqlite_copies_everything_once(tmp_path: Path) -> None:
    url = await empty_database()
    old = tmp_path / "old.db"
    # A party made in the console, as a user makes one (with the host's RSVP)...
    console = bot("console", env={"DATABASE_URL": f"sqlite:///{old}"}, cwd=tmp_path,
                  stdin="/watchparty create Family night | in 2 hours | social-dilemma\n1\n")
    assert console.returncode == 0, console.stderr
    # ...and more of everything the store keeps.
    store = await SqliteStore.open(old)
    try:
        [console_party] = await store.parties_for_chat(ChatRef("console", "terminal"),
                                                       frozenset(PartyState))
        created = await store.create_party(party("K7Q2MX", home=TELEGRAM))
        await store.upsert_party_chat(PartyChat(created.id, DISCORD, LinkStatus.APPROVED,
                                                requested_by="7"))
        async with store.party(created.id) as tx:
            assert tx.party is not None
            tx.party.transition(PartyState.COUNTING_DOWN)
            tx.party.go_at = T0 + timedelta(seconds=10)
            await tx.save()
            await tx.add_actions([action(T0 + timedelta(seconds=10), party_id=created.id,
                                         kind=ActionKind.GO, chats=["a", "b"])])
        await store.add_actions([action(T0, party_id=None, kind=ActionKind.RETENTION)])
        await store.claim_due(T0, "old-worker", T0 + timedelta(minutes=1), 1)
        for i in range(2_500):  # more than one page of the copy
            await store.add_record(replace(record(created.id, user=f"u{i % 40}",
                                                  at=T0 + timedelta(seconds=i)),
                                           event=f"tg:{i}" if i % 2 else None))
        await store.add_sent_message(SentMessage(created.id, DISCORD, "m1", SentKind.GO,
                                                 action_id=1))
        await store.save_message_ref("telegram", "poll:1", TELEGRAM, "41")
        await store.add_forgotten(DISCORD, "u9", T0)
        await store.save_chat_settings(ChatSettings(
            chat=DISCORD, timezone="Europe/Berlin", reminders=(timedelta(minutes=15),),
            creators=Creators.MODERATORS, retention_days=7, ping_reminders=True))
        await store.save_guide("discord:guild:1", "ours", "title = 'Ours'")
        await store.add_log(LogEntry(created.id, T0, "action_late", {"seconds": 3.5}))
        party_ids = [console_party.id, created.id]
        expected = await everything(store, party_ids)
    finally:
        await store.close()

    env = {"DATABASE_URL": url}
    first = bot("migrate", "--from", f"sqlite:///{old}", env=env)
    assert first.returncode == 0, first.stderr
    assert "parties: 2 copied" in first.stdout
    assert "records: 2501 copied" in first.stdout  # the console host's RSVP too
    assert "scheduled actions:" in first.stdout and "already there" not in first.stdout
    second = bot("migrate", "--from", f"sqlite:///{old}", env=env)
    assert second.returncode == 0, second.stderr
    assert "parties: 0 copied, 2 already there" in second.stdout
    assert "records: 0 copied, 2501 already there" in second.stdout

    from storage.postgres.store import PostgresStore

    copy = await PostgresStore.open(url)
    try:
        assert await everything(copy, party_ids) == expected
        # The bot goes on from the copied ids: a new party, record and action get fresh ones.
        newer = await copy.create_party(party("NEWONE"))
        assert newer.id > max(party_ids)
        fresh = await copy.add_record(record(created.id))
        assert fresh.id is not None and fresh.id > 2501
        [later] = await copy.add_actions([action(T0, party_id=newer.id)])
        assert later.id is not None and later.id > 3
    finally:
        await copy.close()


def test_migrate_from_names_what_it_needs(tmp_path: Path) -> None:
    into_sqlite = bot("migrate", "--from", f"sqlite:///{tmp_path}/old.db",
                      env={"DATABASE_URL": f"sqlite:///{tmp_path}/new.db"})
    assert into_sqlite.returncode == 2
    assert into_sqlite.stderr.strip().splitlines() == [
        "watchparty: migrate --from copies into PostgreSQL: set DATABASE_URL to "
        "postgresql://USER:PASSWORD@HOST:PORT/DB"]
    missing = bot("migrate", "--from", f"sqlite:///{tmp_path}/missing.db",
                  env={"DATABASE_URL": "postgresql://postgres@127.0.0.1:9/x"})
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1
    assert "no SQLite database at" in missing.stderr
