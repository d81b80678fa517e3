"""The console adapter: a chat in the terminal speaking `/watchparty …` through the real core."""

from __future__ import annotations

import asyncio
import getpass
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TextIO
from zoneinfo import ZoneInfo

from adapters.console import texts
from bot import buttons as button_data
from bot import commands as c
from bot import render
from bot.arguments import parse_command_text
from bot.chats import Actor, ChatRef
from bot.errors import UserError
from bot.ports import Clock
from bot.richtext import Bold, Code, Italic, Message, Span, Timestamp, TimeStyle
from bot.service import WatchParty
from bot.timeparse import parse_duration

log = logging.getLogger(__name__)

PLATFORM = "console"
CHAT = ChatRef(PLATFORM, "terminal")


@dataclass
class _Shown:
    """What the terminal has shown: message ids behind button and prompt numbers."""

    buttons: dict[int, str] = field(default_factory=dict)
    button_numbers: dict[str, int] = field(default_factory=dict)
    prompts: dict[int, str] = field(default_factory=dict)
    polls: dict[int, str] = field(default_factory=dict)


class ConsoleGateway:
    """Prints the bot's messages to the terminal; buttons become numbered choices."""

    platform = PLATFORM

    def __init__(self, out: TextIO, clock: Clock, zone: str, color: bool) -> None:
        self._out = out
        self._clock = clock
        self._zone = ZoneInfo(zone)
        self._color = color
        self._next_id = 0
        # Ids must not repeat across runs on the same database: replies and reactions find
        # their party by message id.
        self._run = f"{time.time_ns() // 1_000_000:x}"
        self._last: dict[str, str] = {}
        self.shown = _Shown()

    def _bold(self, text: str) -> str:
        return f"\x1b[1m{text}\x1b[0m" if self._color else text

    def _dim(self, text: str) -> str:
        return f"\x1b[2m{text}\x1b[0m" if self._color else text

    def _span(self, span: Span) -> str:
        if isinstance(span, Bold):
            return self._bold(span.text)
        if isinstance(span, Italic):
            return self._dim(span.text)
        if isinstance(span, Code):
            return f"`{span.text}`"
        if isinstance(span, Timestamp):
            if span.style is TimeStyle.RELATIVE:
                return render.relative(span.at, self._clock.now())
            return span.fallback
        return span.text

    def format(self, message: Message, message_id: str) -> str:
        """Render a message as terminal text, numbering its buttons and prompts."""
        body = "".join(self._span(span) for span in message.spans)
        lines = [body]
        for row in message.buttons:
            choices = []
            for button in row:
                if button_data.is_answer(button.data):
                    number = len(self.shown.prompts) + 1
                    self.shown.prompts[number] = message_id
                    choices.append(f"reply {number} … to answer")
                    continue
                number = self.shown.button_numbers.get(button.data) or (len(self.shown.buttons)
                                                                        + 1)
                self.shown.buttons[number] = button.data
                self.shown.button_numbers[button.data] = number
                choices.append(f"[{number}] {button.label}")
            lines.append("   " + "   ".join(choices))
        if message.poll is not None:
            number = len(self.shown.polls) + 1
            self.shown.polls[number] = message_id
            options = "  ".join(f"({i}) {opt}" for i, opt in enumerate(message.poll.options, 1))
            lines.append(f"   poll {number}: {options}   — vote {number} K")
        stamp = self._clock.now().astimezone(self._zone).strftime("%H:%M:%S")
        return f"{self._dim(stamp)} {self._bold('watchparty')}: " + "\n".join(lines)

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)

    async def send(self, chat: ChatRef, message: Message) -> str:
        """Print a new message."""
        self._next_id += 1
        message_id = f"{self._run}-{self._next_id}"
        text = self.format(message, message_id)
        self._last[message_id] = text
        self._print(text)
        return message_id

    async def edit(self, chat: ChatRef, message_id: str, message: Message) -> None:
        """Print the lines of a message that an edit changed (a busy count stays one line)."""
        prompts = dict(self.shown.prompts)
        text = self.format(message, message_id)
        self.shown.prompts = prompts  # an edit never creates a new prompt number
        before = set(self._last.get(message_id, "").splitlines()[1:])
        self._last[message_id] = text
        changed = [line for line in text.splitlines()[1:] if line not in before]
        if changed:
            # Named by its first line, as a person would point at it; ids mean nothing to them.
            title = next(iter(message.plain().splitlines()), "").strip()
            self._print(self._dim(texts.updated(title)) + " · ".join(
                line.strip() for line in changed))

    async def send_file(self, chat: ChatRef, filename: str, data: bytes,
                        caption: Message | None) -> str:
        """'Upload' a file by naming it and its size (the console saves exports itself)."""
        self._next_id += 1
        self._print(f"📎 {filename} ({len(data):,} bytes)")
        return f"{self._run}-{self._next_id}"


def start_reader(stream: TextIO, loop: asyncio.AbstractEventLoop,
                 queue: asyncio.Queue[str | None]) -> None:
    """Read lines on a daemon thread, so a blocked read never holds up the exit."""
    def pump() -> None:
        try:
            for line in stream:
                loop.call_soon_threadsafe(queue.put_nowait, line.rstrip("\n"))
        except (OSError, ValueError):
            pass
        finally:
            loop.call_soon_threadsafe(queue.put_nowait, None)

    threading.Thread(target=pump, name="console-stdin", daemon=True).start()


