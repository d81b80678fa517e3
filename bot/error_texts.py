"""The texts of every UserError a user may see, and the calm line for unexpected failures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from bot.errors import UserError
from bot.formats import file_size, local_time
from bot.richtext import Message, Text


def _msg(text: Text) -> Message:
    return Message((text,))


def _who(params: dict[str, Any]) -> str:
    who = params.get("who")
    host = params.get("host", "the host")
    return {
        "moderator": "moderators of this chat",
        "host_or_moderator": f"the host ({host}) or a moderator of a linked chat",
        "host_or_home_moderator": f"the host ({host}) or a moderator of the party's home chat",
        "host_or_linked_moderator": f"the host ({host}) or a moderator of the linked chat",
    }.get(str(who), "moderators")


def _when(params: dict[str, Any]) -> str:
    understood = params.get("understood")
    zone = str(params.get("zone", "UTC"))
    if isinstance(understood, datetime):
        return local_time(understood, zone)
    return "?"


ERRORS: dict[str, Any] = {
    "invalid_transition": lambda p: (
        f"“{p['title']}” is {p['state'].replace('_', ' ')}, so it can't be "
        f"{_target_word(p['target'])}."),
    "not_allowed": lambda p: f"Only {_who(p)} may {p['action']} here.",
    "time_unreadable": lambda p: (
        f"I couldn't read “{p['text']}” as a time. Try “friday 20:30”, “tomorrow 8pm”, "
        "“in 45m” or ISO 8601 like 2026-12-01T20:00+01:00. A title with spaces goes before a "
        "| : /watchparty create The Social Dilemma | friday 20:00"),
    "time_past": lambda p: (
        f"“{p['text']}” is {_when(p)}, which is in the past. Give a time ahead."),
    "time_too_far": lambda p: (
        f"“{p['text']}” is {_when(p)}, more than a year ahead. Pick a date within a year."),
    "time_nonexistent": lambda p: (
        f"{p.get('local')} doesn't exist in {p.get('zone')} (the clocks jump forward then). "
        "Pick a time an hour later or earlier."),
    "timezone_unknown": lambda p: (
        f"“{p['zone']}” isn't a time zone I know. Use an IANA name such as Europe/Berlin, "
        "America/New_York or UTC."),
    "reminders_invalid": lambda p: (
        f"“{p.get('part', p.get('text'))}” isn't a reminder. Write durations separated by "
        "commas, e.g. 15m,1m (or 'none'); at most 5, each up to 7 days."),
    "bool_invalid": lambda p: f"“{p['text']}” isn't yes or no.",
    "position_invalid": lambda p: (
        f"“{p['text']}” isn't a film position. Write H:MM:SS or M:SS, e.g. 1:34:00 or 14:30."),
    "guide_invalid": lambda p: (
        f"The guide “{p['name']}” has problems:\n" + "\n".join(
            f"• {problem}" for problem in p["problems"])),
    "guide_name_invalid": lambda p: (
        f"“{p['name']}” can't be a guide name: use lowercase letters, digits and dashes, "
        "up to 40 characters (e.g. social-dilemma)."),
    "guide_unknown": lambda p: (
        f"There is no guide “{p['name']}”. Known guides: {', '.join(p.get('known', []))}."),
    "guide_not_toml": lambda p: (
        f"“{p['filename']}” isn't a .toml file. Upload the guide as NAME.toml."),
    "upload_needs_file": lambda p: (
        "Attach the guide's .toml file to the upload (on Telegram: send the file with the "
        "caption /watchparty guide upload)."),
    "title_invalid": lambda p: (
        f"A title needs 1 to {p['maximum']} characters (this one has {p['length']})."),
    "code_invalid": lambda p: (
        f"“{p['code']}” isn't a join code. Codes have 6 letters and digits, like K7Q2MX."),
    "party_not_found": lambda p: f"No party has the code “{p['code']}”.",
    "no_party_here": lambda p: (
        "There's no upcoming or running party in this chat. Give a join code, or create one "
        "with /watchparty create."),
    "party_not_in_chat": lambda p: (
        f"Party {p['code']} doesn't take part in this chat. A moderator can link it with "
        f"/watchparty link {p['code']}."),
    "party_over": lambda p: f"“{p['title']}” is {p['state']}: that's no longer possible.",
    "ready_too_late": lambda p: (
        f"“{p['title']}” is {p['state'].replace('_', ' ')}: ready marks are for before GO."),
    "already_linked": lambda p: f"This chat already takes part in “{p['title']}”.",
    "link_pending": lambda p: (
        f"This chat has already asked to join “{p['title']}”; the host hasn't decided yet."),
    "unlink_home": lambda p: f"This is the home chat of “{p['title']}”: it can't be unlinked.",
    "not_linked": lambda p: f"That chat isn't linked to “{p['title']}”.",
    "link_not_pending": lambda p: f"That request to join “{p['title']}” was already decided.",
    "start_when_invalid": lambda p: (
        f"“{p['text']}” isn't a start. Use 'now' or 'ready N' (start when N people are "
        "ready)."),
    "already_paused": lambda p: f"“{p['title']}” is already paused. Use /watchparty resume.",
    "already_resuming": lambda p: f"“{p['title']}” is already about to resume.",
    "export_format_unknown": lambda p: (
        f"“{p['format']}” isn't an export format here. Available: "
        f"{', '.join(p['known'])}."),
    "export_too_large": lambda p: (
        f"The export {p['filename']} is {file_size(p['size'])}, and still "
        f"{file_size(p['zipped'])} zipped: more than the {file_size(p['limit'])} this chat "
        "accepts. Try the csv format (the smallest), or ask the bot's operator to run "
        "python -m bot export CODE --format html -o FILE."),
    "export_not_linked": lambda p: (
        f"Party {p['code']} isn't linked to this chat, so it can't be exported from here."),
    "creators_invalid": lambda p: (
        f"“{p['text']}” isn't a creators setting. Use 'anyone' or 'moderators'."),
    "retention_invalid": lambda p: (
        f"“{p['text']}” isn't a retention. Give a number of days from 1 to 3650."),
    "answer_empty": lambda p: "An empty answer wasn't recorded. Write something first.",
    "answer_too_long": lambda p: (
        f"Answers can be up to {p['maximum']} characters; this one has {p['length']}."),
    "unknown_subcommand": lambda p: (
        f"There's no subcommand “{p['subcommand']}”. Known: {', '.join(p['known'])}. "
        "Try /watchparty help."),
    "missing_argument": lambda p: (
        f"/watchparty {p['subcommand']} needs {', '.join(p['missing'])}. Options in order: "
        f"{' | '.join(p['options'])}."),
    "arguments_unclear": lambda p: (
        f"I can't tell where one option ends and the next begins in “{p['words']}”. Put a | "
        f"between them, e.g. /watchparty {p['subcommand']} {p['example']}"),
    "too_many_arguments": lambda p: (
        f"/watchparty {p['subcommand']} takes no more options; I don't know what to do with "
        f"“{p['extra']}”."),
    "button_unknown": lambda p: "That button no longer works. Try the command instead.",
    "prompt_unknown": lambda p: f"There's no prompt {p.get('number')} to answer.",
    "prompt_unknown_react": lambda p: f"There's no prompt {p.get('number')} to react to.",
    "console_usage": lambda p: str(p["text"]),
    # the party's life (issue 12): edit, series, history
    "edit_nothing": lambda p: (
        "Say what to change: /watchparty edit CODE title=… when=… guide=… (at least one). "
        "The RSVPs, ready marks, links and join code stay."),
    "edit_too_late": lambda p: (
        f"“{p['title']}” is {p['state'].replace('_', ' ')}: a party can be edited only "
        "before its countdown begins."),
    "repeat_invalid": lambda p: (
        f"“{p['text']}” isn't a repeat. Use {', '.join(p['accepted'])} (up to "
        f"{p['maximum']} days apart), e.g. repeat=weekly episodes=10."),
    "episodes_invalid": lambda p: (
        f"“{p['text']}” isn't a number of episodes. Give a whole number from 2 to "
        f"{p['maximum']}, or leave it out to repeat until /watchparty cancel … all=yes."),
    "episodes_without_repeat": lambda p: (
        "episodes needs repeat too, e.g. repeat=weekly episodes=10."),
    "history_page_invalid": lambda p: (
        f"“{p['text']}” isn't a page. Give a page number from 1 to {p['pages']}."),
    "no_party_ended_here": lambda p: (
        "There's no upcoming or running party in this chat, and none has finished here. Give "
        "a join code, or create one with /watchparty create."),
    # following a real player (PRODUCT §10)
    "feed_scheme_unknown": lambda p: (
        f"“{p['text']}” isn't a player I can follow. Use {' or '.join(p['accepted'])}."),
    "feed_credentials": lambda p: (
        f"Don't put a user name or password in the address ({p['text']}): the bot's operator "
        "sets the server password or API key, never a chat."),
    "feed_port_invalid": lambda p: (
        f"“{p['port']}” in “{p['text']}” isn't a port. Give a number from 1 to 65535, or "
        "leave it out for the default."),
    "feed_url_invalid": lambda p: (
        f"“{p['text']}” isn't a source address. Write {p['shape']} (a name of up to "
        f"{p['maximum']} characters, no ? or #)."),
    "feed_host_not_allowed": lambda p: (
        f"I may not connect to {p['host']}:{p['port']}. This bot's operator allows: "
        f"{', '.join(p['allowed'])}."),
    "seek_position_invalid": lambda p: (
        f"“{p['text']}” isn't a film position. Use {', '.join(p['accepted'])} (H:MM:SS with "
        "minutes and seconds below 60)."),
    "seek_chapter_unknown": lambda p: (
        f"There's no chapter {p['number']}: this guide has {p['count']} "
        f"chapter{'s' if p['count'] != 1 else ''} (1 to {p['count']})."),
    "seek_no_guide": lambda p: (
        f"“{p['text']}”: this party has no guide, so it has no chapters. Give a position such "
        "as 0:41:30 or +30s."),
    "seek_beyond_end": lambda p: (
        f"“{p['text']}” would be {p['target']}, past the end of the film ({p['end']})."),
    "seek_not_running": lambda p: (
        f"“{p['title']}” is {p['state']}: seek works while the film is playing or paused."),
    "follow_party_over": lambda p: (
        f"“{p['title']}” is {p['state']}: there's nothing left to follow."),
    "follow_unavailable": lambda p: "This bot can't follow players (no feed is set up).",
    "not_following": lambda p: f"“{p['title']}” doesn't follow a player.",
    "feed_jellyfin_key_missing": lambda p: (
        "Following Jellyfin needs an API key, and this bot's operator hasn't set "
        "JELLYFIN_API_KEY."),
}


def _target_word(target: str) -> str:
    return {"counting_down": "started", "playing": "resumed", "paused": "paused",
            "finished": "finished", "cancelled": "cancelled"}.get(target, target)


def error(err: UserError) -> Message:
    """The one line (or short list) a user sees for a UserError."""
    template = ERRORS.get(err.key)
    if template is None:
        return _msg(Text(f"That didn't work ({err.key})."))
    try:
        return _msg(Text(template(err.params)))
    except (KeyError, TypeError, ValueError):
        return _msg(Text(f"That didn't work ({err.key})."))


def unexpected() -> Message:
    """The calm sentence for an unexpected failure (the details go to the log)."""
    return _msg(Text("Something went wrong on my side; it has been logged. Please try again "
                     "in a moment."))
