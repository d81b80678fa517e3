"""The command line of PRODUCT §8: run, console, export, calendar, guide check, migrate."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from bot import app, render
from bot.calendar import calendar_bytes
from bot.errors import ConfigurationError, UserError
from bot.export import FORMATS, write_export
from bot.guide import read_guide_file
from bot.party import Party, normalize_code
from bot.ports import Store
from bot.service import load_party_guide
from bot.settings import Settings

log = logging.getLogger("bot")



def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description="watchparty: group watch parties with synchronized starts and "
                    "chapter-timed discussion. With no command, runs every adapter whose "
                    "token is set, or the terminal console when none is.")
    sub = parser.add_subparsers(dest="command")
    sub.add_parser("run", help="run the bot (the default)")
    console = sub.add_parser("console", help="a chat in the terminal, whatever tokens are set")
    console.add_argument("--speed", type=float, default=1.0,
                         help="run the film clock N times faster (a rehearsal, kept in "
                              "memory only)")
    export = sub.add_parser("export", help="write a party's discussion log")
    export.add_argument("code", help="the party's join code, e.g. K7Q2MX")
    export.add_argument("--format", choices=list(FORMATS),
                        help="json (one document), jsonl (JSON Lines), csv, md or html; "
                             "without it, taken from the -o file's extension, else JSON Lines "
                             "to a pipe and JSON to a terminal or file")
    export.add_argument("--anonymize", action="store_true",
                        help="replace people with Participant 1..N")
    export.add_argument("-o", "--output", help="file to write (stdout without it)")
    calendar = sub.add_parser("calendar", help="write a party's .ics calendar file")
    calendar.add_argument("code", help="the party's join code, e.g. K7Q2MX")
    calendar.add_argument("-o", "--output", help="file to write (stdout without it)")
    guide = sub.add_parser("guide", help="work with guide files")
    guide_sub = guide.add_subparsers(dest="guide_command", required=True)
    check = guide_sub.add_parser("check", help="validate a guide and print its prompt times")
    check.add_argument("file", type=Path)
    migrate = sub.add_parser("migrate", help="bring the database schema up to date")
    migrate.add_argument("--from", dest="source", metavar="sqlite:///old.db",
                         help="also copy everything from this SQLite database into the "
                              "PostgreSQL one DATABASE_URL names (safe to run again: nothing "
                              "is copied twice)")
    migrate.add_argument("--create", action="store_true",
                         help="first create the PostgreSQL database DATABASE_URL names, if it "
                              "does not exist")
    return parser


def _settings() -> Settings:
    try:
        return Settings()
    except ValidationError as err:
        first = err.errors()[0]
        field = ".".join(str(p) for p in first["loc"]).upper()
        message = str(first["msg"]).removeprefix("Value error, ")
        if not field:
            raise ConfigurationError(message) from None  # it names the settings itself
        if first["type"] != "value_error" and "TOKEN" not in field:
            # pydantic's own wording names the expected type, not what it was given.
            message = f"{message}; got “{first.get('input')}”"
        raise ConfigurationError(f"{field}: {message}") from None


def _configure_logging(level: str) -> None:
    logging.basicConfig(level=level, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")


def guide_check(path: Path, out: TextIO) -> int:
    """Validate a guide file; print its chapters and prompt times, or what is wrong."""
    try:
        guide = read_guide_file(path)
    except UserError as err:
        print(render.error(err).plain(), file=out)
        return 1
    print(render.guide_check_report(guide), file=out)
    return 0


def export_format(fmt: str | None, output: str | None, to_terminal: bool) -> str:
    """The format to write: the one asked for, else the output file's extension, else JSON.

    An explicit format always wins; without one, a pipe gets JSON Lines and a terminal one
    JSON document.
    """
    if fmt is not None:
        return fmt
    suffix = Path(output).suffix.lower().lstrip(".") if output else ""
    fmt = {"htm": "html", "markdown": "md"}.get(suffix, suffix)
    if fmt in FORMATS:
        return fmt
    return "jsonl" if output is None and not to_terminal else "json"


async def export(settings: Settings, code: str, fmt: str | None, anonymize: bool,
                 output: str | None) -> int:
    """Write a party's export to a file or stdout, streamed record by record."""
    found = await _open_party(settings, code)
    if isinstance(found, int):
        return found
    store, party = found
    try:
        guide = await load_party_guide(store, party)
        fmt = export_format(fmt, output, sys.stdout.isatty())
        from bot.clock import SystemClock

        now = SystemClock().now()
        if output is None:
            stdout = sys.stdout.buffer

            async def write_out(text: str) -> None:
                stdout.write(text.encode("utf-8"))

            await write_export(store, party, guide, fmt, write_out, anonymize=anonymize, now=now)
            stdout.flush()
        else:
            # The CLI runs nothing else on its loop, so plain file writes block no one. No
            # newline translation: CSV writes its own CRLF, the other formats LF.
            with open(output, "w", encoding="utf-8", newline="") as fh:  # noqa: ASYNC230
                async def write_file(text: str) -> None:
                    fh.write(text)

                count = await write_export(store, party, guide, fmt, write_file,
                                           anonymize=anonymize, now=now)
            print(f"wrote {count} records to {output} ({fmt})", file=sys.stderr)
        return 0
    finally:
        await store.close()


