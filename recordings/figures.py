"""Service-level figures as SQL aggregates over the case records (docs/sla.md, "Figures").

One query per answer: an inner select turns each case requested in ``[start, end)`` into its
times and flags (response time, abandon length, handle time, its bucket), an outer select sums
them with ``SUM(CASE ...)`` and ``GROUP BY``. The same SQL runs on SQLite and PostgreSQL: times
become epoch seconds by a construct compiled per dialect, and a bucket is the integer index
``floor((epoch + 8 h) / width)``, so both databases put a request in the same bucket and bucket
boundaries fall on China time (UTC+8, no daylight saving).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Float, Integer, and_, case, func, literal, literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from queueing.clock import to_datetime
from queueing.tally import ABANDON_OUTCOMES, CITIZEN_ENDED, CLERK_OUTCOMES, Sums, bucket_start, figures_of

from .models import Case, CaseEvent, ClerkStatus

CHINA_UTC_OFFSET_S = 8 * 3600
GROUP_COLUMNS = ("target_region", "matter_code", "skill", "clerk_id", "channel", "origin_region")
BUCKETS = {"15m": 900, "1h": 3600, "1d": 86400}


class epoch(FunctionElement[float]):
    """Epoch seconds (with the fraction) of a time column."""

    type = Float()
    inherit_cache = True


@compiles(epoch, "sqlite")
def _epoch_sqlite(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    # Stored as 'YYYY-MM-DD HH:MM:SS.ffffff' (UTC): whole seconds from strftime of the first 19
    # characters, the fraction from the rest. strftime of the whole text rounds to milliseconds, so
    # a fraction of .9995 or more came out a second late; julianday() would lose microseconds too.
    col = compiler.process(next(iter(element.clauses)), **kw)
    return f"(CAST(strftime('%s', substr({col}, 1, 19)) AS REAL) + CAST(substr({col}, 20) AS REAL))"


@compiles(epoch, "postgresql")
def _epoch_pg(element: epoch, compiler: SQLCompiler, **kw: Any) -> str:
    col = compiler.process(next(iter(element.clauses)), **kw)
    # date_part is double precision; EXTRACT has been numeric (slower to sum) since PostgreSQL 14.
    return f"date_part('epoch', {col})"


class bucket_index(FunctionElement[int]):
    """``floor((epoch(col) + 8 h) / width)``: which bucket of ``width`` seconds, in China time."""

    type = Integer()
    inherit_cache = True


def _parts(element: bucket_index, compiler: SQLCompiler, **kw: Any) -> tuple[str, str]:
    col, width = (compiler.process(c, **kw) for c in element.clauses)
    return col, width


@compiles(bucket_index, "sqlite")
def _bucket_sqlite(element: bucket_index, compiler: SQLCompiler, **kw: Any) -> str:
    col, width = _parts(element, compiler, **kw)
    # Integer division of whole seconds is the floor (times after 1970); widths are whole seconds.
    return f"((CAST(strftime('%s', substr({col}, 1, 19)) AS INTEGER) + {CHINA_UTC_OFFSET_S}) / {width})"


@compiles(bucket_index, "postgresql")
def _bucket_pg(element: bucket_index, compiler: SQLCompiler, **kw: Any) -> str:
    col, width = _parts(element, compiler, **kw)
    return f"CAST(FLOOR((date_part('epoch', {col}) + {CHINA_UTC_OFFSET_S}) / {width}) AS BIGINT)"


@dataclass(frozen=True)
class FigureQuery:
    """What to count: requests in ``[start, end)`` (epoch seconds), optionally grouped or bucketed."""

    start: float
    end: float
    sla_s: float
    short_abandon_s: float
    group_by: tuple[str, ...] = ()
    bucket_s: int | None = None
    regions: tuple[str, ...] | None = None  # only cases of these target provinces (None: all)
    now: float | None = None  # occupancy: a status still on counts until now (None: no occupancy)

    def __post_init__(self) -> None:
        unknown = [g for g in self.group_by if g not in GROUP_COLUMNS]
        if unknown:
            raise ValueError(f"cannot group by {unknown[0]!r}")
        if self.bucket_s is not None and self.bucket_s not in BUCKETS.values():
            raise ValueError(f"no bucket of {self.bucket_s} s")


def _per_case(q: FigureQuery) -> Any:
    """One row per case requested in the window: its keys, times and flags."""
    wrapped_at = Case.wrapped_at  # the recorder keeps the last `wrapped_up` line's time on the case
    answered = Case.answered_at.is_not(None)
    abandoned = and_(Case.answered_at.is_(None), Case.ended_at.is_not(None), Case.outcome.in_(ABANDON_OUTCOMES))
    handled = and_(answered, Case.ended_at.is_not(None), Case.outcome.in_(CLERK_OUTCOMES))
    cols: list[Any] = [getattr(Case, g).label(g) for g in q.group_by]
    if q.bucket_s is not None:
        # The width as SQL text, not a bound value: it is part of the statement (and of its cache key).
        cols.append(bucket_index(Case.requested_at, literal_column(str(int(q.bucket_s)))).label("bucket"))
    cols += [
        case((answered, 1), else_=0).label("answered"),
        case((answered, epoch(Case.answered_at) - epoch(Case.requested_at)), else_=None).label("wait_s"),
        case((abandoned, 1), else_=0).label("abandoned"),
        case((abandoned, epoch(Case.ended_at) - epoch(Case.requested_at)), else_=None).label("abandon_s"),
        case((handled, 1), else_=0).label("handled"),
        case((handled, epoch(func.coalesce(wrapped_at, Case.ended_at)) - epoch(Case.answered_at)), else_=None).label(
            "handle_s"
        ),
        case((and_(handled, Case.outcome == "resolved"), 1), else_=0).label("resolved"),
        case((and_(Case.answered_at.is_(None), Case.outcome == "expired"), 1), else_=0).label("expired"),
        Case.rating_level.label("rating"),
        Case.offers.label("offers"),
        Case.answers.label("answers"),
        Case.transfers.label("transfers"),
        case((Case.followup_closed_at.is_(None), 1), else_=0).label("followup_open"),
    ]
    stmt = select(*cols).where(Case.requested_at >= to_datetime(q.start), Case.requested_at < to_datetime(q.end))
    if q.regions is not None:
        stmt = stmt.where(Case.target_region.in_(q.regions))
    return stmt.subquery("per_case")


def _sums(c: Any, q: FigureQuery) -> list[ColumnElement[Any]]:
    def count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    return [
        func.count().label("requests"),
        func.coalesce(func.sum(c.answered), 0).label("answered"),
        count_if(and_(c.answered == 1, c.wait_s <= q.sla_s)).label("answered_within_sla"),
        func.coalesce(func.sum(c.abandoned), 0).label("abandoned"),
        count_if(and_(c.abandoned == 1, c.abandon_s < q.short_abandon_s)).label("short_abandoned"),
        func.sum(c.wait_s).label("wait_sum"),
        func.coalesce(func.sum(c.handled), 0).label("handled"),
        func.sum(c.handle_s).label("handle_sum"),
        func.coalesce(func.sum(c.resolved), 0).label("resolved"),
        func.count(c.rating).label("rated"),
        count_if(c.rating >= 4).label("positive"),
        func.coalesce(func.sum(c.expired), 0).label("expired"),
        func.coalesce(func.sum(c.offers), 0).label("offers"),
        func.coalesce(func.sum(c.answers), 0).label("answers"),
        func.coalesce(func.sum(c.transfers), 0).label("transfers"),
        count_if(c.rating <= 2).label("complaints"),
        count_if(and_(c.rating <= 2, c.followup_open == 1)).label("followups_open"),
    ]


WORKING = ("available", "offered", "busy", "wrap_up")  # on shift and free to take work, or working
BUSY = ("busy", "wrap_up")
OCCUPANCY_LOOKBACK_S = 86400  # a status that began this long before the period still counts


class least(FunctionElement[float]):
    """The smaller of two values (SQLite's two-argument ``min``, PostgreSQL's ``LEAST``)."""

    type = Float()
    inherit_cache = True


class greatest(FunctionElement[float]):
    """The larger of two values (SQLite's two-argument ``max``, PostgreSQL's ``GREATEST``)."""

    type = Float()
    inherit_cache = True


@compiles(least, "sqlite")
def _least_sqlite(element: least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"min({compiler.process(element.clauses, **kw)})"


@compiles(least, "postgresql")
def _least_pg(element: least, compiler: SQLCompiler, **kw: Any) -> str:
    return f"LEAST({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "sqlite")
def _greatest_sqlite(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"max({compiler.process(element.clauses, **kw)})"


@compiles(greatest, "postgresql")
def _greatest_pg(element: greatest, compiler: SQLCompiler, **kw: Any) -> str:
    return f"GREATEST({compiler.process(element.clauses, **kw)})"


def _occupancy_query(start: float, end: float, by: str | None, regions: tuple[str, ...] | None) -> Any:
    """Occupancy = time in a case or wrapping up / time available, offered, in a case or wrapping up,
    of the clerks' status history clipped to ``[start, end)``: one row per clerk province or clerk (or
    one in all). Each status lasts until the clerk's next row (``LEAD``), the last one until ``end``.

    Each row's clipped length is computed once and summed by status first (a handful of rows per key),
    so that the time conversions run twice a row, not once per use (SQLite repeats an expression
    wherever a flattened subquery's column is used)."""
    nxt = func.lead(ClerkStatus.started_at).over(
        partition_by=ClerkStatus.clerk_id, order_by=(ClerkStatus.started_at, ClerkStatus.id)
    )
    inner = select(
        ClerkStatus.clerk_id, ClerkStatus.region, ClerkStatus.status, ClerkStatus.started_at, nxt.label("ended_at")
    ).where(
        ClerkStatus.started_at >= to_datetime(start - OCCUPANCY_LOOKBACK_S),
        ClerkStatus.started_at < to_datetime(end),
    )
    if regions is not None:
        inner = inner.where(ClerkStatus.region.in_(regions))
    spans = inner.subquery("spans")
    clipped = greatest(
        least(func.coalesce(epoch(spans.c.ended_at), literal(end)), literal(end))
        - greatest(epoch(spans.c.started_at), literal(start)),
        literal(0.0),
    )
    key = None if by is None else (spans.c.region if by == "target_region" else spans.c.clerk_id)
    per_status = (
        select(*([key.label("key")] if key is not None else []), spans.c.status, func.sum(clipped).label("length"))
        .group_by(*([key] if key is not None else []), spans.c.status)
        .subquery("per_status")
    )
    cols: list[Any] = [
        func.sum(case((per_status.c.status.in_(BUSY), per_status.c.length), else_=0.0)).label("busy_s"),
        func.sum(case((per_status.c.status.in_(WORKING), per_status.c.length), else_=0.0)).label("working_s"),
    ]
    if key is None:
        return select(*cols)
    return select(per_status.c.key, *cols).group_by(per_status.c.key)


def _occupancy(row: Any) -> float | None:
    working = float(row.working_s or 0.0)
    return float(row.busy_s or 0.0) / working if working > 0 else None


def _added(rows: list[Any]) -> Sums:
    """The sums of several aggregate rows (the groups of a window) added up: the window's own sums."""
    total = Sums()
    for r in rows:
        for f in fields(Sums):
            value = r._mapping[f.name]
            setattr(total, f.name, getattr(total, f.name) + (value if value is not None else 0))
    return total


async def figures(sessions: async_sessionmaker[AsyncSession], q: FigureQuery) -> dict[str, Any]:
    """``{"total", "groups", "buckets"}``: the figures of the whole window, of each group (when
    ``q.group_by``, keys as ``{"key": {column: value}}``) and of each bucket that has requests
    (when ``q.bucket_s``, as ``{"bucket_start": epoch seconds}``)."""
    async with sessions() as session:
        out: dict[str, Any] = {"total": {}, "groups": [], "buckets": []}
        grouped: list[Any] = []
        if q.group_by:
            sub = _per_case(FigureQuery(q.start, q.end, q.sla_s, q.short_abandon_s, q.group_by, regions=q.regions))
            keys = [sub.c[g] for g in q.group_by]
            grouped = list(
                await session.execute(
                    select(*keys, *_sums(sub.c, q)).group_by(*keys).order_by(*(k.asc().nulls_first() for k in keys))
                )
            )
            # The total is the groups' sums added up: one scan of the window, not two.
            out["total"] = figures_of(_added(grouped))
        else:
            total = _per_case(FigureQuery(q.start, q.end, q.sla_s, q.short_abandon_s, regions=q.regions))
            out["total"] = figures_of((await session.execute(select(*_sums(total.c, q)))).one())
        until = min(q.end, q.now) if q.now is not None else None
        occupancy: dict[str, float | None] = {}
        out["total"]["occupancy"] = None
        if until is not None and until > q.start:
            one = (await session.execute(_occupancy_query(q.start, until, None, q.regions))).one()
            out["total"]["occupancy"] = _occupancy(one)
            if q.group_by in (("target_region",), ("clerk_id",)):
                rows = await session.execute(_occupancy_query(q.start, until, q.group_by[0], q.regions))
                occupancy = {r.key: _occupancy(r) for r in rows}
        out["groups"] = [
            {
                "key": {g: r._mapping[g] for g in q.group_by},
                **figures_of(r),
                "occupancy": occupancy.get(r._mapping[q.group_by[0]]) if len(q.group_by) == 1 else None,
            }
            for r in grouped
        ]
        if q.bucket_s is not None:
            sub = _per_case(
                FigureQuery(q.start, q.end, q.sla_s, q.short_abandon_s, bucket_s=q.bucket_s, regions=q.regions)
            )
            rows = await session.execute(
                select(sub.c.bucket, *_sums(sub.c, q)).group_by(sub.c.bucket).order_by(sub.c.bucket)
            )
            out["buckets"] = [
                {"bucket_start": bucket_start(int(r.bucket), q.bucket_s), **figures_of(r), "occupancy": None}
                for r in rows
            ]
        return out


async def case_facts(sessions: async_sessionmaker[AsyncSession], start: float, end: float) -> list[dict[str, Any]]:
    """The cases requested in ``[start, end)`` as the live figures hold them (``queueing.tally.CaseFacts``):
    what a node loads at start-up before it folds the queue's results."""
    wrapped_at = Case.wrapped_at
    stmt = select(
        Case.case_id,
        Case.requested_at,
        Case.target_region,
        Case.skill,
        Case.matter_code,
        Case.channel,
        Case.origin_region,
        Case.clerk_id,
        Case.answered_at,
        Case.ended_at,
        Case.outcome,
        wrapped_at.label("wrapped_at"),
        Case.rating_level.label("rating"),
        Case.offers,
        Case.answers,
        Case.transfers,
        Case.followup_closed_at.is_not(None).label("followup_closed"),
    ).where(Case.requested_at >= to_datetime(start), Case.requested_at < to_datetime(end))
    async with sessions() as session:
        rows = (await session.execute(stmt)).all()
    out = []
    for r in rows:
        row = dict(r._mapping)
        for col in ("requested_at", "answered_at", "ended_at", "wrapped_at"):
            value = row[col]
            row[col] = _epoch_of(value) if value is not None else None
        out.append(row)
    return out


def _epoch_of(value: Any) -> float:
    # The ORM gives aware datetimes for mapped columns; the correlated max() may come back as text on SQLite.
    if isinstance(value, str):
        parsed = datetime.fromisoformat(value)
        return (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
    return float(value.timestamp())


# A case counts on the day of the clerk's answer; it is looked for among the cases requested since this long before
# the day began, so that the requested_at index bounds the scan (the timeline has no index by actor or time). A
# queue expires a request after max_wait_s (10 minutes by default): only a long chain of transfers or re-queues,
# each restarting that wait, could bring an answer a day after the request, and such a case is left out.
CLERK_DAY_LOOKBACK_S = 86400
# The outcomes of a case that ended in a call with its clerk (the clerk ended it, or the citizen hung up): not a
# request cancelled, abandoned or expired while it waited again after a transfer or re-queue.
ENDED_WITH_CLERK = (*CLERK_OUTCOMES, CITIZEN_ENDED)


async def clerk_day(
    sessions: async_sessionmaker[AsyncSession], clerk_id: str, start: float, end: float
) -> dict[str, Any]:
    """One clerk's cases answered in ``[start, end)`` (their day), in one query:
    ``{"cases", "ended", "resolved", "handle_s_avg", "ratings": {"count", "average", "poor"}}``.

    ``cases`` counts every case with an ``answered`` line by the clerk in the window, once however often they
    answered it, so a case they answered and transferred counts for them (and for the clerk who answered it next).
    The rest are of the cases the clerk still holds (the record's ``clerk_id``: nobody answered it after them)
    and that ended in the call: ``ended`` (outcome resolved, referred, unresolved or citizen_ended), ``resolved``,
    ``handle_s_avg`` (the mean of their last answer to the end; for a case never transferred, ``answered_at`` to
    ``ended_at``), and the citizens' ratings of those (``poor``: 差评, levels 1 and 2)."""
    answered = (
        select(CaseEvent.case_id.label("case_id"), func.max(CaseEvent.at).label("answered_at"))
        .join(Case, Case.case_id == CaseEvent.case_id)
        .where(
            Case.requested_at >= to_datetime(start - CLERK_DAY_LOOKBACK_S),
            Case.requested_at < to_datetime(end),
            CaseEvent.event == "answered",
            CaseEvent.actor == f"clerk:{clerk_id}",
            CaseEvent.at >= to_datetime(start),
            CaseEvent.at < to_datetime(end),
        )
        .group_by(CaseEvent.case_id)
        .subquery("answered")
    )
    ended = and_(Case.clerk_id == clerk_id, Case.ended_at.is_not(None), Case.outcome.in_(ENDED_WITH_CLERK))
    rated = and_(ended, Case.rating_level.is_not(None))

    def count_if(cond: ColumnElement[bool]) -> ColumnElement[Any]:
        return func.coalesce(func.sum(case((cond, 1), else_=0)), 0)

    stmt = select(
        func.count().label("cases"),
        count_if(ended).label("ended"),
        count_if(and_(ended, Case.outcome == "resolved")).label("resolved"),
        func.sum(case((ended, epoch(Case.ended_at) - epoch(answered.c.answered_at)), else_=None)).label("handle_sum"),
        count_if(rated).label("rated"),
        func.sum(case((rated, Case.rating_level), else_=None)).label("rating_sum"),
        count_if(and_(rated, Case.rating_level <= 2)).label("poor"),
    ).select_from(answered.join(Case, Case.case_id == answered.c.case_id))
    async with sessions() as session:
        row = (await session.execute(stmt)).one()
    n_ended, n_rated = int(row.ended), int(row.rated)
    return {
        "cases": int(row.cases),
        "ended": n_ended,
        "resolved": int(row.resolved),
        "handle_s_avg": round(float(row.handle_sum) / n_ended, 3) if n_ended and row.handle_sum is not None else None,
        "ratings": {
            "count": n_rated,
            "average": round(float(row.rating_sum) / n_rated, 2) if n_rated else None,
            "poor": int(row.poor),
        },
    }
