"""The renderer: every user-visible text of the bot, as platform-neutral rich text."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot import buttons
from bot import render_life as life
from bot.chats import ChatRef, ChatSettings
from bot.error_texts import ERRORS as ERRORS
from bot.error_texts import error as error
from bot.error_texts import unexpected as unexpected
from bot.formats import clock_time as clock_time
from bot.formats import file_size as file_size
from bot.formats import local_time as local_time
from bot.formats import relative as relative
from bot.guide import Guide, GuidePoll
from bot.party import Party, PartyState
from bot.records import Rsvp
from bot.richtext import (
    Bold,
    Button,
    Code,
    Italic,
    Message,
    PartyFacts,
    Poll,
    Span,
    Text,
    Timestamp,
    TimeStyle,
)
from bot.tally import Summary, Tally
from bot.timeparse import format_position

PRIVACY_LINE = ("🔒 This party records RSVPs, ready marks, answers, poll votes and reactions on "
                "its messages (with your display name and the film time) so moderators can "
                "export the discussion. /watchparty privacy explains; /watchparty forget-me "
                "deletes yours.")

STATE_WORDS = {
    PartyState.SCHEDULED: "scheduled",
    PartyState.COUNTING_DOWN: "counting down",
    PartyState.PLAYING: "playing",
    PartyState.PAUSED: "paused",
    PartyState.FINISHED: "finished",
    PartyState.CANCELLED: "cancelled",
}


def when_spans(at: datetime, zone: str, now: datetime) -> list[Span]:
    """The start of something: full time in each viewer's zone, then how far away."""
    return [Timestamp(at, TimeStyle.FULL, local_time(at, zone)), Text(" ("),
            Timestamp(at, TimeStyle.RELATIVE, relative(at, now)), Text(")")]


def _msg(*spans: Span, buttons_: tuple[tuple[Button, ...], ...] = (),
         title: str | None = None) -> Message:
    return Message(tuple(spans), buttons_, title=title)


def _guide_line(guide: Guide | None) -> list[Span]:
    if guide is None:
        return [Text("No discussion guide.")]
    return [Text("Guide: "), Bold(guide.title), Text(
        f" — {len(guide.chapters)} chapters, {format_position(guide.runtime_seconds)}")]


# ---- parties -------------------------------------------------------------------------------

def rsvp_buttons(party: Party) -> tuple[Button, ...]:
    """The Going / Maybe / Not going buttons of an announcement."""
    return (Button("Going", buttons.rsvp(party.id, Rsvp.GOING)),
            Button("Maybe", buttons.rsvp(party.id, Rsvp.MAYBE)),
            Button("Not going", buttons.rsvp(party.id, Rsvp.NOT_GOING)))


def announcement(party: Party, guide: Guide | None, tally: Tally, zone: str,
                 now: datetime) -> Message:
    """The party's announcement, kept current by editing."""
    spans: list[Span] = [Text("🎬 "), Bold(party.title), Text("\n")]
    if party.state in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN):
        spans += [Text("Starts "), *when_spans(party.starts_at, zone, now), Text("\n")]
    else:
        spans += [Text(f"Status: {STATE_WORDS[party.state]}\n")]
    spans += [*life.series_line(party, zone, now), *_guide_line(guide), Text("\n"),
              Text("Hosted by "), Bold(party.host_name),
              Text(" · join code "), Code(party.code), Text("\n"),
              Text(f"✅ Going {tally.going} · 🤔 Maybe {tally.maybe} · "
                   f"❌ Not going {tally.not_going}\n"),
              Italic(PRIVACY_LINE)]
    rows = (rsvp_buttons(party),
            (Button("Add to calendar", buttons.calendar(party.id)),)) \
        if party.state in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN) else ()
    # What an adapter may mirror elsewhere (Discord keeps a scheduled event in step).
    facts = PartyFacts(party.code, party.title, party.state.value, party.starts_at,
                       guide.runtime_seconds if guide is not None else None)
    return Message(tuple(spans), rows, title=party.title, about=facts)


def created(party: Party, guide: Guide | None, zone: str) -> Message:
    """The reply to the host after `create`."""
    return _msg(Text("Party "), Bold(party.title), Text(" created for "),
                Text(local_time(party.starts_at, zone)), Text(". Join code "), Code(party.code),
                Text(". Other chats can join with "), Code(f"/watchparty link {party.code}"),
                Text("."))


