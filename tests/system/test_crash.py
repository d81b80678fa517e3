"""The crash test: SIGKILL the bot in the middle of a party, start it again on the same file.

PRODUCT §7: a scheduled action survives a restart; one that fell due while the bot was down is
posted late with a note if it is less than the grace period late, and is otherwise skipped and
listed in the party's log; nothing is posted twice; an acknowledged record is never lost.

The console runs at speed 1 on a SQLite file with short test guides from tests/system/data
(chapters a few seconds long, one question each) and COUNTDOWN_SECONDS=3.
"""

from __future__ import annotations

import json
import re
import sqlite3
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest

from .botproc import DATA, USER, Console, PromptPost, StartConsole, bot_env, database

BANNER = f"watchparty console — you are {USER} (a moderator)"
BYE = "Bye."  # the party is over: nothing of this chat is left to go on
CODE = re.compile(r"Join code `([A-Z2-9]{6})`")
ANSWER = "Saw it just before the crash."
LATE_NOTE_AFTER = 15  # seconds; bot/service.py


def _guide(name: str) -> list[tuple[int, str, int]]:
    """(chapter, question, ends_at seconds) of a test guide, one question per chapter."""
    guide = tomllib.loads((DATA / f"{name}.toml").read_text("utf-8"))
    out = []
    for number, chapter in enumerate(guide["chapters"], start=1):
        h, m, s = (int(x) for x in chapter["ends_at"].split(":"))
        assert len(chapter["questions"]) == 1
        out.append((number, chapter["questions"][0], h * 3600 + m * 60 + s))
    return out


@dataclass
class FirstRun:
    """What happened before the kill."""

    bot: Console
    code: str
    party_id: int
    go_at: float  # UNIX seconds
    killed_at: float  # UNIX seconds


def _first_run_then_kill(tmp_path: Path, start_console: StartConsole, env: dict[str, str],
                         title: str, guide: str) -> FirstRun:
    """Create a party starting in 5 s, RSVP, answer and react to the first prompt, SIGKILL."""
    bot = start_console(tmp_path, env, label="before-crash")
    bot.wait_for(BANNER, timeout=30)
    created = bot.ask(f"/watchparty create {title} | in 5s | {guide}",
                      f"→ Party {title} created for", timeout=20)
    code_match = CODE.search(created.line)
    assert code_match, bot.transcript()
    rsvp = bot.wait_for(re.compile(r"\[(\d+)\] Going "), start=created.index)
    bot.ask(rsvp.match[1], f"→ You're going to {title}.")
    go = bot.wait_for(f"watchparty: ▶ GO — press play now ({title})", timeout=15,
                      start=created.index)
    first = bot.wait_for("watchparty: 💬 Chapter 1 of 5 — Before the crash", timeout=10,
                         start=go.index)
    bot.wait_for("reply 1 … to answer", timeout=5, start=first.index)
    bot.ask(f"reply 1 {ANSWER}", f"→ 📝 {USER} answered Q1.1: {ANSWER}")
    bot.ask("react 1 👍", "→ 👍 added to prompt 1")

    bot.kill()
    killed_at = time.time()
    assert bot.proc.returncode == -9, bot.transcript()
    assert [p.chapter for p in bot.prompts()] == [1], (
        "the kill came too late: chapter 2 was already posted\n" + bot.transcript())

    db = tmp_path / "wp.db"
    with database(db) as conn:
        party_id, go_us, state = conn.execute(
            "SELECT id, go_at, state FROM parties WHERE code = ?", (code_match[1],)).fetchone()
    assert state == "playing" and go_us is not None
    return FirstRun(bot, code_match[1], party_id, go_us / 1_000_000, killed_at)


def _check_records_survived(conn: sqlite3.Connection, party_id: int, killed_at: float) -> None:
    """The RSVP, the answer and the reaction acknowledged before the kill are stored."""
    rows = conn.execute(
        "SELECT kind, user_id, display_name, value, prompt, at FROM records WHERE party_id = ?"
        " ORDER BY id", (party_id,)).fetchall()
    kept = [(kind, user, name, value, prompt) for kind, user, name, value, prompt, _ in rows]
    assert kept == [("rsvp", "local", USER, "going", None),
                    ("answer", "local", USER, ANSWER, "1.1"),
                    ("reaction_added", "local", USER, "👍", "1.1")], rows
    assert all(at / 1_000_000 <= killed_at for *_, at in rows), rows


def _sleep_until(unix_seconds: float) -> None:
    time.sleep(max(0.0, unix_seconds - time.time()))


