"""The durable scheduler at scale: 100,000 actions of 10,000 parties, against APScheduler 3.11.

Run: .venv/bin/python -m bench.scheduler [--actions 100000] [--parties 10000] [--spread 60]
     On PostgreSQL, 1 and 3 worker processes, and APScheduler's SQLAlchemy job store on the same
     server with 1 and 3 processes: add --store postgresql://… [--workers 1,3] [--aps-workers 1,3]

Every variant runs in processes of its own, so each peak RSS is that variant's alone:

- ours: `Scheduler.schedule` into `SqliteStore` (a temp file, WAL) in one call, in one process;
  the store is closed, a second process reopens the file (the restart: open + reap_leases +
  next_wakeup is the reload time) and fires every action with a `Scheduler` on the real clock.
- ours, per-party: the same actions scheduled one party at a time (10 actions a call), as the bot
  does when parties are created; schedule time and RSS only (the file ends up the same).
- APScheduler 3.11 `AsyncIOScheduler` with `MemoryJobStore` (one process: nothing to reload) and
  with `SQLAlchemyJobStore` on SQLite (WAL, synchronous=NORMAL, set by a connect event) in two
  processes like ours. Jobs are date-triggered coroutines, added while the scheduler is paused
  (no wakeup per add, its fastest way), with misfire_grace_time=None so a late job still runs
  (late, not lost, as ours) and coalesce off.

Due times are spread uniformly at random (seeded) over a window of `--spread` seconds that
starts `--lead` seconds after scheduling begins (longer for APScheduler's slower adds); each
`fire` records `clock.now() - due_at`. An action that never fires within `--grace` seconds of the
window's end, or fires twice, is missed. The time to read every pending action back is measured
separately, on a copy of the file taken right after scheduling.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import gc
import json
import os
import random
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from bot.actions import Action, ActionKind, ActionStatus
from bot.clock import SystemClock
from bot.scheduler import Scheduler
from bot.settings import default_worker_id
from storage.sqlite import _ACTION_COLUMNS, SqliteStore, _action

RESULT = "RESULT "
# What one party schedules: reminders, the ready check, countdown and go, chapter prompts and the
# summary, in due order.
PARTY_KINDS = (ActionKind.REMINDER, ActionKind.REMINDER, ActionKind.READY_CHECK,
               ActionKind.COUNTDOWN, ActionKind.GO, ActionKind.PROMPT, ActionKind.PROMPT,
               ActionKind.PROMPT, ActionKind.PROMPT, ActionKind.SUMMARY)
TARGETS = {"schedule_s": 0.8, "p99_ms": 5.0, "missed": 0, "rss_mb": 100.0, "reload_s": 0.5}
# Seconds of lead per job added, on top of --lead, for APScheduler (its adds are slower).
APS_LEAD_PER_JOB = {"aps-memory": 0.00005, "aps-sqlalchemy": 0.0004, "aps-postgres": 0.0025}


# memory


def _status_mb(field: str) -> float:
    with open("/proc/self/status", encoding="ascii") as status:
        match = re.search(rf"^{field}:\s+(\d+) kB", status.read(), re.MULTILINE)
    if match is None:
        raise OSError(f"no {field} in /proc/self/status")
    return int(match[1]) / 1024


class Memory:
    """Peak RSS per phase: Linux lets a process reset its high-water mark (clear_refs 5)."""

    def __init__(self) -> None:
        self.peaks: dict[str, float] = {}
        self.starts: dict[str, float] = {}
        self.baseline = self.rss()
        self._resettable = self._reset()

    @staticmethod
    def rss() -> float:
        """Current RSS in MB."""
        try:
            return _status_mb("VmRSS")
        except OSError:
            return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    @staticmethod
    def _reset() -> bool:
        try:
            with open("/proc/self/clear_refs", "w", encoding="ascii") as refs:
                refs.write("5")
            return True
        except OSError:
            return False

    def begin(self, phase: str) -> None:
        """Start a phase: its peak counts from the RSS now."""
        self._resettable = self._reset()
        self.starts[phase] = round(self.rss(), 1)

    def end(self, phase: str) -> float:
        """End a phase; return and keep its peak RSS in MB."""
        try:
            peak = _status_mb("VmHWM")
        except OSError:
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        self.peaks[phase] = round(peak, 1)
        return peak

    def report(self) -> dict[str, Any]:
        """The figures for the JSON result."""
        return {"rss_baseline_mb": round(self.baseline, 1), "rss_peaks_mb": self.peaks,
                "rss_starts_mb": self.starts, "rss_per_phase": self._resettable}


# inputs


def plan(actions: int, parties: int, spread: float, seed: int
         ) -> list[list[tuple[ActionKind, float, dict[str, Any]]]]:
    """Per party: its actions as (kind, offset in the window, payload), in due order."""
    rng = random.Random(seed)
    per, extra = divmod(actions, parties)
    result = []
    for party in range(parties):
        count = per + (1 if party < extra else 0)
        offsets = sorted(rng.uniform(0.0, spread) for _ in range(count))
        mine = []
        for n, offset in enumerate(offsets):
            if n == count - 1 and count > 1:
                kind = ActionKind.SUMMARY
            elif n < len(PARTY_KINDS) - 1:
                kind = PARTY_KINDS[n]
            else:
                kind = ActionKind.PROMPT
            payload: dict[str, Any] = {}
            if kind is ActionKind.REMINDER:
                payload = {"before": 86_400 if n == 0 else 3_600}
            elif kind is ActionKind.PROMPT:
                payload = {"chapter": n - 4}
            mine.append((kind, offset, payload))
        result.append(mine)
    return result


class FireLog:
    """What fired: a count per key (bytes, so the log itself stays small) and every lateness."""

    def __init__(self, size: int, expect: int) -> None:
        self.counts = bytearray(size)
        self.late = array.array("d")
        self.expect = expect
        self.fired = 0
        self.stray = 0
        self.done = asyncio.Event()
        if expect == 0:
            self.done.set()

    def record(self, key: int, due: datetime, now: datetime) -> None:
        """One firing of `key`, due at `due`, noticed at `now`."""
        self.late.append((now - due).total_seconds() * 1000.0)
        if not 0 <= key < len(self.counts):
            self.stray += 1
            return
        count = self.counts[key]
        if count < 255:
            self.counts[key] = count + 1
        if count == 0:
            self.fired += 1
            if self.fired >= self.expect:
                self.done.set()

    async def wait(self, until: float) -> None:
        """Wait until every expected key fired or the wall clock passes `until`."""
        timeout = max(0.0, until - time.time())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.done.wait(), timeout)

    def summary(self, first: int, last: int) -> dict[str, Any]:
        """Lateness percentiles (ms) and missed keys among first..last."""
        keys = self.counts[first:last + 1]
        never = keys.count(0)
        twice = len(keys) - never - keys.count(1)
        late = sorted(self.late)
        return {
            "fired": len(late), "never_fired": never, "fired_twice": twice, "stray": self.stray,
            "missed": never + twice + self.stray,
            "p50_ms": percentile(late, 0.50), "p99_ms": percentile(late, 0.99),
            "max_ms": late[-1] if late else None,
        }


def percentile(ordered: list[float], fraction: float) -> float | None:
    """The value below which `fraction` of the sorted values lie (nearest rank)."""
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def file_mb(path: str) -> float:
    """Size of a database file in MB."""
    return round(os.path.getsize(path) / 2**20, 1)


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def lead_for(variant: str, args: argparse.Namespace, jobs: int | None = None) -> float:
    """Seconds from the start of scheduling to the start of the window."""
    if jobs is None:
        jobs = aps_sql_actions(args) if variant == "aps-sqlalchemy" else args.actions
    return round(args.lead + APS_LEAD_PER_JOB.get(variant, 0.0) * jobs, 1)


def aps_sql_actions(args: argparse.Namespace) -> int:
    """How many jobs the SQLAlchemy job store variant runs."""
    return args.aps_sql_actions or args.actions


def aps_sql_parties(args: argparse.Namespace) -> int:
    """Parties for the SQLAlchemy variant, keeping the same actions per party."""
    return max(1, round(args.parties * aps_sql_actions(args) / args.actions))


# ours


async def _not_fired(action: Action, now: datetime) -> ActionStatus:
    raise AssertionError("the scheduling process never starts its scheduler")


async def ours_schedule(args: argparse.Namespace) -> dict[str, Any]:
    """Process 1: schedule every action into a fresh file, then close it."""
    memory = Memory()
    groups = plan(args.actions, args.parties, args.spread, args.seed)
    store = await SqliteStore.open(args.db)
    scheduler = Scheduler(store, SystemClock(), _not_fired, batch=args.batch)
    lead = lead_for("ours", args)
    start = datetime.now(UTC) + timedelta(seconds=lead)
    batches = [
        [Action(party, kind, start + timedelta(seconds=offset), payload)
         for kind, offset, payload in mine]
        for party, mine in enumerate(groups, start=1)
    ]
    del groups
    gc.collect()
    memory.begin("schedule")
    cpu = cpu_seconds()
    began = time.perf_counter()
    if args.per_party:
        stored = []
        for batch in batches:
            stored.extend(await scheduler.schedule(batch))
    else:
        stored = await scheduler.schedule([a for batch in batches for a in batch])
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds() - cpu
    memory.end("schedule")
    ids = [a.id for a in stored if a.id is not None]
    assert len(ids) == args.actions == len(set(ids)), "every action gets its own id"
    del batches, stored
    began = time.perf_counter()
    await store.close()
    closed = time.perf_counter() - began
    return {
        "schedule_s": elapsed, "schedule_cpu_s": cpu,
        "schedule_calls": args.parties if args.per_party else 1,
        "close_s": closed, "first_id": min(ids), "last_id": max(ids),
        "window_start": start.timestamp(), "window_end": start.timestamp() + args.spread,
        "lead_s": lead, "db_mb": file_mb(args.db),
        **memory.report(),
    }


async def ours_run(args: argparse.Namespace) -> dict[str, Any]:
    """Process 2, the restart: reopen the file, find the next due action, fire them all."""
    memory = Memory()
    clock = SystemClock()
    memory.begin("reload")
    began = time.perf_counter()
    store = await SqliteStore.open(args.db)
    opened = time.perf_counter()
    released = await store.reap_leases(clock.now(), default_worker_id())
    release_done = time.perf_counter()
    wakeup = await store.next_wakeup()
    known = time.perf_counter()
    memory.end("reload")
    assert wakeup is not None, "the reopened file has pending actions"
    margin = (wakeup - clock.now()).total_seconds()

    log = FireLog(args.last_id + 1, args.last_id - args.first_id + 1)

    async def fire(action: Action, now: datetime) -> ActionStatus:
        assert action.id is not None
        log.record(action.id, action.due_at, clock.now())
        return ActionStatus.DONE

    scheduler = Scheduler(store, clock, fire, batch=args.batch)
    commits = store.commit_count
    memory.begin("fire")
    cpu = cpu_seconds()
    scheduler.start()
    await log.wait(args.window_end + args.grace)
    await scheduler.stop()
    cpu = cpu_seconds() - cpu
    memory.end("fire")
    commits = store.commit_count - commits
    await store.close()
    with sqlite3.connect(args.db) as check:
        statuses = dict(check.execute("SELECT status, COUNT(*) FROM actions GROUP BY status"))
    return {
        "reload_s": known - began, "reload_open_s": opened - began,
        "reload_release_s": release_done - opened, "reload_next_wakeup_s": known - release_done,
        "released": released, "first_due_margin_s": margin, "fire_cpu_s": cpu,
        "fire_commits": commits, "statuses": statuses,
        **log.summary(args.first_id, args.last_id), **memory.report(),
    }


def ours_read_all(args: argparse.Namespace) -> dict[str, Any]:
    """On a copy taken after scheduling: read every pending action back as Action objects."""
    memory = Memory()
    began = time.perf_counter()
    conn = sqlite3.connect(args.db)
    rows = conn.execute(
        f"SELECT {_ACTION_COLUMNS} FROM actions WHERE status = 'pending' ORDER BY due_at, id"
    ).fetchall()
    actions = [_action(row) for row in rows]
    elapsed = time.perf_counter() - began
    conn.close()
    memory.end("read_all")
    return {"read_all_s": elapsed, "read_all_count": len(actions), **memory.report()}


# APScheduler

_LOGS: dict[str, FireLog] = {}


async def aps_fire(key: int, due: datetime) -> None:
    """The APScheduler job: record when it ran."""
    _LOGS["fire"].record(key, due, datetime.now(UTC))


def _aps_engine(path: str) -> Any:
    from sqlalchemy import create_engine, event

    engine = create_engine(f"sqlite:///{path}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    return engine


def _aps_scheduler(jobstore: Any) -> Any:
    from apscheduler.schedulers.asyncio import AsyncIOScheduler

    return AsyncIOScheduler(
        jobstores={"default": jobstore}, timezone=UTC,
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
    )


def _aps_jobs(variant: str, args: argparse.Namespace, actions: int, parties: int
              ) -> tuple[list[tuple[int, datetime]], float, datetime]:
    lead = lead_for(variant, args, actions)
    start = datetime.now(UTC) + timedelta(seconds=lead)
    jobs: list[tuple[int, datetime]] = []
    for mine in plan(actions, parties, args.spread, args.seed):
        for _, offset, _ in mine:
            jobs.append((len(jobs), start + timedelta(seconds=offset)))
    return jobs, lead, start


def _add_jobs(scheduler: Any, jobs: list[tuple[int, datetime]]) -> tuple[float, float]:
    cpu = cpu_seconds()
    began = time.perf_counter()
    for key, due in jobs:
        scheduler.add_job(aps_fire, "date", run_date=due, args=(key, due), id=str(key))
    return time.perf_counter() - began, cpu_seconds() - cpu


def _aps_fill(jobstore: Any, jobs: list[tuple[int, datetime]], memory: Memory
              ) -> tuple[float, float]:
    """Add every job to a paused scheduler on `jobstore` (phase "schedule"), then shut it down:
    seconds and CPU seconds of the adds."""
    scheduler = _aps_scheduler(jobstore)
    scheduler.start(paused=True)
    gc.collect()
    memory.begin("schedule")
    elapsed, cpu = _add_jobs(scheduler, jobs)
    memory.end("schedule")
    scheduler.shutdown(wait=False)
    return elapsed, cpu


async def aps_memory(args: argparse.Namespace) -> dict[str, Any]:
    """One process: add every job to a MemoryJobStore, then let them fire."""
    from apscheduler.jobstores.memory import MemoryJobStore

    memory = Memory()
    jobs, lead, start = _aps_jobs("aps-memory", args, args.actions, args.parties)
    log = _LOGS["fire"] = FireLog(len(jobs), len(jobs))
    scheduler = _aps_scheduler(MemoryJobStore())
    scheduler.start(paused=True)
    gc.collect()
    memory.begin("schedule")
    elapsed, cpu = _add_jobs(scheduler, jobs)
    memory.end("schedule")
    count = len(jobs)
    del jobs
    margin = (start - datetime.now(UTC)).total_seconds()
    memory.begin("fire")
    cpu_fire = cpu_seconds()
    scheduler.resume()
    await log.wait(start.timestamp() + args.spread + args.grace)
    cpu_fire = cpu_seconds() - cpu_fire
    memory.end("fire")
    left = len(scheduler.get_jobs())
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0.1)
    return {
        "schedule_s": elapsed, "schedule_cpu_s": cpu, "schedule_calls": count, "lead_s": lead,
        "window_start": start.timestamp(), "first_due_margin_s": margin, "fire_cpu_s": cpu_fire,
        "jobs_left": left, **log.summary(0, count - 1), **memory.report(),
    }


async def aps_sql_schedule(args: argparse.Namespace) -> dict[str, Any]:
    """Process 1: add every job to an SQLAlchemyJobStore on a fresh SQLite file."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    memory = Memory()
    actions, parties = aps_sql_actions(args), aps_sql_parties(args)
    jobs, lead, start = _aps_jobs("aps-sqlalchemy", args, actions, parties)
    elapsed, cpu = _aps_fill(SQLAlchemyJobStore(engine=_aps_engine(args.db)), jobs, memory)
    await asyncio.sleep(0.1)
    return {
        "schedule_s": elapsed, "schedule_cpu_s": cpu, "schedule_calls": len(jobs),
        "first_id": 0, "last_id": len(jobs) - 1, "window_start": start.timestamp(),
        "window_end": start.timestamp() + args.spread, "lead_s": lead,
        "db_mb": file_mb(args.db), **memory.report(),
    }


