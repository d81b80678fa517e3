"""No update is lost: `python -m bot` killed with SIGKILL while updates are pending, restarted.

The bot is stopped at the worst moment: it has stored and answered a batch of updates, but not
yet confirmed them (the fake holds getUpdates, the request that confirms), so Telegram still
counts them as unconfirmed; more arrive while the bot is down. After the restart, Telegram repeats
every unconfirmed one: each is recorded exactly once, and each command answered once.
"""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

from faketelegram import FakeTelegram
from tgharness import DATA, wait_exit

from tests.childenv import child_env

ROOT = Path(__file__).resolve().parents[3]


def bot_process(fake: FakeTelegram, db: Path, log: Path) -> subprocess.Popen[bytes]:
    """`python -m bot` with only the Telegram adapter, on the fake server and a SQLite file."""
    env = child_env(
        TELEGRAM_TOKEN=fake.token, TELEGRAM_BASE_URL=fake.base_url,
        TELEGRAM_BASE_FILE_URL=fake.base_file_url, DATABASE_URL=f"sqlite:///{db}",
        GUIDES_DIR=str(DATA), COUNTDOWN_SECONDS="3", LOG_LEVEL="INFO",
        TELEGRAM_RATE_LIMITS="bot=30/1s; chat=20/1s", DEFAULT_TIMEZONE="UTC",
    )
    return subprocess.Popen([sys.executable, "-m", "bot"], cwd=ROOT, env=env,
                            stdout=log.open("ab"), stderr=subprocess.STDOUT)


