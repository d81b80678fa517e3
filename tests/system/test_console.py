"""The console end to end: `python -m bot console` over a pipe, as a newcomer or a host uses it.

Each test starts the bot as a real subprocess (in a temporary folder, so no database or export
is left in the repository), types into its stdin and waits, with deadlines, for the lines a
user would see on stdout.
"""

from __future__ import annotations

import json
import re
import signal
import time
import tomllib
from pathlib import Path

import pytest

from .botproc import BUILTIN_GUIDES, USER, Console, StartConsole, bot_env, database

BANNER = f"watchparty console — you are {USER} (a moderator)"
BYE = "Bye."
REHEARSAL_BYE = "Bye. This run's parties were in memory only; nothing was stored."
CODE = re.compile(r"Join code `([A-Z2-9]{6})`")


def _no_traceback(console: Console) -> None:
    assert "Traceback" not in console.stderr_text(), console.transcript()
    assert "Traceback" not in console.stdout_text(), console.transcript()


def _stamp_seconds(line: str) -> int:
    hours, minutes, seconds = (int(part) for part in line[:8].split(":"))
    return hours * 3600 + minutes * 60 + seconds


# ---- a whole party at --speed 60 ------------------------------------------------------------

@pytest.mark.timeout(240)
def test_whole_social_dilemma_party_at_speed_60(tmp_path: Path,
                                               start_console: StartConsole) -> None:
    guide = tomllib.loads((BUILTIN_GUIDES / "social-dilemma.toml").read_text("utf-8"))
    chapters = guide["chapters"]
    expected = [(number, q, question, chapter["title"])
                for number, chapter in enumerate(chapters, start=1)
                for q, question in enumerate(chapter["questions"], start=1)]
    polls = [number for number, chapter in enumerate(chapters, start=1) if "poll" in chapter]
    assert len(chapters) == 7 and len(expected) == 21 and polls == [2, 4, 7]

    bot = start_console(tmp_path, bot_env(), speed=60, label="speed60")
    bot.wait_for("Rehearsal at 60× speed", timeout=30)
    bot.wait_for(BANNER, timeout=10)

    # Create: the host's reply, then the announcement with the guide and the RSVP buttons.
    created = bot.ask("/watchparty create The Social Dilemma | in 3m | social-dilemma",
                      "→ Party The Social Dilemma created for", timeout=20)
    code_match = CODE.search(created.line)
    assert code_match, bot.transcript()
    code = code_match[1]
    bot.wait_for("watchparty: 🎬 The Social Dilemma", start=created.index)
    bot.wait_for("Guide: The Social Dilemma — 7 chapters, 1:34:00", start=created.index)
    bot.wait_for(f"Hosted by {USER} · join code `{code}`", start=created.index)
    bot.wait_for("🔒 This party records RSVPs", start=created.index)
    rsvp = bot.wait_for(re.compile(r"\[(\d+)\] Going +\[(\d+)\] Maybe +\[(\d+)\] Not going"),
                        start=created.index)

    # Press Going: the reply, and the announcement's count goes up by editing it.
    going = bot.send(rsvp.match[1])
    bot.wait_for("→ You're going to The Social Dilemma.", start=going)
    bot.wait_for(re.compile(r"^\(updated: 🎬 The Social Dilemma\) .*✅ Going 1 · 🤔 Maybe 0"),
                 start=going)

    # The ready check (2 minutes before, i.e. 2 s), its Ready button and the live count.
    check = bot.wait_for("starts soon. Load the film and pause at 0:00, then press Ready.",
                         timeout=15, start=created.index)
    ready_button = bot.wait_for(re.compile(r"^\s+\[(\d+)\] Ready$"), start=check.index)
    pressed = bot.send(ready_button.match[1])
    bot.wait_for("→ Marked ready for The Social Dilemma. 1 ready so far.", start=pressed)
    bot.wait_for(re.compile(r"^\(updated: .*The Social Dilemma.*\) .*🟢 Ready: 1"), start=pressed)

    # The 1-minute reminder, the countdown and GO.
    bot.wait_for(re.compile(rf"watchparty: 🔔 The Social Dilemma starts in .*Join code `{code}`"),
                 timeout=15, start=created.index)
    bot.wait_for("watchparty: ⏱ The Social Dilemma: GO at", timeout=15, start=created.index)
    go = bot.wait_for("watchparty: ▶ GO — press play now (The Social Dilemma)", timeout=15,
                      start=created.index)

    # Chapter 1 ends at 0:12:00 (12 s): answer its first question and react to the second.
    first = bot.wait_for("watchparty: 💬 Chapter 1 of 7 — The people who built it", timeout=25,
                         start=go.index)
    bot.wait_for("reply 2 … to answer", timeout=5, start=first.index)
    bot.ask("reply 1 Attention is what they sell.",
            f"→ 📝 {USER} answered Q1.1: Attention is what they sell.")
    bot.ask("react 2 😂", "→ 😂 added to prompt 2")
    # Chapter 2 carries the first poll.
    bot.wait_for("watchparty: 📊 Chapter 2 — If you're not paying, you are the product",
                 timeout=25, start=first.index)
    bot.ask("vote 1 3", "→ voted 3 in poll 1")

    # The closing summary, 94 film minutes (94 s) after GO.
    summary = bot.wait_for("watchparty: 🏁 The Social Dilemma is over. Thanks for watching!",
                           timeout=120, start=go.index)
    tail = bot.mark()
    end = bot.wait_for(f"Moderators get the whole discussion with `/watchparty export {code}`.",
                       timeout=5, start=summary.index)
    block = "\n".join(bot.lines[summary.index:end.index + 1])
    assert "Attendance: 1 going · 1 ready · 1 answered" in block, block
    for number, chapter in enumerate(chapters, start=1):
        count = "1 answer" if number == 1 else "0 answers"
        assert f"• Chapter {number}, {chapter['title']}: {count}" in block, block
    # The reaction came a moment after the chapter-1 prompts (0:12:00): the 12th or 13th minute.
    assert re.search(r"Most-reacted moments: 0:1[23]:00 \(1 😂\)", block), block
    elapsed = summary.at - go.at
    assert 88 <= elapsed <= 104, f"the 94-minute film took {elapsed:.1f}s at --speed 60"

    # Every question of every chapter was posted once, in order, when its chapter ended.
    posts = bot.prompts()
    assert [(p.chapter, p.question_number, p.question, p.title) for p in posts] == expected
    assert all(p.chapters == 7 for p in posts)
    go_at = _stamp_seconds(go.line)
    for post in posts:
        ends_at = chapters[post.chapter - 1]["ends_at"]
        h, m, s = (int(x) for x in ends_at.split(":"))
        film = (_stamp_seconds(post.stamp) - go_at) % 86400
        assert abs(film - (h * 3600 + m * 60 + s)) <= 90, (post.chapter, film, ends_at)
    poll_heads = [g.lines[0] for g in bot.groups() if "watchparty: 📊 Chapter" in g.lines[0]]
    assert [int(re.findall(r"📊 Chapter (\d+)", head)[0]) for head in poll_heads] == polls
    assert bot.stdout_text().count("watchparty: 🏁") == 1

    # The export a moderator asks for after the party holds what was recorded.
    bot.ask(f"/watchparty export {code}", "→ Discussion log of The Social Dilemma (json).",
            timeout=15)
    bot.wait_for(f"→ saved watchparty-{code}.json", start=tail)
    export = json.loads((tmp_path / f"watchparty-{code}.json").read_text("utf-8"))
    assert export["party"]["code"] == code and export["party"]["state"] == "finished"
    kinds = {(r["kind"], r["value"], r["prompt"]) for r in export["records"]}
    assert {("rsvp", "going", None), ("ready", "ready", None),
            ("answer", "Attention is what they sell.", "1.1"),
            ("reaction_added", "😂", "1.2")} <= kinds, kinds
    assert any(r["kind"] == "poll_vote" and r["value"] == "2 to 4 hours"
               for r in export["records"]), export["records"]

    bot.close_stdin()
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()
    assert bot.lines[-1] == REHEARSAL_BYE, bot.transcript()
    _no_traceback(bot)
    # A rehearsal saves nothing: the only file it wrote is the export that was asked for.
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"watchparty-{code}.json"]


