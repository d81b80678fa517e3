"""The command handlers, one table from a command's type to the handler that runs it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from bot import commands as c
from bot.handlers import (
    attendance,
    chat_settings,
    following,
    guides,
    life,
    links,
    parties,
    records,
    seeking,
)
from bot.handlers.deps import Deps

Handler = Callable[[Deps, c.Context, Any], Awaitable[c.Reply | None]]

COMMAND_HANDLERS: dict[type[c.Command], Handler] = {
    c.CreateParty: parties.create,
    c.ListParties: parties.list_parties,
    c.ShowInfo: parties.info,
    c.StartParty: parties.start,
    c.PauseParty: parties.pause,
    c.ResumeParty: parties.resume,
    c.CancelParty: parties.cancel,
    c.SetRsvp: attendance.set_rsvp,
    c.MarkReady: attendance.ready,
    c.LinkChat: links.link,
    c.DecideLink: links.decide_link,
    c.UnlinkChat: links.unlink,
    c.ListGuides: guides.list_guides,
    c.ShowGuide: guides.show_guide,
    c.UploadGuide: guides.upload_guide,
    c.Export: chat_settings.export,
    c.ChangeSettings: chat_settings.change_settings,
    c.ShowPrivacy: chat_settings.show_privacy,
    c.ForgetMe: chat_settings.forget_me,
    c.ShowHelp: chat_settings.show_help,
    c.RecordAnswer: records.record_answer,
    c.RecordReaction: records.record_reaction,
    c.RecordReactionCount: records.record_reaction_count,
    c.RecordPollVote: records.record_poll_vote,
    c.SeekParty: seeking.seek,
    c.FollowParty: following.follow,
    c.UnfollowParty: following.unfollow,
    c.EditParty: life.edit,
    c.ShowHistory: life.history,
    c.CalendarFile: life.calendar,
}
