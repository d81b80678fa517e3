"""The `/watchparty` slash-command group: every subcommand of PRODUCT §3 and the `guide` subgroup.

Each handler only shapes its options into a core command; `Interactions.run` does the rest.
Descriptions are what people read in Discord's command picker, so they are written for them.
"""

from __future__ import annotations

import zoneinfo
from functools import lru_cache
from typing import Any

import discord
from discord import app_commands

from adapters.discord.clock_commands import clock_commands
from adapters.discord.interactions import Interactions, chat_of, scope_of
from bot import commands as c
from bot.chats import ChatRef
from bot.guide import MAX_GUIDE_BYTES, GuideInvalid
from bot.party import ACTIVE_STATES, PartyState
from bot.render import STATE_WORDS
from bot.series import MAX_EPISODES
from bot.service import EXPORT_FORMATS, TITLE_MAX

Interaction = discord.Interaction[Any]
Choice = app_commands.Choice

PARTY = "Join code of the party, e.g. K7Q2MX (default: this channel's current party)"
EXPORT_LABELS = {"json": "JSON (everything, machine-readable)", "csv": "CSV (a spreadsheet)",
                 "md": "Markdown (a readable transcript)", "html": "HTML (a web page)"}
ALL_STATES = frozenset(PartyState)


@lru_cache(maxsize=1)
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _matches(current: str, *texts: str) -> bool:
    needle = current.strip().lower()
    return not needle or any(needle in text.lower() for text in texts)


