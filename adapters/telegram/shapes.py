"""Whether an update has the shape the Bot API promises, in the parts the adapter reads.

python-telegram-bot decodes what it is given without checking types, so a forged or broken
update can carry a chat without an id or a text that is a number. Such an update is dropped
before any handler sees it (the update loop then confirms it like any other).
"""

from __future__ import annotations

from typing import Any

from telegram import (
    CallbackQuery,
    Chat,
    ChatMemberUpdated,
    MaybeInaccessibleMessage,
    Message,
    MessageReactionCountUpdated,
    MessageReactionUpdated,
    PollAnswer,
    ReactionType,
    Update,
    User,
)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _str(value: Any, optional: bool = True) -> bool:
    return isinstance(value, str) or (optional and value is None)


def _user(user: Any, optional: bool = True) -> bool:
    if user is None:
        return optional
    return (isinstance(user, User) and _int(user.id) and _str(user.first_name, False)
            and _str(user.last_name) and _str(user.username))


def _chat(chat: Any, optional: bool = False) -> bool:
    if chat is None:
        return optional
    return (isinstance(chat, Chat) and _int(chat.id) and _str(chat.type, False)
            and _str(chat.title) and _str(chat.first_name) and _str(chat.last_name))


def _message(message: Any, optional: bool = True, depth: int = 0) -> bool:
    if message is None:
        return optional
    if not isinstance(message, MaybeInaccessibleMessage):
        return False
    if not (_int(message.message_id) and _chat(message.chat)):
        return False
    if not isinstance(message, Message):
        return True  # inaccessible: only its chat and id are read
    thread = message.message_thread_id
    return (_user(message.from_user) and _chat(message.sender_chat, optional=True)
            and (thread is None or _int(thread)) and _str(message.text)
            and _str(message.caption) and depth < 2
            and _message(message.reply_to_message, depth=depth + 1))


def _query(query: CallbackQuery) -> bool:
    return (_str(query.id, False) and _user(query.from_user, False) and _str(query.data)
            and _message(query.message))


def _reactions(reactions: Any) -> bool:
    return isinstance(reactions, tuple) and all(isinstance(r, ReactionType) for r in reactions)


def _reaction(changed: MessageReactionUpdated) -> bool:
    return (_chat(changed.chat) and _int(changed.message_id) and _user(changed.user)
            and _chat(changed.actor_chat, optional=True)
            and _reactions(changed.old_reaction) and _reactions(changed.new_reaction))


def _reaction_count(counted: MessageReactionCountUpdated) -> bool:
    return (_chat(counted.chat) and _int(counted.message_id)
            and isinstance(counted.reactions, tuple)
            and all(isinstance(getattr(r, "type", None), ReactionType)
                    and _int(getattr(r, "total_count", None)) for r in counted.reactions))


def _poll_answer(answer: PollAnswer) -> bool:
    return (_str(answer.poll_id, False) and _user(answer.user)
            and _chat(answer.voter_chat, optional=True)
            and isinstance(answer.option_ids, tuple) and all(_int(o) for o in answer.option_ids))


def _member(changed: ChatMemberUpdated) -> bool:
    return _chat(changed.chat) and _str(getattr(changed.new_chat_member, "status", None), False)


def well_formed(update: Update) -> bool:
    """Whether every part of the update that a handler reads has its promised type."""
    return (_int(update.update_id)
            and _message(update.message) and _message(update.edited_message)
            and _message(update.channel_post)
            and (update.callback_query is None or _query(update.callback_query))
            and (update.message_reaction is None or _reaction(update.message_reaction))
            and (update.message_reaction_count is None
                 or _reaction_count(update.message_reaction_count))
            and (update.poll_answer is None or _poll_answer(update.poll_answer))
            and (update.my_chat_member is None or _member(update.my_chat_member)))


_KINDS = ("message", "edited_message", "channel_post", "callback_query", "message_reaction",
          "message_reaction_count", "poll_answer", "my_chat_member")


def kind_of(update: Update) -> str:
    """What kind of update this is, for the log (its contents may be anything)."""
    return next((kind for kind in _KINDS if getattr(update, kind, None) is not None), "update")