def party_list(parties: list[Party], zone: str, now: datetime) -> Message:
    """`/watchparty list`."""
    if not parties:
        return _msg(Text("No upcoming or running parties in this chat. Create one with "),
                    Code("/watchparty create TITLE | WHEN | GUIDE"), Text("."))
    spans: list[Span] = [Bold("Parties in this chat"), Text("\n")]
    for party in parties:
        spans += [Text("• "), Code(party.code), Text(" "), Bold(party.title), Text(" — ")]
        if party.state is PartyState.SCHEDULED:
            spans += when_spans(party.starts_at, zone, now)
        else:
            spans.append(Text(STATE_WORDS[party.state]))
        spans.append(Text("\n"))
        if party.series is not None:
            spans += [Text("   "), *life.series_line(party, zone, now)]
    return _msg(*spans)


def info(party: Party, guide: Guide | None, tally: Tally, at: float | None, zone: str,
         now: datetime) -> Message:
    """`/watchparty info` and `now`: where the party is, and where the film should be."""
    spans: list[Span] = [Text("🎬 "), Bold(party.title), Text(" "), Code(party.code),
                         Text(f" — {STATE_WORDS[party.state]}\n")]
    if party.state in (PartyState.SCHEDULED, PartyState.COUNTING_DOWN):
        spans += [Text("Starts "), *when_spans(party.starts_at, zone, now), Text("\n")]
    if at is not None and party.state in (PartyState.PLAYING, PartyState.PAUSED):
        verb = "Paused at" if party.state is PartyState.PAUSED else "Seek to"
        spans += [Text(f"{verb} "), Bold(format_position(at))]
        if guide is not None and guide.chapters:
            chapter = next((i for i, ch in enumerate(guide.chapters, start=1)
                            if ch.ends_at_seconds > at), len(guide.chapters))
            spans.append(Text(f" — chapter {chapter} of {len(guide.chapters)}"))
        spans.append(Text("\n"))
    spans += [*life.series_line(party, zone, now), *_guide_line(guide), Text("\n"),
              Text(f"✅ {tally.going} going · 🤔 {tally.maybe} maybe · 🟢 {tally.ready} ready")]
    return _msg(*spans)


def rsvp_done(party: Party, status: Rsvp) -> Message:
    """The reply to an RSVP."""
    words = {Rsvp.GOING: "You're going to", Rsvp.MAYBE: "You might come to",
             Rsvp.NOT_GOING: "You're not going to"}
    return _msg(Text(f"{words[status]} "), Bold(party.title), Text("."))


def ready_check(party: Party, tally: Tally, open_: bool) -> Message:
    """The ready check with its live count."""
    spans: list[Span] = [Text("⏳ "), Bold(party.title), Text(
        " starts soon. Load the film and pause at 0:00, then press Ready.\n"),
        Text(f"🟢 Ready: {tally.ready}")]
    if party.ready_target is not None:
        spans.append(Text(f" of {party.ready_target} needed to start"))
    rows = ((Button("Ready", buttons.ready(party.id)),),) if open_ else ()
    return _msg(*spans, buttons_=rows)


def ready_done(party: Party, tally: Tally) -> Message:
    """The reply to a ready mark."""
    return _msg(Text("Marked ready for "), Bold(party.title),
                Text(f". {tally.ready} ready so far."))


def reminder(party: Party, zone: str, now: datetime) -> Message:
    """A reminder before the start (the core adds whom it pings in each chat)."""
    return _msg(Text("🔔 "), Bold(party.title), Text(" starts "),
                Timestamp(party.starts_at, TimeStyle.RELATIVE, relative(party.starts_at, now)),
                Text(f" ({local_time(party.starts_at, zone)}). Join code "),
                Code(party.code), Text("."))


def countdown(party: Party, zone: str) -> Message:
    """The one countdown message; its relative timestamp counts down by itself."""
    return _msg(Text("⏱ "), Bold(party.title), Text(": GO at "),
                Timestamp(party.starts_at, TimeStyle.TIME, clock_time(party.starts_at, zone)),
                Text(" — "), Timestamp(party.starts_at, TimeStyle.RELATIVE, "in a few seconds"),
                Text(". Film paused at 0:00, finger on play."))


def starting(party: Party) -> Message:
    """The reply to `start`."""
    return _msg(Text("Countdown started for "), Bold(party.title), Text("."))