async def aps_sql_run(args: argparse.Namespace) -> dict[str, Any]:
    """Process 2, the restart: a new scheduler on the same file; it loads and fires the jobs."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    memory = Memory()
    log = _LOGS["fire"] = FireLog(args.last_id + 1, args.last_id - args.first_id + 1)
    memory.begin("reload")
    began = time.perf_counter()
    jobstore = SQLAlchemyJobStore(engine=_aps_engine(args.db))
    scheduler = _aps_scheduler(jobstore)
    scheduler.start(paused=True)
    started = time.perf_counter()
    wakeup = jobstore.get_next_run_time()
    known = time.perf_counter()
    memory.end("reload")
    assert wakeup is not None, "the reopened file has jobs"
    margin = (wakeup - datetime.now(UTC)).total_seconds()
    memory.begin("fire")
    cpu = cpu_seconds()
    scheduler.resume()
    await log.wait(args.window_end + args.grace)
    cpu = cpu_seconds() - cpu
    memory.end("fire")
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0.1)
    with sqlite3.connect(args.db) as check:
        left = check.execute("SELECT COUNT(*) FROM apscheduler_jobs").fetchone()[0]
    return {
        "reload_s": known - began, "reload_open_s": started - began,
        "reload_next_wakeup_s": known - started, "first_due_margin_s": margin,
        "fire_cpu_s": cpu, "jobs_left": left, **log.summary(args.first_id, args.last_id),
        **memory.report(),
    }


async def aps_sql_read_all(args: argparse.Namespace) -> dict[str, Any]:
    """On a copy taken after scheduling: a new scheduler reads (unpickles) every job."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    memory = Memory()
    began = time.perf_counter()
    scheduler = _aps_scheduler(SQLAlchemyJobStore(engine=_aps_engine(args.db)))
    scheduler.start(paused=True)
    jobs = scheduler.get_jobs()
    elapsed = time.perf_counter() - began
    memory.end("read_all")
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0.1)
    return {"read_all_s": elapsed, "read_all_count": len(jobs), **memory.report()}


