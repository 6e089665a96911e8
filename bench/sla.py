"""The service-level figures (``recordings.figures.figures``, what ``GET /api/sla`` runs) over a million cases.

Issue 7: a day's figures grouped by province (``target_region``) and matter (``matter_code``) over one million
case records, on SQLite and PostgreSQL, against a plain ``COUNT(*)`` over the same rows in the same run; the aim
is under 0.5 s on PostgreSQL.

Data (the same rows in both databases, generated with a fixed seed and written in bulk: ``COPY`` through asyncpg,
``executemany`` in one transaction on SQLite, after ``recordings.migrate.upgrade`` made the schema):

- ``--rows`` cases (1,000,000) over ``DAYS`` China-time days; the measured day holds ``--day-rows`` (40,000), the
  others share the rest evenly; requests uniform over each day.
- Four provinces 310000/320000/330000/340000 (``target_region``), 10 matters of the catalog
  (``server/data/matters.yaml``) with their skills, 50 clerks per province, web and kiosk channels.
- Outcomes: cancelled 5 %, abandoned 4 % (never answered, ended 3–180 s after the request), then answered after
  2–300 s (mean about 30 s): resolved 65 %, referred 12 %, unresolved 9 %, citizen_ended 5 % (the citizen hung up,
  not wrapped up yet). Handle times 1–15 min. A fifth of the clerk-finished cases were hung up by the citizen first,
  so they have a ``wrapped_up`` timeline line and ``wrapped_at`` 10–120 s after ``ended_at`` (figures read the
  column; no other timeline lines are generated). 40 % of the handled cases are rated, mostly 4–5; half of the
  差评 have their follow-up closed. Answered cases had one offer, 12 % two, 3 % were transferred once (one more
  offer and answer). The measured day has the clerks' status history (shift start and end, offered, busy, wrap-up,
  available around each case) that the total's occupancy reads, as the route computes it.

Measured, in rounds alternating SQLite and PostgreSQL (median over rounds): the figures of the day grouped by
``target_region,matter_code`` (one total query and one grouped query, as the route), the figures of all the days
grouped the same way, and ``SELECT COUNT(*) FROM cases WHERE requested_at >= :start AND requested_at < :end`` over
each range. PostgreSQL's plan of the grouped day query is shown with ``EXPLAIN (ANALYZE, BUFFERS)``.

Run ``python -m bench.sla [--rows N] [--rounds R]``. The PostgreSQL database (``bench_sla`` by default, made with
``createdb`` when missing) is emptied and refilled; the SQLite file lives in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from recordings.db import make_engine, make_sessionmaker
from recordings.figures import FigureQuery, _per_case, _sums, figures
from recordings.migrate import upgrade
from recordings.models import Case

PG_HOST = "127.0.0.1"
PG_USER = "postgres"
DAYS = 30
DAY_INDEX = 14  # the measured day: the 15th
START = datetime(2026, 10, 31, 16, 0, tzinfo=UTC)  # 2026-11-01 00:00 China time
PROVINCES = ("310000", "320000", "330000", "340000")
MATTERS = (
    ("SB-ZY-001", "social_insurance"),
    ("SB-PZ-002", "social_insurance"),
    ("SB-RZ-003", "pension"),
    ("YB-BA-001", "medical_insurance"),
    ("YB-ZY-002", "medical_insurance"),
    ("GJJ-TQ-001", "housing_fund"),
    ("GJJ-ZY-002", "housing_fund"),
    ("HJ-QY-001", "household"),
    ("HJ-SFZ-002", "household"),
    ("JJ-JZ-001", "vehicle"),
)
MATTER_WEIGHTS = (18, 10, 8, 14, 8, 12, 6, 10, 8, 6)
ORIGINS = ("310000", "320500", "330100", "340100", "320100", "330200")
SLA_S = 60.0
SHORT_ABANDON_S = 10.0
GROUP_BY = ("target_region", "matter_code")
CHUNK = 50_000

CASE_COLUMNS = (
    "case_id",
    "ticket_id",
    "matter_code",
    "skill",
    "origin_region",
    "target_region",
    "channel",
    "kiosk_id",
    "citizen_id",
    "priority",
    "language",
    "clerk_id",
    "requested_at",
    "offered_at",
    "answered_at",
    "connected_at",
    "ended_at",
    "outcome",
    "notes",
    "rating_level",
    "rating_comment",
    "rated_at",
    "wrapped_at",
    "offers",
    "answers",
    "transfers",
    "followup_closed_at",
)
EVENT_COLUMNS = ("case_id", "at", "event", "actor", "detail")
STATUS_COLUMNS = ("clerk_id", "region", "status", "started_at")


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def day_counts(rows: int, day_rows: int) -> list[int]:
    day_rows = min(day_rows, rows)
    rest, extra = divmod(rows - day_rows, DAYS - 1)
    others = [rest + (1 if i < extra else 0) for i in range(DAYS - 1)]
    return [*others[:DAY_INDEX], day_rows, *others[DAY_INDEX:]]


def generate(
    rows: int, day_rows: int, seed: int = 7
) -> Iterator[tuple[list[tuple[Any, ...]], list[tuple[Any, ...]], list[tuple[Any, ...]]]]:
    """Chunks of (case rows, timeline rows, clerk status rows), as tuples in ``CASE_COLUMNS``,
    ``EVENT_COLUMNS`` and ``STATUS_COLUMNS`` order. Clerk status history is made for the measured day
    only (what its occupancy reads): each clerk on shift 08:00-18:00 China time, and offered, busy and
    available again around each case they answered."""
    rnd = random.Random(seed)
    sec = timedelta(seconds=1)
    clerks = {p: [f"clerk-{p[:2]}-{i:03d}" for i in range(50)] for p in PROVINCES}
    cases: list[tuple[Any, ...]] = []
    events: list[tuple[Any, ...]] = []
    statuses: list[tuple[Any, ...]] = []
    n = 0
    for day, count in enumerate(day_counts(rows, day_rows)):
        day_start = START + timedelta(days=day)
        measured = day == DAY_INDEX
        if measured:
            for p, ids in clerks.items():
                for c in ids:
                    statuses.append((c, p, "available", day_start + timedelta(hours=8)))
                    statuses.append((c, p, "offline", day_start + timedelta(hours=18)))
        for _ in range(count):
            n += 1
            case_id = f"RVW{n:016d}"
            matter, skill = rnd.choices(MATTERS, MATTER_WEIGHTS)[0]
            target = PROVINCES[rnd.randrange(4)]
            kiosk = rnd.random() < 0.4
            requested = day_start + timedelta(microseconds=rnd.randrange(86_400_000_000))
            offered = answered = connected = ended = rated = wrapped = closed = None
            clerk = rating = None
            offers = answers = transfers = 0
            r = rnd.random()
            if r < 0.09:  # cancelled or abandoned before an answer
                outcome = "cancelled" if r < 0.05 else "abandoned"
                ended = requested + sec * rnd.uniform(3.0, 180.0)
            else:
                wait = min(2.0 + rnd.expovariate(1 / 28.0), 300.0)
                offered = requested + sec * (wait - 1.0)
                answered = requested + sec * wait
                connected = answered + sec * rnd.uniform(0.5, 3.0)
                ended = answered + sec * rnd.uniform(60.0, 900.0)
                clerk = rnd.choice(clerks[target])
                offers = answers = 1
                if rnd.random() < 0.12:  # one offer declined or timed out first
                    offers += 1
                if rnd.random() < 0.03:  # transferred once, and answered again
                    offers, answers, transfers = offers + 1, 2, 1
                if measured:
                    statuses.append((clerk, target, "offered", offered))
                    statuses.append((clerk, target, "busy", answered))
                r = rnd.random()
                outcome = (
                    "resolved"
                    if r < 0.714
                    else "referred"
                    if r < 0.846
                    else "unresolved"
                    if r < 0.945
                    else "citizen_ended"
                )
                free_at = ended
                if outcome != "citizen_ended":
                    if rnd.random() < 0.2:  # the citizen hung up first; the clerk wrapped up later
                        wrapped = ended + sec * rnd.uniform(10.0, 120.0)
                        detail = json.dumps({"outcome": outcome})
                        events.append((case_id, wrapped, "wrapped_up", f"clerk:{clerk}", detail))
                        if measured:
                            statuses.append((clerk, target, "wrap_up", ended))
                        free_at = wrapped
                    if rnd.random() < 0.4:
                        rating = rnd.choices((5, 4, 3, 2, 1), (60, 20, 10, 6, 4))[0]
                        rated = ended + sec * rnd.uniform(5.0, 60.0)
                        if rating <= 2 and rnd.random() < 0.5:
                            closed = rated + timedelta(days=1)
                if measured:
                    statuses.append((clerk, target, "available", free_at))
            cases.append(
                (
                    case_id,
                    f"T{n % 100000:05d}",
                    matter,
                    skill,
                    rnd.choice(ORIGINS),
                    target,
                    "kiosk" if kiosk else "web",
                    f"kiosk-{rnd.randrange(40):02d}" if kiosk else None,
                    f"cit-{rnd.randrange(10**9):09d}",
                    "normal",
                    "zh",
                    clerk,
                    requested,
                    offered,
                    answered,
                    connected,
                    ended,
                    outcome,
                    None,
                    rating,
                    None,
                    rated,
                    wrapped,
                    offers,
                    answers,
                    transfers,
                    closed,
                )
            )
            if len(cases) >= CHUNK:
                yield cases, events, statuses
                cases, events, statuses = [], [], []
    if cases or statuses:
        yield cases, events, statuses


def sqlite_value(v: Any) -> Any:
    # As SQLAlchemy stores a UTCDateTime on SQLite: naive UTC text with microseconds.
    return v.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f") if isinstance(v, datetime) else v


def pg_dsn(database: str) -> str:
    return f"postgresql://{PG_USER}@{PG_HOST}/{database}"


def ensure_pg_database(name: str) -> None:
    made = subprocess.run(["createdb", "-h", PG_HOST, "-U", PG_USER, name], capture_output=True, text=True, timeout=60)
    if made.returncode and "already exists" not in made.stderr:
        raise SystemExit(f"createdb {name}: {made.stderr.strip()}")


async def load(pg_database: str, sqlite_path: str, rows: int, day_rows: int) -> dict[str, Any]:
    """Schema on both, then the same rows into both; returns counts and load times."""
    pg_engine = make_engine(f"postgresql+asyncpg://{PG_USER}@{PG_HOST}/{pg_database}")
    sq_engine = make_engine(f"sqlite+aiosqlite:///{sqlite_path}")
    try:
        await upgrade(pg_engine)
        await upgrade(sq_engine)
    finally:
        await pg_engine.dispose()
        await sq_engine.dispose()
    pg = await asyncpg.connect(pg_dsn(pg_database))
    sq = sqlite3.connect(sqlite_path)
    sq.execute("PRAGMA synchronous=OFF")
    case_sql = f"INSERT INTO cases ({', '.join(CASE_COLUMNS)}) VALUES ({', '.join('?' * len(CASE_COLUMNS))})"
    event_sql = f"INSERT INTO case_events ({', '.join(EVENT_COLUMNS)}) VALUES (?, ?, ?, ?, ?)"
    status_sql = f"INSERT INTO clerk_status ({', '.join(STATUS_COLUMNS)}) VALUES (?, ?, ?, ?)"
    n_cases = n_events = n_statuses = 0
    pg_s = sq_s = 0.0
    try:
        await pg.execute("TRUNCATE case_events, cases, clerk_status")
        sq.execute("DELETE FROM case_events")
        sq.execute("DELETE FROM cases")
        sq.execute("DELETE FROM clerk_status")
        for cases, events, statuses in generate(rows, day_rows):
            t0 = time.perf_counter()
            await pg.copy_records_to_table("cases", records=cases, columns=list(CASE_COLUMNS))
            if events:
                await pg.copy_records_to_table("case_events", records=events, columns=list(EVENT_COLUMNS))
            if statuses:
                await pg.copy_records_to_table("clerk_status", records=statuses, columns=list(STATUS_COLUMNS))
            t1 = time.perf_counter()
            sq.executemany(case_sql, [tuple(sqlite_value(v) for v in c) for c in cases])
            sq.executemany(event_sql, [tuple(sqlite_value(v) for v in e) for e in events])
            sq.executemany(status_sql, [tuple(sqlite_value(v) for v in st) for st in statuses])
            t2 = time.perf_counter()
            pg_s += t1 - t0
            sq_s += t2 - t1
            n_cases += len(cases)
            n_events += len(events)
            n_statuses += len(statuses)
            if n_cases % 200_000 < CHUNK:
                log(f"loaded {n_cases:,} cases")
        sq.commit()
        t0 = time.perf_counter()
        await pg.execute("VACUUM ANALYZE cases")
        await pg.execute("VACUUM ANALYZE case_events")
        await pg.execute("VACUUM ANALYZE clerk_status")
        t1 = time.perf_counter()
        sq.execute("ANALYZE")
        sq.commit()
        t2 = time.perf_counter()
    finally:
        await pg.close()
        sq.close()
    return {
        "cases": n_cases,
        "wrapped_up_lines": n_events,
        "clerk_status_rows": n_statuses,
        "pg_load_s": pg_s,
        "pg_analyze_s": t1 - t0,
        "sqlite_load_s": sq_s,
        "sqlite_analyze_s": t2 - t1,
    }


def window(day: bool) -> tuple[float, float]:
    if day:
        start = START + timedelta(days=DAY_INDEX)
        return start.timestamp(), (start + timedelta(days=1)).timestamp()
    return START.timestamp(), (START + timedelta(days=DAYS)).timestamp()


async def count_rows(sessions: async_sessionmaker[AsyncSession], start: float, end: float) -> int:
    lo, hi = datetime.fromtimestamp(start, UTC), datetime.fromtimestamp(end, UTC)
    async with sessions() as session:
        stmt = select(func.count()).select_from(Case).where(Case.requested_at >= lo, Case.requested_at < hi)
        return int((await session.execute(stmt)).scalar_one())


async def timed(fn: Callable[[], Awaitable[Any]]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = await fn()
    return time.perf_counter() - t0, out


async def explain(engine: AsyncEngine, q: FigureQuery) -> str:
    """PostgreSQL's plan (with ANALYZE and BUFFERS) of the grouped query ``figures`` runs."""
    sub = _per_case(q)
    keys = [sub.c[g] for g in q.group_by]
    stmt = select(*keys, *_sums(sub.c, q)).group_by(*keys).order_by(*(k.asc().nulls_first() for k in keys))
    # The bounds rendered inline (they are two timestamps): the plan of the statement figures() sends.
    sql = str(stmt.compile(dialect=postgresql.asyncpg.dialect(), compile_kwargs={"literal_binds": True}))
    async with engine.connect() as conn:
        rows = (await conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + sql)).all()
    return "\n".join(r[0] for r in rows)


