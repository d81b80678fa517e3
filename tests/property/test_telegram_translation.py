"""Raw Telegram updates, valid ones with fields mutated into arbitrary JSON, decoded by the real
python-telegram-bot and translated as the adapter does: a chat, an actor and a command (or a
clear refusal), never a crash.

An update that PTB itself cannot decode is the update loop's business (it is logged and
skipped there), so it is only counted here.
"""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import event, example, given
from hypothesis import strategies as st
from telegram import Bot, Chat, Message, Update, User

from adapters.telegram.adapter import _reaction_key
from adapters.telegram.chats import (
    chat_actor,
    chat_ref,
    message_actor,
    message_chat,
    scope_of,
    split_ref,
    user_actor,
)
from adapters.telegram.shapes import well_formed
from bot import buttons
from bot.arguments import parse_command_text
from bot.chats import Actor, ChatRef
from bot.errors import UserError
from tests.property.checks import PROPERTY, assert_renders, paths
from tests.property.test_discord_translation import JSON

BOT = Bot("123456:TEST-token")
USER = {"id": 7, "is_bot": False, "first_name": "Hana", "last_name": "H"}
GROUP = {"id": -1001234, "type": "supergroup", "title": "Film club", "is_forum": True}
CHANNEL = {"id": -1009876, "type": "channel", "title": "News"}
MESSAGE = {"message_id": 5, "date": 1790000000, "chat": GROUP, "from": USER,
           "sender_chat": CHANNEL, "message_thread_id": 3, "is_topic_message": True,
           "text": "/watchparty create Movie | in 1h",
           "entities": [{"type": "bot_command", "offset": 0, "length": 11}],
           "reply_to_message": {"message_id": 4, "date": 1790000000, "chat": GROUP,
                                "from": {"id": 123456, "is_bot": True, "first_name": "WP"},
                                "text": "💬 Chapter 1"}}
EMOJI = {"type": "emoji", "emoji": "👍"}
TEMPLATES: list[dict[str, Any]] = [
    {"message": MESSAGE},
    {"edited_message": MESSAGE},
    {"channel_post": dict(MESSAGE, chat=CHANNEL)},
    {"callback_query": {"id": "9", "from": USER, "chat_instance": "ci", "data": "wp:rsvp:1:going",
                        "message": MESSAGE}},
    {"message_reaction": {"chat": GROUP, "message_id": 5, "date": 1790000000, "user": USER,
                          "actor_chat": CHANNEL, "old_reaction": [EMOJI],
                          "new_reaction": [{"type": "custom_emoji", "custom_emoji_id": "c1"},
                                           {"type": "paid"}]}},
    {"message_reaction_count": {"chat": GROUP, "message_id": 5, "date": 1790000000,
                                "reactions": [{"type": EMOJI, "total_count": 2}]}},
    {"poll_answer": {"poll_id": "p1", "user": USER, "voter_chat": CHANNEL, "option_ids": [0]}},
]


@st.composite
def raw_updates(draw: st.DrawFn) -> dict[str, Any]:
    """A valid update with a few fields replaced by arbitrary JSON or taken out."""
    update: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(TEMPLATES)))
    for _ in range(draw(st.integers(0, 3))):
        found = paths(update)
        if not found:
            break
        path = draw(st.sampled_from(found))
        parent: Any = update
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.booleans()):
            del parent[path[-1]]
        else:
            parent[path[-1]] = draw(JSON)
    update["update_id"] = draw(st.integers(0, 2**31))
    return update


def _check_chat(chat: ChatRef) -> None:
    assert chat.platform == "telegram" and chat.chat_id
    chat_id, topic = split_ref(chat)
    assert chat_ref(chat_id, topic) == chat


def _check_actor(actor: Actor) -> None:
    assert actor.platform == "telegram" and actor.user_id and isinstance(actor.display_name, str)


def _check_sender(user: User | None, chat: Chat | None) -> None:
    """Reactions and votes come from a user or, anonymously, from a chat."""
    if user is not None:
        _check_actor(user_actor(user))
    elif chat is not None:
        _check_actor(chat_actor(chat))


def translate(update: Update) -> None:
    """What the adapter's handlers take from an update before the core sees it."""
    message = update.message
    if message is not None:
        actor, _ = message_actor(message)
        _check_actor(actor)
        _check_chat(message_chat(message))
        assert scope_of(message.chat.id)
        words = (message.text or "").split(maxsplit=1)
        if words and words[0].startswith("/"):
            try:
                parse_command_text(words[1] if len(words) > 1 else "")
            except UserError as err:
                assert_renders(err, message.text or "")
    query = update.callback_query
    if query is not None:
        _check_actor(user_actor(query.from_user))
        try:
            buttons.parse(query.data or "")
        except UserError as err:
            assert_renders(err, query.data or "")
        if query.message is not None:
            chat = (message_chat(query.message) if isinstance(query.message, Message)
                    else chat_ref(query.message.chat.id))
            _check_chat(chat)
    changed = update.message_reaction
    if changed is not None:
        _check_sender(changed.user, changed.actor_chat)
        for reaction in (*changed.old_reaction, *changed.new_reaction):
            assert _reaction_key(reaction)
    counted = update.message_reaction_count
    if counted is not None:
        for count in counted.reactions:
            assert _reaction_key(count.type) and isinstance(count.total_count, int)
    answer = update.poll_answer
    if answer is not None:
        _check_sender(answer.user, answer.voter_chat)


@PROPERTY
@given(raw_updates())
@example({"update_id": 1, "message": {k: v for k, v in MESSAGE.items()
                                      if k not in ("from", "sender_chat")}})
@example({"update_id": 1, "message": dict(MESSAGE, chat=dict(GROUP, id=None))})
@example({"update_id": 1, "message": {k: v for k, v in MESSAGE.items() if k != "chat"}})
@example({"update_id": 1, "message_reaction_count": {
    "chat": GROUP, "message_id": 5, "date": 1790000000,
    "reactions": [{"type": EMOJI, "total_count": None}]}})
def test_any_update_is_translated_or_left_to_the_update_loop(raw: dict[str, Any]) -> None:
    try:
        update = Update.de_json(raw, BOT)
    except Exception:  # whatever PTB raises, the update loop skips it
        event("PTB cannot decode it")
        return
    if not well_formed(update):
        event("not in the Bot API's shape: dropped before any handler")
        return
    event("translated")
    translate(update)
