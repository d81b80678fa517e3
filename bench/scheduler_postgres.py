"""bench/scheduler on PostgreSQL: the same actions, scheduled once, fired by 1 or N workers.

Run through bench/scheduler: `.venv/bin/python -m bench.scheduler --store postgresql://…
[--workers 1,3]` (a server where the bench may create and drop its own database).

- schedule: one process opens a fresh database, `Scheduler.schedule`s every action in one
  call, closes.
- fire: N worker processes start together on that database (each: open, reap_leases,
  next_wakeup = its reload time) and fire everything with `Scheduler` on the real clock,
  claiming with SKIP LOCKED and woken by NOTIFY, as `python -m bot` workers do; each stops once
  no action is pending. Every firing is logged per worker; the parent merges the logs, so an
  action fired by two workers counts as a duplicate.
- baseline (`--aps-workers`): APScheduler 3.11's `AsyncIOScheduler` with its
  `SQLAlchemyJobStore(url="postgresql+psycopg://…")` in a database of its own on the same
  server, as bench/scheduler runs it on SQLite: one process adds the jobs (paused), then 1 or N
  processes each start a scheduler on that one job store (reload: store, scheduler,
  `start(paused=True)`, `get_next_run_time()`) and run them. APScheduler 3 has no coordination
  between processes, so N of them on one store fire a job as often as they see it due. One
  process runs `--aps-sql-actions` jobs (default: all); more run `--aps-shared-actions`. Its adds
  and its job runs are slower than ours, so its window starts later and it may wait up to
  `--aps-overtime` s past the grace: what fires after the grace is missed, but its lateness is
  still counted.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.scheduler import (
    _LOGS,
    RESULT,
    Memory,
    _aps_fill,
    _aps_jobs,
    _aps_scheduler,
    _not_fired,
    aps_sql_actions,
    cpu_seconds,
    percentile,
    plan,
)
from bot.actions import Action, ActionStatus
from bot.clock import SystemClock
from bot.scheduler import Scheduler
from storage.postgres.store import PostgresStore

POLL_DONE = 0.5
TARGETS = {"schedule_s": 2.0, "p99_ms": 10.0, "missed": 0, "duplicates": 0}


def database(url: str, name: str) -> str:
    """The URL of database `name` on the server of `url`."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


async def pg_schedule(args: argparse.Namespace) -> dict[str, Any]:
    """Schedule every action into the (fresh) bench database in one call, then close."""
    memory = Memory()
    groups = plan(args.actions, args.parties, args.spread, args.seed)
    store = await PostgresStore.open(args.db)
    scheduler = Scheduler(store, SystemClock(), _not_fired, batch=args.batch)
    start = datetime.now(UTC) + timedelta(seconds=args.lead)
    actions = [Action(party, kind, start + timedelta(seconds=offset), payload)
               for party, mine in enumerate(groups, start=1) for kind, offset, payload in mine]
    del groups
    gc.collect()
    memory.begin("schedule")
    cpu = cpu_seconds()
    began = time.perf_counter()
    stored = await scheduler.schedule(actions)
    elapsed = time.perf_counter() - began
    cpu = cpu_seconds() - cpu
    memory.end("schedule")
    ids = [a.id for a in stored if a.id is not None]
    assert len(ids) == args.actions == len(set(ids)), "every action gets its own id"
    await store.close()
    return {"schedule_s": elapsed, "schedule_cpu_s": cpu, "first_id": min(ids),
            "last_id": max(ids), "window_start": start.timestamp(),
            "window_end": start.timestamp() + args.spread, "lead_s": args.lead,
            **memory.report()}


async def _pending(url: str) -> int:
    conn = await asyncpg.connect(url)
    try:
        return int(await conn.fetchval("SELECT count(*) FROM actions WHERE status = 'pending'"))
    finally:
        await conn.close()


