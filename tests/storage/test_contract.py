"""The store contract: every backend in conftest.BACKENDS must pass all of it."""

from __future__ import annotations

import asyncio
import multiprocessing
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from bot.actions import Action, ActionKind, ActionStatus, Outcome
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import ACTIVE_STATES, LinkStatus, Party, PartyChat, PartyState, Series
from bot.ports import LogEntry, SentKind, SentMessage, Store
from bot.records import Record, RecordKind
from storage import StoreConflict, StoreUnavailable, UnsupportedDatabase, open_store
from storage.memory import MemoryStore
from storage.sqlite import SqliteStore, migrate
from tests.reads import count_records, pending_actions

if TYPE_CHECKING:
    from tests.storage.backends import Backend

T0 = datetime(2025, 3, 7, 19, 0, 0, 123456, tzinfo=UTC)
CEST = timezone(timedelta(hours=2))
DISCORD = ChatRef("discord", "1000")
TELEGRAM = ChatRef("telegram", "-100200")
OTHER = ChatRef("discord", "2000")


def party(code: str = "K7Q2MX", *, home: ChatRef = DISCORD, starts_at: datetime = T0,
          state: PartyState = PartyState.SCHEDULED) -> Party:
    """A party as the core would hand it to create_party."""
    return Party(
        id=0, code=code, title=f"Film {code}", host_platform=home.platform, host_user_id="42",
        host_name="Host", home=home, starts_at=starts_at, timezone="Europe/Berlin",
        guide_name="social-dilemma", state=state, created_at=T0 - timedelta(days=1),
    )


def record(party_id: int, *, user: str = "u1", chat: ChatRef = DISCORD,
           at: datetime = T0, kind: RecordKind = RecordKind.REACTION_ADDED,
           value: str = "👍") -> Record:
    """A record as an adapter would produce it."""
    return Record(
        party_id=party_id, kind=kind, platform=chat.platform, chat_id=chat.chat_id, user_id=user,
        display_name=f"User {user}", at=at, position=12.5, value=value, prompt="1.1",
        message_id="m1",
    )


def action(due: datetime, *, party_id: int | None = 1, kind: ActionKind = ActionKind.PROMPT,
           **payload: object) -> Action:
    """A pending action."""
    return Action(party_id=party_id, kind=kind, due_at=due, payload=dict(payload))


def assert_utc(*instants: datetime | None) -> None:
    """Every instant a store returns is aware UTC."""
    for instant in instants:
        assert instant is None or instant.tzinfo is UTC


@asynccontextmanager
async def streaming(store: Store, party_id: int) -> AsyncIterator[AsyncIterator[Record]]:
    """A party's record stream, closed (its cursor released) however the reader stops."""
    stream = store.iter_records(party_id)
    try:
        yield stream
    finally:
        # The port promises an AsyncIterator; generators, as both stores return, can be closed.
        aclose = getattr(stream, "aclose", None)
        if aclose is not None:
            await aclose()


async def records_of(store: Store, party_id: int) -> list[Record]:
    """Every record of a party, through the streaming iterator."""
    async with streaming(store, party_id) as stream:
        return [r async for r in stream]


# parties


async def test_party_round_trip_keeps_every_field(store: Store) -> None:
    given = party(starts_at=datetime(2025, 3, 7, 21, 0, 0, 5, tzinfo=CEST))
    created = await store.create_party(given)

    assert created.id > 0
    assert created.starts_at == given.starts_at
    assert_utc(created.starts_at, created.created_at)
    assert created.chats == [
        PartyChat(party_id=created.id, chat=DISCORD, status=LinkStatus.APPROVED, is_home=True)
    ]
    loaded = await store.get_party(created.id)
    assert loaded == created

    changed = replace(
        loaded, title="Another title", state=PartyState.PAUSED, guide_name=None,
        timezone="Asia/Tokyo", go_at=T0 + timedelta(seconds=1),
        paused_at=datetime(2025, 3, 7, 21, 30, tzinfo=CEST), paused_seconds=61.25,
        resume_at=T0 + timedelta(minutes=31), ready_target=4,
        finished_at=T0 + timedelta(hours=2), seek_seconds=-754.5,
        follow_source="syncplay://syncplay.pl:8999/Film%20Club", chats=[],
    )
    await store.update_party(changed)
    reloaded = await store.get_party(created.id)
    assert reloaded is not None
    assert reloaded == replace(changed, chats=created.chats)
    assert_utc(reloaded.starts_at, reloaded.created_at, reloaded.go_at, reloaded.paused_at,
               reloaded.resume_at, reloaded.finished_at)


