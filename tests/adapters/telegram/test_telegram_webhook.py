"""Webhook mode (PRODUCT §9): Telegram posts updates to every worker's PORT.

Through the real python-telegram-bot and `app.serve`, against the fake Bot API, which sets
the webhook as Telegram does and posts each update to it with the secret header, again until
it is answered 200. A post without the right secret is refused and records nothing; an update
posted twice is recorded and answered once; /healthz says what this worker is.
"""

from __future__ import annotations

import socket
import sqlite3
from collections import Counter
from pathlib import Path

import aiohttp
from faketelegram import FakeTelegram
from tgharness import bot_settings

from adapters.telegram import create_adapter
from tests.serving import Serving, serve

SECRET = "webhook-secret_42"


def free_port() -> int:
    """A port of 127.0.0.1 nobody listens on now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def records(db: Path) -> Counter[tuple[str, str, str]]:
    """(kind, user id, value) of every stored record, counted."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return Counter(conn.execute("SELECT kind, user_id, value FROM records").fetchall())


async def start_webhook_bot(fake: FakeTelegram, db: Path) -> tuple[Serving, int]:
    """`app.serve` in webhook mode on a free port; returns once the webhook is set."""
    port = free_port()
    settings = bot_settings(fake, db, port=port, telegram_webhook_secret=SECRET,
                            telegram_webhook_url=f"http://127.0.0.1:{port}/telegram/hook")
    serving = await serve(settings, [create_adapter(settings)], name="webhook-bot")
    await fake.wait_for(lambda: fake.webhook is not None or serving.task.done(), 15,
                        "the bot to set its webhook")
    if serving.task.done():
        serving.task.result()
    return serving, port


async def test_webhook_refuses_a_wrong_secret_and_records_a_repeat_once(
        fake: FakeTelegram, tmp_path: Path) -> None:
    db = tmp_path / "wp.db"
    hana, gus, mo = (fake.add_user(n) for n in ("Hana", "Gus", "Mo"))
    group = fake.add_group("Hook club", members=[(hana, "creator"), (gus, "member"),
                                                 (mo, "member")])
    serving, port = await start_webhook_bot(fake, db)
    try:
        [set_call] = fake.calls_to("setWebhook")
        assert set_call.params["url"] == f"http://127.0.0.1:{port}/telegram/hook"
        assert set_call.params["secret_token"] == SECRET
        assert set_call.params.get("drop_pending_updates") in (False, None, "false")
        assert fake.dropped_pending == 0
        assert not fake.calls_to("getUpdates"), "a webhook bot never polls"

        await fake.ask(group, hana, "/watchparty create Hook test | in 1h | quick", within=15)
        announcement = await fake.wait_post(group, "🎬 Hook test")
        going, _ = fake.press(announcement, gus, "Going")
        await fake.wait_confirmed(going)

        # Someone who does not know the secret posts Mo's press: refused, nothing recorded.
        forged_id, _ = fake.press(announcement, mo, "Going")
        forged = fake.sent_updates[forged_id]
        fake.updates.remove(forged)  # only the forger posts it
        assert await fake.post_webhook(forged, "not-the-secret") == 403
        assert await fake.post_webhook(forged, None) == 403

        # Telegram posts Gus's press again (an answer it did not get): 200, recorded once.
        assert await fake.post_webhook(fake.sent_updates[going], SECRET) == 200
        join_id, join = fake.command(group, hana, "/watchparty join")
        await fake.wait_confirmed(join_id)
        await fake.reply_to(group, join)
        assert await fake.post_webhook(fake.sent_updates[join_id], SECRET) == 200

        async with aiohttp.ClientSession() as http, http.get(
                f"http://127.0.0.1:{port}/healthz") as response:
            assert response.status == 200
            health = await response.json()
        assert health == {"worker": serving.runtime.core.config.worker_id,
                          "adapters": ["telegram"], "shards": None, "poller": False,
                          "telegram": "webhook", "database": "ok"}
    finally:
        await serving.stop()

    assert records(db) == Counter({("rsvp", str(gus["id"]), "going"): 1,
                                   ("rsvp", str(hana["id"]), "going"): 1})
    joined = [p for p in fake.in_chat(group) if p.text.startswith("You're going to Hook test")]
    assert len(joined) == 1, "the join posted twice is answered once"
    assert fake.webhook is not None, "stopping one worker leaves the webhook to the others"
