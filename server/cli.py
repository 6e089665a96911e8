"""The `rvw` command: serve, add users and kiosks, apply migrations, simulate a queue."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import math
import re
import sys

from queueing.clock import SystemClock
from recordings.db import make_engine, make_sessionmaker
from recordings.migrate import upgrade
from recordings.store import CaseStoreError, Directory

from .auth import hash_password, kiosk_token_hash, new_id, new_kiosk_token
from .catalog import DELTA, PROVINCES
from .config import ConfigError, Settings
from .privacy import mask_logs

REGION_RE = re.compile(r"^[1-9][0-9]{5}$")


def _region(value: str) -> str:
    if not REGION_RE.match(value) or value[:2] + "0000" not in PROVINCES:
        raise argparse.ArgumentTypeError(f"{value!r} is not a region code in Shanghai, Jiangsu, Zhejiang or Anhui")
    return value


def _user_region(value: str) -> str:
    return value if value == DELTA else _region(value)


def _number(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a number") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"{value!r} is not a finite number")
    return number


def _positive(value: str) -> float:
    number = _number(value)
    if number <= 0:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive number")
    return number


def _not_negative(value: str) -> float:
    number = _number(value)
    if number < 0:
        raise argparse.ArgumentTypeError(f"{value!r} is negative")
    return number


def _count(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="rvw", description="远程虚拟窗口 remote virtual window server")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the server")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--demo", action="store_true", help="seed demo accounts and a kiosk, and print them")

    user = sub.add_parser("user", help="manage log-ins").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="add a user; the password is read from standard input")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=["clerk", "supervisor", "auditor"])
    add.add_argument(
        "--region",
        required=True,
        type=_user_region,
        help="a region code; supervisors and auditors oversee its province, or all four with 'delta'",
    )
    add.add_argument("--skills", default="", help="comma-separated skills (clerks)")
    add.add_argument("--display-name", required=True)
    disable = user.add_parser("disable", help="disable a log-in and end its sessions (open consoles close)")
    disable.add_argument("--username", required=True)

    kiosk = sub.add_parser("kiosk", help="manage kiosks").add_subparsers(dest="action", required=True)
    kadd = kiosk.add_parser("add", help="register a kiosk and print its token")
    kadd.add_argument("--name", required=True)
    kadd.add_argument("--region", required=True, type=_region)

    retention = sub.add_parser("retention", help="retention of documents, media and the audit log")
    retention.add_subparsers(dest="action", required=True).add_parser(
        "run", help="delete what is older than RVW_RETENTION_*_DAYS allow, say what was deleted, audit it"
    )

    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply the migrations")

    sim = sub.add_parser(
        "simulate",
        help="run the routing core in virtual time and compare with Erlang C",
        description="Poisson arrivals, exponential handle times, clerks who accept every offer at once; "
        "prints the service level (docs/sla.md), ASA, abandonment and occupancy beside Erlang C.",
    )
    sim.add_argument("--arrivals-per-hour", required=True, type=_positive)
    sim.add_argument("--aht-s", required=True, type=_positive, help="mean handle time (exponential)")
    sim.add_argument("--clerks", required=True, type=_count)
    sim.add_argument("--hours", type=_positive, default=8.0, help="hours of arrivals (default 8)")
    sim.add_argument("--seed", type=int, default=0)
    sim.add_argument("--patience-s", type=_positive, help="mean patience (exponential); default: nobody gives up")
    sim.add_argument("--sla-s", type=_not_negative, default=60.0, help="service level threshold (default 60)")
    sim.add_argument("--short-abandon-s", type=_not_negative, default=10.0, help="short abandons (default 10)")
    sim.add_argument("--warmup-hours", type=_not_negative, default=0.0, help="arrivals left out at the start")
    sim.add_argument("--max-wait-s", type=_positive, help="expire requests after this wait; default: never")
    sim.add_argument("--json", action="store_true", help="print the figures as JSON")
    return p


async def _user_add(settings: Settings, args: argparse.Namespace, password: str) -> str:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        directory = Directory(make_sessionmaker(engine))
        if args.region == DELTA and args.role == "clerk":
            raise ConfigError("a clerk serves one province: give a region code, not 'delta'")
        user_id = new_id()
        await directory.add_user(
            user_id=user_id,
            username=args.username,
            password_hash=hash_password(password),
            role=args.role,
            display_name=args.display_name,
            region=args.region,
            skills=[s.strip() for s in args.skills.split(",") if s.strip()],
            at=SystemClock().now(),
        )
        return user_id
    finally:
        await engine.dispose()


async def _user_disable(settings: Settings, username: str) -> bool:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        return await Directory(make_sessionmaker(engine)).disable_user(username, SystemClock().now())
    finally:
        await engine.dispose()


async def _kiosk_add(settings: Settings, args: argparse.Namespace) -> str:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        token = new_kiosk_token()
        await Directory(make_sessionmaker(engine)).add_kiosk(
            kiosk_id=new_id(),
            name=args.name,
            region=args.region,
            token_hash=kiosk_token_hash(token),
            at=SystemClock().now(),
        )
        return token
    finally:
        await engine.dispose()


async def _retention_run(settings: Settings) -> dict[str, int]:
    from dataclasses import asdict

    from recordings import retention

    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        report = await retention.run(
            make_sessionmaker(engine),
            settings.recordings_dir,
            now=SystemClock().now(),
            attachment_days=settings.retention_attachment_days,
            audit_days=settings.retention_audit_days,
            media_days=settings.retention_media_days,
        )
        return asdict(report)
    finally:
        await engine.dispose()


async def _db_upgrade(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def _simulate(args: argparse.Namespace) -> int:
    from queueing.erlang import ErlangC, erlang_c
    from queueing.simulator import simulate

    if args.warmup_hours >= args.hours:
        print("--warmup-hours must be less than --hours", file=sys.stderr)
        return 2
    erlang: ErlangC | None = None
    unstable = ""
    try:
        erlang = erlang_c(args.arrivals_per_hour, args.aht_s, args.clerks, args.sla_s)
    except ValueError as exc:
        unstable = str(exc)  # the offered load is at or above the clerks
        if args.patience_s is None and args.max_wait_s is None:
            print(f"{unstable}; this run may take minutes as the queue grows", file=sys.stderr)
    try:
        result = simulate(
            arrivals_per_hour=args.arrivals_per_hour,
            aht_s=args.aht_s,
            clerks=args.clerks,
            duration_s=args.hours * 3600.0,
            seed=args.seed,
            patience_s=args.patience_s,
            sla_s=args.sla_s,
            short_abandon_s=args.short_abandon_s,
            warmup_s=args.warmup_hours * 3600.0,
            max_wait_s=args.max_wait_s,
        )
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    if args.json:
        data = result.to_dict()
        data["erlang_c"] = dataclasses.asdict(erlang) if erlang else None
        print(json.dumps(data, indent=2))
        return 0

    def pct(x: float | None) -> str:
        return "-" if x is None else f"{100 * x:.1f}%"

    def secs(x: float | None) -> str:
        return "-" if x is None else f"{x:.1f} s"

    patience = f"mean patience {args.patience_s:g} s" if args.patience_s else "no abandonment"
    print(
        f"{args.hours:g} h of {args.arrivals_per_hour:g} arrivals/h, AHT {args.aht_s:g} s, "
        f"{args.clerks} clerks, {patience}, seed {args.seed}"
    )
    rows = [
        ("arrivals", str(result.arrivals), ""),
        ("answered", str(result.answered), ""),
        ("abandoned", f"{result.abandoned} ({result.short_abandoned} short)", ""),
        ("abandon rate", pct(result.abandon_rate), ""),
        (f"service level ({args.sla_s:g} s)", pct(result.service_level), pct(erlang.service_level if erlang else None)),
        ("ASA", secs(result.asa_s), secs(erlang.asa_s if erlang else None)),
        ("occupancy", pct(result.occupancy), pct(erlang.occupancy if erlang else None)),
    ]
    if result.expired:
        rows.insert(3, ("expired", str(result.expired), ""))
    print(f"{'':24}{'simulated':>16}{'Erlang C':>12}")
    for name, simulated, expected in rows:
        print(f"{name:24}{simulated:>16}{expected:>12}")
    if erlang is None:
        print(f"Erlang C: {unstable}")
    elif args.patience_s:
        print("Erlang C assumes nobody gives up.")
    else:
        print("Erlang C is the long-run figure; a run of a few thousand arrivals strays from it by a few points.")
    return 0


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "simulate":
        return _simulate(args)  # needs no configuration or database
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    mask_logs()  # identity and phone numbers masked in every logger's lines (GB/T 35273 §7.2)
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from .runner import serve

        base = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
        # Until SIGTERM or SIGINT, then a drain bounded by RVW_DRAIN_SECONDS (server/runner.py).
        return serve(settings, host=args.host, port=args.port, demo_base_url=base if args.demo else None)
    if args.command == "user" and args.action == "disable":
        if not asyncio.run(_user_disable(settings, args.username)):
            print(f"no user {args.username!r}", file=sys.stderr)
            return 1
        print(f"disabled {args.username}; their sessions have ended")
        return 0
    if args.command == "user":
        password = sys.stdin.readline().rstrip("\r\n")
        if len(password) < 8:
            print("the password (read from standard input) must have at least 8 characters", file=sys.stderr)
            return 2
        try:
            user_id = asyncio.run(_user_add(settings, args, password))
        except CaseStoreError as exc:
            print(exc.message, file=sys.stderr)
            return 1
        print(f"added {args.role} {args.username} (id {user_id})")
        return 0
    if args.command == "kiosk":
        token = asyncio.run(_kiosk_add(settings, args))
        print(token)
        return 0
    if args.command == "retention":
        done = asyncio.run(_retention_run(settings))
        print(json.dumps(done))
        return 0
    if args.command == "db":
        asyncio.run(_db_upgrade(settings))
        print("database is at the latest migration")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
