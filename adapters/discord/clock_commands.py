"""`/watchparty seek`, `follow` and `unfollow`: the subcommands that set where the film is."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord
from discord import app_commands

from adapters.discord.interactions import Interactions, chat_of
from bot import commands as c
from bot.chats import ChatRef

Interaction = discord.Interaction[Any]
Choice = app_commands.Choice

PARTY = "Join code of the party, e.g. K7Q2MX (default: this channel's current party)"
STEPS = ("+30s", "-30s", "+2m", "-2m", "chapter 1", "chapter 2", "chapter 3", "0:41:30")


PartyChoices = Callable[[Interactions, ChatRef, str], Awaitable[list[Choice[str]]]]


def clock_commands(bridge: Interactions,
                   party_choices: PartyChoices) -> list[app_commands.Command[Any, Any, Any]]:
    """The subcommands `WatchpartyGroup` adds: seek, follow, unfollow."""

    @app_commands.command(name="seek", description="Correct the film clock: a time, a step or a "
                                                   "chapter (host or moderators)")
    @app_commands.describe(position="Where the film is: 0:41:30, +30s, -2m or chapter 3",
                           party=PARTY)
    async def seek(interaction: Interaction, position: app_commands.Range[str, 1, 40],
                   party: str | None = None) -> None:
        """`/watchparty seek`."""
        await bridge.run(interaction, c.SeekParty(position, party), name="seek")

    @app_commands.command(name="follow", description="Follow a Syncplay room or a Jellyfin "
                                                     "user's player (host or moderators)")
    @app_commands.describe(source="syncplay://HOST[:PORT]/ROOM or jellyfin://HOST[:PORT]/USER",
                           party=PARTY)
    async def follow(interaction: Interaction, source: app_commands.Range[str, 1, 300],
                     party: str | None = None) -> None:
        """`/watchparty follow`."""
        await bridge.run(interaction, c.FollowParty(source, party), name="follow")

    @app_commands.command(name="unfollow", description="Stop following a player: back to the "
                                                       "bot's own clock (host or moderators)")
    @app_commands.describe(party=PARTY)
    async def unfollow(interaction: Interaction, party: str | None = None) -> None:
        """`/watchparty unfollow`."""
        await bridge.run(interaction, c.UnfollowParty(party), name="unfollow")

    async def parties(interaction: Interaction, current: str) -> list[Choice[str]]:
        return await party_choices(bridge, chat_of(interaction), current)

    async def steps(interaction: Interaction, current: str) -> list[Choice[str]]:
        typed = current.strip()
        options = [typed] if typed and typed not in STEPS else []
        return [Choice(name=o, value=o) for o in [*options, *STEPS]][:25]

    for command in (seek, follow, unfollow):
        command.autocomplete("party")(parties)
    seek.autocomplete("position")(steps)
    return [seek, follow, unfollow]
