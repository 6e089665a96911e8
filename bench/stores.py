"""The shared stores a benchmark uses: a fresh PostgreSQL database and a fresh Redis key prefix, each removed after.

Only 127.0.0.1. The databases are created and dropped with PostgreSQL's own ``createdb``/``dropdb`` (trust
auth as user ``postgres``); Redis keys are removed by prefix with SCAN, never with FLUSHDB, so nothing else on
the server is touched.
"""

from __future__ import annotations

import secrets
import subprocess
from typing import Any

import redis

PG_HOST = "127.0.0.1"
PG_PORT = "5432"
PG_USER = "postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"


def pg_url(database: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{database}"


def create_database(tag: str) -> str:
    """A new empty database named after ``tag``; returns its name."""
    name = f"rvwbench_{tag}_{secrets.token_hex(3)}"
    subprocess.run(
        ["createdb", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, name], check=True, capture_output=True, timeout=60
    )
    return name


def drop_database(name: str) -> None:
    subprocess.run(
        ["dropdb", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "--force", "--if-exists", name],
        capture_output=True,
        timeout=60,
    )


def new_prefix(tag: str) -> str:
    return f"rvwbench-{tag}-{secrets.token_hex(3)}"


def redis_client() -> Any:
    return redis.Redis.from_url(REDIS_URL, decode_responses=True, socket_timeout=5)


def clear_prefix(prefix: str) -> int:
    """Delete every key under ``prefix:``; returns how many."""
    r = redis_client()
    try:
        keys = list(r.scan_iter(match=f"{prefix}:*", count=1000))
        for i in range(0, len(keys), 500):
            r.delete(*keys[i : i + 500])
        return len(keys)
    finally:
        r.close()


def lease_holder(prefix: str) -> tuple[str, int] | None:
    """(node id, epoch) of the queue's writer, from ``<prefix>:lease`` = "node:epoch", or None."""
    r = redis_client()
    try:
        raw = r.get(f"{prefix}:lease")
    finally:
        r.close()
    if not raw:
        return None
    node, _, epoch = str(raw).rpartition(":")
    return node, int(epoch)


def snapshot_size(prefix: str) -> int:
    """Bytes of the queue writer's latest snapshot (``<prefix>:snapshot``)."""
    r = redis_client()
    try:
        return int(r.strlen(f"{prefix}:snapshot"))
    finally:
        r.close()


def redis_config() -> dict[str, str]:
    """The Redis settings that bear on durability and speed, for the record."""
    r = redis_client()
    try:
        out: dict[str, str] = {}
        for key in ("appendonly", "appendfsync", "save"):
            got: Any = r.config_get(key)
            out[key] = str(got.get(key, "?"))
        out["version"] = str(r.info("server").get("redis_version", "?"))
        return out
    finally:
        r.close()


def pg_sessions(database: str) -> int | None:
    """Sessions ever opened to ``database`` (``pg_stat_database.sessions``): counts connection churn."""
    done = subprocess.run(
        [
            "psql",
            "-h",
            PG_HOST,
            "-p",
            PG_PORT,
            "-U",
            PG_USER,
            "-tAc",
            f"SELECT sessions FROM pg_stat_database WHERE datname = '{database}'",
            "postgres",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    try:
        return int(done.stdout.strip())
    except ValueError:
        return None


def pg_count(database: str, table: str) -> int | None:
    done = subprocess.run(
        ["psql", "-h", PG_HOST, "-p", PG_PORT, "-U", PG_USER, "-tAc", f"SELECT count(*) FROM {table}", database],
        capture_output=True,
        text=True,
        timeout=30,
    )
    try:
        return int(done.stdout.strip())
    except ValueError:
        return None
