"""Telegram chats as the core sees them: a chat id, and the forum topic when there is one."""

from __future__ import annotations

from telegram import Chat, Message, User

from bot.chats import Actor, ChatRef

PLATFORM = "telegram"
TOPIC_SEPARATOR = "/"
GROUP_TYPES = frozenset({Chat.GROUP, Chat.SUPERGROUP})
# Telegram's stand-in sender for an anonymous group administrator.
ANONYMOUS_ADMIN_ID = 1087968824


def chat_ref(chat_id: int, topic: int | None = None) -> ChatRef:
    """The core's name for a chat, or for one forum topic of it (`-1001234/56`)."""
    if topic is None:
        return ChatRef(PLATFORM, str(chat_id))
    return ChatRef(PLATFORM, f"{chat_id}{TOPIC_SEPARATOR}{topic}")


def split_ref(chat: ChatRef) -> tuple[int, int | None]:
    """The Telegram chat id and forum topic (message_thread_id) behind a ChatRef."""
    head, sep, tail = chat.chat_id.partition(TOPIC_SEPARATOR)
    return int(head), (int(tail) if sep else None)


def message_chat(message: Message) -> ChatRef:
    """Where a message was posted: replies to it must go to the same forum topic.

    Only forum topics count: in other supergroups `message_thread_id` names a reply thread,
    which is not a place of its own.
    """
    topic = message.message_thread_id if message.is_topic_message else None
    return chat_ref(message.chat.id, topic)


def scope_of(chat_id: int) -> str:
    """Who owns uploaded guides: the whole group, so every topic of a forum shares them."""
    return str(chat_ref(chat_id))


def user_actor(user: User) -> Actor:
    """The core's view of a Telegram user."""
    return Actor(PLATFORM, str(user.id), user.full_name)


def chat_actor(chat: Chat) -> Actor:
    """A chat acting as a person: an anonymous administrator, or a channel."""
    name = chat.title or chat.full_name or "Anonymous"
    return Actor(PLATFORM, f"chat{chat.id}", name)


def message_actor(message: Message) -> tuple[Actor, bool | None]:
    """Who sent a message, and whether they moderate when that is known without asking.

    A message sent on behalf of the group itself comes from one of its administrators. One
    with no sender at all (Telegram leaves `from` empty for some channel messages) is the chat
    speaking, and moderates nothing.
    """
    sender_chat = message.sender_chat
    if sender_chat is not None:
        return chat_actor(sender_chat), sender_chat.id == message.chat.id
    user = message.from_user
    if user is None:
        return chat_actor(message.chat), False
    return user_actor(user), None