async def measure(pg_database: str, sqlite_path: str, rounds: int) -> dict[str, Any]:
    engines = {
        "sqlite": make_engine(f"sqlite+aiosqlite:///{sqlite_path}"),
        "postgresql": make_engine(f"postgresql+asyncpg://{PG_USER}@{PG_HOST}/{pg_database}"),
    }
    sessions = {name: make_sessionmaker(e) for name, e in engines.items()}
    day, month = window(True), window(False)
    # As the route: `now` set, so the total's occupancy is read from the clerks' status history too.
    q_day = FigureQuery(*day, SLA_S, SHORT_ABANDON_S, GROUP_BY, now=day[1])
    q_month = FigureQuery(*month, SLA_S, SHORT_ABANDON_S, GROUP_BY, now=month[1])
    kinds: dict[str, Callable[[async_sessionmaker[AsyncSession]], Awaitable[Any]]] = {
        "figures_day": lambda s: figures(s, q_day),
        "count_day": lambda s: count_rows(s, *day),
        "figures_all": lambda s: figures(s, q_month),
        "count_all": lambda s: count_rows(s, *month),
    }
    times: dict[str, dict[str, list[float]]] = {db: {k: [] for k in kinds} for db in engines}
    answers: dict[str, dict[str, Any]] = {db: {} for db in engines}
    try:
        for db in engines:  # warm-up: caches, statement compilation, connections
            for kind, fn in kinds.items():
                answers[db][kind] = await fn(sessions[db])
        for r in range(rounds):
            order = list(engines) if r % 2 == 0 else list(reversed(engines))
            for db in order:
                for kind, fn in kinds.items():
                    dt, _ = await timed(lambda fn=fn, db=db: fn(sessions[db]))  # type: ignore[misc]
                    times[db][kind].append(dt)
            log(f"round {r + 1}: " + ", ".join(f"{db} {k} {times[db][k][-1]:.3f}s" for db in engines for k in kinds))
        plan = await explain(engines["postgresql"], q_day)
    finally:
        for e in engines.values():
            await e.dispose()
    same = all(answers["sqlite"][k] == answers["postgresql"][k] for k in kinds)
    return {"times": times, "answers": answers, "same_answers": same, "plan": plan}


