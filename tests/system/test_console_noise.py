"""What the console says besides bot messages: a quiet start, no internal ids, a help that
explains its numbers, and at quit the truth about what is stored and what goes on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from .botproc import USER, StartConsole, bot_env

BANNER = f"watchparty console — you are {USER} (a moderator)"
# What a console message id looks like (run stamp in hex, a dash, a counter).
MESSAGE_ID = re.compile(r"\b[0-9a-f]{8,}-\d+\b")


@pytest.mark.timeout(90)
def test_fresh_database_starts_quiet_and_edits_name_their_message(
        tmp_path: Path, start_console: StartConsole) -> None:
    db = tmp_path / "fresh.db"
    bot = start_console(tmp_path, bot_env(database_url=f"sqlite:///{db}"), label="quiet")
    bot.wait_for(BANNER, timeout=30)
    assert bot.lines[0].startswith(BANNER), bot.transcript()
    created, _ = bot.create("Quiet Night", "in 2h", "tv-episode")
    going = bot.ask("1", "→ You're going to Quiet Night.")
    bot.wait_for("(updated: 🎬 Quiet Night) ✅ Going 1 · 🤔 Maybe 0 · ❌ Not going 0",
                 start=going.index)
    bot.send("quit")
    assert bot.wait_exit(timeout=20) == 0, bot.transcript()
    # The migrations of a new database file are no news to a console user.
    assert bot.stderr_text() == "", bot.transcript()
    assert not MESSAGE_ID.search(bot.stdout_text()), bot.transcript()
    assert db.exists() and created.index > 0


@pytest.mark.timeout(60)
def test_help_says_prompt_and_button_numbers_are_separate(
        tmp_path: Path, start_console: StartConsole) -> None:
    bot = start_console(tmp_path, bot_env(), speed=60, label="help")
    bot.wait_for(BANNER, timeout=30)
    asked = bot.ask("help", "Console commands (besides /watchparty …):")
    bot.wait_for("Numbers: prompts and buttons are counted separately.", start=asked.index)
    bot.wait_for("`2` alone presses the", start=asked.index)
    bot.ask("wait soon", "⚠ “soon” isn't a duration to wait. Write wait DURATION, e.g. wait 90s")
    bot.close_stdin()
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()


@pytest.mark.timeout(60)
def test_rehearsal_banner_and_goodbye_say_it_is_kept_in_memory(
        tmp_path: Path, start_console: StartConsole) -> None:
    bot = start_console(tmp_path, bot_env(), speed=60, label="rehearsal")
    banner = bot.wait_for("Rehearsal at 60× speed", timeout=30)
    assert "live in memory only and end when you leave" in banner.line
    assert "nothing is saved" not in banner.line
    bot.create("Dry Run", "in 1h", "demo")
    bot.close_stdin()
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()
    assert bot.lines[-1] == ("Bye. This run's parties were in memory only; nothing was "
                             "stored."), bot.transcript()
    assert "Party `" not in bot.stdout_text()
    assert list(tmp_path.iterdir()) == []  # and truly nothing was written


@pytest.mark.timeout(90)
def test_quit_with_a_playing_party_says_it_goes_on_at_the_next_run(
        tmp_path: Path, start_console: StartConsole) -> None:
    db = tmp_path / "wp.db"
    env = bot_env(database_url=f"sqlite:///{db}", countdown_seconds=3)
    bot = start_console(tmp_path, env, label="left-playing")
    bot.wait_for(BANNER, timeout=30)
    created, code = bot.create("Left Running", "in 1h", "demo")
    _, later_code = bot.create("Later On", "in 3h", "demo")
    bot.ask(f"/watchparty start {code} now", "→ ")
    bot.wait_for("watchparty: ▶ GO — press play now (Left Running)", timeout=20,
                 start=created.index)
    bot.send("quit")
    assert bot.wait_exit(timeout=20) == 0, bot.transcript()
    assert bot.lines[-3:] == [
        f"Party `{code}` (Left Running) is still playing: the next time the bot runs "
        "(`make run`), it picks the party up and posts the prompts that fell due meanwhile, "
        "late (or skips them if they are over 5 minutes late). To stop it, run the bot and "
        f"type /watchparty cancel {code}.",
        f"Party `{later_code}` (Later On) stays scheduled; it goes on when the bot runs "
        f"again. To drop it, run the bot and type /watchparty cancel {later_code}.",
        "Bye.",
    ], bot.transcript()


@pytest.mark.timeout(90)
def test_pause_and_resume_are_told_once(tmp_path: Path, start_console: StartConsole) -> None:
    env = bot_env(database_url=f"sqlite:///{tmp_path / 'wp.db'}", countdown_seconds=3)
    bot = start_console(tmp_path, env, label="pause-once")
    bot.wait_for(BANNER, timeout=30)
    created, code = bot.create("Told Once", "in 1h", "demo")
    bot.ask(f"/watchparty start {code} now", "→ ")
    bot.wait_for("watchparty: ▶ GO — press play now (Told Once)", timeout=20,
                 start=created.index)
    paused = bot.ask("/watchparty pause", "Told Once paused at", timeout=10)
    resumed = bot.ask("/watchparty resume", "Resuming Told Once", timeout=10)
    bot.wait_for("watchparty: ▶ GO", timeout=20, start=resumed.index)
    bot.close_stdin()
    assert bot.wait_exit(timeout=20) == 0, bot.transcript()
    # The chat is shown the notice; the command's own reply would be the same news again.
    assert sum("Told Once paused at" in line for line in bot.lines) == 1, bot.transcript()
    assert sum("Resuming Told Once" in line for line in bot.lines) == 1, bot.transcript()
    assert paused.line.split(" ", 1)[1].startswith("watchparty: ⏸"), paused.line


@pytest.mark.timeout(90)
def test_quit_after_cancel_leaves_nothing_to_announce(
        tmp_path: Path, start_console: StartConsole) -> None:
    env = bot_env(database_url=f"sqlite:///{tmp_path / 'wp.db'}")
    bot = start_console(tmp_path, env, label="cancelled")
    bot.wait_for(BANNER, timeout=30)
    bot.create("Called Off", "in 1h", "demo")
    bot.ask("/watchparty cancel", f"watchparty: 🚫 Called Off was cancelled by {USER}.")
    bot.close_stdin()
    assert bot.wait_exit(timeout=20) == 0, bot.transcript()
    assert bot.lines[-1] == "Bye." and "Party `" not in bot.stdout_text(), bot.transcript()


@pytest.mark.timeout(60)
def test_quit_on_an_in_memory_database_does_not_promise_a_next_run(
        tmp_path: Path, start_console: StartConsole) -> None:
    bot = start_console(tmp_path, bot_env(database_url="memory://"), label="memory")
    bot.wait_for(BANNER, timeout=30)
    bot.create("Gone Tomorrow", "in 1h", "demo")
    bot.send("quit")
    assert bot.wait_exit(timeout=20) == 0, bot.transcript()
    assert bot.lines[-1] == "Bye. This run's parties were in memory only; nothing was stored."
    assert "Party `" not in bot.stdout_text(), bot.transcript()
