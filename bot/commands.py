"""Commands in: what adapters ask of the core, already split into typed fields."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from bot.chats import Actor, ChatRef
from bot.richtext import Message

ModeratorCheck = Callable[[], Awaitable[bool]]


async def nobody_moderates() -> bool:
    """The moderator check of a context whose platform knows no moderators (reactions, say)."""
    return False


@dataclass(frozen=True, slots=True)
class Context:
    """Where a command came from; `scope` owns uploaded guides (a chat, or a whole server).

    `event` names the inbound platform event (a Telegram update, say) when the platform may
    deliver it again after a crash: what the command records carries it, so a redelivered event
    is not recorded twice.

    `is_moderator` asks the platform whether the actor moderates `chat`; the core awaits it
    only when a rule needs the answer, so no adapter keeps a list of which commands do.
    """

    chat: ChatRef
    actor: Actor
    scope: str
    event: str | None = None
    is_moderator: ModeratorCheck = nobody_moderates
    # Set by the core when the command came from a party's thread: `chat` is then the
    # thread's parent chat, which is where what is done in the thread counts.
    thread: ChatRef | None = None

    @property
    def origin(self) -> ChatRef:
        """Where the command was actually given (the thread, if it came from one)."""
        return self.thread or self.chat


@dataclass(frozen=True, slots=True)
class CreateParty:
    """`/watchparty create`."""

    title: str
    when: str
    guide: str | None = None
    timezone: str | None = None
    repeat: str | None = None
    episodes: str | None = None


@dataclass(frozen=True, slots=True)
class ListParties:
    """`/watchparty list`."""


@dataclass(frozen=True, slots=True)
class ShowInfo:
    """`/watchparty info` and `/watchparty now`."""

    party: str | None = None


@dataclass(frozen=True, slots=True)
class SetRsvp:
    """`join`, `leave`, and the Going / Maybe / Not going buttons; `party` is a code or an id."""

    party: str | None
    status: str


@dataclass(frozen=True, slots=True)
class MarkReady:
    """`/watchparty ready` and the Ready button."""

    party: str | None = None


@dataclass(frozen=True, slots=True)
class LinkChat:
    """`/watchparty link CODE`: ask to attach this chat to another chat's party."""

    code: str


@dataclass(frozen=True, slots=True)
class UnlinkChat:
    """`/watchparty unlink [CODE]`: take a linked chat (this one by default) out of a party."""

    party: str | None = None
    chat: ChatRef | None = None


@dataclass(frozen=True, slots=True)
class DecideLink:
    """The Approve / Decline buttons of a link request."""

    party: str
    chat: ChatRef
    approve: bool


@dataclass(frozen=True, slots=True)
class StartParty:
    """`/watchparty start [party] [now | ready N]`."""

    party: str | None = None
    when: str = "now"


@dataclass(frozen=True, slots=True)
class PauseParty:
    """`/watchparty pause`."""

    party: str | None = None


@dataclass(frozen=True, slots=True)
class ResumeParty:
    """`/watchparty resume`."""

    party: str | None = None


@dataclass(frozen=True, slots=True)
class CancelParty:
    """`/watchparty cancel`; `all` also ends the series the party is an episode of."""

    party: str | None = None
    all: bool = False


@dataclass(frozen=True, slots=True)
class EditParty:
    """`/watchparty edit`: change a party's title, time or guide before its countdown."""

    party: str | None = None
    title: str | None = None
    when: str | None = None
    guide: str | None = None


@dataclass(frozen=True, slots=True)
class ShowHistory:
    """`/watchparty history [page]`: this chat's finished and cancelled parties."""

    page: str | None = None


@dataclass(frozen=True, slots=True)
class CalendarFile:
    """`/watchparty calendar` and the Add to calendar button: a party's `.ics` file."""

    party: str | None = None


@dataclass(frozen=True, slots=True)
class ListGuides:
    """`/watchparty guide list`."""


@dataclass(frozen=True, slots=True)
class ShowGuide:
    """`/watchparty guide show NAME`."""

    name: str


@dataclass(frozen=True, slots=True)
class UploadGuide:
    """`/watchparty guide upload` with a TOML file."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Export:
    """`/watchparty export`."""

    party: str | None = None
    format: str = "json"
    anonymize: bool = False


@dataclass(frozen=True, slots=True)
class ChangeSettings:
    """`/watchparty settings`; no field set shows the current settings."""

    timezone: str | None = None
    reminders: str | None = None
    creators: str | None = None
    retention_days: str | None = None
    moderator_role: str | None = None
    ping_reminders: str | None = None
    threads: str | None = None


@dataclass(frozen=True, slots=True)
class ShowPrivacy:
    """`/watchparty privacy`."""


@dataclass(frozen=True, slots=True)
class ForgetMe:
    """`/watchparty forget-me`."""


@dataclass(frozen=True, slots=True)
class ShowHelp:
    """`/watchparty` and `/watchparty help`."""


@dataclass(frozen=True, slots=True)
class RecordAnswer:
    """An answer to a prompt: a reply to its message, or (`party`, `prompt`) from a modal."""

    text: str
    message_id: str | None = None
    party: str | None = None
    prompt: str | None = None


@dataclass(frozen=True, slots=True)
class RecordReaction:
    """A reaction added to or removed from a message."""

    message_id: str
    emoji: str
    added: bool = True


@dataclass(frozen=True, slots=True)
class RecordReactionCount:
    """The totals of anonymous reactions on a message (no user known): `(emoji, total)` pairs."""

    message_id: str
    counts: tuple[tuple[str, int], ...]


@dataclass(frozen=True, slots=True)
class RecordPollVote:
    """A vote in a guide's poll; an empty `options` is a retracted vote."""

    message_id: str
    options: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class SeekParty:
    """`/watchparty seek POSITION`: `0:41:30`, `+30s`, `-2m` or `chapter 3`."""

    position: str
    party: str | None = None


@dataclass(frozen=True, slots=True)
class FollowParty:
    """`/watchparty follow SOURCE`: the party's clock follows a Syncplay room or Jellyfin user."""

    source: str
    party: str | None = None


@dataclass(frozen=True, slots=True)
class UnfollowParty:
    """`/watchparty unfollow`: back to the bot's own clock."""

    party: str | None = None


Command = (CreateParty | ListParties | ShowInfo | SetRsvp | MarkReady | LinkChat | DecideLink
           | UnlinkChat | StartParty | PauseParty | ResumeParty | CancelParty | ListGuides
           | ShowGuide | UploadGuide | Export | ChangeSettings | ShowPrivacy | ForgetMe | ShowHelp
           | RecordAnswer | RecordReaction | RecordReactionCount | RecordPollVote
           | SeekParty | FollowParty | UnfollowParty
           | EditParty | ShowHistory | CalendarFile)


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file for the caller (an export)."""

    filename: str
    data: bytes


@dataclass(frozen=True, slots=True)
class Reply:
    """What the core answers the caller; `private` asks for an ephemeral reply where possible.

    `posted_here` says the caller's chat was also sent the same news (a notice to every linked
    chat): a platform with no private replies sends this reply nowhere, so no one sees it twice.
    """

    message: Message
    private: bool = False
    attachment: Attachment | None = None
    posted_here: bool = False