# ---- leaving: end of input, Ctrl-C, SIGTERM -------------------------------------------------

@pytest.mark.timeout(60)
def test_end_of_piped_input_exits_promptly(tmp_path: Path, start_console: StartConsole) -> None:
    bot = start_console(tmp_path, bot_env(), speed=60, label="eof")
    bot.wait_for(BANNER, timeout=30)
    bot.ask("/watchparty list", "→ No upcoming or running parties in this chat.")
    closed = time.monotonic()
    bot.close_stdin()
    assert bot.wait_exit(timeout=10) == 0, bot.transcript()
    assert time.monotonic() - closed < 5, "leaving on end of input took too long"
    assert bot.lines[-1] == REHEARSAL_BYE, bot.transcript()
    _no_traceback(bot)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(90)
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signal_stops_cleanly_and_the_party_stays_scheduled(
        tmp_path: Path, start_console: StartConsole, sig: signal.Signals) -> None:
    db = tmp_path / "wp.db"
    env = bot_env(database_url=f"sqlite:///{db}")
    bot = start_console(tmp_path, env, label=sig.name)
    bot.wait_for(BANNER, timeout=30)
    created = bot.ask("/watchparty create Signal Night | in 10m | three-act-film",
                      "→ Party Signal Night created for", timeout=20)
    code_match = CODE.search(created.line)
    assert code_match, bot.transcript()
    bot.wait_for("watchparty: 🎬 Signal Night", start=created.index)
    bot.ask("1", "→ You're going to Signal Night.")

    sent = time.monotonic()
    bot.signal(sig)
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()
    assert time.monotonic() - sent < 10
    assert bot.lines[-2:] == [
        f"Party `{code_match[1]}` (Signal Night) stays scheduled; it goes on when the bot runs "
        f"again. To drop it, run the bot and type /watchparty cancel {code_match[1]}.",
        BYE], bot.transcript()
    _no_traceback(bot)

    # Nothing was half-written: the party, its RSVP and its schedule are in the file...
    with database(db) as conn:
        state, = conn.execute("SELECT state FROM parties WHERE code = ?",
                              (code_match[1],)).fetchone()
        rsvps = conn.execute("SELECT value FROM records WHERE kind = 'rsvp'").fetchall()
        go = conn.execute("SELECT count(*) FROM actions WHERE kind = 'go' AND status = 'pending'"
                          " AND acquired_by IS NULL").fetchone()
    assert state == "scheduled" and rsvps == [("going",)] and go == (1,)

    # ...and the next run lists it.
    again = start_console(tmp_path, env, label=f"{sig.name}-again")
    again.wait_for(BANNER, timeout=30)
    again.ask("/watchparty list", f"• `{code_match[1]}` Signal Night — ")
    again.close_stdin()
    assert again.wait_exit(timeout=15) == 0, again.transcript()
    _no_traceback(again)