def waiting_for_ready(party: Party, tally: Tally) -> Message:
    """The reply to `start ready N` when fewer are ready."""
    return _msg(Text("The countdown for "), Bold(party.title),
                Text(f" starts when {party.ready_target} people are ready "
                     f"({tally.ready} now)."))


def go(party: Party, at: float) -> Message:
    """GO: the most time-critical message."""
    if at > 0:
        return _msg(Text("▶ GO — press play now ("), Bold(party.title),
                    Text(f", from {format_position(at)})"))
    return _msg(Text("▶ GO — press play now ("), Bold(party.title), Text(")"))


def paused(party: Party, at: float, by: str) -> Message:
    """The pause notice."""
    return _msg(Text("⏸ "), Bold(party.title), Text(f" paused at {format_position(at)} by "),
                Bold(by), Text(". Pause your film too; prompts wait."))


def resume_countdown(party: Party, at: float, zone: str, seconds: int) -> Message:
    """The short countdown before a resume: the instant of GO, and how far off it is."""
    when = party.resume_at or party.starts_at
    return _msg(Text("⏯ Resuming "), Bold(party.title),
                Text(f" from {format_position(at)}: GO at "),
                Timestamp(when, TimeStyle.TIME, clock_time(when, zone)), Text(" — "),
                Timestamp(when, TimeStyle.RELATIVE,
                          f"in {seconds} second{'s' if seconds != 1 else ''}"),
                Text(". Press play at GO."))


def cancelled(party: Party, by: str) -> Message:
    """The cancellation notice."""
    return _msg(Text("🚫 "), Bold(party.title), Text(" was cancelled by "), Bold(by),
                Text("."))


# ---- following a player (PRODUCT §10) --------------------------------------------------------

def with_lines(message: Message, extra: Message) -> Message:
    """A message with another's spans added on a new line."""
    return Message((*message.spans, Text("\n"), *extra.spans), message.buttons, message.poll,
                   message.mentions, message.reply_to, message.title)


# How to answer a prompt; an adapter whose platform answers otherwise (Discord's Answer button
# and modal) replaces this span.
ANSWER_HINT = "Reply to this message to answer."


def prompt(party: Party, guide: Guide, chapter: int, number: int, question: str,
           answer_data: str) -> Message:
    """One discussion question at the end of a chapter."""
    ch = guide.chapters[chapter - 1]
    return _msg(Text(f"💬 Chapter {chapter} of {len(guide.chapters)} — "), Bold(ch.title),
                Text(f" (ends {format_position(ch.ends_at_seconds)})\n"),
                Bold(f"Q{number}. "), Text(question), Text("\n"),
                Italic(ANSWER_HINT),
                buttons_=((Button("Answer", answer_data),),))


def poll(party: Party, guide: Guide, chapter: int, guide_poll: GuidePoll) -> Message:
    """A guide's poll, posted as a native poll where the platform has them."""
    ch = guide.chapters[chapter - 1]
    return Message((Text(f"📊 Chapter {chapter} — "), Bold(ch.title), Text("\n"),
                    Text(guide_poll.question)),
                   poll=Poll(guide_poll.question, tuple(guide_poll.options)))


def summary(party: Party, s: Summary) -> Message:
    """The closing summary."""
    spans: list[Span] = [Text("🏁 "), Bold(party.title), Text(" is over. Thanks for watching!\n"),
                         Text(f"Attendance: {s.going} going · {s.ready} ready · "
                              f"{s.answered} answered\n")]
    if s.guide is not None:
        for index, chapter in enumerate(s.guide.chapters, start=1):
            count = s.answers_per_chapter.get(index, 0)
            spans.append(Text(f"• Chapter {index}, {chapter.title}: "
                              f"{count} answer{'s' if count != 1 else ''}\n"))
    if s.top_moments:
        spans.append(Text("Most-reacted moments: "))
        spans.append(Text(", ".join(f"{format_position(sec)} ({n} {em})"
                                    for sec, n, em in s.top_moments)))
        spans.append(Text("\n"))
    spans += [Text("Moderators get the whole discussion with "),
              Code(f"/watchparty export {party.code}"), Text(".")]
    return _msg(*spans)


def with_late_note(message: Message, late: timedelta) -> Message:
    """Mark a message posted late because the bot was offline."""
    minutes = max(1, round(late.total_seconds() / 60))
    note = Italic(f"\n(posted {minutes} min late: the bot was offline)")
    return Message((*message.spans, note), message.buttons, message.poll, message.mentions,
                   message.reply_to, message.title)


