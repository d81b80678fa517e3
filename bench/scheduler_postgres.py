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
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from bench.scheduler import RESULT, Memory, _not_fired, cpu_seconds, percentile, plan
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


PHASES = {"pg-schedule": pg_schedule, "pg-fire": pg_fire}


def _command(args: argparse.Namespace, phase: str, **extra: Any) -> list[str]:
    command = [sys.executable, "-m", "bench.scheduler", "--phase", phase]
    for name in ("actions", "parties", "spread", "lead", "grace", "seed", "batch"):
        command += [f"--{name}", str(getattr(args, name))]
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


def run_workers(args: argparse.Namespace, workers: int) -> dict[str, Any]:
    """Schedule into a fresh database, then fire with `workers` processes; merge their logs."""
    name = f"watchparty_bench_sched_{uuid.uuid4().hex[:8]}"
    url = database(args.store, name)

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(args.store)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        sched = _result(subprocess.run(_command(args, "pg-schedule", db=url), text=True,
                                       stdout=subprocess.PIPE, check=False, timeout=900),
                        "pg-schedule")
        extra = {"db": url, "first_id": sched["first_id"], "last_id": sched["last_id"],
                 "window_end": sched["window_end"]}
        procs = [subprocess.Popen(_command(args, "pg-fire", worker=n, **extra), text=True,
                                  stdout=subprocess.PIPE) for n in range(workers)]
        outs = [p.communicate(timeout=900) for p in procs]
        runs = [_result((p.returncode, out), "pg-fire") for p, (out, _) in zip(procs, outs,
                                                                                strict=True)]
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    counts: dict[int, int] = {}
    for run in runs:
        for action_id in run["fired_ids"]:
            counts[action_id] = counts.get(action_id, 0) + 1
    expected = range(sched["first_id"], sched["last_id"] + 1)
    never = sum(1 for i in expected if i not in counts)
    twice = sum(1 for n in counts.values() if n > 1)
    late = sorted(x for run in runs for x in run["late_ms"])
    return {
        "workers": workers, "actions": args.actions, "schedule_s": sched["schedule_s"],
        "p50_ms": percentile(late, 0.50), "p99_ms": percentile(late, 0.99),
        "max_ms": late[-1] if late else None, "missed": never, "duplicates": twice,
        "fired_per_worker": [len(r["fired_ids"]) for r in runs],
        "rss_fire_mb": [max(r["rss_peaks_mb"].values()) for r in runs],
        "rss_schedule_mb": max(sched["rss_peaks_mb"].values()),
        "reload_s": [round(r["reload_s"], 3) for r in runs],
        "fire_cpu_s": [round(r["fire_cpu_s"], 1) for r in runs],
    }


def report(args: argparse.Namespace) -> list[str]:
    """Run 1 and N workers (`--workers`); the lines to print."""
    lines = [f"PostgreSQL at {urlsplit(args.store).hostname}:{urlsplit(args.store).port or 5432}"
             f": {args.actions:,} actions of {args.parties:,} parties, due over "
             f"{args.spread:g} s starting {args.lead:g} s after scheduling began"]
    head = (f"{'workers':>7} {'sched s':>8} {'p50 ms':>7} {'p99 ms':>8} {'max ms':>9} "
            f"{'missed':>6} {'dup':>4}  fired per worker / peak RSS MB / reload s")
    lines += [head, "-" * len(head)]
    results = []
    for workers in (int(w) for w in args.workers.split(",")):
        print(f"running {workers} PostgreSQL worker(s) …", file=sys.stderr, flush=True)
        r = run_workers(args, workers)
        results.append(r)
        lines.append(
            f"{workers:>7} {r['schedule_s']:>8.3f} {r['p50_ms']:>7.1f} {r['p99_ms']:>8.1f} "
            f"{r['max_ms']:>9.1f} {r['missed']:>6} {r['duplicates']:>4}  "
            f"{r['fired_per_worker']} / {r['rss_fire_mb']} / {r['reload_s']}")
    lines.append("")
    for r in results:
        checks = [("schedule", r["schedule_s"], TARGETS["schedule_s"]),
                  ("p99 lateness ms", r["p99_ms"], TARGETS["p99_ms"]),
                  ("missed", r["missed"], TARGETS["missed"]),
                  ("duplicates", r["duplicates"], TARGETS["duplicates"])]
        lines.append(f"targets, {r['workers']} worker(s): " + "; ".join(
            f"{name} {value:.3f} (<= {target:g}) {'met' if value <= target else 'MISSED'}"
            if isinstance(value, float) else
            f"{name} {value} (<= {target:g}) {'met' if value <= target else 'MISSED'}"
            for name, value, target in checks))
    return lines