# ---- bad input --------------------------------------------------------------------------

@pytest.mark.timeout(90)
def test_bad_input_gets_a_clear_line_and_the_console_keeps_going(
        tmp_path: Path, start_console: StartConsole) -> None:
    bot = start_console(tmp_path, bot_env(), speed=60, label="bad-input")
    bot.wait_for(BANNER, timeout=30)

    def still_running() -> None:
        bot.ask("/watchparty list", "→ No upcoming or running parties in this chat.")

    seen = bot.ask("/watchparty frobnicate", "⚠ There's no subcommand “frobnicate”.")
    assert "Known: " in seen.line and "create" in seen.line and "Try /watchparty help." in seen.line
    still_running()

    seen = bot.ask("/watchparty create Too Late | yesterday 10:00", "⚠ “yesterday 10:00” is ")
    assert "which is in the past. Give a time ahead." in seen.line
    still_running()

    seen = bot.ask("/watchparty create Long Ago | 2020-01-01T20:00+00:00",
                   "⚠ “2020-01-01T20:00+00:00” is Wed 01 Jan 2020, 20:00 UTC, which is in the past")
    still_running()

    seen = bot.ask("/watchparty create Nonsense | blorp o'clock",
                   "⚠ I couldn't read “blorp o'clock” as a time.")
    assert "“in 45m”" in seen.line and "ISO 8601" in seen.line
    still_running()

    seen = bot.ask("/watchparty create Mystery | in 1h | no-such-guide",
                   "⚠ There is no guide “no-such-guide”. Known guides:")
    for name in ("social-dilemma", "three-act-film", "tv-episode"):
        assert name in seen.line
    still_running()

    bot.ask("reply 99 x", "⚠ There's no prompt 99 to answer.")
    bot.ask("react 99 😂", "⚠ There's no prompt 99 to react to.")
    bot.ask("unreact 99 😂", "⚠ There's no prompt 99 to react to.")
    bot.ask("/watchparty create | in 1h", "⚠ /watchparty create needs title")
    bot.ask("blah", "⚠ I don't know “blah”.")
    bot.ask("7", "⚠ There's no button 7.")
    still_running()

    # A good command after all that still works.
    bot.ask("/watchparty create Finally | in 1h | tv-episode", "→ Party Finally created for")
    bot.ask("/watchparty list", re.compile(r"^• `[A-Z2-9]{6}` Finally — "))
    bot.close_stdin()
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()
    _no_traceback(bot)
    assert "Something went wrong" not in bot.stdout_text(), bot.transcript()