async def _open_party(settings: Settings, code: str) -> tuple[Store, Party] | int:
    """The store and the party with this code, or the exit status after saying why not."""
    normalized = normalize_code(code)
    if normalized is None:
        print(render.error(UserError("code_invalid", code=code)).plain(), file=sys.stderr)
        return 2
    store = await app.open_configured_store(settings)
    party = await store.get_party_by_code(normalized)
    if party is None:
        await store.close()
        print(render.error(UserError("party_not_found", code=code)).plain(), file=sys.stderr)
        return 1
    return store, party


async def calendar(settings: Settings, code: str, output: str | None) -> int:
    """Write a party's .ics file (its home chat's first reminder as the alarm)."""
    found = await _open_party(settings, code)
    if isinstance(found, int):
        return found
    store, party = found
    try:
        guide = await load_party_guide(store, party)
        reminders = (await store.get_chat_settings(party.home)).reminders
        from bot.clock import SystemClock

        data = calendar_bytes(party, guide, max(reminders) if reminders else None,
                              SystemClock().now())
    finally:
        await store.close()
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        Path(output).write_bytes(data)  # noqa: ASYNC240 (nothing else runs on the CLI's loop)
        print(f"wrote the calendar file of {party.code} to {output}", file=sys.stderr)
    return 0


async def migrate(settings: Settings, source: str | None = None, create: bool = False) -> int:
    """Open the store, which applies pending migrations, and say so; with `source`, copy an
    SQLite database into it and say what was copied; with `create`, make a missing PostgreSQL
    database first."""
    made = await app.create_database(settings) if create else None
    if made:
        print(f"created the database {made}")
    if source is not None:
        for line in await app.copy_database(settings, source):
            print(line)
        return 0
    store = await app.open_configured_store(settings)
    await store.close()
    print(f"database is up to date ({settings.database_url.split('://', 1)[0]})")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of `python -m bot`."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "guide":
            return guide_check(args.file, sys.stdout)
        settings = _settings()
        _configure_logging(settings.log_level)
        if args.command == "console":
            if args.speed <= 0 or args.speed > 10_000:
                print("--speed must be above 0 and at most 10000", file=sys.stderr)
                return 2
            asyncio.run(app.run_console(settings, speed=args.speed))
        elif args.command == "export":
            return asyncio.run(export(settings, args.code, args.format, args.anonymize,
                                      args.output))
        elif args.command == "calendar":
            return asyncio.run(calendar(settings, args.code, args.output))
        elif args.command == "migrate":
            return asyncio.run(migrate(settings, args.source, args.create))
        else:
            asyncio.run(app.run_bot(settings))
    except ConfigurationError as err:
        print(f"watchparty: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return 0
