"""The one button codec: what the adapters read from button data comes from bot/buttons.py."""

from __future__ import annotations

import pytest

from bot import buttons
from bot.buttons import Decoded, Verb
from bot.chats import ChatRef
from bot.records import Rsvp


def test_every_verb_the_bot_writes_decodes_to_what_it_stands_for() -> None:
    chat = ChatRef("telegram", "-100123:7")
    assert buttons.decode(buttons.rsvp(12, Rsvp.MAYBE)) == Decoded(Verb.RSVP, "#12",
                                                                     rsvp=Rsvp.MAYBE)
    assert buttons.decode(buttons.ready(12)) == Decoded(Verb.READY, "#12")
    assert buttons.decode(buttons.link(12, chat, False)) == Decoded(Verb.LINK, "#12",
                                                                     approve=False, chat=chat)
    assert buttons.decode(buttons.answer(12, "3:b")) == Decoded(Verb.ANSWER, "#12",
                                                                 prompt="3:b")


@pytest.mark.parametrize("data", ["", "wp", "xx:rsvp:1:going", "wp:rsvp:1", "wp:rsvp:١:going",
                                  "wp:rsvp:1:sometimes", "wp:ready:1:2", "wp:link:1:x:t:1",
                                  "wp:link:1:a:telegram:", "wp:answer:1", "wp:answer:1:",
                                  "wp:answer: 1:2", "wp:nope:1"])
def test_stale_foreign_or_mangled_data_decodes_to_nothing(data: str) -> None:
    assert buttons.decode(data) is None


def test_the_verb_and_the_answer_target_are_read_by_the_codec() -> None:
    assert buttons.verb_of("wp:rsvp:twelve:going") == "rsvp"  # ours, though stale
    assert buttons.verb_of("other:rsvp") is None
    assert not buttons.is_ours("wpx:rsvp:1:going")
    assert buttons.is_answer(buttons.answer(4, "2")) and not buttons.is_answer(buttons.ready(4))
    assert buttons.answer_target(buttons.answer(4, "2")) == ("#4", "2")
    assert buttons.answer_target(buttons.rsvp(4, Rsvp.GOING)) is None