# ---- links ---------------------------------------------------------------------------------

def link_request(party: Party, chat: ChatRef, requester: str, approve: str,
                 decline: str) -> Message:
    """The Approve / Decline request posted in the home chat."""
    return _msg(Text("🔗 "), Bold(requester), Text(f" asks to link a {chat.platform} chat to "),
                Bold(party.title), Text(". The host or a moderator of this chat decides."),
                buttons_=((Button("Approve", approve), Button("Decline", decline)),))


def link_requested(party: Party) -> Message:
    """The reply to `link`."""
    return _msg(Text("Asked the host of "), Bold(party.title),
                Text(" to approve this chat. You'll see the announcement here once they do."))


def unlinked(party: Party, chat: ChatRef, by: str) -> Message:
    """The reply to `unlink`, and the notice in the home chat."""
    return _msg(Text(f"🔗 A {chat.platform} chat no longer takes part in "), Bold(party.title),
                Text(" (unlinked by "), Bold(by), Text("). Its records stay in the export."))


def link_decided(party: Party, approved: bool, by: str) -> Message:
    """The outcome of a link request."""
    if approved:
        return _msg(Text("🔗 Linked: this chat now takes part in "), Bold(party.title),
                    Text(" (approved by "), Bold(by), Text(")."))
    return _msg(Text("The request to join "), Bold(party.title), Text(" was declined by "),
                Bold(by), Text("."))


# ---- guides --------------------------------------------------------------------------------

def guide_list(entries: list[tuple[str, str, Guide | None]]) -> Message:
    """`/watchparty guide list`."""
    spans: list[Span] = [Bold("Guides"), Text("\n")]
    for origin, name, guide in entries:
        spans += [Text("• "), Code(name)]
        if guide is not None:
            spans.append(Text(f" — {guide.title}, {len(guide.chapters)} chapters, "
                              f"{format_position(guide.runtime_seconds)}"))
        spans.append(Text(f" ({origin})\n"))
    spans += [Text("Details: "), Code("/watchparty guide show NAME")]
    return _msg(*spans)


def guide_detail(guide: Guide) -> Message:
    """`/watchparty guide show NAME`."""
    spans: list[Span] = [Bold(guide.title), Text(f" ({guide.name}) — runtime "
                                                 f"{format_position(guide.runtime_seconds)}\n")]
    for index, chapter in enumerate(guide.chapters, start=1):
        spans += [Text(f"{index}. "), Bold(chapter.title),
                  Text(f" — prompts at {format_position(chapter.ends_at_seconds)}\n")]
        for question in chapter.questions:
            spans.append(Text(f"   • {question}\n"))
        if chapter.poll is not None:
            spans.append(Text(f"   📊 {chapter.poll.question} "
                              f"({' / '.join(chapter.poll.options)})\n"))
    return _msg(*spans)


def guide_check_report(guide: Guide) -> str:
    """What `python -m bot guide check` prints for a valid guide."""
    return guide_detail(guide).plain().rstrip() + "\nOK: the guide is valid."


def guide_uploaded(guide: Guide) -> Message:
    """The reply to a guide upload."""
    return _msg(Text("Guide "), Code(guide.name), Text(" saved: "), Bold(guide.title),
                Text(f", {len(guide.chapters)} chapters. Use it with "),
                Code(f"/watchparty create TITLE | WHEN | {guide.name}"), Text("."))


# ---- export, settings, privacy, help -------------------------------------------------------

def export_ready(party: Party, fmt: str, anonymized: bool) -> Message:
    """The caption of an export."""
    extra = ", anonymized" if anonymized else ""
    return _msg(Text("Discussion log of "), Bold(party.title), Text(f" ({fmt}{extra})."))


def export_zipped(size: int, zipped: int, limit: int) -> Message:
    """Added to an export's caption when it had to be zipped to fit the upload limit."""
    return _msg(Text(f"\nThe file was {file_size(size)}, more than the {file_size(limit)} "
                     f"this chat accepts, so it is zipped ({file_size(zipped)}): open the .zip "
                     "to get it."))


