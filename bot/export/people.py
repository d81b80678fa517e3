"""Who appears in an export: participants and chats, real or anonymized, and free-text scrubbing.

Every format numbers people the same way: the host first, then everybody else in the order
their first record comes, each (platform, user id) its own person. An anonymized export shows
`Participant N` and `chat-N` instead of names and ids, and passes free text (answers, poll
votes, the party's title) through a `Scrubber` that replaces the names and ids of every
participant, platform mentions (`<@123>`) and `@handles`. Both hold one entry per person or
name, never per record.
"""

from __future__ import annotations

import re
from contextlib import aclosing
from dataclasses import dataclass

from bot.export.stream import record_rows
from bot.party import Party
from bot.ports import Store

PARTICIPANT = "Participant {number}"
CHAT = "chat-{number}"

_WORD = re.compile(r"\w+")
# Discord's raw mentions of users, roles and channels, and handles such as Telegram usernames
# (not preceded by a word character, so e-mail addresses are left alone).
_MENTION = re.compile(r"<@!?(?P<user>\d+)>|<@&\d+>|<#\d+>|(?<![\w@])@(?P<handle>\w{2,})")


@dataclass(slots=True)
class Person:
    """One participant as an export shows them; `display_name` is the first one seen."""

    number: int
    platform: str
    user_id: str | None
    display_name: str

    def as_json(self) -> dict[str, object]:
        """The `participants[]` entry of the JSON export."""
        return {"participant": self.number, "platform": self.platform,
                "display_name": self.display_name, "user_id": self.user_id}


class Identities:
    """Maps people and chats to what the export shows: real, or `Participant N` when anonymized."""

    def __init__(self, anonymize: bool) -> None:
        self.anonymize = anonymize
        self.people: dict[tuple[str, str], Person] = {}
        self.chats: dict[tuple[str, str], str] = {}
        self.scrubber = Scrubber()

    @classmethod
    def for_party(cls, party: Party, anonymize: bool) -> Identities:
        """Identities with the party's host as person 1 and its chats numbered in link order."""
        ids = cls(anonymize)
        ids.person(party.host_platform, party.host_user_id, party.host_name)
        for link in party.chats:
            ids.chat(link.chat.platform, link.chat.chat_id)
        return ids

    def person(self, platform: str, user_id: str, name: str) -> Person:
        """Return the export's view of a person, registering them on first sight."""
        key = (platform, user_id)
        entry = self.people.get(key)
        if entry is None:
            number = len(self.people) + 1
            if self.anonymize:
                entry = Person(number, platform, None, PARTICIPANT.format(number=number))
            else:
                entry = Person(number, platform, user_id, name)
            self.people[key] = entry
        return entry

    def chat(self, platform: str, chat_id: str) -> str:
        """Return a chat's id, or a stand-in such as `chat-2` when anonymized."""
        key = (platform, chat_id)
        shown = self.chats.get(key)
        if shown is None:
            shown = CHAT.format(number=len(self.chats) + 1) if self.anonymize else chat_id
            self.chats[key] = shown
        return shown

    def text(self, value: str) -> str:
        """Return free text as the export shows it: scrubbed when anonymized."""
        return self.scrubber(value) if self.anonymize else value

    async def learn(self, store: Store, party: Party,
                    forgotten: set[tuple[str, str, str]]) -> None:
        """Read the party's records once, before writing, so numbers and the scrubber are ready.

        Only anonymized exports need this pass: a name may be mentioned in an answer written
        before its owner's first record. It keeps one entry per person and per name.
        """
        scrub = self.scrubber
        host = self.person(party.host_platform, party.host_user_id, party.host_name)
        scrub.add(party.host_name, host.display_name)
        scrub.add(party.host_user_id, host.display_name)
        seen: set[tuple[str, str, str, str]] = set()
        async with aclosing(record_rows(store, party.id, forgotten)) as pages:
            async for rows in pages:
                for row in rows:
                    key = row[2:6]
                    if key in seen:
                        continue
                    seen.add(key)
                    platform, chat_id, user_id, name = key
                    shown = self.person(platform, user_id, name).display_name
                    scrub.add(name, shown)
                    scrub.add(user_id, shown)
                    self.chat(platform, chat_id)
        for (_, chat_id), shown in self.chats.items():
            scrub.add(chat_id, shown)


class Scrubber:
    """Replaces known names and ids in free text, whole words only and ignoring case.

    Names are matched as runs of words (`Anna-Lena` also matches `anna lena`): a dictionary
    keyed by a name's words, and for each first word the lengths of the names starting with it,
    so the cost grows with the text and not with the number of participants (5,000 people called
    `viewer N` share a first word). Names without any word character (emoji only) are replaced
    as substrings.
    """

    def __init__(self) -> None:
        self._names: dict[tuple[str, ...], str] = {}
        self._lengths: dict[str, list[int]] = {}  # first word -> name lengths, longest first
        self._literal: dict[str, str] = {}

    def add(self, name: str, replacement: str) -> None:
        """Replace `name` by `replacement` from now on (the first replacement given stays)."""
        words = tuple(_WORD.findall(name.casefold()))
        if not words:
            if name.strip():
                self._literal.setdefault(name.strip(), replacement)
            return
        if words in self._names:
            return
        self._names[words] = replacement
        lengths = self._lengths.setdefault(words[0], [])
        if len(words) not in lengths:
            lengths.append(len(words))
            lengths.sort(reverse=True)

    def __call__(self, text: str) -> str:
        """Return `text` with every known name and id, mention and handle replaced."""
        if "@" in text or "<#" in text:
            text = _MENTION.sub(self._mention, text)
        if self._names:
            text = self._replace_names(text)
        for literal, replacement in self._literal.items():
            if literal in text:
                text = text.replace(literal, replacement)
        return text

    def _mention(self, match: re.Match[str]) -> str:
        """A mention of someone known becomes `@Participant N`; any other, `@someone`."""
        token = match["user"] or match["handle"]
        if token is None:
            return "@role" if match.group().startswith("<@&") else "#channel"
        known = self._names.get((token.casefold(),))
        return "@" + known if known is not None else "@someone"

    def _replace_names(self, text: str) -> str:
        words = [(m.start(), m.end(), m.group().casefold()) for m in _WORD.finditer(text)]
        names, lengths = self._names, self._lengths
        out: list[str] = []
        done = 0  # how much of `text` is already in `out`
        i = 0
        while i < len(words):
            matched = 0
            for size in lengths.get(words[i][2], ()):
                if i + size <= len(words):
                    replacement = names.get(tuple(w[2] for w in words[i:i + size]))
                    if replacement is not None:
                        out.append(text[done:words[i][0]])
                        out.append(replacement)
                        done = words[i + size - 1][1]
                        matched = size
                        break
            i += matched or 1
        if not out:
            return text
        out.append(text[done:])
        return "".join(out)
