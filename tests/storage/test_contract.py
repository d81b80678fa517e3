"""The store contract: every backend in conftest.BACKENDS must pass all of it."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from bot.actions import Action, ActionKind, ActionStatus
from bot.chats import ChatRef, ChatSettings, Creators
from bot.party import ACTIVE_STATES, LinkStatus, Party, PartyChat, PartyState
from bot.ports import LogEntry, SentKind, SentMessage, Store
from bot.records import Record, RecordKind
from storage import StoreConflict, StoreUnavailable, UnsupportedDatabase, open_store
from storage.memory import MemoryStore
from storage.sqlite import SqliteStore, migrate

if TYPE_CHECKING:
    from tests.storage.conftest import Backend

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
        finished_at=T0 + timedelta(hours=2), chats=[],
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


async def test_parties_finished_before(store: Store) -> None:
    old = await store.create_party(party("AAAAAA"))
    await store.update_party(replace(old, state=PartyState.FINISHED,
                                     finished_at=T0 + timedelta(hours=2)))
    recent = await store.create_party(party("BBBBBB"))
    await store.update_party(replace(recent, state=PartyState.FINISHED,
                                     finished_at=T0 + timedelta(days=5)))
    cancelled = await store.create_party(party("CCCCCC", starts_at=T0 + timedelta(hours=1)))
    await store.update_party(replace(cancelled, state=PartyState.CANCELLED,
                                     finished_at=T0 + timedelta(minutes=1)))
    never_started = await store.create_party(party("DDDDDD", starts_at=T0 - timedelta(days=9)))
    await store.update_party(replace(never_started, state=PartyState.CANCELLED))
    await store.create_party(party("EEEEEE", starts_at=T0 - timedelta(days=30)))  # scheduled

    found = await store.parties_finished_before(T0 + timedelta(days=1))
    assert [p.code for p in found] == ["DDDDDD", "CCCCCC", "AAAAAA"]
    assert found[2].chats[0].chat == DISCORD


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
    assert await store.count_records(created.id) == 3
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
    assert await store.count_records(created.id) == 5


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
    assert await store.count_records(created.id) == 5000

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
    assert await store.count_records(first.id) == 0
    assert await store.count_records(second.id) == 1


async def test_delete_party_records_of_one_chat(store: Store) -> None:
    first = await store.create_party(party("AAAAAA"))
    second = await store.create_party(party("BBBBBB"))
    for chat in (DISCORD, DISCORD, OTHER, TELEGRAM):
        await store.add_record(record(first.id, chat=chat))
    await store.add_record(record(second.id, chat=OTHER))
    assert await store.delete_party_records(first.id, OTHER) == 1
    assert sorted((r.platform, r.chat_id) for r in await records_of(store, first.id)) == [
        ("discord", "1000"), ("discord", "1000"), ("telegram", "-100200")]
    assert await store.count_records(second.id) == 1
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
    assert await store.count_records(created.id) == 5

    # Once deleted (forget-me, retention), the event no longer holds a place.
    await store.delete_party_records(created.id)
    fresh = await store.add_record(replace(record(created.id), event="tg:1:7"))
    assert fresh.id not in {first.id, *(r.id for r in results)}
    assert await store.count_records(created.id) == 1


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
    assert await store.pending_actions(1) == [stored[0]]
    assert await store.pending_actions(2) == [stored[2]]
    with pytest.raises(TypeError):
        await store.add_actions([action(T0, not_json=object())])
    with pytest.raises(ValueError):
        await store.add_actions([replace(action(T0), status=ActionStatus.DONE)])
    with pytest.raises(ValueError):
        await store.add_actions([replace(action(T0), acquired_by="p", acquired_until=T0)])
    assert len(await store.pending_actions(1)) == 1


async def test_pending_actions_by_due_time_survive_json(store: Store) -> None:
    await store.add_actions([
        action(T0 + timedelta(minutes=3), n=3),
        action(datetime(2025, 3, 7, 21, 1, tzinfo=CEST), n=1, pair=(1, 2)),
        action(T0 + timedelta(minutes=2), n=2),
    ])
    pending = await store.pending_actions(1)
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
    pending = await store.pending_actions(1)
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
    await store.claim_due(now, "proc-a", now + timedelta(seconds=30), 10)
    # Only the leased one is due: the next chance is its lease running out.
    assert await store.next_wakeup() == now + timedelta(seconds=30)
    await store.claim_due(now, "proc-a", now + timedelta(minutes=20), 10)
    assert await store.next_wakeup() == now + timedelta(seconds=30)

    await store.finish_actions([(stored[1].id or 0, ActionStatus.DONE)])
    assert await store.next_wakeup() == T0 + timedelta(minutes=10)
    await store.finish_actions([(stored[0].id or 0, ActionStatus.SKIPPED)])
    assert await store.next_wakeup() is None


async def test_finished_actions_are_no_longer_pending(store: Store) -> None:
    stored = await store.add_actions([action(T0, n=i) for i in range(4)])
    claimed = await store.claim_due(T0, "proc-a", T0 + timedelta(minutes=1), 10)
    assert len(claimed) == 4
    await store.finish_actions([
        (stored[0].id or 0, ActionStatus.DONE),
        (stored[1].id or 0, ActionStatus.SKIPPED),
        (stored[2].id or 0, ActionStatus.CANCELLED),
    ])
    await store.finish_actions([])
    assert [a.id for a in await store.pending_actions(1)] == [stored[3].id]
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
    await store.finish_actions([(stored[4].id or 0, ActionStatus.DONE)])

    cancelled = await store.cancel_actions(1, frozenset({ActionKind.PROMPT, ActionKind.REMINDER}))
    assert cancelled == 2
    assert [a.kind for a in await store.pending_actions(1)] == [ActionKind.SUMMARY]
    assert len(await store.pending_actions(2)) == 1
    assert await store.cancel_actions(1, frozenset()) == 0
    assert [a.id for a in await store.claim_due(T0, "p", T0, 10)] == [stored[2].id,
                                                                       stored[3].id]


async def test_release_leases(store: Store) -> None:
    stored = await store.add_actions([action(T0, n=i) for i in range(3)])
    lease = T0 + timedelta(hours=1)
    await store.claim_due(T0, "dead-process", lease, 10)
    await store.finish_actions([(stored[0].id or 0, ActionStatus.DONE)])

    assert await store.release_leases() == 2
    assert await store.release_leases() == 0
    assert await store.next_wakeup() == T0
    pending = await store.pending_actions(1)
    assert all(a.acquired_by is None and a.acquired_until is None for a in pending)
    again = await store.claim_due(T0, "new-process", lease, 10)
    assert [a.id for a in again] == [stored[1].id, stored[2].id]


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
        ping_reminders=True,
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
    await durable_store.finish_actions([(a.id or 0, ActionStatus.DONE) for a in stored[:50_000]])
    assert await durable_store.next_wakeup() == T0 + timedelta(seconds=50_000)
    now = T0 + timedelta(seconds=60_000)
    claimed = await durable_store.claim_due(now, "a", now + timedelta(minutes=1), 1000)
    assert [a.due_at for a in claimed] == [T0 + timedelta(seconds=50_000 + i) for i in range(1000)]


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
        [pending] = await again.pending_actions(created.id)
        assert pending.acquired_by == "proc"
        assert await again.get_chat_settings(DISCORD) == settings
        assert await again.get_guide_source("s", "g") == "title = 'G'"
        assert await again.party_log(created.id) == [entry]
        assert await again.sent_for_action(act.id or 0) == [sent]
        assert await again.forgotten([DISCORD]) == {("discord", "1000", "u7")}
    finally:
        await again.close()


async def test_sqlite_uses_wal(sqlite_path: Path) -> None:
    store = await SqliteStore.open(sqlite_path)
    try:
        with sqlite3.connect(sqlite_path) as raw:
            assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        await store.close()


async def test_sqlite_migrations_are_recorded_and_idempotent(sqlite_path: Path) -> None:
    versions = ["V1__initial", "V2__record_events_and_message_refs"]
    assert await migrate(sqlite_path) == versions
    assert await migrate(sqlite_path) == []
    store = await SqliteStore.open(sqlite_path)
    try:
        assert await store.migrate() == []
    finally:
        await store.close()
    with sqlite3.connect(sqlite_path) as raw:
        rows = raw.execute("SELECT version, name FROM schema_version").fetchall()
    assert rows == [(1, "V1__initial"), (2, "V2__record_events_and_message_refs")]


async def test_sqlite_v1_file_with_records_upgrades_to_events(sqlite_path: Path) -> None:
    from storage.sqlite import migration_files

    _, name, sql = migration_files()[0]
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
        assert await store.count_records(created.id) == 0
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
        assert await again.count_records(created.id) == 300
    finally:
        await again.close()


# open_store


async def test_open_store_memory_urls() -> None:
    for url in ("memory://", "sqlite://:memory:", "sqlite:///:memory:"):
        store = await open_store(url)
        assert isinstance(store, MemoryStore)
        await store.close()


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
    with pytest.raises(UnsupportedDatabase, match="PostgreSQL support is not installed yet"):
        await open_store("postgresql://bot:secret@db/watchparty")
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