def _restart_until_summary(tmp_path: Path, start_console: StartConsole, env: dict[str, str],
                          title: str, deadline: float) -> tuple[Console, float]:
    """Start the bot again on the same file, stdin left open, and wait for the summary; then
    end the input, as a script piped into the console does. Return the bot and when its input
    ended."""
    bot = start_console(tmp_path, env, label="after-restart")
    bot.wait_for(BANNER, timeout=30)
    summary = bot.wait_for(f"watchparty: 🏁 {title} is over. Thanks for watching!",
                           timeout=max(5.0, deadline - time.time()))
    bot.wait_for("Moderators get the whole discussion with `/watchparty export ", timeout=5,
                 start=summary.index)
    bot.close_stdin()
    return bot, time.monotonic()


def _settled(db: Path, party_id: int, timeout: float = 10.0) -> list[tuple[str, int]]:
    """Wait until the party has no pending action (the summary's own is marked done just after
    it is posted); return what is still pending at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        with database(db) as conn:
            pending = conn.execute("SELECT kind, due_at FROM actions WHERE party_id = ? AND"
                                   " status = 'pending'", (party_id,)).fetchall()
        if not pending or time.monotonic() > deadline:
            return pending
        time.sleep(0.1)


def _left_cleanly(bot: Console, input_ended: float) -> str | None:
    """None if the bot left within 10 s of the end of its input, with status 0 and its goodbye;
    otherwise what went wrong."""
    try:
        code = bot.wait_exit(timeout=max(0.5, input_ended + 10 - time.monotonic()))
    except AssertionError as err:
        return ("the restarted bot did not exit within 10 s of the end of its input, which "
                f"came right after the summary:\n{err}")
    if code != 0 or not bot.lines or bot.lines[-1] != BYE or "Traceback" in bot.stderr_text():
        return f"the restarted bot did not leave cleanly (status {code}):\n{bot.transcript()}"
    return None


def _posted(*runs: Console) -> list[PromptPost]:
    return [post for bot in runs for post in bot.prompts()]


# ---- late, within the grace period: posted once, with the note ------------------------------

@pytest.mark.timeout(150)
def test_prompts_due_while_down_are_posted_late_once_with_a_note(
        tmp_path: Path, start_console: StartConsole) -> None:
    guide = _guide("crash-late")
    db = tmp_path / "wp.db"
    env = bot_env(database_url=f"sqlite:///{db}", guides_dir=DATA, countdown_seconds=3)
    title = "Crash Reel"
    first = _first_run_then_kill(tmp_path, start_console, env, title, "crash-late")

    # While the bot is down: what it acknowledged is on disk.
    with database(db) as conn:
        _check_records_survived(conn, first.party_id, first.killed_at)

    # Chapters 2 and 3 end at 0:06 and 0:08; coming back at 0:26 makes both more than
    # LATE_NOTE_AFTER late (and far less than the 5-minute grace). Chapter 4 ends at 0:32.
    down = [(n, q, at) for n, q, at in guide if 4 < at < 26]
    assert [n for n, _, _ in down] == [2, 3]
    restart_at = first.go_at + 26
    assert all(restart_at - first.go_at - at > LATE_NOTE_AFTER + 2 for _, _, at in down)
    _sleep_until(restart_at)
    restarted = time.monotonic()
    second, input_ended = _restart_until_summary(tmp_path, start_console, env, title,
                                                 deadline=first.go_at + guide[-1][2] + 25)

    # Every prompt of the guide was posted exactly once across both runs, in order.
    posts = _posted(first.bot, second)
    assert [(p.chapter, p.question) for p in posts] == [(n, q) for n, q, _ in guide], (
        first.bot.transcript() + "\n" + second.transcript())
    assert [p.chapter for p in first.bot.prompts()] == [1]
    # Those that fell due while the bot was down carry the late note; the others do not.
    notes = {p.chapter: p.late_minutes for p in second.prompts()}
    assert notes == {2: 1, 3: 1, 4: None, 5: None}, second.transcript()
    # The late ones came right after the restart, not at some later tick.
    late_index = second.wait_for("watchparty: 💬 Chapter 2 of 5", timeout=1).index
    assert second.arrived[late_index] - restarted < 15, second.transcript()
    # The summary came once, in the second run, and counts what was recorded before the kill.
    everything = first.bot.stdout_text() + "\n" + second.stdout_text()
    assert everything.count("watchparty: 🏁") == 1
    for once in ("watchparty: 🎬", "watchparty: ⏱", "watchparty: ▶ GO"):
        assert everything.count(once) == 1 and once not in second.stdout_text(), once
    summary = second.stdout_text()
    assert "Attendance: 1 going · 0 ready · 1 answered" in summary, summary
    assert "• Chapter 1, Before the crash: 1 answer\n" in summary, summary
    assert f"Moderators get the whole discussion with `/watchparty export {first.code}`." \
        in summary

    # The file: the party finished, nothing is left pending, each prompt action fired once.
    assert _settled(db, first.party_id) == []
    with database(db) as conn:
        state, = conn.execute("SELECT state FROM parties WHERE id = ?",
                              (first.party_id,)).fetchone()
        assert state == "finished"
        prompt_actions = conn.execute(
            "SELECT payload, status FROM actions WHERE party_id = ? AND kind = 'prompt'"
            " ORDER BY due_at", (first.party_id,)).fetchall()
        assert [(json.loads(payload)["chapter"], status) for payload, status in
                prompt_actions] == [(n, "done") for n, _, _ in guide], prompt_actions
        log = conn.execute("SELECT key, params FROM party_log WHERE party_id = ? ORDER BY id",
                           (first.party_id,)).fetchall()
        late = [json.loads(params) for key, params in log if key == "action_late"]
        assert sorted(entry["kind"] for entry in late) == ["prompt", "prompt"], log
        assert all(entry["late_seconds"] >= LATE_NOTE_AFTER for entry in late), log
        assert not [key for key, _ in log if key == "action_skipped"], log
        _check_records_survived(conn, first.party_id, first.killed_at)
        # What the store remembers as posted: one message per question, and the summary.
        sent = conn.execute(
            "SELECT kind, prompt, message_id FROM sent_messages WHERE party_id = ? AND kind IN"
            " ('prompt', 'summary') ORDER BY id", (first.party_id,)).fetchall()

    # Two last checks, reported together: each has failed for a reason of its own.
    problems = []
    stored = sorted((kind, prompt) for kind, prompt, _ in sent if kind == "prompt")
    if stored != [("prompt", f"{n}.1") for n, _, _ in guide] or [
            kind for kind, _, _ in sent].count("summary") != 1:
        problems.append(
            "the store should remember each prompt posted across both runs once, and the "
            f"summary; sent_messages (kind, prompt, message_id) has {sent}. (Cause when "
            "written: the console's message ids start again at 1 in every run, so the second "
            "run's posts overwrite the first run's rows, UNIQUE (platform, chat_id, "
            "message_id).)")
    problems.append(_left_cleanly(second, input_ended))
    assert not [p for p in problems if p], "\n\n".join(p for p in problems if p)


# ---- late past the grace period: skipped, not posted, listed in the party log ----------------

@pytest.mark.timeout(150)
def test_prompts_due_long_before_the_restart_are_skipped_and_logged(
        tmp_path: Path, start_console: StartConsole) -> None:
    guide = _guide("crash-grace")
    db = tmp_path / "wp.db"
    env = bot_env(database_url=f"sqlite:///{db}", guides_dir=DATA, countdown_seconds=3,
                  grace_period_seconds=5)
    title = "Grace Reel"
    first = _first_run_then_kill(tmp_path, start_console, env, title, "crash-grace")

    # Chapters 2 and 3 end at 0:06 and 0:08; coming back at 0:16 makes both more than the
    # 5-second grace period late. Chapter 4 ends at 0:22, after the restart.
    skipped = [n for n, _, at in guide if 4 < at < 16]
    assert skipped == [2, 3]
    _sleep_until(first.go_at + 16)
    second, input_ended = _restart_until_summary(tmp_path, start_console, env, title,
                                                 deadline=first.go_at + guide[-1][2] + 25)

    posts = _posted(first.bot, second)
    assert [(p.chapter, p.question) for p in posts] == [
        (n, q) for n, q, _ in guide if n not in skipped], (
        first.bot.transcript() + "\n" + second.transcript())
    assert all(p.late_minutes is None for p in posts), second.transcript()
    summary = second.stdout_text()
    assert "• Chapter 2, Skipped one: 0 answers" in summary, summary
    assert "• Chapter 1, Before the crash: 1 answer\n" in summary, summary

    assert _settled(db, first.party_id) == []
    with database(db) as conn:
        state, = conn.execute("SELECT state FROM parties WHERE id = ?",
                              (first.party_id,)).fetchone()
        assert state == "finished"
        statuses = {json.loads(payload)["chapter"]: status for payload, status in conn.execute(
            "SELECT payload, status FROM actions WHERE party_id = ? AND kind = 'prompt'",
            (first.party_id,))}
        assert statuses == {1: "done", 2: "skipped", 3: "skipped", 4: "done", 5: "done"}
        # The party's log lists what was skipped, with how late it was.
        log = [(key, json.loads(params)) for key, params in conn.execute(
            "SELECT key, params FROM party_log WHERE party_id = ? ORDER BY id",
            (first.party_id,))]
        skipped_log = [params for key, params in log if key == "action_skipped"]
        assert [(p["kind"], p["prompt"]) for p in skipped_log] == [
            ("prompt", 2), ("prompt", 3)], log
        assert all(p["late_seconds"] > 5 for p in skipped_log), log
        assert not [key for key, _ in log if key == "action_late"], log
        _check_records_survived(conn, first.party_id, first.killed_at)
        sent = sorted(prompt for prompt, in conn.execute(
            "SELECT prompt FROM sent_messages WHERE party_id = ? AND kind = 'prompt'",
            (first.party_id,)))
    assert sent == ["1.1", "4.1", "5.1"], sent

    problem = _left_cleanly(second, input_ended)
    assert problem is None, problem