async def test_parties_get_distinct_ids_and_unknown_ones_are_none(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    second = await store.create_party(party("BBBBBB"))
    assert first.id != second.id
    assert await store.get_party(second.id + 1000) is None
    assert await store.get_party_by_code("ZZZZZZ") is None


async def test_party_by_code(store: Store) -> None:
    await store.create_party(party("AAAAAA"))
    wanted = await store.create_party(party("K7Q2MX", home=TELEGRAM))
    assert await store.get_party_by_code("K7Q2MX") == wanted


async def test_a_taken_join_code_is_a_conflict(store: Store) -> None:
    await store.create_party(party("K7Q2MX"))
    with pytest.raises(StoreConflict):
        await store.create_party(party("K7Q2MX", home=OTHER))
    other = await store.create_party(party("AAAAAA"))
    with pytest.raises(StoreConflict):
        await store.update_party(replace(other, code="K7Q2MX"))


async def test_updating_an_unknown_party_raises(store: Store) -> None:
    with pytest.raises(LookupError):
        await store.update_party(replace(party(), id=999))


async def test_naive_datetimes_are_refused(store: Store) -> None:
    naive = datetime(2025, 3, 7, 19, 0)  # noqa: DTZ001 - the point of the test
    with pytest.raises(TypeError):
        await store.create_party(party(starts_at=naive))
    created = await store.create_party(party())
    with pytest.raises(TypeError):
        await store.add_record(record(created.id, at=naive))


async def test_parties_for_chat_filters_by_state_and_approved_link(store: Store) -> None:
    later = await store.create_party(party("AAAAAA", starts_at=T0 + timedelta(hours=2)))
    sooner = await store.create_party(party("BBBBBB", starts_at=T0))
    done = await store.create_party(party("CCCCCC", starts_at=T0 - timedelta(hours=3)))
    await store.update_party(replace(done, state=PartyState.FINISHED))
    elsewhere = await store.create_party(party("DDDDDD", home=OTHER))
    linked = await store.create_party(party("EEEEEE", home=TELEGRAM, starts_at=T0 + timedelta(1)))
    pending = await store.create_party(party("FFFFFF", home=TELEGRAM))
    await store.upsert_party_chat(PartyChat(linked.id, DISCORD, LinkStatus.APPROVED))
    await store.upsert_party_chat(PartyChat(pending.id, DISCORD, LinkStatus.PENDING))

    active = await store.parties_for_chat(DISCORD, ACTIVE_STATES)
    assert [p.code for p in active] == ["BBBBBB", "AAAAAA", "EEEEEE"]
    assert active[2].chats[0].chat == TELEGRAM and active[2].chats[0].is_home
    assert [c.chat for c in active[2].chats] == [TELEGRAM, DISCORD]
    finished = await store.parties_for_chat(DISCORD, frozenset({PartyState.FINISHED}))
    assert [p.id for p in finished] == [done.id]
    assert await store.parties_for_chat(DISCORD, frozenset()) == []
    assert [p.id for p in await store.parties_for_chat(OTHER, ACTIVE_STATES)] == [elsewhere.id]
    assert sooner.id != later.id


async def test_link_status_changes(store: Store) -> None:
    created = await store.create_party(party())
    await store.upsert_party_chat(
        PartyChat(created.id, TELEGRAM, LinkStatus.PENDING, requested_by="77")
    )
    loaded = await store.get_party(created.id)
    assert loaded is not None
    assert loaded.chats[1] == PartyChat(created.id, TELEGRAM, LinkStatus.PENDING,
                                        requested_by="77")
    assert loaded.approved_chats() == [DISCORD]
    assert await store.parties_for_chat(TELEGRAM, ACTIVE_STATES) == []

    await store.set_link_status(created.id, TELEGRAM, LinkStatus.APPROVED)
    assert [p.id for p in await store.parties_for_chat(TELEGRAM, ACTIVE_STATES)] == [created.id]
    loaded = await store.get_party(created.id)
    assert loaded is not None and loaded.approved_chats() == [DISCORD, TELEGRAM]

    await store.upsert_party_chat(
        PartyChat(created.id, TELEGRAM, LinkStatus.DECLINED, requested_by="77")
    )
    assert await store.parties_for_chat(TELEGRAM, ACTIVE_STATES) == []
    loaded = await store.get_party(created.id)
    assert loaded is not None
    assert [c.status for c in loaded.chats] == [LinkStatus.APPROVED, LinkStatus.DECLINED]

    with pytest.raises(LookupError):
        await store.set_link_status(created.id, OTHER, LinkStatus.APPROVED)
    with pytest.raises(StoreConflict):
        await store.upsert_party_chat(PartyChat(created.id + 1000, OTHER, LinkStatus.PENDING))


async def test_a_party_thread_is_kept_on_its_link_and_leads_to_its_chat(store: Store) -> None:
    first = await store.create_party(party())
    second = await store.create_party(party("B7Q2MX"))
    topic = ChatRef("telegram", "-100200/77")
    thread = ChatRef("discord", "3000")
    assert await store.thread_parent(thread) is None
    async with store.party(first.id) as tx:
        assert tx.party is not None
        await tx.upsert_chat(replace(tx.party.chats[0], thread=thread))
        assert tx.party.thread_of(DISCORD) == thread
    await store.upsert_party_chat(PartyChat(first.id, TELEGRAM, LinkStatus.APPROVED,
                                            thread=topic))
    await store.upsert_party_chat(PartyChat(second.id, TELEGRAM, LinkStatus.APPROVED))
    loaded = await store.get_party(first.id)
    assert loaded is not None
    assert [(c.chat, c.thread) for c in loaded.chats] == [(DISCORD, thread), (TELEGRAM, topic)]
    assert await store.thread_parent(thread) == DISCORD
    assert await store.thread_parent(topic) == TELEGRAM
    # A thread id is the platform's own: the same id on another platform is another chat.
    assert await store.thread_parent(ChatRef("telegram", "3000")) is None
    assert await store.thread_parent(DISCORD) is None
    other = await store.get_party(second.id)
    assert other is not None and [c.thread for c in other.chats] == [None, None]
    # Changing a link's status keeps its thread.
    await store.set_link_status(first.id, TELEGRAM, LinkStatus.DECLINED)
    loaded = await store.get_party(first.id)
    assert loaded is not None and loaded.chats[1].thread == topic
    with pytest.raises(ValueError, match="another platform"):
        await store.upsert_party_chat(PartyChat(first.id, DISCORD, LinkStatus.APPROVED,
                                                is_home=True, thread=topic))


# records


async def test_record_round_trip_and_order(store: Store) -> None:
    created = await store.create_party(party())
    late = await store.add_record(record(created.id, at=T0 + timedelta(seconds=30), user="a"))
    early = await store.add_record(
        record(created.id, at=datetime(2025, 3, 7, 21, 0, 5, tzinfo=CEST), user="b")
    )
    same_time = await store.add_record(
        replace(record(created.id, at=T0 + timedelta(seconds=30), user="c"), position=None,
                prompt=None, message_id=None, kind=RecordKind.ANSWER, value="a long answer")
    )
    assert None not in (late.id, early.id, same_time.id)
    assert len({late.id, early.id, same_time.id}) == 3
    assert_utc(early.at)

    stored = await records_of(store, created.id)
    assert stored == [early, late, same_time]
    assert stored[0].at == datetime(2025, 3, 7, 19, 0, 5, tzinfo=UTC)
    assert stored[2].position is None and stored[2].kind is RecordKind.ANSWER
    assert_utc(*(r.at for r in stored))
    assert await count_records(store, created.id) == 3
    assert await records_of(store, created.id + 1000) == []


async def test_an_incomplete_record_is_refused_alone(store: Store) -> None:
    created = await store.create_party(party())
    results = await asyncio.gather(
        *(store.add_record(record(created.id, user=str(i))) for i in range(5)),
        store.add_record(replace(record(created.id), display_name=None)),  # type: ignore[arg-type]
        return_exceptions=True,
    )
    assert isinstance(results[5], ValueError)
    assert all(isinstance(r, Record) and r.id for r in results[:5])
    assert await count_records(store, created.id) == 5


async def test_iter_records_streams_many_in_order(store: Store) -> None:
    created = await store.create_party(party())
    other = await store.create_party(party("AAAAAA"))
    # Written out of time order, many at the same instant: the stream orders by (at, id).
    sent = await asyncio.gather(*(
        store.add_record(record(created.id, user=str(i % 37),
                                at=T0 + timedelta(seconds=(i * 7919) % 1000)))
        for i in range(5000)
    ))
    await store.add_record(record(other.id))
    assert await count_records(store, created.id) == 5000

    seen: list[Record] = []
    async with streaming(store, created.id) as stream:
        async for item in stream:
            seen.append(item)
            if len(seen) == 10:
                # Writing while an export streams neither blocks nor disturbs it: the stream
                # reads the records as they were when it started.
                await asyncio.wait_for(store.add_record(record(other.id)), 5)
                await asyncio.wait_for(store.add_record(record(created.id, at=T0)), 5)
    assert len(seen) == 5000
    assert seen == sorted(sent, key=lambda r: (r.at, r.id or 0))


async def test_iter_record_rows_are_the_records_as_plain_rows(store: Store) -> None:
    created = await store.create_party(party())
    other = await store.create_party(party("AAAAAA"))
    sent = await asyncio.gather(*(
        store.add_record(replace(
            record(created.id, user=str(i % 37), at=(T0 + timedelta(seconds=(i * 7919) % 1000,
                                                                  microseconds=i)).astimezone(CEST),
                   kind=RecordKind.ANSWER if i % 2 else RecordKind.REACTION_ADDED,
                   value=f'answer {i}, "quoted" 🎬'),
            position=None if i % 3 else i / 7, prompt=None if i % 5 else "2.1",
            message_id=None if i % 4 else f"m{i}", event=f"e{i}"))
        for i in range(2_500)
    ))
    await store.add_record(record(other.id))
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    expected = [(r.id, r.kind.value, r.platform, r.chat_id, r.user_id, r.display_name,
                 (r.at - epoch) // timedelta(microseconds=1), r.position, r.value, r.prompt,
                 r.message_id) for r in sorted(sent, key=lambda r: (r.at, r.id or 0))]
    pages = [page async for page in store.iter_record_rows(created.id)]
    # Pages, not the whole party at once; in the order and with the values of iter_records.
    assert len(pages) > 1 and all(isinstance(page, list) for page in pages)
    assert [row for page in pages for row in page] == expected
    assert expected == [(r.id, r.kind.value, r.platform, r.chat_id, r.user_id, r.display_name,
                         (r.at - epoch) // timedelta(microseconds=1), r.position, r.value,
                         r.prompt, r.message_id)
                        async for r in store.iter_records(created.id)]


async def test_an_abandoned_stream_releases_the_store(store: Store) -> None:
    created = await store.create_party(party())
    await asyncio.gather(*(store.add_record(record(created.id)) for _ in range(3000)))
    async with streaming(store, created.id) as stream:
        async for _ in stream:
            break
    assert await store.delete_party_records(created.id) == 3000


async def test_delete_user_records_touches_only_that_user_in_that_chat(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    second = await store.create_party(party("BBBBBB"))
    doomed = [
        await store.add_record(record(first.id, user="u1")),
        await store.add_record(record(second.id, user="u1", kind=RecordKind.RSVP)),
    ]
    kept = [
        await store.add_record(record(first.id, user="u2")),
        await store.add_record(record(first.id, user="u1", chat=OTHER)),
        await store.add_record(record(first.id, user="u1", chat=ChatRef("telegram", "1000"))),
        await store.add_record(record(second.id, user="u11")),
    ]
    assert await store.delete_user_records(DISCORD, "u1") == len(doomed)
    remaining = await records_of(store, first.id) + await records_of(store, second.id)
    assert sorted(r.id or 0 for r in remaining) == sorted(r.id or 0 for r in kept)
    assert await store.delete_user_records(DISCORD, "u1") == 0


async def test_delete_party_records(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    second = await store.create_party(party("BBBBBB"))
    for _ in range(3):
        await store.add_record(record(first.id))
    await store.add_record(record(second.id))
    assert await store.delete_party_records(first.id) == 3
    assert await count_records(store, first.id) == 0
    assert await count_records(store, second.id) == 1


async def test_delete_party_records_of_one_chat(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    second = await store.create_party(party("BBBBBB"))
    for chat in (DISCORD, DISCORD, OTHER, TELEGRAM):
        await store.add_record(record(first.id, chat=chat))
    await store.add_record(record(second.id, chat=OTHER))
    assert await store.delete_party_records(first.id, OTHER) == 1
    assert sorted((r.platform, r.chat_id) for r in await records_of(store, first.id)) == [
        ("discord", "1000"), ("discord", "1000"), ("telegram", "-100200")]
    assert await count_records(store, second.id) == 1
    assert await store.delete_party_records(first.id, OTHER) == 0


async def test_forgotten_users(store: Store) -> None:
    await store.add_forgotten(DISCORD, "u1", T0)
    await store.add_forgotten(DISCORD, "u1", T0 + timedelta(days=1))
    await store.add_forgotten(DISCORD, "u2", T0)
    await store.add_forgotten(TELEGRAM, "u9", T0)
    assert await store.forgotten([DISCORD]) == {("discord", "1000", "u1"),
                                                ("discord", "1000", "u2")}
    assert await store.forgotten([TELEGRAM, OTHER]) == {("telegram", "-100200", "u9")}
    assert await store.forgotten([]) == set()


async def test_a_redelivered_event_is_recorded_once(store: Store) -> None:
    created = await store.create_party(party())
    other = await store.create_party(party("AAAAAA"))
    first = await store.add_record(replace(record(created.id, user="a"), event="tg:1:7"))
    again = await store.add_record(replace(record(created.id, user="a", value="👎"),
                                           event="tg:1:7"))
    assert again.id == first.id
    # The same event name in another party, and records without an event, are all kept.
    elsewhere = await store.add_record(replace(record(other.id), event="tg:1:7"))
    plain = [await store.add_record(record(created.id, user="b")) for _ in range(2)]
    assert len({first.id, elsewhere.id, *(r.id for r in plain)}) == 4

    # Within one group-commit batch too: concurrent copies of one event are one record.
    results = await asyncio.gather(*(
        store.add_record(replace(record(created.id, user="c"), event=f"tg:1:{8 + i % 2}"))
        for i in range(6)))
    assert len({r.id for r in results}) == 2
    stored = await records_of(store, created.id)
    assert [r.event for r in stored] == ["tg:1:7", None, None, "tg:1:8", "tg:1:9"]
    assert stored[0].value == "👍"
    assert await count_records(store, created.id) == 5

    # Once deleted (forget-me, retention), the event no longer holds a place.
    await store.delete_party_records(created.id)
    fresh = await store.add_record(replace(record(created.id), event="tg:1:7"))
    assert fresh.id not in {first.id, *(r.id for r in results)}
    assert await count_records(store, created.id) == 1


# messages the bot posted


async def test_message_refs(store: Store) -> None:
    assert await store.find_message_ref("telegram", "poll:5") is None
    await store.save_message_ref("telegram", "poll:5", TELEGRAM, "41")
    await store.save_message_ref("discord", "poll:5", DISCORD, "m1")
    assert await store.find_message_ref("telegram", "poll:5") == (TELEGRAM, "41")
    assert await store.find_message_ref("discord", "poll:5") == (DISCORD, "m1")
    topic = ChatRef("telegram", "-100200/7")
    await store.save_message_ref("telegram", "poll:5", topic, "42")
    assert await store.find_message_ref("telegram", "poll:5") == (topic, "42")


async def test_move_chat_takes_everything_along(store: Store) -> None:
    group, supergroup = ChatRef("telegram", "-55"), ChatRef("telegram", "-10055")
    home = await store.create_party(party("AAAAAA", home=group))
    linked = await store.create_party(party("BBBBBB"))
    await store.upsert_party_chat(PartyChat(linked.id, group, LinkStatus.APPROVED))
    await store.upsert_party_chat(PartyChat(linked.id, TELEGRAM, LinkStatus.PENDING))
    await store.add_sent_message(SentMessage(home.id, group, "9", SentKind.ANNOUNCEMENT))
    await store.save_message_ref("telegram", "poll:1", group, "10")
    rec = await store.add_record(record(home.id, chat=group, user="u7"))
    untouched = await store.add_record(record(home.id, chat=TELEGRAM, user="u7"))
    await store.add_forgotten(group, "u8", T0)
    await store.save_chat_settings(ChatSettings(chat=group, timezone="Europe/Berlin"))
    await store.save_guide(str(group), "ours", "title = 'Ours'")

    await store.move_chat(group, supergroup)
    await store.move_chat(group, supergroup)  # a second notice of the same move changes nothing

    moved = await store.get_party(home.id)
    assert moved is not None and moved.home == supergroup
    assert [pc.chat for pc in moved.chats] == [supergroup] and moved.chats[0].is_home
    other = await store.get_party(linked.id)
    assert other is not None
    assert [(pc.chat, pc.status) for pc in other.chats] == [
        (DISCORD, LinkStatus.APPROVED), (supergroup, LinkStatus.APPROVED),
        (TELEGRAM, LinkStatus.PENDING)]
    active = frozenset(ACTIVE_STATES)
    assert {p.id for p in await store.parties_for_chat(supergroup, active)} == {home.id,
                                                                                 linked.id}
    assert await store.parties_for_chat(group, active) == []
    assert await store.find_sent_message(group, "9") is None
    found = await store.find_sent_message(supergroup, "9")
    assert found is not None and found.kind is SentKind.ANNOUNCEMENT
    assert await store.find_message_ref("telegram", "poll:1") == (supergroup, "10")
    chats = {r.id: (r.platform, r.chat_id) for r in await records_of(store, home.id)}
    assert chats == {rec.id: ("telegram", "-10055"), untouched.id: ("telegram", "-100200")}
    assert await store.forgotten([supergroup]) == {("telegram", "-10055", "u8")}
    assert await store.forgotten([group]) == set()
    assert (await store.get_chat_settings(supergroup)).timezone == "Europe/Berlin"
    assert await store.get_chat_settings(group) == ChatSettings(chat=group)
    assert await store.list_guides(str(supergroup)) == ["ours"]
    assert await store.list_guides(str(group)) == []


async def test_move_chat_keeps_what_the_new_chat_has(store: Store) -> None:
    group, supergroup = ChatRef("telegram", "-56"), ChatRef("telegram", "-10056")
    created = await store.create_party(party("AAAAAA", home=supergroup))
    await store.upsert_party_chat(PartyChat(created.id, group, LinkStatus.APPROVED))
    await store.save_chat_settings(ChatSettings(chat=group, timezone="Asia/Tokyo"))
    await store.save_chat_settings(ChatSettings(chat=supergroup, timezone="Europe/Paris"))
    await store.save_guide(str(group), "g", "title = 'old'")
    await store.save_guide(str(supergroup), "g", "title = 'new'")

    await store.move_chat(group, supergroup)

    loaded = await store.get_party(created.id)
    assert loaded is not None
    assert [(pc.chat, pc.is_home) for pc in loaded.chats] == [(supergroup, True)]
    assert (await store.get_chat_settings(supergroup)).timezone == "Europe/Paris"
    assert await store.get_chat_settings(group) == ChatSettings(chat=group)
    assert await store.get_guide_source(str(supergroup), "g") == "title = 'new'"
    assert await store.list_guides(str(group)) == []


async def test_sent_messages(store: Store) -> None:
    created = await store.create_party(party())
    other = await store.create_party(party("AAAAAA"))
    announcement = SentMessage(created.id, DISCORD, "m1", SentKind.ANNOUNCEMENT)
    prompt_discord = SentMessage(created.id, DISCORD, "m2", SentKind.PROMPT, prompt="1.1",
                                 action_id=7)
    prompt_telegram = SentMessage(created.id, TELEGRAM, "m2", SentKind.PROMPT, prompt="1.1",
                                  action_id=7)
    elsewhere = SentMessage(other.id, OTHER, "m3", SentKind.GO, action_id=8)
    for sent in (announcement, prompt_discord, prompt_telegram, elsewhere):
        await store.add_sent_message(sent)

    assert await store.find_sent_message(TELEGRAM, "m2") == prompt_telegram
    assert await store.find_sent_message(DISCORD, "m2") == prompt_discord
    assert await store.find_sent_message(OTHER, "m1") is None
    assert await store.sent_messages(created.id) == [announcement, prompt_discord,
                                                     prompt_telegram]
    assert await store.sent_messages(created.id, SentKind.PROMPT) == [prompt_discord,
                                                                      prompt_telegram]
    assert await store.sent_messages(created.id, SentKind.GO) == []
    assert await store.sent_for_action(7) == [prompt_discord, prompt_telegram]
    assert await store.sent_for_action(9) == []

    edited = replace(announcement, kind=SentKind.NOTICE)
    await store.add_sent_message(edited)
    assert await store.find_sent_message(DISCORD, "m1") == edited
    assert (await store.sent_messages(created.id))[0] == edited

    with pytest.raises(StoreConflict):
        await store.add_sent_message(SentMessage(other.id + 1000, OTHER, "m9", SentKind.GO))


# actions


async def test_add_actions_returns_them_with_ids(store: Store) -> None:
    given = [
        action(T0 + timedelta(minutes=2), chapter=2, questions=["why?", "how?"]),
        action(T0, party_id=None, kind=ActionKind.RETENTION),
        action(T0 + timedelta(minutes=1), party_id=2, nested={"a": [1, 2.5, None]}),
    ]
    stored = await store.add_actions(given)
    assert [a.id for a in stored] == sorted({a.id or 0 for a in stored})
    assert all(a.status is ActionStatus.PENDING and a.acquired_by is None for a in stored)
    assert [(a.party_id, a.kind, a.due_at, a.payload) for a in stored] == [
        (a.party_id, a.kind, a.due_at, a.payload) for a in given
    ]
    assert await store.add_actions([]) == []
    assert await pending_actions(store, 1) == [stored[0]]
    assert await pending_actions(store, 2) == [stored[2]]
    with pytest.raises(TypeError):
        await store.add_actions([action(T0, not_json=object())])
    with pytest.raises(ValueError):
        await store.add_actions([replace(action(T0), status=ActionStatus.DONE)])
    with pytest.raises(ValueError):
        await store.add_actions([replace(action(T0), acquired_by="p", acquired_until=T0)])
    assert len(await pending_actions(store, 1)) == 1


async def test_pending_actions_by_due_time_survive_json(store: Store) -> None:
    await store.add_actions([
        action(T0 + timedelta(minutes=3), n=3),
        action(datetime(2025, 3, 7, 21, 1, tzinfo=CEST), n=1, pair=(1, 2)),
        action(T0 + timedelta(minutes=2), n=2),
    ])
    pending = await pending_actions(store, 1)
    assert [a.payload["n"] for a in pending] == [1, 2, 3]
    assert pending[0].payload["pair"] == [1, 2]
    assert_utc(*(a.due_at for a in pending))


async def test_claim_due_leases_earliest_first(store: Store) -> None:
    stored = await store.add_actions([
        action(T0 + timedelta(seconds=s), n=s) for s in (30, 10, 20, 40, 3600)
    ])
    now = T0 + timedelta(seconds=45)
    lease = now + timedelta(minutes=5)

    first = await store.claim_due(now, "proc-a", lease, 2)
    assert [a.payload["n"] for a in first] == [10, 20]
    assert all(a.acquired_by == "proc-a" and a.acquired_until == lease for a in first)
    assert_utc(*(a.acquired_until for a in first))
    second = await store.claim_due(now, "proc-b", lease, 10)
    assert [a.payload["n"] for a in second] == [30, 40]
    assert await store.claim_due(now, "proc-b", lease, 10) == []
    assert await store.claim_due(now, "proc-b", lease, 0) == []
    pending = await pending_actions(store, 1)
    assert len(pending) == 5
    assert {a.id for a in pending if a.acquired_by} == {a.id for a in first + second}
    assert stored[4].id not in {a.id for a in first + second}


async def test_a_lease_blocks_others_until_it_expires(store: Store) -> None:
    await store.add_actions([action(T0, n=1)])
    lease = T0 + timedelta(minutes=5)
    [claimed] = await store.claim_due(T0, "proc-a", lease, 10)

    assert await store.claim_due(lease - timedelta(microseconds=1), "proc-b",
                                 lease + timedelta(minutes=5), 10) == []
    # The lease ends at acquired_until itself: that is the instant next_wakeup reports.
    [again] = await store.claim_due(lease, "proc-b", lease + timedelta(minutes=5), 10)
    assert again.id == claimed.id
    assert again.acquired_by == "proc-b"
    assert again.acquired_until == lease + timedelta(minutes=5)


async def test_next_wakeup(store: Store) -> None:
    assert await store.next_wakeup() is None
    stored = await store.add_actions([
        action(T0 + timedelta(minutes=10)),
        action(T0 + timedelta(minutes=1)),
    ])
    wakeup = await store.next_wakeup()
    assert wakeup == T0 + timedelta(minutes=1)
    assert_utc(wakeup)

    now = T0 + timedelta(minutes=1)
    [claimed] = await store.claim_due(now, "proc-a", now + timedelta(seconds=30), 10)
    assert claimed.id == stored[1].id
    # Only the leased one is due: the next chance is its lease running out.
    assert await store.next_wakeup() == now + timedelta(seconds=30)
    await store.claim_due(now, "proc-a", now + timedelta(minutes=20), 10)
    assert await store.next_wakeup() == now + timedelta(seconds=30)

    await store.finish_actions("proc-a", [Outcome(claimed.id, claimed.fence, ActionStatus.DONE)])
    assert await store.next_wakeup() == T0 + timedelta(minutes=10)
    later = T0 + timedelta(minutes=10)
    [last] = await store.claim_due(later, "proc-a", later + timedelta(seconds=30), 10)
    await store.finish_actions("proc-a", [Outcome(last.id or 0, last.fence,
                                                  ActionStatus.SKIPPED)])
    assert await store.next_wakeup() is None


async def test_finished_actions_are_no_longer_pending(store: Store) -> None:
    stored = await store.add_actions([action(T0, n=i) for i in range(4)])
    claimed = await store.claim_due(T0, "proc-a", T0 + timedelta(minutes=1), 10)
    assert [a.id for a in claimed] == [a.id for a in stored]
    outcomes = [Outcome(a.id or 0, a.fence, status) for a, status in zip(
        claimed, (ActionStatus.DONE, ActionStatus.SKIPPED, ActionStatus.CANCELLED), strict=False)]
    assert await store.finish_actions("proc-a", outcomes) == outcomes
    assert await store.finish_actions("proc-a", []) == []
    assert [a.id for a in await pending_actions(store, 1)] == [stored[3].id]
    later = T0 + timedelta(hours=1)
    assert [a.id for a in await store.claim_due(later, "proc-b", later, 10)] == [stored[3].id]


async def test_cancel_actions_by_kind(store: Store) -> None:
    stored = await store.add_actions([
        action(T0, kind=ActionKind.REMINDER),
        action(T0, kind=ActionKind.PROMPT),
        action(T0, kind=ActionKind.SUMMARY),
        action(T0, kind=ActionKind.PROMPT, party_id=2),
        action(T0 - timedelta(1), kind=ActionKind.PROMPT),
    ])
    [early] = await store.claim_due(T0 - timedelta(1), "p", T0, 10)
    assert early.id == stored[4].id
    await store.finish_actions("p", [Outcome(early.id, early.fence, ActionStatus.DONE)])

    cancelled = await store.cancel_actions(1, frozenset({ActionKind.PROMPT, ActionKind.REMINDER}))
    assert cancelled == 2
    assert [a.kind for a in await pending_actions(store, 1)] == [ActionKind.SUMMARY]
    assert len(await pending_actions(store, 2)) == 1
    assert await store.cancel_actions(1, frozenset()) == 0
    assert [a.id for a in await store.claim_due(T0, "p", T0, 10)] == [stored[2].id,
                                                                       stored[3].id]


async def test_reaping_drops_only_leases_that_ran_out_or_were_this_workers(
        store: Store) -> None:
    stored = await store.add_actions([action(T0, n=i) for i in range(3)])
    lease = T0 + timedelta(hours=1)
    claimed = await store.claim_due(T0, "dead-process", lease, 10)
    assert [a.fence for a in claimed] == [1, 1, 1]
    await store.finish_actions("dead-process", [Outcome(claimed[0].id or 0, claimed[0].fence,
                                                        ActionStatus.DONE)])

    # Another worker starting while the leases live reaps nothing and claims nothing.
    assert await store.reap_leases(lease - timedelta(microseconds=1), "new-process") == 0
    assert await store.claim_due(lease - timedelta(microseconds=1), "new-process",
                                 lease + timedelta(hours=1), 10) == []
    assert await store.reap_leases(lease, "new-process") == 2
    assert await store.reap_leases(lease, "new-process") == 0
    assert await store.next_wakeup() == T0
    pending = await pending_actions(store, 1)
    assert all(a.acquired_by is None and a.acquired_until is None for a in pending)
    again = await store.claim_due(lease, "new-process", lease + timedelta(hours=1), 10)
    assert [a.id for a in again] == [stored[1].id, stored[2].id]
    assert [a.fence for a in again] == [2, 2]

    # A worker restarting under its own name takes back what its dead run held.
    assert await store.reap_leases(lease, "new-process") == 2
    assert [a.acquired_by for a in await pending_actions(store, 1)] == [None, None]


async def test_a_restarted_worker_does_not_steal_a_live_lease(backend: Backend) -> None:
    first = await backend.open()
    [stored] = await first.add_actions([action(T0)])
    [held] = await first.claim_due(T0, "worker-a", T0 + timedelta(minutes=5), 10)
    # Worker b (re)starts on the same database while worker a is alive and firing.
    second = await backend.open()
    now = T0 + timedelta(minutes=1)
    assert await second.reap_leases(now, "worker-b") == 0
    assert await second.claim_due(now, "worker-b", now + timedelta(minutes=5), 10) == []
    [still] = await pending_actions(second, 1)
    assert (still.acquired_by, still.fence) == ("worker-a", held.fence)
    # Once a's lease ran out (it died), b reaps it and claims it with a higher fence.
    expiry = T0 + timedelta(minutes=5)
    assert await second.reap_leases(expiry, "worker-b") == 1
    [taken] = await second.claim_due(expiry, "worker-b", expiry + timedelta(minutes=5), 10)
    assert taken.id == stored.id and taken.fence > held.fence


async def test_a_worker_whose_lease_ran_out_cannot_mark_the_action_done(
        backend: Backend) -> None:
    a, b = await backend.open(), await backend.open()
    await a.add_actions([action(T0)])
    [mine] = await a.claim_due(T0, "worker-a", T0 + timedelta(minutes=1), 10)
    later = T0 + timedelta(minutes=2)
    [theirs] = await b.claim_due(later, "worker-b", later + timedelta(minutes=1), 10)
    assert theirs.fence == mine.fence + 1

    late = Outcome(mine.id or 0, mine.fence, ActionStatus.DONE)
    assert await a.finish_actions("worker-a", [late]) == []
    assert await a.renew_leases("worker-a", [(mine.id or 0, mine.fence)], later) == []
    [pending] = await pending_actions(a, 1)
    assert (pending.acquired_by, pending.fence) == ("worker-b", theirs.fence)
    # The same fence under another name is no lease either.
    assert await a.finish_actions("worker-a", [replace(late, fence=theirs.fence)]) == []

    done = Outcome(theirs.id or 0, theirs.fence, ActionStatus.SKIPPED)
    assert await b.finish_actions("worker-b", [done]) == [done]
    assert await pending_actions(a, 1) == []


async def test_a_renewed_lease_keeps_others_off(store: Store) -> None:
    [stored] = await store.add_actions([action(T0)])
    [held] = await store.claim_due(T0, "worker-a", T0 + timedelta(minutes=1), 10)
    extended = T0 + timedelta(minutes=10)
    assert await store.renew_leases("worker-a", [(held.id or 0, held.fence)],
                                    extended) == [stored.id]
    assert await store.renew_leases("worker-b", [(held.id or 0, held.fence)], extended) == []
    assert await store.next_wakeup() == extended
    now = T0 + timedelta(minutes=5)
    assert await store.claim_due(now, "worker-b", now + timedelta(minutes=1), 10) == []
    [pending] = await pending_actions(store, 1)
    assert pending.acquired_until == extended and pending.fence == held.fence


async def test_concurrent_claimers_never_share_an_action(backend: Backend) -> None:
    # Two stores on one database: two connections (two processes' worth) for SQLite.
    first, second = await backend.open(), await backend.open()
    stored = await first.add_actions([action(T0 + timedelta(milliseconds=i)) for i in range(500)])
    now = T0 + timedelta(seconds=1)

    async def claim_all(store: Store, owner: str) -> list[int]:
        got: list[int] = []
        while batch := await store.claim_due(now, owner, now + timedelta(minutes=5), 7):
            got.extend(a.id or 0 for a in batch)
            await asyncio.sleep(0)
        return got

    got_a, got_b = await asyncio.gather(claim_all(first, "a"), claim_all(second, "b"))
    assert not set(got_a) & set(got_b)
    assert sorted(got_a + got_b) == sorted(a.id or 0 for a in stored)
    assert len(got_a) + len(got_b) == 500


# chat settings, guides, party log


async def test_chat_settings_defaults_and_round_trip(store: Store) -> None:
    assert await store.get_chat_settings(DISCORD) == ChatSettings(chat=DISCORD)
    custom = ChatSettings(
        chat=DISCORD, timezone="America/New_York",
        reminders=(timedelta(hours=1), timedelta(minutes=15), timedelta(seconds=1.5)),
        creators=Creators.MODERATORS, retention_days=30, moderator_role="555",
        ping_reminders=True, threads=True,
    )
    await store.save_chat_settings(custom)
    assert await store.get_chat_settings(DISCORD) == custom
    assert await store.get_chat_settings(TELEGRAM) == ChatSettings(chat=TELEGRAM)

    none = replace(custom, reminders=(), timezone=None, moderator_role=None)
    await store.save_chat_settings(none)
    assert await store.get_chat_settings(DISCORD) == none


async def test_guides_belong_to_their_scope(store: Store) -> None:
    await store.save_guide("discord:guild:1", "zeta", "title = 'Z'")
    await store.save_guide("discord:guild:1", "alpha", "title = 'A'")
    await store.save_guide("telegram:-100", "alpha", "title = 'Other A'")
    assert await store.list_guides("discord:guild:1") == ["alpha", "zeta"]
    assert await store.list_guides("telegram:-100") == ["alpha"]
    assert await store.list_guides("nobody") == []
    assert await store.get_guide_source("telegram:-100", "alpha") == "title = 'Other A'"
    assert await store.get_guide_source("telegram:-100", "zeta") is None
    await store.save_guide("discord:guild:1", "alpha", "title = 'A2'")
    assert await store.get_guide_source("discord:guild:1", "alpha") == "title = 'A2'"


async def test_party_log(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    second = await store.create_party(party("BBBBBB"))
    entries = [
        LogEntry(first.id, T0 + timedelta(minutes=5), "action_skipped",
                 {"kind": "prompt", "late_seconds": 400.5}),
        LogEntry(second.id, T0, "posted_late", {"chat": "discord:1"}),
        LogEntry(first.id, datetime(2025, 3, 7, 21, 0, tzinfo=CEST), "posted_late",
                 {"nested": {"a": [1, None]}}),
    ]
    for entry in entries:
        await store.add_log(entry)
    log = await store.party_log(first.id)
    assert log == [entries[0], entries[2]]
    assert_utc(*(e.at for e in log))
    assert await store.party_log(second.id + 1000) == []
    with pytest.raises(StoreConflict):
        await store.add_log(LogEntry(second.id + 1000, T0, "x", {}))


async def test_add_record_after_close_is_refused(backend: Backend) -> None:
    store = await backend.open()
    created = await store.create_party(party())
    await store.close()
    with pytest.raises(RuntimeError):
        await store.add_record(record(created.id))


# performance the scheduler depends on (durable backends)


async def test_many_actions_next_wakeup_and_claim_order(durable_store: Store) -> None:
    """Correctness at volume; the speed of the same calls is measured in bench/scheduler."""
    actions = [action(T0 + timedelta(seconds=i), party_id=i % 500, chapter=i % 7)
               for i in range(100_000)]
    stored = await durable_store.add_actions(actions)
    assert len({a.id for a in stored}) == 100_000
    first_half = T0 + timedelta(seconds=49_999)
    claimed = await durable_store.claim_due(first_half, "a", first_half, 50_000)
    assert [a.id for a in claimed] == [a.id for a in stored[:50_000]]
    outcomes = [Outcome(a.id or 0, a.fence, ActionStatus.DONE) for a in claimed]
    assert len(await durable_store.finish_actions("a", outcomes)) == 50_000
    assert await durable_store.next_wakeup() == T0 + timedelta(seconds=50_000)
    now = T0 + timedelta(seconds=60_000)
    claimed = await durable_store.claim_due(now, "a", now + timedelta(minutes=1), 1000)
    assert [a.due_at for a in claimed] == [T0 + timedelta(seconds=50_000 + i) for i in range(1000)]


# units of work


async def test_a_new_party_and_its_first_actions_commit_together(store: Store) -> None:
    async with store.new_party(party()) as tx:
        assert tx.party is not None and tx.party.id > 0
        created = tx.party
        assert [c.chat for c in created.chats] == [DISCORD]
        added = await tx.add_actions([action(T0, party_id=created.id, n=1),
                                      action(T0 - timedelta(hours=1), party_id=created.id, n=0)])
        assert all(a.id is not None for a in added)
    fetched = await store.get_party(created.id)
    assert fetched == created
    assert [a.payload["n"] for a in await pending_actions(store, created.id)] == [0, 1]


async def test_a_failed_new_party_leaves_nothing(store: Store) -> None:
    with pytest.raises(RuntimeError, match="planning failed"):
        async with store.new_party(party()) as tx:
            assert tx.party is not None
            party_id = tx.party.id
            await tx.add_actions([action(T0, party_id=party_id)])
            raise RuntimeError("planning failed")
    assert await store.get_party_by_code("K7Q2MX") is None
    assert await store.get_party(party_id) is None
    assert await pending_actions(store, party_id) == []
    # The code is free again.
    async with store.new_party(party()) as tx:
        assert tx.party is not None
    with pytest.raises(StoreConflict):
        async with store.new_party(party()):
            pass


async def test_a_unit_of_work_writes_everything_it_did_on_exit(store: Store) -> None:
    created = await store.create_party(party())
    [old] = await store.add_actions([action(T0, party_id=created.id, kind=ActionKind.REMINDER)])
    async with store.party(created.id) as tx:
        assert tx.party == created
        tx.party.transition(PartyState.COUNTING_DOWN)
        tx.party.go_at = T0 + timedelta(seconds=10)
        await tx.save()
        assert await tx.cancel_actions(frozenset({ActionKind.REMINDER})) == 1
        [go] = await tx.add_actions([action(T0 + timedelta(seconds=10), party_id=created.id,
                                            kind=ActionKind.GO)])
        assert [a.id for a in await tx.pending_actions()] == [go.id]
        await tx.upsert_chat(PartyChat(created.id, TELEGRAM, LinkStatus.PENDING,
                                       requested_by="7"))
        await tx.set_link_status(TELEGRAM, LinkStatus.APPROVED)
        assert [(c.chat, c.status) for c in tx.party.chats] == [
            (DISCORD, LinkStatus.APPROVED), (TELEGRAM, LinkStatus.APPROVED)]
        sent = SentMessage(created.id, DISCORD, "m-9", SentKind.COUNTDOWN, action_id=go.id)
        await tx.add_sent_message(sent)
        await tx.add_log(LogEntry(created.id, T0, "action_late", {"seconds": 3}))
        await tx.save()  # nothing changed since the last save: nothing to write
    stored = await store.get_party(created.id)
    assert stored is not None
    assert (stored.state, stored.go_at) == (PartyState.COUNTING_DOWN, T0 + timedelta(seconds=10))
    assert [c.chat for c in stored.chats if c.status is LinkStatus.APPROVED] == [DISCORD,
                                                                                  TELEGRAM]
    assert [a.kind for a in await pending_actions(store, created.id)] == [ActionKind.GO]
    assert old.id not in {a.id for a in await pending_actions(store, created.id)}
    assert await store.find_sent_message(DISCORD, "m-9") == sent
    assert [e.key for e in await store.party_log(created.id)] == ["action_late"]


async def test_a_failed_unit_of_work_writes_nothing(store: Store) -> None:
    created = await store.create_party(party())
    await store.add_actions([action(T0, party_id=created.id, kind=ActionKind.REMINDER)])
    with pytest.raises(RuntimeError, match="boom"):
        async with store.party(created.id) as tx:
            assert tx.party is not None
            tx.party.title = "Changed"
            tx.party.state = PartyState.CANCELLED
            await tx.save()
            await tx.cancel_actions(frozenset({ActionKind.REMINDER}))
            await tx.add_actions([action(T0, party_id=created.id, kind=ActionKind.GO)])
            await tx.upsert_chat(PartyChat(created.id, TELEGRAM, LinkStatus.PENDING))
            await tx.set_link_status(DISCORD, LinkStatus.DECLINED)
            await tx.add_sent_message(SentMessage(created.id, DISCORD, "m-1", SentKind.GO))
            await tx.add_log(LogEntry(created.id, T0, "action_skipped", {}))
            raise RuntimeError("boom")
    assert await store.get_party(created.id) == created
    assert [a.kind for a in await pending_actions(store, created.id)] == [ActionKind.REMINDER]
    assert await store.find_sent_message(DISCORD, "m-1") is None
    assert await store.party_log(created.id) == []


async def test_a_unit_of_work_on_a_missing_party(store: Store) -> None:
    async with store.party(404) as tx:
        assert tx.party is None
        assert await tx.pending_actions() == []
        with pytest.raises(LookupError):
            await tx.save()
    created = await store.create_party(party())
    async with store.party(created.id) as tx:
        with pytest.raises(ValueError, match="not this unit of work's party"):
            await tx.add_actions([action(T0, party_id=created.id + 1)])


async def test_units_of_work_on_one_party_take_turns(backend: Backend) -> None:
    # Two stores on one database (two connections for SQLite), many units of work at once,
    # each reading a counter and writing it back: none may lose another's update.
    first, second = await backend.open(), await backend.open()
    created = await first.create_party(party())

    async def bump(store: Store) -> None:
        async with store.party(created.id) as tx:
            assert tx.party is not None
            seen = tx.party.paused_seconds
            await tx.pending_actions()  # the others run meanwhile
            tx.party.paused_seconds = seen + 1
            await tx.save()

    await asyncio.gather(*(bump(store) for _ in range(15) for store in (first, second)))
    stored = await second.get_party(created.id)
    assert stored is not None and stored.paused_seconds == 30


def _party_worker(url: str, party_id: int, role: str, rounds: int, start: Any) -> None:
    """One process applying pauses, or firing GOs, to one party, each in a unit of work."""
    async def run() -> None:
        store = await open_store(url)
        try:
            start.wait()
            for n in range(rounds):
                async with store.party(party_id) as tx:
                    assert tx.party is not None
                    # Both read-modify-write paused_seconds, so a lost update shows.
                    seen = tx.party.paused_seconds
                    await tx.pending_actions()
                    if role == "pause":
                        tx.party.state = PartyState.PAUSED
                        tx.party.paused_at = T0 + timedelta(seconds=n)
                    else:
                        tx.party.state = PartyState.PLAYING
                        tx.party.go_at = T0 + timedelta(seconds=n)
                    tx.party.paused_seconds = seen + 1
                    await tx.save()
        finally:
            await store.close()
    asyncio.run(run())


async def test_a_pause_and_a_go_in_two_processes_lose_neither_update(
        durable_backend: Backend) -> None:
    assert durable_backend.url is not None
    store = await durable_backend.open()
    created = await store.create_party(party(state=PartyState.PLAYING))
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(2)  # both open their store first, then go at once
    rounds = 100
    workers = [context.Process(target=_party_worker,
                               args=(durable_backend.url, created.id, role, rounds, start))
               for role in ("pause", "go")]
    for worker in workers:
        worker.start()
    for worker in workers:
        await asyncio.to_thread(worker.join, 60)
        assert worker.exitcode == 0
    stored = await store.get_party(created.id)
    assert stored is not None
    assert stored.paused_seconds == 2 * rounds
    assert stored.paused_at == T0 + timedelta(seconds=rounds - 1)
    assert stored.go_at == T0 + timedelta(seconds=rounds - 1)
    assert stored.state in (PartyState.PAUSED, PartyState.PLAYING)


# SQLite specifics


async def test_sqlite_reopening_keeps_everything(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path)
    created = await store.create_party(party())
    await store.upsert_party_chat(PartyChat(created.id, TELEGRAM, LinkStatus.PENDING, False, "9"))
    rec = await store.add_record(record(created.id))
    [act] = await store.add_actions([action(T0, party_id=created.id, n=1)])
    await store.claim_due(T0, "proc", T0 + timedelta(minutes=1), 1)
    settings = ChatSettings(chat=DISCORD, timezone="Europe/Paris", retention_days=7)
    await store.save_chat_settings(settings)
    await store.save_guide("s", "g", "title = 'G'")
    entry = LogEntry(created.id, T0, "k", {"v": 1})
    await store.add_log(entry)
    sent = SentMessage(created.id, DISCORD, "m1", SentKind.GO, action_id=act.id)
    await store.add_sent_message(sent)
    await store.add_forgotten(DISCORD, "u7", T0)
    await store.close()

    again = await SqliteStore.open(sqlite_path)
    try:
        assert await again.get_party(created.id) == await again.get_party_by_code("K7Q2MX")
        loaded = await again.get_party(created.id)
        assert loaded is not None and len(loaded.chats) == 2
        assert await records_of(again, created.id) == [rec]
        [pending] = await pending_actions(again, created.id)
        assert pending.acquired_by == "proc"
        assert await again.get_chat_settings(DISCORD) == settings
        assert await again.get_guide_source("s", "g") == "title = 'G'"
        assert await again.party_log(created.id) == [entry]
        assert await again.sent_for_action(act.id or 0) == [sent]
        assert await again.forgotten([DISCORD]) == {("discord", "1000", "u7")}
    finally:
        await again.close()


async def test_sqlite_a_unit_of_work_writes_only_the_fields_it_changed(
        sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path)
    try:
        created = await store.create_party(party(state=PartyState.PLAYING))
        with sqlite3.connect(sqlite_path) as raw:
            columns = [row[1] for row in raw.execute("PRAGMA table_info(parties)")
                       if row[1] != "id"]
            # An UPDATE OF trigger fires for every column the UPDATE names, changed or not.
            raw.execute("CREATE TABLE touched (col TEXT)")
            for col in columns:
                raw.execute(f"CREATE TRIGGER touched_{col} AFTER UPDATE OF {col} ON parties"
                            f" BEGIN INSERT INTO touched VALUES ('{col}'); END")
        async with store.party(created.id) as tx:
            assert tx.party is not None
            tx.party.transition(PartyState.PAUSED)
            tx.party.paused_at = T0 + timedelta(minutes=3)
            await tx.save()
        with sqlite3.connect(sqlite_path) as raw:
            touched = sorted(row[0] for row in raw.execute("SELECT col FROM touched"))
        assert touched == ["paused_at", "state"]
    finally:
        await store.close()


async def test_sqlite_uses_wal(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path)
    try:
        with sqlite3.connect(sqlite_path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await store.close()


async def test_sqlite_migrations_are_recorded_and_idempotent(sqlite_path: Path) -> None:
    versions = ["V1__initial", "V2__record_events_and_message_refs", "V3__action_fences",
                "V4__workers", "V5__party_life", "V6__seek_and_follow", "V7__party_threads"]
    assert await migrate(sqlite_path) == versions
    assert await migrate(sqlite_path) == []
    store = await SqliteStore.open(sqlite_path)
    try:
        assert await store.migrate() == []
    finally:
        await store.close()
    with sqlite3.connect(sqlite_path) as raw:
        rows = raw.execute("SELECT version, name FROM schema_version").fetchall()
    assert rows == [(1, "V1__initial"), (2, "V2__record_events_and_message_refs"),
                    (3, "V3__action_fences"), (4, "V4__workers"), (5, "V5__party_life"),
                    (6, "V6__seek_and_follow"), (7, "V7__party_threads")]


async def test_sqlite_v1_file_with_records_upgrades_to_events(sqlite_path: Path) -> None:
    from storage.migrate import migration_files

    first = migration_files("sqlite")[0]
    name, sql = first.name, first.sql
    with sqlite3.connect(sqlite_path) as raw:  # a file written by the first release
        raw.executescript(sql)
        raw.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY,"
                    " name TEXT NOT NULL, applied_at INTEGER NOT NULL)")
        raw.execute("INSERT INTO schema_version VALUES (1, ?, 0)", (name,))
        raw.execute("INSERT INTO parties (code, title, host_platform, host_user_id, host_name,"
                    " home_platform, home_chat_id, starts_at, timezone, state, created_at)"
                    " VALUES ('AAAAAA', 'Old', 'telegram', '1', 'H', 'telegram', '-1', 0, 'UTC',"
                    " 'finished', 0)")
        raw.execute("INSERT INTO records (party_id, kind, platform, chat_id, user_id,"
                    " display_name, at, value) VALUES (1, 'rsvp', 'telegram', '-1', '1', 'H', 0,"
                    " 'going')")
    store = await SqliteStore.open(sqlite_path)
    try:
        [old] = await records_of(store, 1)
        assert old.event is None and old.value == "going"
        again = [await store.add_record(replace(old, id=None, event="e")) for _ in range(2)]
        assert again[0].id == again[1].id != old.id
    finally:
        await store.close()


async def test_sqlite_refuses_a_schema_from_the_future(sqlite_path: Path) -> None:
    await migrate(sqlite_path)
    with sqlite3.connect(sqlite_path) as raw:
        raw.execute("INSERT INTO schema_version VALUES (999, 'V999__future', 0)")
    with pytest.raises(StoreUnavailable, match="V999"):
        await SqliteStore.open(sqlite_path)


async def test_sqlite_group_commit_acknowledges_only_stored_records(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path)
    created = await store.create_party(party())
    commits = store.commit_count
    acked = await asyncio.gather(*(
        store.add_record(record(created.id, user=str(i))) for i in range(1000)
    ))
    transactions = store.commit_count - commits
    await store.close()

    assert len({r.id for r in acked}) == 1000
    assert 1 <= transactions < 1000
    again = await SqliteStore.open(sqlite_path)
    try:
        stored = await records_of(again, created.id)
        assert {r.id for r in stored} == {r.id for r in acked}
        assert {r.user_id for r in stored} == {str(i) for i in range(1000)}
    finally:
        await again.close()


async def test_sqlite_a_lone_record_waits_only_the_bounded_delay(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path, batch_delay=0.002)
    try:
        created = await store.create_party(party())
        started = time.perf_counter()
        stored = await store.add_record(record(created.id))
        assert time.perf_counter() - started < 0.5
        assert stored.id is not None
    finally:
        await store.close()


async def test_sqlite_failed_batch_fails_every_record_in_it(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path)
    try:
        created = await store.create_party(party())
        with sqlite3.connect(sqlite_path) as raw:
            raw.execute("CREATE TRIGGER refuse BEFORE INSERT ON records WHEN NEW.value = 'boom'"
                        " BEGIN SELECT RAISE(ABORT, 'refused'); END")
        results = await asyncio.gather(
            *(store.add_record(record(created.id, value="ok")) for _ in range(20)),
            store.add_record(record(created.id, value="boom")),
            return_exceptions=True,
        )
        assert all(isinstance(r, StoreConflict) for r in results)
        assert await count_records(store, created.id) == 0
        with sqlite3.connect(sqlite_path) as raw:
            raw.execute("DROP TRIGGER refuse")
        assert (await store.add_record(record(created.id))).id is not None
    finally:
        await store.close()


async def test_sqlite_close_flushes_queued_records(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path, batch_delay=0.05)
    created = await store.create_party(party())
    tasks = [asyncio.create_task(store.add_record(record(created.id))) for _ in range(300)]
    await asyncio.sleep(0)
    await store.close()
    ids = {(await task).id for task in tasks}
    assert len(ids) == 300
    again = await SqliteStore.open(sqlite_path)
    try:
        assert await count_records(again, created.id) == 300
    finally:
        await again.close()


# open_store


async def test_open_store_memory_urls() -> None:
    store = await open_store("memory://")
    assert isinstance(store, MemoryStore)
    await store.close()
    for url in ("sqlite://:memory:", "sqlite:///:memory:"):
        store = await open_store(url)
        # A real SQLite database in memory: migrated, every connection of the store on it.
        assert isinstance(store, SqliteStore)
        created = await store.create_party(party())
        await store.add_record(record(created.id))
        assert [r.value async for r in store.iter_records(created.id)] == ["👍"]
        async with store.party(created.id) as tx:
            assert tx.party is not None and tx.party.code == created.code
        await store.close()
    other = await open_store("sqlite://:memory:")
    assert await other.get_party(1) is None  # each store has a database of its own
    await other.close()


async def test_open_store_sqlite_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data").mkdir()
    relative = await open_store("sqlite:///data/relative.db")
    absolute = await open_store(f"sqlite:///{tmp_path}/absolute.db")
    try:
        assert isinstance(relative, SqliteStore) and isinstance(absolute, SqliteStore)
        assert (tmp_path / "data" / "relative.db").exists()
        assert (tmp_path / "absolute.db").exists()
        assert str(tmp_path).startswith("/")  # so the URL above had four slashes
    finally:
        await relative.close()
        await absolute.close()


async def test_open_store_refuses_other_databases() -> None:
    with pytest.raises(UnsupportedDatabase) as caught:
        await open_store("mysql://bot:secret@db/watchparty")
    message = str(caught.value)
    assert "'mysql'" in message and "sqlite:///" in message and "memory://" in message
    assert "secret" not in message
    with pytest.raises(UnsupportedDatabase):
        await open_store("watchparty.db")
    with pytest.raises(UnsupportedDatabase, match="three slashes"):
        await open_store("sqlite://watchparty.db")
    assert issubclass(UnsupportedDatabase, ValueError)


async def test_open_store_unavailable_file(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="missing") as caught:
        await open_store(f"sqlite:///{tmp_path}/missing/x.db")
    assert "\n" not in str(caught.value)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(4096))
    with pytest.raises(StoreUnavailable):
        await open_store(f"sqlite:///{garbage}")


# ---- the party's life (issue 12): edits, series, history ------------------------------------

async def test_sequence_and_series_round_trip(store: Store) -> None:
    created = await store.create_party(party())
    assert created.sequence == 0 and created.series is None
    series = Series(series_id=created.id, episode=3, repeat_days=7,
                    anchor="2025-03-07T20:00:00", episodes=10)
    await store.update_party(replace(created, sequence=2, series=series))
    loaded = await store.get_party(created.id)
    assert loaded is not None and loaded.sequence == 2 and loaded.series == series
    # In a unit of work too, and back to no series.
    async with store.party(created.id) as tx:
        assert tx.party is not None and tx.party.series == series
        tx.party.sequence = 3
        tx.party.series = replace(series, episodes=None)
        await tx.save()
    loaded = await store.get_party(created.id)
    assert loaded is not None and loaded.sequence == 3
    assert loaded.series == replace(series, episodes=None)


async def test_series_episode_finds_an_episode_by_number(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    series = Series(first.id, 1, 7, "2025-03-07T20:00:00", 3)
    await store.update_party(replace(first, series=series))
    second = await store.create_party(replace(party("BBBBBB"), series=replace(series, episode=2)))
    await store.create_party(replace(party("CCCCCC"), series=Series(999, 2, 1, "x")))
    found = await store.series_episode(first.id, 2)
    assert found is not None and found.id == second.id and found.code == "BBBBBB"
    one = await store.series_episode(first.id, 1)
    assert one is not None and one.id == first.id
    assert await store.series_episode(first.id, 3) is None


async def test_party_history_pages_ended_parties_newest_first(store: Store) -> None:
    ended = []
    for number in range(12):
        made = await store.create_party(party(f"HIST{'ABCDEFGHJKLM'[number]}2",
                                              starts_at=T0 + timedelta(days=number)))
        state = PartyState.CANCELLED if number % 3 == 0 else PartyState.FINISHED
        await store.update_party(replace(made, state=state,
                                         finished_at=T0 + timedelta(days=number, hours=2)))
        ended.append(made.id)
    await store.create_party(party("LIVEA2"))  # scheduled: not history
    elsewhere = await store.create_party(party("ELSEA2", home=OTHER))
    await store.update_party(replace(elsewhere, state=PartyState.FINISHED, finished_at=T0))
    # A chat linked (approved) to an ended party sees it; a pending link does not.
    await store.upsert_party_chat(PartyChat(ended[0], TELEGRAM, LinkStatus.APPROVED))
    await store.upsert_party_chat(PartyChat(ended[1], TELEGRAM, LinkStatus.PENDING))

    page, total = await store.party_history(DISCORD, 0, 10)
    assert total == 12
    assert [p.id for p in page] == ended[::-1][:10]
    page, total = await store.party_history(DISCORD, 10, 10)
    assert total == 12 and [p.id for p in page] == ended[1::-1]
    assert await store.party_history(DISCORD, 20, 10) == ([], 12)
    page, total = await store.party_history(TELEGRAM, 0, 10)
    assert total == 1 and [p.id for p in page] == [ended[0]]
    assert page[0].chats and page[0].state is PartyState.CANCELLED
