"""The text syntax of `/watchparty <subcommand> args` (Telegram and the console).

Arguments come in the order of the subcommand's options. If the text contains `|` it is split on
`|`, otherwise on white space; then a free-text option (`create`'s time, `start`'s `ready N`)
takes the words that are left. `name=value` sets an option by name (split on white space, a
free-text option so named takes the words after it). An empty first `|` part is a left-out
`party`. Where white space leaves it unclear which words belong to `create`'s title and which
to its time, the user is asked for the `|` form.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from bot import commands as c
from bot.errors import UserError
from bot.party import normalize_code


@dataclass(frozen=True, slots=True)
class Spec:
    """A subcommand's options in order, which are required, and how to build its command."""

    options: tuple[str, ...]
    required: tuple[str, ...]
    build: Callable[[dict[str, str]], c.Command]
    party_first: bool = False
    rest: str | None = None
    rest_is_time: bool = False
    # Options that, given by name, take the words after them too ("repeat=every 2 weeks").
    wordy: tuple[str, ...] = ()


def _bool(text: str) -> bool:
    value = text.strip().lower()
    if value in {"yes", "true", "on", "1", "y"}:
        return True
    if value in {"no", "false", "off", "0", "n"}:
        return False
    raise UserError("bool_invalid", text=text)


# Words a time is written with ("tomorrow 8pm", "in 45m", "friday 20:30"); "night" is not one,
# since it ends titles ("Movie night") more often than it names a time.
_TIME_WORD = re.compile(
    r"^(?:.*\d.*|today|tonight|tomorrow|noon|midnight|next|this|at|in|on|am|pm|a\.m\.|p\.m\."
    r"|morning|afternoon|evening|utc|gmt|hours?|hrs?|minutes?|mins?|days?|weeks?"
    r"|mon|monday|tue|tues|tuesday|wed|wednesday|thu|thur|thurs|thursday|fri|friday"
    r"|sat|saturday|sun|sunday|jan|january|feb|february|mar|march|apr|april|may|jun|june"
    r"|jul|july|aug|august|sep|sept|september|oct|october|nov|november|dec|december)$",
    re.IGNORECASE)


def _time_start(words: list[str]) -> int:
    """Where the trailing run of words that read like a time begins (len(words) if none)."""
    start = len(words)
    while start > 0 and _TIME_WORD.match(words[start - 1]):
        start -= 1
    return start


def _seek(options: dict[str, str]) -> c.SeekParty:
    """`seek +30s K7Q2MX`: split on white space, a last word that is a join code is the party."""
    position, party = options["position"], options.get("party")
    words = position.split()
    if party is None and len(words) > 1 and normalize_code(words[-1]) is not None:
        position, party = " ".join(words[:-1]), words[-1]
    return c.SeekParty(position, party)


SPECS: dict[str, Spec] = {
    "create": Spec(("title", "when", "guide", "timezone", "repeat", "episodes"),
                   ("title", "when"),
                   lambda o: c.CreateParty(o["title"], o["when"], o.get("guide") or None,
                                           o.get("timezone") or None, o.get("repeat") or None,
                                           o.get("episodes") or None), rest="when",
                   rest_is_time=True, wordy=("repeat",)),
    "list": Spec((), (), lambda o: c.ListParties()),
    "info": Spec(("party",), (), lambda o: c.ShowInfo(o.get("party")), party_first=True),
    "now": Spec(("party",), (), lambda o: c.ShowInfo(o.get("party")), party_first=True),
    "join": Spec(("party",), (), lambda o: c.SetRsvp(o.get("party"), "going"), party_first=True),
    "leave": Spec(("party",), (), lambda o: c.SetRsvp(o.get("party"), "not_going"),
                  party_first=True),
    "maybe": Spec(("party",), (), lambda o: c.SetRsvp(o.get("party"), "maybe"),
                  party_first=True),
    "ready": Spec(("party",), (), lambda o: c.MarkReady(o.get("party")), party_first=True),
    "link": Spec(("code",), ("code",), lambda o: c.LinkChat(o["code"])),
    "unlink": Spec(("party",), (), lambda o: c.UnlinkChat(o.get("party")), party_first=True),
    "start": Spec(("party", "when"), (),
                  lambda o: c.StartParty(o.get("party"), o.get("when") or "now"),
                  party_first=True, rest="when"),
    "pause": Spec(("party",), (), lambda o: c.PauseParty(o.get("party")), party_first=True),
    "resume": Spec(("party",), (), lambda o: c.ResumeParty(o.get("party")), party_first=True),
    "cancel": Spec(("party", "all"), (),
                   lambda o: c.CancelParty(o.get("party"),
                                           _bool(o["all"]) if o.get("all") else False),
                   party_first=True),
    "edit": Spec(("party", "title", "when", "guide"), (),
                 lambda o: c.EditParty(o.get("party"), o.get("title") or None,
                                       o.get("when") or None, o.get("guide") or None),
                 party_first=True, wordy=("title", "when")),
    "history": Spec(("page",), (), lambda o: c.ShowHistory(o.get("page"))),
    "calendar": Spec(("party",), (), lambda o: c.CalendarFile(o.get("party")),
                     party_first=True),
    "export": Spec(("party", "format", "anonymize"), (),
                   lambda o: c.Export(o.get("party"), (o.get("format") or "json").lower(),
                                      _bool(o["anonymize"]) if o.get("anonymize") else False),
                   party_first=True),
    "settings": Spec(("timezone", "reminders", "creators", "retention_days", "moderator_role",
                      "ping_reminders", "threads"), (),
                     lambda o: c.ChangeSettings(o.get("timezone"), o.get("reminders"),
                                                o.get("creators"), o.get("retention_days"),
                                                o.get("moderator_role"), o.get("ping_reminders"),
                                                o.get("threads"))),
    "seek": Spec(("position", "party"), ("position",), lambda o: _seek(o), rest="position"),
    "follow": Spec(("source", "party"), ("source",),
                   lambda o: c.FollowParty(o["source"], o.get("party"))),
    "unfollow": Spec(("party",), (), lambda o: c.UnfollowParty(o.get("party")),
                     party_first=True),
    "privacy": Spec((), (), lambda o: c.ShowPrivacy()),
    "forget-me": Spec((), (), lambda o: c.ForgetMe()),
    "help": Spec((), (), lambda o: c.ShowHelp()),
}