async def pg_fire(args: argparse.Namespace) -> dict[str, Any]:
    """One worker: reopen the database, fire what it claims until nothing is pending."""
    memory = Memory()
    clock = SystemClock()
    owner = f"bench-worker-{args.worker}"
    memory.begin("reload")
    began = time.perf_counter()
    store = await PostgresStore.open(args.db)
    await store.reap_leases(clock.now(), owner)
    await store.next_wakeup()
    reload_s = time.perf_counter() - began
    memory.end("reload")
    fired: list[int] = []
    late: list[float] = []

    async def fire(action: Action, now: datetime) -> ActionStatus:
        assert action.id is not None
        fired.append(action.id)
        late.append((clock.now() - action.due_at).total_seconds() * 1000.0)
        return ActionStatus.DONE

    scheduler = Scheduler(store, clock, fire, owner=owner, batch=args.batch,
                          lookahead=store.claim_ahead)
    store.on_actions_added(scheduler.wake)  # as bot.app wires it
    memory.begin("fire")
    cpu = cpu_seconds()
    scheduler.start()
    deadline = args.window_end + args.grace
    await asyncio.sleep(max(0.0, args.window_end - time.time()))
    # The other workers fire in their own processes: only the database knows when all is done.
    while time.time() < deadline and await _pending(args.db):  # noqa: ASYNC110
        await asyncio.sleep(POLL_DONE)
    await scheduler.stop()
    cpu = cpu_seconds() - cpu
    memory.end("fire")
    await store.close()
    return {"worker": owner, "reload_s": reload_s, "fire_cpu_s": cpu, "fired_ids": fired,
            "late_ms": late, **memory.report()}


# APScheduler 3 on the same server


def aps_url(url: str) -> str:
    """SQLAlchemy's URL for `url` with the synchronous psycopg 3 driver."""
    return "postgresql+psycopg://" + url.split("://", 1)[1]


def aps_parties(args: argparse.Namespace, jobs: int) -> int:
    """Parties for `jobs` jobs, keeping the same actions per party."""
    return max(1, round(args.parties * jobs / args.actions))


class Fired:
    """What one APScheduler process ran: every key, its lateness, and whether after `deadline`."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.ids: list[int] = []
        self.late: list[float] = []
        self.overdue: list[int] = []

    def record(self, key: int, due: datetime, now: datetime) -> None:
        """One run of job `key` (bench.scheduler.aps_fire calls this)."""
        self.ids.append(key)
        self.late.append((now - due).total_seconds() * 1000.0)
        if now.timestamp() > self.deadline:
            self.overdue.append(key)


class Errors(logging.Handler):
    """Counts what APScheduler logs as errors (a job another process removed first …)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0
        self.first: str | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.first is None:
            self.first = record.getMessage()[:200]