def records(db: Path) -> list[tuple[str, str, str]]:
    """(kind, user id, value) of every stored record."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return conn.execute("SELECT kind, user_id, value FROM records ORDER BY id").fetchall()


def answered(db: Path) -> int:
    """How many commands the bot has stored as answered (so a redelivery is not answered)."""
    with sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True) as conn:
        return int(conn.execute(
            "SELECT count(*) FROM message_refs WHERE ref LIKE 'reply:%'").fetchone()[0])


async def finish(fake: FakeTelegram, bot: subprocess.Popen[bytes], last: int,
                 within: float) -> int:
    """Wait until the bot has confirmed `last` and is idle, then SIGTERM; its exit code."""
    await fake.wait_confirmed(last, within=within)
    await fake.wait_idle(15)
    bot.send_signal(signal.SIGTERM)
    return await wait_exit(bot, 15)


async def test_sigkill_with_pending_updates_loses_and_repeats_nothing(
        fake: FakeTelegram, tmp_path: Path) -> None:
    hana, gus, mo, ann = (fake.add_user(n) for n in ("Hana", "Gus", "Mo", "Ann"))
    group = fake.add_group("Crash club", members=[(hana, "creator"), (gus, "member"),
                                                  (mo, "member"), (ann, "member")])
    db, log = tmp_path / "wp.db", tmp_path / "bot.log"
    bot = bot_process(fake, db, log)
    try:
        await fake.wait_for(lambda: fake.getupdates_waiting > 0 or bot.poll() is not None, 20,
                            "the bot to start polling")
        assert bot.poll() is None, log.read_text()
        await fake.ask(group, hana, "/watchparty create Crash test | in 1h | quick", within=15)
        announcement = await fake.wait_post(group, "🎬 Crash test")

        # Four updates reach the bot in one batch; it stores and answers them all, but cannot
        # confirm them: the fake holds getUpdates, which is how a bot confirms.
        fake.hold("getUpdates")
        stuck, _ = fake.press(announcement, gus, "Going")
        pending = [stuck, fake.press(announcement, mo, "Maybe")[0],
                   fake.react(announcement, ann, ["👍"]),
                   fake.command(group, ann, "/watchparty join")[0]]
        before = [("rsvp", str(gus["id"]), "going"), ("rsvp", str(mo["id"]), "maybe"),
                  ("reaction_added", str(ann["id"]), "👍"), ("rsvp", str(ann["id"]), "going")]
        await fake.wait_for(lambda: Counter(records(db)) == Counter(before), 10,
                            "the four updates to be stored")
        await fake.wait_for(lambda: answered(db) == 2, 10,
                            "the create and Ann's join to be answered, and the answers remembered")
        assert fake.confirmed <= stuck, "the updates must not be confirmed yet"
        bot.send_signal(signal.SIGKILL)
        assert await wait_exit(bot, 10) == -signal.SIGKILL
        fake.release()

        # While the bot is down: more people act.
        pending += [fake.react(announcement, gus, ["🔥"]),
                    fake.press(announcement, ann, "Not going")[0],
                    fake.command(group, mo, "/watchparty ready")[0]]
        assert Counter(records(db)) == Counter(before)

        bot = bot_process(fake, db, log)
        assert await finish(fake, bot, max(pending), within=20) == 0, log.read_text()[-3000:]
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()

    got = Counter(records(db))
    assert got == Counter({
        ("rsvp", str(gus["id"]), "going"): 1,
        ("rsvp", str(mo["id"]), "maybe"): 1,
        ("reaction_added", str(ann["id"]), "👍"): 1,
        ("rsvp", str(ann["id"]), "going"): 1,
        ("reaction_added", str(gus["id"]), "🔥"): 1,
        ("rsvp", str(ann["id"]), "not_going"): 1,
        ("ready", str(mo["id"]), "ready"): 1,
    }), log.read_text()[-3000:]
    secret = fake.token.split(":", 1)[1]
    assert secret not in log.read_text(), "the token must never reach the log"
    # What people saw: one reply to each command, even across the crash.
    joined = [p for p in fake.in_chat(group) if p.text.startswith("You're going to Crash test")]
    assert len(joined) == 1
    assert "Going 1 · 🤔 Maybe 1 · ❌ Not going 1" in announcement.text


async def test_a_refused_token_is_one_clear_line_and_a_failed_exit(fake: FakeTelegram,
                                                                   tmp_path: Path) -> None:
    wrong = FakeTelegram(token="987654321:AAH-a-token-the-server-does-not-know-xyz")
    wrong.port = fake.port  # same server, another bot's token
    log = tmp_path / "bot.log"
    bot = bot_process(wrong, tmp_path / "wp.db", log)
    try:
        assert await wait_exit(bot, 20) == 2
    finally:
        if bot.poll() is None:
            bot.kill()
    lines = log.read_text().splitlines()
    assert lines[-1] == ("watchparty: TELEGRAM_TOKEN: Telegram does not accept this token "
                         "(revoked, or meant for another TELEGRAM_BASE_URL?)")
    assert "a-token-the-server" not in log.read_text()


async def test_sigkill_in_a_burst_past_a_hung_update_records_everything_once(
        fake: FakeTelegram, tmp_path: Path) -> None:
    """Killed while later chats' presses are stored past an unfinished update, restarted.

    The offset stayed below the hung update, so Telegram delivers the stored presses again:
    they are recorded once, and the presses that waited, or came while the bot was down, too.
    """
    groups = []
    for n in range(3):
        host = fake.add_user(f"Host {n}")
        people = [fake.add_user(f"Member {n}.{m}") for m in range(8)]
        groups.append((fake.add_group(f"Burst {n}", members=[(host, "creator")]
                                      + [(p, "member") for p in people]), host, people))
    db, log = tmp_path / "wp.db", tmp_path / "bot.log"
    bot = bot_process(fake, db, log)
    expected: Counter[tuple[str, str, str]] = Counter()
    try:
        await fake.wait_for(lambda: fake.getupdates_waiting > 0 or bot.poll() is not None, 20,
                            "the bot to start polling")
        assert bot.poll() is None, log.read_text()
        announcements = []
        for n, (group, host, _) in enumerate(groups):
            await fake.ask(group, host, f"/watchparty create Burst {n} | in 1h | quick",
                           within=15)
            announcements.append(await fake.wait_post(group, f"🎬 Burst {n}"))
        await fake.wait_idle(15)

        # The first group's guide upload hangs downloading; the burst goes on around it.
        (first, host, _), *others = groups
        fake.hold("getFile")
        fake.upload(first, host, "mine.toml", (DATA / "quick.toml").read_bytes(),
                    "/watchparty guide upload")
        pending = []
        for (_, _, people), announcement in zip(groups, announcements, strict=True):
            for person in people:
                pending.append(fake.press(announcement, person, "Going")[0])
                expected[("rsvp", str(person["id"]), "going")] += 1
        stored_elsewhere = {("rsvp", str(p["id"]), "going") for _, _, ps in others for p in ps}
        await fake.wait_for(lambda: stored_elsewhere <= set(records(db)), 20,
                            "the other groups' presses to be stored")
        assert len(fake.in_chat(first)) == 2, "stored while the upload is still unanswered"
        assert fake.confirmed <= min(pending), "nothing past the hung upload is confirmed"
        bot.send_signal(signal.SIGKILL)
        assert await wait_exit(bot, 10) == -signal.SIGKILL
        fake.release()

        # While the bot is down: the second group changes its mind.
        for person in groups[1][2]:
            pending.append(fake.press(announcements[1], person, "Not going")[0])
            expected[("rsvp", str(person["id"]), "not_going")] += 1

        bot = bot_process(fake, db, log)
        assert await finish(fake, bot, max(pending), within=30) == 0, log.read_text()[-3000:]
    finally:
        if bot.poll() is None:
            bot.kill()
            bot.wait()

    assert Counter(records(db)) == expected, log.read_text()[-3000:]
    assert "Going 0 · 🤔 Maybe 0 · ❌ Not going 8" in announcements[1].text
    assert "Going 8 · " in announcements[0].text and "Going 8 · " in announcements[2].text
    uploaded = [p for p in fake.in_chat(first) if "mine" in p.text]
    assert len(uploaded) == 1, "the upload is answered once, after the restart"