class ConsoleChat:
    """Reads what the person types and turns it into core commands."""

    def __init__(self, core: WatchParty, gateway: ConsoleGateway, clock: Clock, out: TextIO,
                 name: str | None = None) -> None:
        self._core = core
        self._gateway = gateway
        self._clock = clock
        self._out = out
        self._me = Actor(PLATFORM, "local", name or _local_name())
        self.actor = self._me

    def say(self, text: str) -> None:
        """Print a line of the console's own (not a bot message)."""
        print(text, file=self._out, flush=True)

    def _show_reply(self, reply: c.Reply | None) -> None:
        if reply is None or (reply.posted_here and reply.attachment is None):
            return  # this chat was just shown the same news (a pause, a resume, a seek…)
        text = self._gateway.format(reply.message, "reply").split(": ", 1)[-1]
        self.say(f"→ {text}")
        if reply.attachment is not None:
            path = reply.attachment.filename
            with open(path, "wb") as fh:
                fh.write(reply.attachment.data)
            self.say(f"→ saved {path} ({len(reply.attachment.data):,} bytes)")

    async def run(self, lines: asyncio.Queue[str | None], stop: asyncio.Event) -> None:
        """Handle lines until end of input or `stop`."""
        self.say(f"watchparty console — you are {self._me.display_name} (a moderator). "
                 "Type /watchparty help, or help for console commands.")
        while not stop.is_set():
            getter = asyncio.ensure_future(lines.get())
            stopper = asyncio.ensure_future(stop.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                getter.cancel()
                break
            stopper.cancel()
            line = getter.result()
            if line is None:
                break
            if not await self.handle_line(line.strip(), stop):
                break

    async def handle_line(self, line: str, stop: asyncio.Event) -> bool:
        """Handle one line; return False to leave."""
        if not line or line.startswith("#"):
            return True
        ctx = c.Context(CHAT, self.actor, str(CHAT), is_moderator=self._moderates)
        try:
            word, _, rest = line.partition(" ")
            lowered = word.lower()
            if lowered in {"quit", "exit"}:
                return False
            if lowered == "help":
                self.say(texts.HELP)
            elif lowered in {"/watchparty", "watchparty", "/wp"} or lowered.startswith(
                    "/watchparty@"):
                self._show_reply(await self._core.handle(ctx, parse_command_text(rest)))
            elif lowered.isdigit() or lowered == "press":
                number = lowered if lowered.isdigit() else rest.strip()
                data = self._gateway.shown.buttons.get(int(number)) if number.isdigit() else None
                if data is None:
                    raise UserError("console_usage", text=f"There's no button {number}.")
                self._show_reply(await self._core.handle(ctx, button_data.parse(data)))
            elif lowered == "reply":
                number, _, text = rest.partition(" ")
                message_id = self._prompt(number)
                reply = await self._core.handle(ctx, c.RecordAnswer(text, message_id=message_id))
                self._show_reply(reply)
            elif lowered in {"react", "unreact"}:
                number, _, emoji = rest.partition(" ")
                if not emoji.strip():
                    raise UserError("console_usage", text="Write react N EMOJI, e.g. react 1 😂")
                prompt = self._prompt(number, "prompt_unknown_react")
                await self._core.handle(ctx, c.RecordReaction(prompt, emoji.strip(),
                                                              added=lowered == "react"))
                verb = "added to" if lowered == "react" else "removed from"
                self.say(f"→ {emoji.strip()} {verb} prompt {number}")
            elif lowered == "vote":
                number, _, option = rest.partition(" ")
                poll_id = self._gateway.shown.polls.get(int(number)) if number.isdigit() else None
                if poll_id is None or not option.strip().isdigit():
                    raise UserError("console_usage", text="Write vote N K: poll N, option K.")
                await self._core.handle(ctx, c.RecordPollVote(poll_id,
                                                              (int(option.strip()) - 1,)))
                self.say(f"→ voted {option.strip()} in poll {number}")
            elif lowered == "as":
                self._switch(rest.strip())
            elif lowered == "wait":
                try:
                    seconds = parse_duration(rest.strip()).total_seconds()
                except UserError:
                    raise UserError("console_usage", text=texts.wait_usage(rest.strip())) from None
                sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
                sleeper.cancel()
                stopper.cancel()
            else:
                raise UserError("console_usage", text=(
                    f"I don't know “{word}”. Commands start with /watchparty; type help for "
                    "the console's own."))
        except UserError as err:
            self.say("⚠ " + render.error(err).plain())
        except Exception:
            log.exception("console command failed: %s", line.split(" ", 1)[0])
            self.say("⚠ " + render.unexpected().plain())
        return True

    def _prompt(self, number: str, missing: str = "prompt_unknown") -> str:
        message_id = self._gateway.shown.prompts.get(int(number)) if number.isdigit() else None
        if message_id is None:
            raise UserError(missing, number=number)
        return message_id

    def _switch(self, name: str) -> None:
        if not name or name.lower() == "me":
            self.actor = self._me
        else:
            self.actor = Actor(PLATFORM, "user:" + name.lower(), name)
        self.say(f"→ you are now {self.actor.display_name}"
                 + (" (a moderator)" if self.actor == self._me else ""))

    async def _moderates(self) -> bool:
        """The console's own notion: the person at the terminal moderates, pretend users don't."""
        return self.actor == self._me


def _local_name() -> str:
    try:
        return getpass.getuser() or "you"
    except (KeyError, OSError):
        return "you"


def is_tty(stream: TextIO) -> bool:
    """Return whether a stream is an interactive terminal."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def now_text(clock: Clock, zone: str) -> str:
    """Return the clock's time in a zone, for the console's banner."""
    return clock.now().astimezone(ZoneInfo(zone)).strftime("%a %d %b %Y %H:%M:%S %Z")