def settings_view(settings: ChatSettings, default_zone: str, changed: bool) -> Message:
    """`/watchparty settings`."""
    reminders = ", ".join(_duration(r) for r in settings.reminders) or "none"
    head = "Settings saved." if changed else "Settings of this chat."
    return _msg(Bold(head), Text("\n"),
                Text(f"timezone: {settings.timezone or default_zone + ' (default)'}\n"),
                Text(f"reminders: {reminders}\n"),
                Text(f"creators: {settings.creators.value}\n"),
                Text(f"retention_days: {settings.retention_days}\n"),
                Text(f"moderator_role: {settings.moderator_role or 'none'}\n"),
                Text(f"ping_reminders: {'yes' if settings.ping_reminders else 'no'}\n"),
                Text(f"threads: {'yes' if settings.threads else 'no'}\n"),
                Text("Change with "),
                Code("/watchparty settings timezone=Europe/Berlin reminders=15m,1m"))


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds % 3600 == 0:
        return f"{seconds // 3600}h"
    if seconds % 60 == 0:
        return f"{seconds // 60}m"
    return f"{seconds}s"


def privacy() -> Message:
    """`/watchparty privacy`."""
    return _msg(Bold("What watchparty records"), Text(
        "\nFor each party: RSVPs, ready marks, answers to its questions, poll votes, and "
        "reactions added or removed on its messages — each with your platform, chat, user id, "
        "display name at that time, the time (UTC) and the film position. Nothing is stored "
        "for messages that have nothing to do with a party. A party's own thread (setting "
        "threads) counts as part of this chat.\n"
        "Moderators of the chats linked to a party can export its discussion. Records are "
        "deleted a number of days after the party ends (this chat's retention_days setting).\n"),
        Code("/watchparty forget-me"), Text(" deletes your records in this chat now and keeps "
                                            "you out of later exports."))


def forgotten(count: int) -> Message:
    """The reply to forget-me."""
    return _msg(Text(f"Done: {count} record{'s' if count != 1 else ''} of yours in this chat "
                     "deleted; later exports leave you out."))


def answer_recorded(party: Party, prompt_ref: str, name: str, text: str) -> Message:
    """The echo of a recorded answer."""
    return _msg(Text("📝 "), Bold(name), Text(f" answered Q{prompt_ref}: "), Text(text))


HELP_LINES = [
    ("create TITLE | WHEN | GUIDE | TIMEZONE", "schedule a party (WHEN: 'friday 20:30', "
     "'in 45m', ISO 8601)"),
    ("list", "upcoming and running parties here"),
    ("info [CODE] · now [CODE]", "when it starts, or where the film should be"),
    ("join · maybe · leave [CODE]", "RSVP"),
    ("ready [CODE]", "mark yourself ready at the ready check"),
    ("start [CODE] [now | ready N]", "start the countdown (host or moderator)"),
    ("pause · resume · cancel [CODE]", "host or moderator"),
    ("seek 0:41:30 · seek +30s · seek -2m · seek chapter 3", "correct the film clock (host or "
     "moderator)"),
    ("follow syncplay://HOST/ROOM · jellyfin://HOST/USER · unfollow", "follow a real player "
     "(host or moderator)"),
    ("edit [CODE] title=… when=… guide=…", "change a party before its countdown (host or "
     "moderator)"),
    ("create … repeat=weekly episodes=10", "a series: daily, weekly, every N days or weeks"),
    ("cancel [CODE] all=yes", "cancel an episode and every later one of its series"),
    ("history [PAGE]", "finished and cancelled parties here"),
    ("calendar [CODE]", "the party as an .ics file for your calendar"),
    ("link CODE", "join another chat's party from this chat (moderator)"),
    ("unlink CODE", "take this chat out of another chat's party (moderator)"),
    ("guide list · guide show NAME · guide upload", "discussion guides"),
    ("export CODE | json·csv·md·html | anonymize=yes", "the discussion log (moderator)"),
    ("settings timezone=… reminders=15m,1m creators=anyone retention_days=365 "
     "moderator_role=… ping_reminders=no threads=no", "moderator (threads=yes: a thread "
     "per party for its questions)"),
    ("privacy · forget-me", "what is recorded; delete yours"),
]


def help_text() -> Message:
    """`/watchparty` and `/watchparty help`."""
    spans: list[Span] = [Bold("watchparty"), Text(
        " — press play together, talk it through chapter by chapter.\n")]
    for usage, what in HELP_LINES:
        spans += [Code(f"/watchparty {usage}"), Text(f" — {what}\n")]
    spans.append(Text("Example: "))
    spans.append(Code("/watchparty create The Social Dilemma | friday 20:00 | social-dilemma"))
    return _msg(*spans)
