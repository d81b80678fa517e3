"""Button data from anywhere (a forged Telegram callback_data, a Discord custom_id) is a command
or a clear refusal, never a crash."""

from __future__ import annotations

from hypothesis import example, given
from hypothesis import strategies as st

from adapters.discord import components
from bot import buttons
from bot import commands as c
from bot.chats import ChatRef
from bot.errors import UserError
from bot.records import Rsvp
from tests.property.checks import PROPERTY, assert_renders

PIECES = st.sampled_from(["wp", "rsvp", "ready", "link", "answer", "a", "d", "going", "maybe",
                          "discord", "telegram", "12", "-100", "0", "", "١٢", "1.1", " 3"])
DATA = st.text(max_size=80) | st.lists(PIECES | st.text(max_size=6), max_size=8).map(":".join)


@PROPERTY
@given(DATA)
@example("wp:rsvp:١٢:going")  # a party id in other digits is no party id
@example("wp:link:1:a:telegram:")
def test_button_data_is_a_command_or_a_clear_refusal(data: str) -> None:
    try:
        command = buttons.parse(data)
    except UserError as err:
        assert_renders(err, data)
        return
    assert isinstance(command, c.SetRsvp | c.MarkReady | c.DecideLink)
    party = command.party
    assert party is not None and party.startswith("#") and party[1:].isascii() \
        and party[1:].isdigit()


@PROPERTY
@given(st.integers(1, 10**15), st.sampled_from(list(Rsvp)), st.booleans(),
       st.text(min_size=1, max_size=20).filter(lambda s: ":" not in s))
def test_what_the_bot_sends_reads_back(party: int, status: Rsvp, approve: bool,
                                       chat_id: str) -> None:
    assert buttons.parse(buttons.rsvp(party, status)) == c.SetRsvp(f"#{party}", status.value)
    assert buttons.parse(buttons.ready(party)) == c.MarkReady(f"#{party}")
    chat = ChatRef("telegram", chat_id)
    assert buttons.parse(buttons.link(party, chat, approve)) == c.DecideLink(f"#{party}", chat,
                                                                             approve)


@PROPERTY
@given(DATA)
@example("wp:answer:١:1.1")
def test_an_answer_custom_id_names_a_party_and_prompt_or_nothing(custom_id: str) -> None:
    if not components.is_answer(custom_id):
        return
    target = components.answer_target(custom_id)
    if target is not None:
        party, prompt = target
        assert party[1:].isascii() and party[1:].isdigit() and prompt
    modal = components.answer_modal(custom_id, None)
    assert modal.custom_id == custom_id