GUIDE_SPECS: dict[str, Spec] = {
    "list": Spec((), (), lambda o: c.ListGuides()),
    "show": Spec(("name",), ("name",), lambda o: c.ShowGuide(o["name"])),
}


def split_arguments(text: str) -> list[str]:
    """Split an argument string on `|` if it has one, otherwise on white space."""
    if "|" in text:
        return [part.strip() for part in text.split("|")]
    return text.split()


def _fill(sub: str, spec: Spec, text: str) -> dict[str, str]:
    parts = split_arguments(text)
    named: dict[str, str] = {}
    positional: list[str] = []
    piped = "|" in text
    taking: str | None = None
    for part in parts:
        name, sep, value = part.partition("=")
        key = name.strip().lower().replace("-", "_")
        if sep and key in spec.options:
            named[key] = value.strip()
            # Split on white space, the free-text option named takes the words after it too
            # ("start when=ready 3"), up to the next name=value.
            taking = key if not piped and (key == spec.rest or key in spec.wordy) else None
        elif taking is not None:
            named[taking] = f"{named[taking]} {part}"
        else:
            positional.append(part)
    free = [opt for opt in spec.options if opt not in named]
    # An empty first `|` part is the left-out party ("export | html"), keeping its place.
    if (spec.party_first and free and free[0] == "party" and positional
            and positional[0] != "" and normalize_code(positional[0]) is None):
        free = free[1:]
    if spec.rest in free and not piped:
        # Split on white space, the free-text option takes every word from its place on
        # ("create Movie tomorrow 8pm"); options after it are given as name=value.
        cut = free.index(spec.rest)
        if spec.rest_is_time and cut > 0 and len(positional) > cut + 1:
            start = _time_start(positional)
            if cut < start < len(positional):
                # "create Movie night tomorrow 8pm": the title has more words than its place.
                raise UserError("arguments_unclear", subcommand=sub, words=" ".join(positional),
                                example=" | ".join([" ".join(positional[:start]),
                                                    " ".join(positional[start:])]))
        if len(positional) > cut:
            positional = [*positional[:cut], " ".join(positional[cut:])]
        free = free[:cut + 1]
    if len(positional) > len(free):
        if not free:
            raise UserError("too_many_arguments", subcommand=sub, options=list(spec.options),
                            extra=" ".join(positional))
        keep = len(free) - 1
        # The last option takes the words that are left ("create Movie tomorrow 8pm").
        joiner = " | " if "|" in text else " "
        positional = [*positional[:keep], joiner.join(positional[keep:])]
    for opt, value in zip(free, positional, strict=False):
        if value != "":
            named[opt] = value
    missing = [opt for opt in spec.required if not named.get(opt)]
    if missing:
        raise UserError("missing_argument", subcommand=sub, missing=missing,
                        options=list(spec.options))
    return named


def parse_command_text(text: str) -> c.Command:
    """Turn the text after `/watchparty` into a command, or raise a UserError saying why not."""
    words = text.strip().split(maxsplit=1)
    if not words:
        return c.ShowHelp()
    sub = words[0].lower()
    rest = words[1] if len(words) > 1 else ""
    if sub == "guide":
        inner = rest.strip().split(maxsplit=1)
        if not inner:
            raise UserError("unknown_subcommand", subcommand="guide",
                            known=["guide list", "guide show NAME", "guide upload"])
        gsub = inner[0].lower()
        if gsub == "upload":
            raise UserError("upload_needs_file")
        gspec = GUIDE_SPECS.get(gsub)
        if gspec is None:
            raise UserError("unknown_subcommand", subcommand=f"guide {gsub}",
                            known=["guide list", "guide show NAME", "guide upload"])
        return gspec.build(_fill(f"guide {gsub}", gspec, inner[1] if len(inner) > 1 else ""))
    spec = SPECS.get(sub)
    if spec is None:
        raise UserError("unknown_subcommand", subcommand=sub,
                        known=sorted([*SPECS, "guide"]))
    return spec.build(_fill(sub, spec, rest))
