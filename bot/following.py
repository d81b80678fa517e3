"""Following real players: per followed party, one task turns its feed's reports into the clock.

The feed decides nothing (`bot.feeds.decide` does): a pause, a play or a jump in the player
becomes the same pause, resume or seek a command makes, in one unit of work on the party, and
each linked chat is told once. Thirty seconds without news, the party goes on on its own
clock (told once); the next report is followed again (told once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from bot import render, render_feeds
from bot.actions import Action, ActionKind, ActionStatus
from bot.errors import UserError
from bot.feeds import (
    LOST_AFTER_SECONDS,
    TOLERANCE_SECONDS,
    Feed,
    FeedAction,
    FeedDecision,
    FeedOpener,
    FeedRefused,
    FeedReport,
    FeedSource,
    FeedStatus,
    decide,
    parse_source,
)
from bot.handlers.deps import Deps
from bot.handlers.seeking import move_clock, posted_chapters
from bot.outbox import Priority
from bot.party import ACTIVE_STATES, Party, PartyState
from bot.planning import FILM_KINDS, PRE_START_KINDS, film_actions
from bot.ports import PartyWork, SentKind
from bot.richtext import Message
from bot.timeline import position, set_position

log = logging.getLogger(__name__)

# Below the tolerance a report changes nothing anyone sees, but a clock this far off is set to
# the player's silently, so prompts land on the player's second rather than up to 1.5 s off.
NUDGE_SECONDS = 0.5

Build = Callable[[Party], Message]
Notice = Callable[[str], Message]


@dataclass(eq=False)
class Followed:
    """One followed party: its source, its feed, and what the feed said last."""

    party_id: int
    source: FeedSource
    feed: Feed
    since: datetime
    last: FeedReport | None = None
    lost: bool = False
    refused: bool = False
    news: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None


class Following:
    """Every party this process follows; implements `bot.feeds.FollowControl`."""

    def __init__(self, d: Deps, opener: FeedOpener, *, lost_after: float = LOST_AFTER_SECONDS,
                 tolerance: float = TOLERANCE_SECONDS, nudge: float = NUDGE_SECONDS) -> None:
        self._d = d
        self._opener = opener
        self._lost_after = lost_after
        self._tolerance = tolerance
        self._nudge = nudge
        self._followed: dict[int, Followed] = {}
        self._running = False

    def open(self, source: FeedSource) -> Feed:
        """Return the feed of a validated source; it connects to nothing until followed."""
        return self._opener(source)

    async def start(self) -> None:
        """Begin taking FOLLOW actions (the scheduler hands them over as it claims them)."""
        self._running = True

    async def stop(self) -> None:
        """Stop following everything; each FOLLOW action stays pending for the next holder."""
        self._running = False
        for party_id in list(self._followed):
            await self.unfollow(party_id)

    async def hold(self, action: Action) -> ActionStatus:
        """Follow the FOLLOW action's player until the party ends or stops following it."""
        if not self._running:
            return ActionStatus.PENDING
        assert action.party_id is not None
        wanted = str(action.payload.get("source", ""))
        party = await self._d.store.get_party(action.party_id)
        if party is None or party.state not in ACTIVE_STATES or party.follow_source != wanted:
            return ActionStatus.DONE  # unfollowed, or followed elsewhere, meanwhile
        try:
            source = parse_source(wanted, self._d.config.follow_allowed_hosts)
            feed = self.open(source)
        except UserError as err:  # the operator no longer allows it, say: said in the log
            log.warning("party %s follows %s, which cannot be followed now: %s", party.id,
                        wanted, err.key)
            return ActionStatus.DONE
        followed = self._begin(party.id, source, feed)
        assert followed.task is not None
        await asyncio.wait({followed.task})
        return ActionStatus.DONE if self._running else ActionStatus.PENDING

    def _begin(self, party_id: int, source: FeedSource, feed: Feed) -> Followed:
        old = self._followed.pop(party_id, None)
        if old is not None and old.task is not None:
            old.task.cancel()  # superseded: the party follows something new
        followed = Followed(party_id, source, feed, self._d.clock.now())
        followed.task = asyncio.create_task(self._run(followed), name=f"follow-{party_id}")
        self._followed[party_id] = followed
        return followed

    async def unfollow(self, party_id: int) -> None:
        """Stop following a party's player in this worker; its connection closes."""
        followed = self._followed.pop(party_id, None)
        if followed is not None and followed.task is not None:
            followed.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await followed.task

    def status(self, party_id: int) -> FeedStatus | None:
        """Return what this process knows of a party's player, None if it follows none."""
        followed = self._followed.get(party_id)
        if followed is None:
            return None
        return FeedStatus(followed.source, followed.last, followed.lost, followed.refused)

    # ---- one followed party ---------------------------------------------------------------

    async def _run(self, f: Followed) -> None:
        watchdog = asyncio.create_task(self._watch(f))
        try:
            await self._pump(f)
        except asyncio.CancelledError:
            raise
        except FeedRefused as exc:
            f.refused = True
            log.warning("party %s: %s", f.party_id, exc)
            reason = _reason(exc)
            await self._stop_following(f)
            await self._tell(f, lambda p: render_feeds.feed_refused(p, f.feed.source, reason))
        except Exception:
            log.exception("following %s for party %s failed", f.source, f.party_id)
        finally:
            watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watchdog
            if self._followed.get(f.party_id) is f:
                del self._followed[f.party_id]

    async def _stop_following(self, f: Followed) -> None:
        """Retrying would not help (a wrong password): the party is on its own clock again."""
        async with self._d.store.party(f.party_id) as tx:
            if tx.party is not None and tx.party.follow_source == str(f.source):
                tx.party.follow_source = None
                await tx.save()

    async def _pump(self, f: Followed) -> None:
        async for report in f.feed.reports():
            f.last = report
            f.news.set()
            if not await self._take(f, report):
                return  # the party ended or follows something else now

    async def _watch(self, f: Followed) -> None:
        """Tell the chats once when the feed has been silent too long."""
        while True:
            last = f.last.received_at if f.last is not None else f.since
            wait = self._lost_after - (self._d.clock.now() - last).total_seconds()
            if wait > 0:
                f.news.clear()
                await self._d.clock.sleep(wait)
                continue
            if not f.lost and not f.refused:
                f.lost = True
                log.info("party %s: no news from %s for %.0f s", f.party_id, f.source,
                         self._lost_after)
                await self._tell(f, self._lost_notice(f))
            f.news.clear()
            await f.news.wait()

    def _lost_notice(self, f: Followed) -> Build:
        seconds, now = int(self._lost_after), self._d.clock.now()
        return lambda p: render_feeds.feed_lost(p, position(p, now), f.feed.source, seconds)

    async def _tell(self, f: Followed, build: Build) -> None:
        party = await self._d.store.get_party(f.party_id)
        if party is None or party.state not in ACTIVE_STATES:
            return
        message = build(party)
        await self._d.broadcast(party, lambda zone: message, SentKind.NOTICE, Priority.NORMAL)

    async def _take(self, f: Followed, report: FeedReport) -> bool:
        """Act on one report; False once the party no longer follows this source."""
        party = await self._d.store.get_party(f.party_id)
        if (party is None or party.state not in ACTIVE_STATES
                or party.follow_source != str(f.source)):
            return False
        if f.lost:
            f.lost = False
            at = report.position_at(self._d.clock.now())
            await self._tell(f, lambda p: render_feeds.feed_back(p, at, f.feed.source))
        decision = self._decide(party, report)
        if decision.action is FeedAction.NOTHING and not self._drifted(party, report):
            return True
        async with self._d.store.party(f.party_id) as tx:
            party = tx.party
            if party is None or party.follow_source != str(f.source):
                return False
            # decided again under the party's lock: a command may have changed it meanwhile
            decision = self._decide(party, report)
            notice = await self._apply(tx, party, decision, report)
        await self._d.wake()  # for the actions the unit of work planned
        if notice is not None:
            await self._d.broadcast(party, notice, SentKind.NOTICE, Priority.COUNTDOWN)
        return True

    def _decide(self, party: Party, report: FeedReport) -> FeedDecision:
        now = self._d.clock.now()
        return decide(party, report, now, followed_since=now, tolerance=self._tolerance)

    def _drifted(self, party: Party, report: FeedReport) -> bool:
        if party.state is not PartyState.PLAYING or report.paused:
            return False
        now = self._d.clock.now()
        expected = position(party, now)
        return expected is not None and abs(report.position_at(now) - expected) > self._nudge

    async def _apply(self, tx: PartyWork, party: Party, decision: FeedDecision,
                     report: FeedReport) -> Notice | None:
        """Change the party as the decision says; return the notice for the chats, if any."""
        d, now = self._d, self._d.clock.now()
        source = report.source
        at = decision.position if decision.position is not None else report.position_at(now)
        by = decision.by
        if decision.action is FeedAction.NOTHING:
            if self._drifted(party, report):
                await move_clock(d, tx, party, report.position_at(now), now)
            return None
        if decision.action is FeedAction.SEEK:
            await move_clock(d, tx, party, at, now)
            return lambda zone: render_feeds.sought(party, at, by, source)
        if decision.action is FeedAction.PAUSE:
            set_position(party, now, at)
            party.transition(PartyState.PAUSED)
            party.paused_at = now
            await tx.save()
            await tx.cancel_actions(FILM_KINDS)
            who = render_feeds.feed_by(by, source)
            return lambda zone: render.paused(party, at, who)
        if decision.action is FeedAction.RESUME:
            await self._resume(tx, party, at, now)
            return lambda zone: render_feeds.feed_resumed(party, at, by, source)
        if decision.action is FeedAction.START:
            await self._start(tx, party, at, now)
        return None

    async def _resume(self, tx: PartyWork, party: Party, at: float, now: datetime) -> None:
        """Play again at once from where the player is (it already plays: no countdown)."""
        assert party.paused_at is not None
        await tx.cancel_actions(FILM_KINDS)  # a resume countdown from a chat, too
        if party.resume_at is not None:
            self._d.reserve_go(party, None, release=party.resume_at)
        party.paused_seconds += max(0.0, (now - party.paused_at).total_seconds())
        party.paused_at = None
        party.resume_at = None
        party.transition(PartyState.PLAYING)
        set_position(party, now, at)
        await tx.save()
        await tx.add_actions(await self._film_actions(party, now))

    async def _start(self, tx: PartyWork, party: Party, at: float, now: datetime) -> None:
        """The player started near 0:00: GO now, with the film where the player is."""
        await tx.cancel_actions(PRE_START_KINDS)
        self._d.reserve_go(party, None, release=party.starts_at)
        if party.state is PartyState.SCHEDULED:
            party.transition(PartyState.COUNTING_DOWN)
            await tx.save()
        # GO fired at the instant the player was at 0:00, so the film clock matches it
        await tx.add_actions([Action(party.id, ActionKind.GO, now - timedelta(seconds=at))])

    async def _film_actions(self, party: Party, now: datetime) -> list[Action]:
        posted = await posted_chapters(self._d, party)
        return [a for a in film_actions(party, await self._d.guide_of(party), now)
                if a.kind is not ActionKind.PROMPT or int(a.payload["chapter"]) not in posted]


def _reason(exc: FeedRefused) -> str:
    text = str(exc)
    return text.rpartition(": ")[2] or text

