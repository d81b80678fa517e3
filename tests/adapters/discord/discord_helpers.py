"""Small readers shared by the Discord adapter tests."""

from __future__ import annotations

import json
import re
from typing import Any

from fakediscord import Answer, FakeDiscord, message_text

CODE = re.compile(r"`([A-HJ-NP-Z2-9]{6})`")


def join_code(text: str) -> str:
    """The join code shown in a message (in inline code)."""
    match = CODE.search(text)
    assert match is not None, f"no join code in {text!r}"
    return match.group(1)


def buttons(message: dict[str, Any]) -> list[str]:
    """The labels of a message's buttons."""
    return [b["label"] for row in message.get("components") or []
            for b in row.get("components", [])]


def export_of(answer: Answer) -> dict[str, Any]:
    """The JSON export attached to an answer."""
    files = answer.files()
    assert len(files) == 1, f"expected one file, got {[f for f, _ in files]}: {answer.text}"
    return dict(json.loads(files[0][1]))


def records(export: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    """The export's records of one kind."""
    return [r for r in export["records"] if r["kind"] == kind]


def posted_texts(fake: FakeDiscord, channel: int | None = None) -> list[str]:
    """The text of every message the bot posted in a channel, in order."""
    return [message_text(m) for m in fake.channel_messages(channel)]


async def create_party(fake: FakeDiscord, host: Any, title: str, when: str = "in 10m",
                       guide: str | None = "quick", channel: int | None = None
                       ) -> tuple[str, dict[str, Any]]:
    """Create a party; return its join code and its announcement."""
    options: dict[str, Any] = {"title": title, "when": when}
    if guide:
        options["guide"] = guide
    answer = await fake.wait_answer(await fake.slash(host, "create", channel=channel,
                                                     **options))
    assert "created" in answer.text, answer.text
    code = join_code(answer.text)
    announcement = await fake.wait_message(code, channel)
    return code, announcement