# ---- permissions ------------------------------------------------------------------------

@pytest.mark.timeout(60)
def test_only_the_host_or_a_moderator_may_cancel(tmp_path: Path,
                                                 start_console: StartConsole) -> None:
    bot = start_console(tmp_path, bot_env(), speed=60, label="cancel")
    bot.wait_for(BANNER, timeout=30)
    created = bot.ask("/watchparty create Movie Night | in 2h", "→ Party Movie Night created for",
                      timeout=20)
    code_match = CODE.search(created.line)
    assert code_match, bot.transcript()
    code = code_match[1]

    bot.ask("as Alice", "→ you are now Alice")
    refused = bot.ask("/watchparty cancel",
                      f"⚠ Only the host ({USER}) or a moderator of a linked chat may cancel here.")
    bot.ask(f"/watchparty cancel {code}", "⚠ Only the host")
    # Still listed, still scheduled, and nobody was told it was cancelled.
    bot.ask("/watchparty list", f"• `{code}` Movie Night — ")
    bot.ask(f"/watchparty info {code}", f"→ 🎬 Movie Night `{code}` — scheduled")
    assert "🚫" not in "\n".join(bot.lines[refused.index:]), bot.transcript()

    # The host can.
    bot.ask("as me", f"→ you are now {USER} (a moderator)")
    bot.ask("/watchparty cancel", f"watchparty: 🚫 Movie Night was cancelled by {USER}.")
    bot.ask("/watchparty list", "→ No upcoming or running parties in this chat.")
    bot.close_stdin()
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()
    _no_traceback(bot)


# ---- threads ---------------------------------------------------------------------------

@pytest.mark.timeout(90)
def test_threads_yes_in_the_console_posts_in_the_chat(tmp_path: Path,
                                                      start_console: StartConsole) -> None:
    """The console has no threads: with `threads=yes` it says so once and posts right here."""
    bot = start_console(tmp_path, bot_env(), speed=60, label="threads")
    bot.wait_for(BANNER, timeout=30)
    bot.ask("/watchparty settings threads=yes", "threads: yes")
    created = bot.ask("/watchparty create Movie Night | in 2m | three-act-film",
                      "→ Party Movie Night created for", timeout=20)
    bot.wait_for("watchparty: 🧵 This chat has no threads", start=created.index, timeout=20)
    bot.wait_for("💬 Chapter 1", start=created.index, timeout=60)
    said = [line for line in bot.lines if "🧵" in line]
    assert len(said) == 1, bot.transcript()
    bot.close_stdin()
    assert bot.wait_exit(timeout=15) == 0, bot.transcript()
    assert bot.stderr_text() == "", bot.transcript()  # nothing for an operator to act on
    _no_traceback(bot)