def table(res: dict[str, Any]) -> str:
    t = res["times"]
    med = {db: {k: statistics.median(v) for k, v in kinds.items()} for db, kinds in t.items()}
    day_n = res["answers"]["postgresql"]["count_day"]
    all_n = res["answers"]["postgresql"]["count_all"]
    lines = [
        "| measure | SQLite (s) | PostgreSQL (s) | SQLite ÷ its COUNT(*) | PostgreSQL ÷ its COUNT(*) |",
        "|---|---:|---:|---:|---:|",
    ]
    for label, fig, cnt, n in (
        ("the day", "figures_day", "count_day", day_n),
        (f"all {DAYS} days", "figures_all", "count_all", all_n),
    ):
        sq, pg = med["sqlite"], med["postgresql"]
        lines.append(
            f"| figures of {label} ({n:,} cases), by target_region,matter_code | {sq[fig]:.3f} | {pg[fig]:.3f} "
            f"| {sq[fig] / sq[cnt]:.1f} | {pg[fig] / pg[cnt]:.1f} |"
        )
        lines.append(f"| COUNT(*) of {label} | {sq[cnt]:.4f} | {pg[cnt]:.4f} | 1 | 1 |")
    lines.append("")
    lines.append(
        "Every round (s): "
        + "; ".join(f"{db} {k} " + "/".join(f"{x:.3f}" for x in v) for db in t for k, v in t[db].items())
    )
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    p.add_argument("--rows", type=int, default=1_000_000, help="cases in all (default 1,000,000)")
    p.add_argument("--day-rows", type=int, default=40_000, help="cases on the measured day (default 40,000)")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--pg-database", default="bench_sla")
    p.add_argument("--skip-load", action="store_true", help="reuse the PostgreSQL data and --sqlite-file")
    p.add_argument("--sqlite-file", help="SQLite file to use (default: a new temporary one, removed after)")
    p.add_argument("--out", help="write every figure as JSON")
    args = p.parse_args()
    ensure_pg_database(args.pg_database)
    with tempfile.TemporaryDirectory(prefix="rvw-bench-sla-") as tmp:
        sqlite_path = args.sqlite_file or os.path.join(tmp, "sla.db")
        loaded: dict[str, Any] = {}
        if not args.skip_load:
            log(f"loading {args.rows:,} cases into PostgreSQL {args.pg_database} and SQLite {sqlite_path}")
            loaded = asyncio.run(load(args.pg_database, sqlite_path, args.rows, args.day_rows))
            log(f"loaded: {loaded}")
        res = asyncio.run(measure(args.pg_database, sqlite_path, args.rounds))
    print(table(res))
    print()
    print(f"Same figures on both databases: {res['same_answers']}")
    print("day total:", json.dumps(res["answers"]["postgresql"]["figures_day"]["total"]))
    print(f"groups in the day: {len(res['answers']['postgresql']['figures_day']['groups'])}")
    print()
    print("PostgreSQL EXPLAIN (ANALYZE, BUFFERS) of the grouped day query:")
    print(res["plan"])
    if args.out:
        with open(args.out, "w") as f:
            json.dump({"args": vars(args), "loaded": loaded, **res}, f, indent=1, default=str)


if __name__ == "__main__":
    main()