class GuideGroup(app_commands.Group):
    """`/watchparty guide …`."""

    def __init__(self, bridge: Interactions) -> None:
        super().__init__(name="guide", description="Discussion guides: chapters and questions")
        self.bridge = bridge

    @app_commands.command(name="list", description="List the guides you can use here")
    async def list_(self, interaction: Interaction) -> None:
        """`/watchparty guide list`."""
        await self.bridge.run(interaction, c.ListGuides(), name="guide list", private=False)

    @app_commands.command(name="show", description="Show a guide's chapters, prompt times and "
                                                   "questions")
    @app_commands.describe(name="The guide's name, e.g. social-dilemma")
    async def show(self, interaction: Interaction, name: str) -> None:
        """`/watchparty guide show NAME`."""
        await self.bridge.run(interaction, c.ShowGuide(name), name="guide show", private=False)

    @app_commands.command(name="upload", description="Add a guide for this server from a "
                                                     ".toml file (moderators)")
    @app_commands.describe(file="The guide as NAME.toml; its name is the file name")
    async def upload(self, interaction: Interaction, file: discord.Attachment) -> None:
        """`/watchparty guide upload FILE`."""
        async def build(ctx: c.Context) -> c.Command:
            if file.size > MAX_GUIDE_BYTES:
                stem = file.filename.rsplit(".", 1)[0]
                raise GuideInvalid(stem, [f"file: {file.size:,} bytes; at most "
                                          f"{MAX_GUIDE_BYTES:,} (64 KiB) allowed"])
            return c.UploadGuide(file.filename, await file.read())

        await self.bridge.run(interaction, build, name="guide upload", private=False,
                              slow=True)

    @show.autocomplete("name")
    async def _guide_names(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        return await guide_choices(self.bridge, interaction, current)


async def guide_choices(bridge: Interactions, interaction: Interaction,
                        current: str) -> list[Choice[str]]:
    """Built-in, operator and this server's uploaded guides that match what was typed."""
    core = bridge.core
    if core is None:
        return []
    names = await core.guide_names(scope_of(interaction))
    return [Choice(name=n, value=n) for n in names if _matches(current, n)][:25]


async def party_choices(bridge: Interactions, chat: ChatRef, current: str,
                        states: frozenset[PartyState] = ACTIVE_STATES) -> list[Choice[str]]:
    """This channel's parties that match what was typed, newest start first."""
    core = bridge.core
    if core is None:
        return []
    parties = await core.chat_parties(chat, states)
    choices = []
    for party in sorted(parties, key=lambda p: p.starts_at, reverse=states is ALL_STATES):
        label = f"{party.code} · {party.title} ({STATE_WORDS[party.state]})"
        if _matches(current, label):
            choices.append(Choice(name=label[:100], value=party.code))
    return choices[:25]


class WatchpartyGroup(app_commands.Group):
    """`/watchparty …`: every subcommand."""

    def __init__(self, bridge: Interactions) -> None:
        super().__init__(name="watchparty", guild_only=True,
                         description="Watch a film together: synchronized start, chapter "
                                     "questions, exports")
        self.bridge = bridge
        self.add_command(GuideGroup(bridge))
        for command in clock_commands(bridge, party_choices):
            self.add_command(command)

    # ---- parties --------------------------------------------------------------------------

    @app_commands.command(name="create", description="Schedule a watch party in this channel")
    @app_commands.describe(
        title="What you'll watch, e.g. The Social Dilemma",
        when="When it starts: 'friday 20:00', 'in 45m', 'tomorrow 8pm' or ISO 8601",
        guide="Discussion guide to follow (see /watchparty guide list)",
        timezone="Time zone for 'when', e.g. Europe/Berlin (default: this channel's)",
        repeat="Make it a series: daily, weekly, 'every 3 days', 'every 2 weeks'",
        episodes="How many episodes the series has (default: until cancelled with all)")
    async def create(self, interaction: Interaction,
                     title: app_commands.Range[str, 1, TITLE_MAX], when: str,
                     guide: str | None = None, timezone: str | None = None,
                     repeat: str | None = None,
                     episodes: app_commands.Range[int, 2, MAX_EPISODES] | None = None) -> None:
        """`/watchparty create`."""
        count = str(episodes) if episodes is not None else None
        await self.bridge.run(interaction, c.CreateParty(title, when, guide, timezone, repeat,
                                                         count),
                              name="create", private=True)

    @app_commands.command(name="list", description="Upcoming and running parties in this "
                                                   "channel")
    async def list_(self, interaction: Interaction) -> None:
        """`/watchparty list`."""
        await self.bridge.run(interaction, c.ListParties(), name="list", private=False)

    @app_commands.command(name="info", description="When a party starts, who's coming, and "
                                                   "its guide")
    @app_commands.describe(party=PARTY)
    async def info(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty info`."""
        await self.bridge.run(interaction, c.ShowInfo(party), name="info", private=False)

    @app_commands.command(name="now", description="Where the film should be right now (for "
                                                  "late joiners)")
    @app_commands.describe(party=PARTY)
    async def now(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty now`."""
        await self.bridge.run(interaction, c.ShowInfo(party), name="now", private=False)

    @app_commands.command(name="join", description="RSVP: you're going")
    @app_commands.describe(party=PARTY)
    async def join(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty join`."""
        await self.bridge.run(interaction, c.SetRsvp(party, "going"), name="join")

    # No `maybe` subcommand: Discord allows a group 25 and PRODUCT §3 names 25 without it; the
    # announcement's Maybe button records it (and Telegram's `/watchparty maybe` still does).

    @app_commands.command(name="leave", description="RSVP: you're not going")
    @app_commands.describe(party=PARTY)
    async def leave(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty leave`."""
        await self.bridge.run(interaction, c.SetRsvp(party, "not_going"), name="leave")

    @app_commands.command(name="ready", description="Say you've loaded the film, paused at 0:00")
    @app_commands.describe(party=PARTY)
    async def ready(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty ready`."""
        await self.bridge.run(interaction, c.MarkReady(party), name="ready")

    @app_commands.command(name="link", description="Take part in another channel's party from "
                                                   "here (moderators)")
    @app_commands.describe(code="The other party's join code, e.g. K7Q2MX")
    async def link(self, interaction: Interaction,
                   code: app_commands.Range[str, 6, 6]) -> None:
        """`/watchparty link`."""
        await self.bridge.run(interaction, c.LinkChat(code), name="link", private=False)

    @app_commands.command(name="unlink", description="Take this channel out of a party it was "
                                                     "linked to (moderators or the host)")
    @app_commands.describe(party=PARTY)
    async def unlink(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty unlink`."""
        await self.bridge.run(interaction, c.UnlinkChat(party), name="unlink", private=False)

    @app_commands.command(name="start", description="Start the countdown now, or once enough "
                                                    "people are ready (host or moderators)")
    @app_commands.describe(party=PARTY,
                           when="'now' (default), or 'ready N' to start once N people are ready")
    async def start(self, interaction: Interaction, party: str | None = None,
                    when: str = "now") -> None:
        """`/watchparty start`."""
        await self.bridge.run(interaction, c.StartParty(party, when), name="start",
                              private=False)

    @app_commands.command(name="pause", description="Pause the film clock: later questions "
                                                    "wait (host or moderators)")
    @app_commands.describe(party=PARTY)
    async def pause(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty pause`."""
        await self.bridge.run(interaction, c.PauseParty(party), name="pause")

    @app_commands.command(name="resume", description="Resume after a short countdown (host or "
                                                     "moderators)")
    @app_commands.describe(party=PARTY)
    async def resume(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty resume`."""
        await self.bridge.run(interaction, c.ResumeParty(party), name="resume")

    @app_commands.command(name="cancel", description="Cancel a party (host or moderators)")
    @app_commands.describe(party=PARTY, all="Also end its series: no more episodes")
    async def cancel(self, interaction: Interaction, party: str | None = None,
                     all: bool = False) -> None:
        """`/watchparty cancel`."""
        await self.bridge.run(interaction, c.CancelParty(party, all), name="cancel")

    @app_commands.command(name="edit", description="Change a party's title, time or guide "
                                                   "before its countdown (host or moderators)")
    @app_commands.describe(party=PARTY, title="The new title",
                           when="The new start: 'saturday 20:00', 'in 2 hours' or ISO 8601",
                           guide="The new guide ('none' for no guide)")
    async def edit(self, interaction: Interaction, party: str | None = None,
                   title: app_commands.Range[str, 1, TITLE_MAX] | None = None,
                   when: str | None = None, guide: str | None = None) -> None:
        """`/watchparty edit`."""
        await self.bridge.run(interaction, c.EditParty(party, title, when, guide), name="edit")

    @app_commands.command(name="history", description="This channel's finished and cancelled "
                                                      "parties, newest first")
    @app_commands.describe(page="Which page of ten (default: the newest)")
    async def history(self, interaction: Interaction,
                      page: app_commands.Range[int, 1, 10_000] | None = None) -> None:
        """`/watchparty history`."""
        await self.bridge.run(interaction, c.ShowHistory(str(page) if page else None),
                              name="history", private=False)

    @app_commands.command(name="calendar", description="Get a party as a calendar file (.ics)")
    @app_commands.describe(party=PARTY)
    async def calendar(self, interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty calendar`."""
        await self.bridge.run(interaction, c.CalendarFile(party), name="calendar")

    # ---- records --------------------------------------------------------------------------

    @app_commands.command(name="export", description="Download a party's discussion as a file "
                                                     "(moderators)")
    @app_commands.describe(party=PARTY, format="File format (default: JSON)",
                           anonymize="Replace names with Participant 1, 2, …")
    @app_commands.choices(format=[Choice(name=EXPORT_LABELS.get(f, f), value=f)
                                  for f in EXPORT_FORMATS])
    async def export(self, interaction: Interaction, party: str | None = None,
                     format: str = "json", anonymize: bool = False) -> None:
        """`/watchparty export`."""
        await self.bridge.run(interaction, c.Export(party, format, anonymize), name="export",
                              slow=True)

    @app_commands.command(name="settings", description="Show or change this channel's settings "
                                                       "(moderators)")
    @app_commands.describe(
        timezone="Display time zone, e.g. Europe/Berlin",
        reminders="Reminders before the start, e.g. 15m,1m (or 'none')",
        creators="Who may create parties here",
        retention_days="Days to keep a party's records after it ends",
        moderator_role="A role whose members count as moderators here",
        ping_reminders="Whether reminders mention the people who said Going",
        threads="Whether each party gets a thread for its questions and answers")
    @app_commands.choices(creators=[Choice(name="anyone", value="anyone"),
                                    Choice(name="moderators only", value="moderators")])
    async def settings(self, interaction: Interaction, timezone: str | None = None,
                       reminders: str | None = None, creators: str | None = None,
                       retention_days: app_commands.Range[int, 1, 3650] | None = None,
                       moderator_role: discord.Role | None = None,
                       ping_reminders: bool | None = None,
                       threads: bool | None = None) -> None:
        """`/watchparty settings`."""
        days = str(retention_days) if retention_days is not None else None
        role = str(moderator_role.id) if moderator_role is not None else None
        ping = None if ping_reminders is None else ("yes" if ping_reminders else "no")
        thread = None if threads is None else ("yes" if threads else "no")
        await self.bridge.run(interaction, c.ChangeSettings(timezone, reminders, creators, days,
                                                            role, ping, thread),
                              name="settings", private=False)

    @app_commands.command(name="privacy", description="What watchparty records, and for how long")
    async def privacy(self, interaction: Interaction) -> None:
        """`/watchparty privacy`."""
        await self.bridge.run(interaction, c.ShowPrivacy(), name="privacy")

    @app_commands.command(name="forget-me", description="Delete your records in this channel "
                                                        "and leave you out of exports")
    async def forget_me(self, interaction: Interaction) -> None:
        """`/watchparty forget-me`."""
        await self.bridge.run(interaction, c.ForgetMe(), name="forget-me")

    @app_commands.command(name="help", description="Every command, with examples")
    async def help(self, interaction: Interaction) -> None:
        """`/watchparty help`."""
        await self.bridge.run(interaction, c.ShowHelp(), name="help")

    # ---- autocomplete ---------------------------------------------------------------------

    @info.autocomplete("party")
    @now.autocomplete("party")
    @join.autocomplete("party")
    @leave.autocomplete("party")
    @ready.autocomplete("party")
    @start.autocomplete("party")
    @unlink.autocomplete("party")
    @pause.autocomplete("party")
    @resume.autocomplete("party")
    @cancel.autocomplete("party")
    @edit.autocomplete("party")
    async def _parties(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        return await party_choices(self.bridge, chat_of(interaction), current)

    @export.autocomplete("party")
    @calendar.autocomplete("party")
    async def _any_parties(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        return await party_choices(self.bridge, chat_of(interaction), current, ALL_STATES)

    @create.autocomplete("guide")
    @edit.autocomplete("guide")
    async def _guides(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        return await guide_choices(self.bridge, interaction, current)

    @create.autocomplete("timezone")
    @settings.autocomplete("timezone")
    async def _zones(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        return [Choice(name=z, value=z) for z in _zones() if _matches(current, z)][:25]

    @start.autocomplete("when")
    async def _start_when(self, interaction: Interaction, current: str) -> list[Choice[str]]:
        options = ["now", *(f"ready {n}" for n in (2, 3, 4, 5, 8, 10))]
        typed = current.strip()
        if typed and typed not in options:
            options.insert(0, typed)
        return [Choice(name=o, value=o) for o in options if _matches(current, o)][:25]
