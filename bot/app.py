"""The composition root: picks adapters and a store from the settings and wires the core."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import importlib
import logging
import signal
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol, TextIO

from adapters.console import texts as console_texts
from adapters.console.chat import CHAT as CONSOLE_CHAT
from adapters.console.chat import ConsoleChat, ConsoleGateway, is_tty, start_reader
from adapters.feeds import feed_opener
from adapters.web import WebServer
from bot.clock import ScaledClock, SystemClock
from bot.errors import ConfigurationError
from bot.guide import BUILTIN_DIR, GuideLibrary
from bot.lifecycle import Shutdown
from bot.outbox import UNLIMITED, Outbox, RateLimits
from bot.party import ACTIVE_STATES
from bot.ports import ChatGateway, Clock, SharedActions, Store
from bot.scheduler import LOOKAHEAD, Scheduler
from bot.service import CoreConfig, WatchParty
from bot.settings import Settings
from storage import open_store

log = logging.getLogger(__name__)

# How long GET /healthz waits for the database before it calls it unavailable.
HEALTH_TIMEOUT = 2.0


@dataclass
class Runtime:
    """The wired bot: store, clock, outbox, core and scheduler."""

    store: Store
    clock: Clock
    outbox: Outbox
    core: WatchParty
    scheduler: Scheduler

    async def start(self) -> None:
        """Start delivering and firing."""
        await self.outbox.start()
        self.scheduler.start()
        await self.core.start_following()

    async def quiesce(self) -> None:
        """Stop firing and deliver what is queued (up to 5 s): after the adapters' intake has
        closed, while their connections are still open."""
        await self.core.stop_following()
        await self.scheduler.stop()
        await self.core.drain()
        await self.outbox.stop(drain_seconds=5.0)

    async def stop(self) -> None:
        """Stop cleanly: fired actions finish, posts are delivered, the store is flushed."""
        await self.quiesce()
        await self.store.close()


async def open_configured_store(settings: Settings) -> Store:
    """Open the configured store, turning failures into one clear line."""
    from storage import StoreUnavailable, UnsupportedDatabase

    try:
        store = await open_store(settings.database_url)
    except (UnsupportedDatabase, StoreUnavailable) as err:
        raise ConfigurationError(f"DATABASE_URL: {err}") from err
    # Only leases that ran out, or that this worker's name held in a run that died: another
    # worker's live leases stay its own.
    try:
        reaped = await store.reap_leases(SystemClock().now(), settings.worker_id)
    except BaseException:
        await store.close()
        raise
    if reaped:
        log.info("reaped %d action leases that ran out or were left by a previous run", reaped)
    return store


async def create_database(settings: Settings) -> str | None:
    """Create the PostgreSQL database DATABASE_URL names if it is missing (migrate --create);
    return what was made (`name on host:port`), else None."""
    from storage import StoreUnavailable, UnsupportedDatabase, create_database

    try:
        return await create_database(settings.database_url)
    except (UnsupportedDatabase, StoreUnavailable) as err:
        raise ConfigurationError(f"DATABASE_URL: {err}") from err


async def copy_database(settings: Settings, source_url: str) -> list[str]:
    """Copy the SQLite database `source_url` names into the PostgreSQL one DATABASE_URL
    names (idempotently); return one line per kind of thing, saying what was copied."""
    from storage import (
        StoreUnavailable,
        UnsupportedDatabase,
        copy_sqlite_to_postgres,
        sqlite_path,
    )

    target = settings.database_url
    if target.split("://", 1)[0].lower() not in ("postgresql", "postgres"):
        raise ConfigurationError("migrate --from copies into PostgreSQL: set DATABASE_URL to "
                                 "postgresql://USER:PASSWORD@HOST:PORT/DB")
    try:
        path = sqlite_path(source_url)
    except UnsupportedDatabase as err:
        raise ConfigurationError(f"--from: {err}") from err
    if path is None:
        raise ConfigurationError("--from takes an SQLite database: sqlite:///old.db")
    try:
        return await copy_sqlite_to_postgres(path, target)
    except UnsupportedDatabase as err:
        raise ConfigurationError(f"DATABASE_URL: {err}") from err
    except StoreUnavailable as err:
        raise ConfigurationError(str(err)) from err


def guide_library(settings: Settings) -> GuideLibrary:
    """Build the guide library and log operator guides that do not load."""
    library = GuideLibrary(BUILTIN_DIR, settings.guides_dir)
    for error in library.load_errors():
        log.warning("guide %s in GUIDES_DIR is not usable: %s", error.name,
                    "; ".join(error.problems))
    return library


async def build(settings: Settings, store: Store, clock: Clock,
                gateways: dict[str, tuple[ChatGateway, RateLimits]],
                speed: float = 1.0, library: GuideLibrary | None = None) -> Runtime:
    """Wire the core for a set of gateways; `speed` is how much faster than real time `clock` runs.

    Lateness limits are real-time limits: on a clock sixty times faster, a 0.3 s hiccup is 18
    seconds of film time and must not be called "the bot was offline".
    """
    outbox = Outbox(clock, {name: gw for name, (gw, _) in gateways.items()},
                    {name: limits for name, (_, limits) in gateways.items()},
                    shared=store if settings.shares_database() else None)
    config = CoreConfig(default_timezone=settings.default_timezone,
                        grace=timedelta(seconds=settings.grace_period_seconds * speed),
                        late_note_after=timedelta(seconds=15 * speed),
                        countdown=timedelta(seconds=settings.countdown_seconds),
                        resume_countdown=timedelta(seconds=settings.resume_countdown_seconds),
                        ready_check=timedelta(seconds=settings.ready_check_seconds),
                        follow_allowed_hosts=settings.allowed_feed_hosts(),
                        feed_lost_after=timedelta(seconds=settings.feed_lost_after_seconds),
                        worker_id=settings.worker_id)
    core = WatchParty(store, clock, outbox, library or guide_library(settings), config)
    core.follow_with(feed_opener(settings, clock))
    shared = store if isinstance(store, SharedActions) else None
    scheduler = Scheduler(store, clock, core.fire, owner=settings.worker_id,
                          lookahead=shared.claim_ahead if shared else LOOKAHEAD)
    core.on_schedule(scheduler.schedule)
    if shared is not None:
        # Other workers' actions: this timer sleeps until the earliest one it knows of.
        shared.on_actions_added(scheduler.wake)
    return Runtime(store, clock, outbox, core, scheduler)


def _freeze_startup_objects() -> None:
    """Keep start-up objects out of later garbage collections.

    A full collection walks every object of the process; with the libraries' objects frozen
    it stops stalling the loop for 20 ms in the middle of a large export (bench/export).
    """
    gc.collect()
    gc.freeze()


def _install_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, stop.set)


async def run_console(settings: Settings, speed: float = 1.0, stdin: TextIO | None = None,
                      stdout: TextIO | None = None) -> None:
    """Run the console adapter until end of input, Ctrl-C or SIGTERM."""
    stdin = stdin or sys.stdin
    stdout = stdout or sys.stdout
    rehearsal = speed != 1.0
    if rehearsal:
        # A rehearsal runs on its own fast clock; writing its instants into the real database
        # would confuse the real schedule, so it keeps everything in memory.
        settings = settings.model_copy(update={"database_url": "memory://"})
        clock: Clock = ScaledClock(speed)
    else:
        clock = SystemClock()
    # Everything the configuration can get wrong is found before the store is opened.
    library = guide_library(settings)
    gateway = ConsoleGateway(stdout, clock, settings.default_timezone, color=is_tty(stdout))
    store = await open_configured_store(settings)
    try:
        runtime = await build(settings, store, clock, {"console": (gateway, UNLIMITED)}, speed,
                              library)
        chat = ConsoleChat(runtime.core, gateway, clock, stdout)
        if rehearsal:
            chat.say(console_texts.rehearsal_banner(speed))
        stop = asyncio.Event()
        _install_signals(stop)
        lines: asyncio.Queue[str | None] = asyncio.Queue()
        start_reader(stdin, asyncio.get_running_loop(), lines)
        await runtime.start()
        try:
            await chat.run(lines, stop)
        finally:
            await runtime.quiesce()
        in_memory = settings.database_url.startswith(("memory://", "sqlite://:memory:"))
        if not in_memory:
            grace = settings.grace_period_seconds / 60
            for party in await store.parties_for_chat(CONSOLE_CHAT, ACTIVE_STATES):
                chat.say(console_texts.left_behind(party, grace))
        chat.say(console_texts.bye(in_memory))
    finally:
        await store.close()


class PlatformAdapter(Protocol):
    """What the composition root needs of a platform adapter (Discord, Telegram).

    Optionally also `web_routes()`, the aiohttp routes it serves on PORT (the Telegram
    webhook), and `health()`, what GET /healthz says of it (shards, poller).
    """

    platform: str
    gateway: ChatGateway
    limits: RateLimits

    async def run(self, core: WatchParty, shutdown: Shutdown) -> None:
        """Connect and serve events into the core; on `shutdown.stop` finish what is in flight,
        set `shutdown.idle`, and disconnect once `shutdown.disconnect` is set."""
        ...


def platform_adapters(settings: Settings) -> list[PlatformAdapter]:
    """Build an adapter for every platform whose token is set."""
    adapters: list[PlatformAdapter] = []
    for name, token in (("discord", settings.discord_token),
                        ("telegram", settings.telegram_token)):
        if not token:
            continue
        try:
            module = importlib.import_module(f"adapters.{name}")
        except ImportError as err:
            raise ConfigurationError(f"{name.upper()}_TOKEN is set, but this build has no "
                                     f"{name.title()} adapter; unset it to use the "
                                     "console") from err
        adapters.append(module.create_adapter(settings))
    return adapters


async def run_bot(settings: Settings) -> None:
    """Run every adapter whose token is set, in one process and one loop; with none, the console."""
    adapters = platform_adapters(settings)
    if not adapters:
        await run_console(settings)
        return
    stop = asyncio.Event()
    _install_signals(stop)
    await serve(settings, adapters, stop, started=lambda _: _freeze_startup_objects())


async def serve(settings: Settings, adapters: Sequence[PlatformAdapter], stop: asyncio.Event, *,
                clock: Clock | None = None,
                started: Callable[[Runtime], object] | None = None) -> None:
    """Serve `adapters` until `stop` is set (or every adapter ends), then shut down in order.

    Opens the configured store and closes it at the end; `started` is told the running bot
    once it delivers and fires, before the adapters connect.
    """
    library = guide_library(settings)
    store = await open_configured_store(settings)
    try:
        runtime = await build(settings, store, clock or SystemClock(),
                              {a.platform: (a.gateway, a.limits) for a in adapters},
                              library=library)
    except BaseException:
        await store.close()
        raise
    shutdowns = [Shutdown() for _ in adapters]
    web_server: WebServer | None = None
    if settings.port is not None:
        routes = [route for adapter in adapters
                  for route in getattr(adapter, "web_routes", list)()]
        web_server = WebServer(settings.port, lambda: health(settings, store, adapters), routes)
        try:
            await web_server.start()
        except OSError as err:
            await runtime.stop()
            raise ConfigurationError(f"PORT: {err}") from None

    async def wind_down(running: list[asyncio.Task[None]]) -> None:
        await stop.wait()
        # Intake first: replies to what is still in flight need the outbox, and the outbox
        # needs the adapters' connections, so those close last.
        for shutdown in shutdowns:
            shutdown.stop.set()
        for shutdown, task in zip(shutdowns, running, strict=True):
            idle = asyncio.ensure_future(shutdown.idle.wait())
            await asyncio.wait({idle, task}, return_when=asyncio.FIRST_COMPLETED)
            idle.cancel()
        await runtime.quiesce()
        for shutdown in shutdowns:
            shutdown.disconnect.set()

    try:
        await runtime.start()
        if started is not None:
            started(runtime)
        async with asyncio.TaskGroup() as group:
            running = [group.create_task(adapter.run(runtime.core, shutdown),
                                         name=adapter.platform)
                       for adapter, shutdown in zip(adapters, shutdowns, strict=True)]
            winding = group.create_task(wind_down(running), name="wind-down")
            await asyncio.wait(running)
            winding.cancel()  # every adapter ended on its own: nothing left to wait for
    except BaseExceptionGroup as group:
        config = _configuration_error(group)
        if config is not None:
            raise config from None
        raise
    finally:
        try:
            await runtime.stop()
        finally:
            if web_server is not None:
                await web_server.stop()


async def health(settings: Settings, store: Store,
                 adapters: Sequence[PlatformAdapter]) -> tuple[bool, dict[str, Any]]:
    """What GET /healthz answers: healthy when the database answers, and this worker's facts."""
    try:
        await asyncio.wait_for(store.ping(), HEALTH_TIMEOUT)
        database = True
    except Exception as exc:
        log.warning("health check: the database does not answer (%s)", type(exc).__name__)
        database = False
    body: dict[str, Any] = {"worker": settings.worker_id,
                            "adapters": [adapter.platform for adapter in adapters],
                            "shards": None, "poller": None,
                            "database": "ok" if database else "unavailable"}
    for adapter in adapters:
        report = getattr(adapter, "health", None)
        if report is not None:
            body.update(report())
    return database, body


def _configuration_error(group: BaseExceptionGroup[BaseException]) -> ConfigurationError | None:
    """The bad configuration an adapter found while connecting (a refused token), if any."""
    for exc in group.exceptions:
        if isinstance(exc, ConfigurationError):
            return exc
        if isinstance(exc, BaseExceptionGroup):
            found = _configuration_error(exc)
            if found is not None:
                return found
    return None