PHASES = {
    "ours-schedule": ours_schedule,
    "ours-run": ours_run,
    "aps-memory": aps_memory,
    "aps-sql-schedule": aps_sql_schedule,
    "aps-sql-run": aps_sql_run,
    "aps-sql-read-all": aps_sql_read_all,
}


def run_phase_here(args: argparse.Namespace) -> None:
    """Inside a child process: run one phase and print its JSON."""
    if args.phase == "ours-read-all":
        result = ours_read_all(args)
    elif args.phase.startswith("pg-"):
        from bench import scheduler_postgres

        result = asyncio.run(scheduler_postgres.PHASES[args.phase](args))
    else:
        result = asyncio.run(PHASES[args.phase](args))
    print(RESULT + json.dumps(result), flush=True)


# the parent: run the variants, print the table


COMMON = ("actions", "parties", "spread", "lead", "grace", "seed", "batch", "aps_sql_actions")
PG_PHASES = ("pg-schedule", "pg-fire", "pg-aps-schedule", "pg-aps-fire")


def run_phase(args: argparse.Namespace, phase: str, **extra: Any) -> dict[str, Any]:
    """Run one phase in a fresh interpreter and return its JSON result."""
    command = [sys.executable, "-m", "bench.scheduler", "--phase", phase]
    for name in COMMON:
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for name, value in extra.items():
        if isinstance(value, bool):
            if value:
                command.append(f"--{name.replace('_', '-')}")
        else:
            command += [f"--{name.replace('_', '-')}", str(value)]
    done = subprocess.run(command, stdout=subprocess.PIPE, text=True, check=False, timeout=900)
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT)]
    if done.returncode != 0 or not lines:
        sys.stdout.write(done.stdout)
        raise SystemExit(f"phase {phase} failed (exit {done.returncode})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT))
    return result


def copy_database(source: Path, target: Path) -> None:
    """Copy a closed SQLite file (and its WAL, if one is left)."""
    for suffix in ("", "-wal", "-shm"):
        if Path(f"{source}{suffix}").exists():
            shutil.copyfile(f"{source}{suffix}", f"{target}{suffix}")


def peak(result: dict[str, Any], *phases: str) -> float:
    """The highest RSS of these phases."""
    return max(result["rss_peaks_mb"][p] for p in phases if p in result["rss_peaks_mb"])


def run_variants(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Each variant in its own processes, one after the other."""
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-scheduler-") as tmp:
        folder = Path(tmp)
        for variant in args.variants.split(","):
            began = time.perf_counter()
            print(f"running {variant} …", file=sys.stderr, flush=True)
            if variant in ("ours", "ours-per-party"):
                db = folder / f"{variant}.db"
                sched = run_phase(args, "ours-schedule", db=db,
                                  per_party=variant == "ours-per-party")
                result: dict[str, Any] = {"actions": args.actions, "schedule": sched}
                if variant == "ours":
                    copy_database(db, folder / "ours-copy.db")
                    result["run"] = run_phase(
                        args, "ours-run", db=db, first_id=sched["first_id"],
                        last_id=sched["last_id"], window_end=sched["window_end"],
                    )
                    result["read_all"] = run_phase(args, "ours-read-all",
                                                   db=folder / "ours-copy.db")
            elif variant == "aps-memory":
                one = run_phase(args, "aps-memory")
                result = {"actions": args.actions, "schedule": one, "run": one}
            elif variant == "aps-sqlalchemy":
                db = folder / "aps.db"
                sched = run_phase(args, "aps-sql-schedule", db=db)
                copy_database(db, folder / "aps-copy.db")
                result = {"actions": aps_sql_actions(args), "schedule": sched,
                          "run": run_phase(args, "aps-sql-run", db=db,
                                           first_id=sched["first_id"], last_id=sched["last_id"],
                                           window_end=sched["window_end"]),
                          "read_all": run_phase(args, "aps-sql-read-all",
                                                db=folder / "aps-copy.db")}
            else:
                raise SystemExit(f"unknown variant {variant!r}")
            result["wall_s"] = time.perf_counter() - began
            results[variant] = result
    return results


LABELS = {
    "ours": "ours: Scheduler + SqliteStore, one call",
    "ours-per-party": "ours: per-party schedule calls",
    "aps-memory": "APScheduler AsyncIO + MemoryJobStore",
    "aps-sqlalchemy": "APScheduler AsyncIO + SQLAlchemyJobStore",
}


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def table(results: dict[str, dict[str, Any]]) -> list[str]:
    """The summary table, one row per variant."""
    head = (f"{'variant':<41} {'actions':>8} {'sched s':>8} {'p50 ms':>7} {'p99 ms':>8} "
            f"{'max ms':>8} {'missed':>6} {'RSS MB sched/fire':>18} {'reload s':>9}")
    lines = [head, "-" * len(head)]
    for variant, r in results.items():
        sched, run = r["schedule"], r.get("run")
        rss = f"{peak(sched, 'schedule'):.0f} / " + (
            f"{peak(run, 'reload', 'fire'):.0f}" if run else "-")
        reload = "-" if variant == "ours-per-party" else (
            "lost" if variant == "aps-memory" else f"{run['reload_s']:.3f}")
        lines.append(
            f"{LABELS.get(variant, variant):<41} {r['actions']:>8,} {sched['schedule_s']:>8.3f} "
            f"{_ms(run and run['p50_ms']):>7} {_ms(run and run['p99_ms']):>8} "
            f"{_ms(run and run['max_ms']):>8} {run['missed'] if run else '-':>6} "
            f"{rss:>18} {reload:>9}"
        )
    return lines


def notes(args: argparse.Namespace, results: dict[str, dict[str, Any]]) -> list[str]:
    """The details behind the table."""
    out = [
        f"window: due times uniform over {args.spread:g} s, starting `lead` s (per variant) "
        f"after scheduling began; {args.actions:,} actions of {args.parties:,} parties; "
        f"seed {args.seed}; "
        f"grace {args.grace:g} s after the window",
    ]
    for variant, r in results.items():
        sched, run, read_all = r["schedule"], r.get("run"), r.get("read_all")
        parts = [f"lead {sched['lead_s']:g} s",
                 f"schedule CPU {sched['schedule_cpu_s']:.2f} s in {sched['schedule_calls']:,} "
                 "call(s)"]
        if run:
            parts.append(f"first due {run['first_due_margin_s']:.1f} s after the scheduler "
                         "was ready")
            parts.append(f"firing CPU {run['fire_cpu_s']:.1f} s")
            parts.append(f"fired {run['fired']:,}, never {run['never_fired']}, "
                         f"twice {run['fired_twice']}")
            if "fire_commits" in run:
                parts.append(f"{run['fire_commits']:,} store transactions while firing")
            if "statuses" in run:
                parts.append(f"rows by status {run['statuses']}")
            if "jobs_left" in run:
                parts.append(f"jobs left {run['jobs_left']}")
        if run and "reload_open_s" in run:
            detail = f"reload = open {run['reload_open_s'] * 1000:.1f} ms"
            if "reload_release_s" in run:
                detail += f" + reap_leases {run['reload_release_s'] * 1000:.1f} ms"
            parts.append(detail + f" + next wakeup {run['reload_next_wakeup_s'] * 1000:.1f} ms")
        if read_all:
            parts.append(f"read all {read_all['read_all_count']:,} back: "
                         f"{read_all['read_all_s']:.3f} s, peak RSS "
                         f"{peak(read_all, 'read_all'):.0f} MB")
        rss = [f"after imports {sched['rss_baseline_mb']:.0f}"]
        for result in (sched, run) if run and run is not sched else (sched,):
            rss += [f"{phase} {result['rss_starts_mb'][phase]:.0f} -> {top:.0f}"
                    for phase, top in result["rss_peaks_mb"].items()
                    if phase in result["rss_starts_mb"]]
        parts.append("RSS MB at start -> peak of each phase: " + ", ".join(rss))
        if "db_mb" in sched:
            parts.append(f"file {sched['db_mb']} MB")
        parts.append(f"wall {r['wall_s']:.0f} s")
        out.append(f"{variant}: " + "; ".join(parts))
    return out


def verdicts(results: dict[str, dict[str, Any]]) -> list[str]:
    """Our targets, met or missed."""
    ours = results.get("ours")
    if ours is None:
        return []
    sched, run = ours["schedule"], ours["run"]
    rss = max(peak(sched, "schedule"), peak(run, "reload", "fire"))
    checks = [("schedule", sched["schedule_s"], TARGETS["schedule_s"], "s"),
              ("p99 lateness", run["p99_ms"], TARGETS["p99_ms"], "ms"),
              ("missed", run["missed"], TARGETS["missed"], ""),
              ("peak RSS", rss, TARGETS["rss_mb"], "MB"),
              ("reload", run["reload_s"], TARGETS["reload_s"], "s")]
    per_party = results.get("ours-per-party")
    if per_party:
        checks.insert(1, ("schedule, per party", per_party["schedule"]["schedule_s"],
                          TARGETS["schedule_s"], "s"))
    lines = ["targets (ours):"]
    for name, value, target, unit in checks:
        shown = f"{value:.3f}" if isinstance(value, float) else str(value)
        verdict = "met" if value <= target else "MISSED"
        lines.append(f"  {name:<20} {shown:>9} {unit:<2} (target <= {target:g}) {verdict}")
    return lines


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--actions", type=int, default=100_000)
    parser.add_argument("--parties", type=int, default=10_000)
    parser.add_argument("--spread", type=float, default=60.0,
                        help="seconds over which due times are spread")
    parser.add_argument("--lead", type=float, default=5.0,
                        help="seconds from the start of scheduling to the window (APScheduler "
                             "variants get more, per job, for their slower adds)")
    parser.add_argument("--grace", type=float, default=20.0,
                        help="seconds after the window to wait for stragglers")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--batch", type=int, default=1_000, help="Scheduler(batch=…)")
    parser.add_argument("--aps-sql-actions", type=int, default=0,
                        help="jobs for the SQLAlchemy job store (0: as many as --actions)")
    parser.add_argument("--variants", default="ours,ours-per-party,aps-memory,aps-sqlalchemy")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    parser.add_argument("--store", help="postgresql://… : run on PostgreSQL instead, with "
                                        "--workers processes (bench/scheduler_postgres.py)")
    parser.add_argument("--workers", default="1,3", help="with --store: worker counts to run")
    parser.add_argument("--aps-workers", default="1,3",
                        help="with --store: APScheduler processes sharing one SQLAlchemy job "
                             "store on PostgreSQL (empty: none); 1 runs --aps-sql-actions jobs")
    parser.add_argument("--aps-shared-actions", type=int, default=10_000,
                        help="with --store: jobs for the runs of more than one APScheduler "
                             "process on one job store")
    parser.add_argument("--aps-overtime", type=float, default=300.0,
                        help="with --store: seconds past the grace an APScheduler process waits "
                             "for stragglers (counted as missed, their lateness still measured)")
    # internal: one phase of one variant, in a child process
    parser.add_argument("--phase", choices=[*PHASES, "ours-read-all", *PG_PHASES],
                        help=argparse.SUPPRESS)
    parser.add_argument("--worker", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--db", help=argparse.SUPPRESS)
    parser.add_argument("--per-party", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--first-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--last-id", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--window-end", type=float, default=0.0, help=argparse.SUPPRESS)
    parser.add_argument("--jobs", type=int, default=0, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    """Run every variant (or, in a child, one phase) and print the table."""
    args = parse()
    if args.phase:
        run_phase_here(args)
        return
    began = time.perf_counter()
    if args.store:
        from bench import scheduler_postgres

        print("\n".join(scheduler_postgres.report(args)))
        print(f"\ntotal wall time {time.perf_counter() - began:.0f} s")
        return
    results = run_variants(args)
    lines = [*table(results), "", *notes(args, results), "", *verdicts(results),
             f"\ntotal wall time {time.perf_counter() - began:.0f} s"]
    print("\n".join(lines))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")


if __name__ == "__main__":
    main()