async def pg_aps_schedule(args: argparse.Namespace) -> dict[str, Any]:
    """Add every job to a SQLAlchemyJobStore on the (fresh) APScheduler database, then close."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    memory = Memory()
    jobs, lead, start = _aps_jobs("aps-postgres", args, args.jobs, aps_parties(args, args.jobs))
    jobstore = SQLAlchemyJobStore(url=aps_url(args.db))
    elapsed, cpu = _aps_fill(jobstore, jobs, memory)
    jobstore.engine.dispose()
    await asyncio.sleep(0.1)
    return {"schedule_s": elapsed, "schedule_cpu_s": cpu, "first_id": 0,
            "last_id": len(jobs) - 1, "window_start": start.timestamp(),
            "window_end": start.timestamp() + args.spread, "lead_s": lead, **memory.report()}


async def pg_aps_fire(args: argparse.Namespace) -> dict[str, Any]:
    """One APScheduler process: a new scheduler on the shared job store runs what it sees due."""
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore

    errors = Errors()
    logging.getLogger("apscheduler").addHandler(errors)
    logging.getLogger("asyncio").addHandler(errors)  # a wakeup that raised: no timer after it
    memory = Memory()
    fired = Fired(args.window_end + args.grace)
    _LOGS["fire"] = fired  # type: ignore[assignment]  # records like a FireLog
    memory.begin("reload")
    began = time.perf_counter()
    jobstore = SQLAlchemyJobStore(url=aps_url(args.db))
    scheduler = _aps_scheduler(jobstore)
    scheduler.start(paused=True)
    wakeup = jobstore.get_next_run_time()
    reload_s = time.perf_counter() - began
    memory.end("reload")
    assert wakeup is not None, "the job store has jobs"
    memory.begin("fire")
    cpu = cpu_seconds()
    scheduler.resume()
    deadline = args.window_end + args.grace + args.aps_overtime
    await asyncio.sleep(max(0.0, args.window_end - time.time()))
    # Asked through the job store, synchronously: APScheduler runs its due jobs in one
    # synchronous call that can hold the event loop for seconds, too long for a connect timeout.
    while time.time() < deadline and jobstore.get_next_run_time() is not None:  # noqa: ASYNC110
        await asyncio.sleep(POLL_DONE)
    cpu = cpu_seconds() - cpu
    memory.end("fire")
    scheduler.shutdown(wait=False)
    await asyncio.sleep(0.1)
    jobstore.engine.dispose()
    return {"worker": f"aps-{args.worker}", "reload_s": reload_s, "fire_cpu_s": cpu,
            "fired_ids": fired.ids, "late_ms": fired.late, "overdue_ids": fired.overdue,
            "errors": errors.count, "first_error": errors.first, **memory.report()}


PHASES = {"pg-schedule": pg_schedule, "pg-fire": pg_fire, "pg-aps-schedule": pg_aps_schedule,
          "pg-aps-fire": pg_aps_fire}


def _command(args: argparse.Namespace, phase: str, **extra: Any) -> list[str]:
    command = [sys.executable, "-m", "bench.scheduler", "--phase", phase]
    for name in ("actions", "parties", "spread", "lead", "grace", "seed", "batch",
                 "aps_overtime"):
        command += [f"--{name.replace('_', '-')}", str(getattr(args, name))]
    for name, value in extra.items():
        command += [f"--{name.replace('_', '-')}", str(value)]
    return command


def _result(done: subprocess.CompletedProcess[str] | tuple[int, str], phase: str
            ) -> dict[str, Any]:
    code, out = (done.returncode, done.stdout) if not isinstance(done, tuple) else done
    lines = [line for line in out.splitlines() if line.startswith(RESULT)]
    if code != 0 or not lines:
        sys.stdout.write(out)
        raise SystemExit(f"phase {phase} failed (exit {code})")
    result: dict[str, Any] = json.loads(lines[-1].removeprefix(RESULT))
    return result


def run_workers(args: argparse.Namespace, workers: int, aps: bool = False) -> dict[str, Any]:
    """Schedule into a fresh database, then fire with `workers` processes; merge their logs.

    `aps`: APScheduler's SQLAlchemy job store instead of ours, in a database of its own.
    """
    name = f"watchparty_bench_{'aps' if aps else 'sched'}_{uuid.uuid4().hex[:8]}"
    url = database(args.store, name)
    phases = ("pg-aps-schedule", "pg-aps-fire") if aps else ("pg-schedule", "pg-fire")
    jobs = args.actions
    if aps:
        jobs = aps_sql_actions(args) if workers == 1 else args.aps_shared_actions

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(args.store)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        sched = _result(subprocess.run(_command(args, phases[0], db=url, jobs=jobs), text=True,
                                       stdout=subprocess.PIPE, check=False, timeout=1800),
                        phases[0])
        extra = {"db": url, "first_id": sched["first_id"], "last_id": sched["last_id"],
                 "window_end": sched["window_end"]}
        procs = [subprocess.Popen(_command(args, phases[1], worker=n, **extra), text=True,
                                  stdout=subprocess.PIPE) for n in range(workers)]
        outs = [p.communicate(timeout=1800) for p in procs]
        runs = [_result((p.returncode, out), phases[1]) for p, (out, _) in zip(procs, outs,
                                                                                strict=True)]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    counts: dict[int, int] = {}
    overdue: dict[int, int] = {}
    for run in runs:
        for action_id in run["fired_ids"]:
            counts[action_id] = counts.get(action_id, 0) + 1
        for action_id in run.get("overdue_ids", ()):
            overdue[action_id] = overdue.get(action_id, 0) + 1
    expected = range(sched["first_id"], sched["last_id"] + 1)
    never = sum(1 for i in expected if i not in counts)
    # Fired only after the grace: missed, as one that never fired (its lateness still counts).
    too_late = sum(1 for i, n in overdue.items() if counts[i] == n)
    twice = sum(1 for n in counts.values() if n > 1)
    late = sorted(x for run in runs for x in run["late_ms"])
    return {
        "variant": "APScheduler + SQLAlchemyJobStore" if aps else "ours", "workers": workers,
        "actions": jobs, "schedule_s": sched["schedule_s"], "lead_s": sched["lead_s"],
        "p50_ms": percentile(late, 0.50), "p99_ms": percentile(late, 0.99),
        "max_ms": late[-1] if late else None, "missed": never + too_late, "never": never,
        "after_grace": too_late, "duplicates": twice,
        "extra_runs": sum(counts.values()) - len(counts),
        "errors": [r.get("errors", 0) for r in runs],
        "first_error": next((r["first_error"] for r in runs if r.get("first_error")), None),
        "fired_per_worker": [len(r["fired_ids"]) for r in runs],
        "rss_fire_mb": [max(r["rss_peaks_mb"].values()) for r in runs],
        "rss_schedule_mb": max(sched["rss_peaks_mb"].values()),
        "reload_s": [round(r["reload_s"], 3) for r in runs],
        "fire_cpu_s": [round(r["fire_cpu_s"], 1) for r in runs],
    }


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def report(args: argparse.Namespace) -> list[str]:
    """Run ours with 1 and N workers (`--workers`), then APScheduler (`--aps-workers`)."""
    lines = [f"PostgreSQL at {urlsplit(args.store).hostname}:{urlsplit(args.store).port or 5432}"
             f": actions of {args.actions // args.parties} per party, due over "
             f"{args.spread:g} s starting `lead` s after scheduling began"]
    head = (f"{'variant':<33} {'procs':>5} {'actions':>8} {'lead s':>6} {'sched s':>8} "
            f"{'p50 ms':>8} {'p99 ms':>9} {'max ms':>9} {'missed':>6} {'dup':>6}  "
            "fired per process / peak RSS MB / reload s")
    lines += [head, "-" * len(head)]
    runs = [(int(w), False) for w in args.workers.split(",") if w]
    runs += [(int(w), True) for w in args.aps_workers.split(",") if w]
    results = []
    for workers, aps in runs:
        print(f"running {'APScheduler' if aps else 'ours'} with {workers} process(es) …",
              file=sys.stderr, flush=True)
        r = run_workers(args, workers, aps)
        results.append(r)
        lines.append(
            f"{r['variant']:<33} {workers:>5} {r['actions']:>8,} {r['lead_s']:>6.0f} "
            f"{r['schedule_s']:>8.3f} {_ms(r['p50_ms']):>8} {_ms(r['p99_ms']):>9} "
            f"{_ms(r['max_ms']):>9} {r['missed']:>6} {r['duplicates']:>6}  "
            f"{r['fired_per_worker']} / {r['rss_fire_mb']} / {r['reload_s']}")
    lines.append("")
    for r in results:
        detail = (f"{r['variant']}, {r['workers']} process(es): schedule peak RSS "
                  f"{r['rss_schedule_mb']:.0f} MB; firing CPU s {r['fire_cpu_s']}; missed = "
                  f"{r['never']} never fired + {r['after_grace']} fired only after the grace; "
                  f"{r['extra_runs']:,} runs beyond the first of a job")
        if r["actions"] != args.actions:
            detail += (f"; schedule rate {r['actions'] / r['schedule_s']:,.0f}/s, "
                       f"extrapolated to {args.actions:,}: "
                       f"{r['schedule_s'] * args.actions / r['actions']:.1f} s (not measured)")
        if any(r["errors"]):
            detail += f"; warnings/errors logged per process {r['errors']}: {r['first_error']!r}"
        lines.append(detail)
    lines.append("")
    for r in results:
        if r["variant"] != "ours":
            continue
        checks = [("schedule", r["schedule_s"], TARGETS["schedule_s"]),
                  ("p99 lateness ms", r["p99_ms"], TARGETS["p99_ms"]),
                  ("missed", r["missed"], TARGETS["missed"]),
                  ("duplicates", r["duplicates"], TARGETS["duplicates"])]
        lines.append(f"targets, {r['workers']} worker(s): " + "; ".join(
            f"{name} {value:.3f} (<= {target:g}) {'met' if value <= target else 'MISSED'}"
            if isinstance(value, float) else
            f"{name} {value} (<= {target:g}) {'met' if value <= target else 'MISSED'}"
            for name, value, target in checks))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2), encoding="utf-8")
    return lines
