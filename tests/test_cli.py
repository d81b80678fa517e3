"""The command line as a user runs it: one clear line and a non-zero status on bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GUIDES = ROOT / "bot" / "guides"


def run(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None,
        stdin: str = "") -> subprocess.CompletedProcess[str]:
    """Run `python -m bot …` with a clean environment."""
    base = {k: v for k, v in os.environ.items()
            if not k.startswith(("DISCORD_", "TELEGRAM_", "DATABASE_", "GUIDES_"))}
    base["PYTHONPATH"] = str(ROOT)
    base.update(env or {})
    return subprocess.run([sys.executable, "-m", "bot", *args], capture_output=True, text=True,
                          env=base, cwd=cwd or ROOT, input=stdin, timeout=60, check=False)


def console_party(db: dict[str, str], folder: Path, lines: str) -> str:
    """Run the console on the database with these lines; the join code it created."""
    console = run("console", env=db, cwd=folder, stdin=lines)
    assert console.returncode == 0, console.stderr
    return next(w.strip("`.") for w in console.stdout.split() if len(w.strip("`.")) == 6
                and w.strip("`.").isupper() and w.startswith("`"))


def test_guide_check_prints_prompt_times() -> None:
    result = run("guide", "check", str(GUIDES / "social-dilemma.toml"))
    assert result.returncode == 0, result.stderr
    assert "The Social Dilemma (social-dilemma) — runtime 1:34:00" in result.stdout
    assert "prompts at 0:12:00" in result.stdout and "OK: the guide is valid." in result.stdout


def test_guide_check_names_the_field_and_problem(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('title = "X"\nruntime = "1h34"\n[[chapters]]\ntitle = "A"\n'
                   'ends_at = "0:10:00"\nquestion = ["Why?"]\n')
    result = run("guide", "check", str(bad))
    assert result.returncode == 1
    assert 'runtime: "1h34" is not a time' in result.stdout
    assert 'chapters[1].question: unknown field; did you mean "questions"?' in result.stdout


def test_bad_token_is_one_clear_line(tmp_path: Path) -> None:
    result = run("migrate", env={"DISCORD_TOKEN": "not-a-token",
                                 "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "watchparty: DISCORD_TOKEN: DISCORD_TOKEN does not look like a bot token (three "
        "dot-separated parts, from the Developer Portal's Bot page)"]
    assert "not-a-token" not in result.stderr


def test_unknown_database_scheme(tmp_path: Path) -> None:
    result = run("migrate", env={"DATABASE_URL": "mysql://localhost/x"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "DATABASE_URL scheme 'mysql' is not supported" in result.stderr


def test_unreachable_database(tmp_path: Path) -> None:
    result = run("migrate", env={"DATABASE_URL": f"sqlite:///{tmp_path}/missing/dir/x.db"})
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert result.stderr.startswith("watchparty: DATABASE_URL:")


def test_migrate_create_refuses_a_url_without_a_database_and_a_server_away(
        tmp_path: Path) -> None:
    # Nothing to make for SQLite: the file is made as it is opened.
    made = run("migrate", "--create", env={"DATABASE_URL": f"sqlite:///{tmp_path}/new.db"})
    assert made.returncode == 0 and "created the database" not in made.stdout, made.stderr
    for url, said in (("postgresql://postgres@127.0.0.1:5432/", "names no database"),
                      ("postgresql://u:secret@127.0.0.1:1/wp", "cannot connect to PostgreSQL at"
                                                               " 127.0.0.1:1")):
        result = run("migrate", "--create", env={"DATABASE_URL": url})
        assert result.returncode == 2, result.stderr
        assert len(result.stderr.strip().splitlines()) == 1
        assert said in result.stderr and "secret" not in result.stderr


def test_the_workers_script_says_what_n_it_takes(tmp_path: Path) -> None:
    for bad in ("zero", "0", "-2"):
        result = subprocess.run(["sh", str(ROOT / "scripts" / "workers"), bad], cwd=tmp_path,
                                capture_output=True, text=True, timeout=30, check=False)
        assert result.returncode == 2
        assert f"N a number of workers (1 or more); got '{bad}'" in result.stderr
        assert not list(tmp_path.glob("worker-*.log")), "no worker was started"


def test_migrate_then_export_unknown_and_known_party(tmp_path: Path) -> None:
    db = {"DATABASE_URL": f"sqlite:///{tmp_path}/wp.db"}
    result = run("migrate", env=db)
    assert result.returncode == 0 and "up to date" in result.stdout
    result = run("export", "K7Q2MX", env=db)
    assert result.returncode == 1 and "No party has the code “K7Q2MX”." in result.stderr
    result = run("export", "nope!", env=db)
    assert result.returncode == 2 and "isn't a join code" in result.stderr
    # A party made in the console (speed 1, same file) exports as JSON and as JSON Lines.
    code = console_party(db, tmp_path,
                         "/watchparty create Family night | in 2 hours | social-dilemma\n1\n")
    out = tmp_path / "log.json"
    result = run("export", code, "-o", str(out), env=db)
    assert result.returncode == 0, result.stderr
    doc = json.loads(out.read_text())
    assert doc["party"]["title"] == "Family night"
    assert [r["kind"] for r in doc["records"]] == ["rsvp"]
    lines = run("export", code, "--anonymize", env=db)
    rows = [json.loads(line) for line in lines.stdout.splitlines()]
    assert rows[0]["type"] == "header" and rows[-1]["type"] == "participant"
    assert os.environ.get("USER", "root") not in lines.stdout.replace("watchparty", "")


def test_export_format_asked_for_wins_over_the_pipe(tmp_path: Path) -> None:
    db = {"DATABASE_URL": f"sqlite:///{tmp_path}/wp.db"}
    code = console_party(db, tmp_path, "/watchparty create Format night | in 2 hours | demo\n1\n")

    # --format json to a pipe: one JSON document, not lines.
    result = run("export", code, "--format", "json", env=db)
    assert result.returncode == 0, result.stderr
    doc = json.loads(result.stdout)
    assert doc["party"]["code"] == code and [r["kind"] for r in doc["records"]] == ["rsvp"]

    # Lines only when asked for, or to a pipe with no format, or to a .jsonl file.
    for args in (("--format", "jsonl"), ()):
        result = run("export", code, *args, env=db)
        assert result.returncode == 0, result.stderr
        rows = [json.loads(line) for line in result.stdout.splitlines()]
        assert len(rows) > 1 and rows[0]["type"] == "header", args
    lines_file = tmp_path / "log.jsonl"
    assert run("export", code, "-o", str(lines_file), env=db).returncode == 0
    assert json.loads(lines_file.read_text().splitlines()[0])["type"] == "header"
    # An explicit format beats the file's extension too.
    assert run("export", code, "--format", "json", "-o", str(lines_file), env=db).returncode == 0
    assert json.loads(lines_file.read_text())["party"]["code"] == code


def test_calendar_file_of_a_console_party(tmp_path: Path) -> None:
    import icalendar

    db = {"DATABASE_URL": f"sqlite:///{tmp_path}/wp.db"}
    day = datetime.now(UTC).date() + timedelta(days=10)
    first, moved = (datetime(day.year, day.month, day.day, 19, 30, tzinfo=UTC)
                    + timedelta(days=n) for n in (0, 1))
    code = console_party(db, tmp_path, (
        f"/watchparty create Family night | {first.isoformat()} | social-dilemma\n"
        f"/watchparty edit when={moved.isoformat()}\n"))
    out = tmp_path / "party.ics"
    result = run("calendar", code, "-o", str(out), env=db)
    assert result.returncode == 0, result.stderr
    assert f"wrote the calendar file of {code}" in result.stderr
    [event] = icalendar.Calendar.from_ical(out.read_bytes()).walk("VEVENT")
    assert event.decoded("DTSTART") == moved and event["DTSTART"].to_ical().endswith(b"Z")
    assert event["SEQUENCE"] == 1
    assert event.decoded("DTEND") == moved + timedelta(hours=1, minutes=34)  # the guide's
    assert code in str(event["DESCRIPTION"])
    # To stdout without -o; bad codes are one clear line.
    piped = run("calendar", code, env=db)
    assert piped.returncode == 0 and piped.stdout.startswith("BEGIN:VCALENDAR")
    assert run("calendar", "ZZZZZZ", env=db).stderr.strip() == "No party has the code “ZZZZZZ”."
    assert run("calendar", "nope!", env=db).returncode == 2


def test_the_sample_calendar_file_in_docs_parses() -> None:
    import icalendar

    [event] = icalendar.Calendar.from_ical(
        (ROOT / "docs" / "calendar-sample.ics").read_bytes()).walk("VEVENT")
    assert event["DTSTART"].to_ical().endswith(b"Z") and event.walk("VALARM")
    assert "Join code" in str(event["DESCRIPTION"])


def test_webhook_url_without_secret_is_one_clear_line(tmp_path: Path) -> None:
    result = run("migrate", env={"TELEGRAM_WEBHOOK_URL": "https://bot.example.org/telegram",
                                 "PORT": "8080", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "watchparty: TELEGRAM_WEBHOOK_URL is set but TELEGRAM_WEBHOOK_SECRET is not: set a "
        "secret, so only Telegram can post updates to the webhook"]


def test_shard_settings_are_checked_together(tmp_path: Path) -> None:
    db = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    result = run("migrate", env={"DISCORD_SHARD_IDS": "0,2", **db})
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "watchparty: DISCORD_SHARD_IDS is set but DISCORD_SHARD_COUNT is not: give the bot's "
        "total number of shards too"]
    result = run("migrate", env={"DISCORD_SHARD_IDS": "1-2", "DISCORD_SHARD_COUNT": "2", **db})
    assert result.stderr.strip().splitlines() == [
        "watchparty: DISCORD_SHARD_IDS names shard 2, but DISCORD_SHARD_COUNT=2 has shards 0 to 1"]
    result = run("migrate", env={"DISCORD_SHARD_IDS": "zero", "DISCORD_SHARD_COUNT": "2", **db})
    assert result.stderr.strip().splitlines() == [
        "watchparty: DISCORD_SHARD_IDS: must be shard numbers or ranges such as `0-3` or `0,2`, "
        "or `none`; got 'zero'"]
