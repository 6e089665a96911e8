"""The `rvw` command: serve, add users and kiosks, apply migrations."""

from __future__ import annotations

import argparse
import asyncio
import logging
import re
import sys

from aiohttp import web

from queueing.clock import SystemClock
from recordings.db import make_engine, make_sessionmaker
from recordings.migrate import upgrade
from recordings.store import CaseStoreError, Directory

from .auth import hash_password, kiosk_token_hash, new_id, new_kiosk_token
from .catalog import PROVINCES
from .config import ConfigError, Settings

REGION_RE = re.compile(r"^[1-9][0-9]{5}$")


def _region(value: str) -> str:
    if not REGION_RE.match(value) or value[:2] + "0000" not in PROVINCES:
        raise argparse.ArgumentTypeError(f"{value!r} is not a region code in Shanghai, Jiangsu, Zhejiang or Anhui")
    return value


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
    add.add_argument("--region", required=True, type=_region)
    add.add_argument("--skills", default="", help="comma-separated skills (clerks)")
    add.add_argument("--display-name", required=True)

    kiosk = sub.add_parser("kiosk", help="manage kiosks").add_subparsers(dest="action", required=True)
    kadd = kiosk.add_parser("add", help="register a kiosk and print its token")
    kadd.add_argument("--name", required=True)
    kadd.add_argument("--region", required=True, type=_region)

    db = sub.add_parser("db", help="database").add_subparsers(dest="action", required=True)
    db.add_parser("upgrade", help="apply the migrations")
    return p


async def _user_add(settings: Settings, args: argparse.Namespace, password: str) -> str:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        directory = Directory(make_sessionmaker(engine))
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


async def _db_upgrade(settings: Settings) -> None:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env()
    except ConfigError as exc:
        print(f"configuration error: {exc}", file=sys.stderr)
        return 2
    if args.command == "serve":
        from .app import create_app

        base = f"http://{'localhost' if args.host in ('127.0.0.1', '0.0.0.0') else args.host}:{args.port}"
        app = create_app(settings, demo_base_url=base if args.demo else None)
        web.run_app(app, host=args.host, port=args.port, print=lambda s: print(s, flush=True))
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
    if args.command == "db":
        asyncio.run(_db_upgrade(settings))
        print("database is at the latest migration")
        return 0
    return 2


if __name__ == "__main__":
    sys.exit(main())
