"""Telegram with several workers on one database (PRODUCT §9).

Polling: one worker at a time polls a bot, elected by a lease row in the database that it
renews while it polls; when it dies, the lease runs out and another worker takes it. Webhook:
Telegram posts each update to whichever worker its load balancer picks, and retries what was not
answered 200. Either way an update can reach a second worker (a handover repeats what the dead
poller had not confirmed; Telegram repeats a webhook post it got no answer to), so each update
is claimed by its `update_id` in the database before it is handled and marked done after: a
second delivery finds it done and is confirmed without being handled again.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.ports import UpdateClaim
from bot.service import WatchParty

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# How long a worker's claim on a posted update lasts: a worker that dies handling one leaves it
# to another after this long (handling takes well under a second; exports run in the
# background). A poller's claims last as long as its lease: its successor waits no longer.
CLAIM_SECONDS = 30.0
# While another worker handles an update, look again this often.
BUSY_PAUSE = 0.5
# A webhook post of an update another worker handles waits this long before Telegram is asked
# to post it again (503).
WEBHOOK_PATIENCE = 10.0
# Finished updates are forgotten after a day: Telegram keeps unconfirmed updates for 24 hours.
KEEP_FINISHED_SECONDS = 26 * 3600.0
PRUNE_EVERY = 600.0


async def pause(stop: asyncio.Event, seconds: float) -> None:
    """Wait `seconds`, or less if `stop` is set."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


class PollerLease:
    """The lease that makes this worker the one poller of a bot."""

    def __init__(self, core: WatchParty, bot_id: int, seconds: float) -> None:
        self.core = core
        self.name = f"telegram-poller:{bot_id}"
        self.seconds = seconds
        self.held = False

    @property
    def retry_every(self) -> float:
        """How often a worker that does not poll asks for the lease."""
        return max(1.0, self.seconds / 5)

    async def _hold(self) -> bool | None:
        """Take or renew the lease: True held, False another's, None the database is away."""
        try:
            return await self.core.hold_lease(self.name, self.seconds)
        except Exception as exc:
            log.warning("could not reach the database for the Telegram poller lease (%s)",
                        type(exc).__name__)
            return None

    async def acquire(self, stop: asyncio.Event) -> bool:
        """Wait until this worker holds the lease (True) or `stop` is set (False)."""
        waited = False
        while not stop.is_set():
            if await self._hold():
                self.held = True
                return True
            if not waited:
                log.info("another worker polls Telegram; standing by to take over")
                waited = True
            await pause(stop, self.retry_every)
        return False

    async def keep(self, stop: asyncio.Event, halt: asyncio.Event) -> None:
        """Renew the lease until `stop`; set `halt` on `stop` or once the lease is lost."""
        expires = time.monotonic() + self.seconds
        try:
            while True:
                await pause(stop, self.seconds / 3)
                if stop.is_set():
                    return
                held = await self._hold()
                if held:
                    expires = time.monotonic() + self.seconds
                    continue
                if held is False or time.monotonic() >= expires:
                    log.warning("lost the Telegram poller lease; standing by")
                    self.held = False
                    return
        finally:
            halt.set()

    async def release(self) -> None:
        """Give the lease up (a clean stop): another worker polls at once."""
        if not self.held:
            return
        self.held = False
        try:
            await self.core.release_lease(self.name)
        except Exception as exc:
            log.info("could not release the Telegram poller lease (%s); it runs out by itself",
                     type(exc).__name__)


class Once:
    """Handles each update once across workers: claim by update_id, handle, mark done."""

    def __init__(self, core: WatchParty, bot_id: int, claim_seconds: float = CLAIM_SECONDS
                 ) -> None:
        self.core = core
        self.source = f"telegram:{bot_id}"
        self.claim_seconds = claim_seconds

    async def claim(self, update_id: int, patience: float | None) -> bool | None:
        """True: handle it now; False: handled already; None: still another's after `patience`.

        A database that does not answer is asked again (the update stays unconfirmed meanwhile).
        """
        deadline = None if patience is None else time.monotonic() + patience
        while True:
            try:
                claim = await self.core.claim_update(self.source, update_id,
                                                     self.claim_seconds)
            except Exception as exc:
                log.warning("could not claim Telegram update %s (%s); trying again", update_id,
                            type(exc).__name__)
                claim = UpdateClaim.BUSY
            if claim is UpdateClaim.CLAIMED:
                return True
            if claim is UpdateClaim.DONE:
                return False
            if deadline is not None and time.monotonic() >= deadline:
                return None
            await asyncio.sleep(BUSY_PAUSE)

    async def finish(self, update_id: int) -> None:
        """Mark an update done; if the database does not take it, a redelivery records nothing
        twice anyway (records carry the update's name), so this is logged, not retried forever."""
        for attempt in range(3):
            try:
                await self.core.finish_update(self.source, update_id)
                return
            except Exception as exc:
                log.warning("could not mark Telegram update %s done (%s)", update_id,
                            type(exc).__name__)
                await asyncio.sleep(0.5 * (attempt + 1))

    async def prune(self, stop: asyncio.Event) -> None:
        """Forget finished updates older than a day, every few minutes, until `stop`."""
        while not stop.is_set():
            try:
                await self.core.prune_updates(timedelta(seconds=KEEP_FINISHED_SECONDS))
            except Exception as exc:
                log.info("could not prune old Telegram updates (%s)", type(exc).__name__)
            await pause(stop, PRUNE_EVERY)


class Webhook:
    """The webhook endpoint every worker serves: checks the secret, handles each update once,
    and answers 200 only once the update is stored (Telegram posts again what got no 200)."""

    def __init__(self, path: str, secret: str,
                 handle: Callable[[dict[str, Any]], Awaitable[bool | None]]) -> None:
        self.path = path
        self._secret = secret.encode()
        self._handle = handle
        self.accepting = False
        self._in_flight: set[asyncio.Task[Any]] = set()

    @property
    def secret(self) -> str:
        """The secret Telegram is asked to send with every post."""
        return self._secret.decode()

    def routes(self) -> list[web.RouteDef]:
        """The aiohttp route of the webhook."""
        return [web.post(self.path, self.receive)]

    async def receive(self, request: web.Request) -> web.Response:
        """One update posted by Telegram."""
        given = request.headers.get(SECRET_HEADER, "").encode()
        if not hmac.compare_digest(given, self._secret):
            log.warning("webhook request without the right secret token refused")
            return web.Response(status=403, text="forbidden")
        if not self.accepting:
            return web.Response(status=503, text="not ready")
        try:
            data = await request.json()
        except ValueError:
            return web.Response(status=400, text="not JSON")
        if not isinstance(data, dict) or not isinstance(data.get("update_id"), int):
            return web.Response(status=400, text="not an update")
        task = asyncio.current_task()
        if task is not None:
            self._in_flight.add(task)
        try:
            done = await self._handle(data)
        finally:
            if task is not None:
                self._in_flight.discard(task)
        if done is None:
            return web.Response(status=503, text="in progress elsewhere")
        return web.json_response({"ok": True})

    async def drain(self, within: float) -> None:
        """Stop taking updates and let those in flight finish, for `within` seconds at most."""
        self.accepting = False
        if self._in_flight:
            await asyncio.wait(list(self._in_flight), timeout=within)
