"""Server processes for the benchmark: ours (``rvw serve``) and the bare relay, each in its own process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import aiohttp

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "bench-password-1"
CLERK_REGION = "310000"
CLERK_SKILL = "social_insurance"
# High enough that the per-connection token bucket (default 100/s, burst 200) never answers rate_limited.
EVENT_RATE = "100000"


def rvw_command() -> list[str]:
    exe = Path(sys.executable).with_name("rvw")
    return [str(exe)] if exe.exists() else [sys.executable, "-m", "server.cli"]


def ours_env(var_dir: Path, event_rate: str = EVENT_RATE, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of ``rvw``: SQLite under ``var_dir`` unless ``extra`` says otherwise (it wins)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RVW_")}
    env.update(
        {
            "RVW_VAR_DIR": str(var_dir),
            "RVW_DATABASE_URL": f"sqlite+aiosqlite:///{var_dir / 'rvw.sqlite3'}",
            "RVW_RECORDINGS_DIR": str(var_dir / "recordings"),
            "RVW_SECRET_KEY": "bench-secret-key-not-for-production",
            "RVW_EVENT_RATE": event_rate,
            "RVW_EVENT_BURST": event_rate,
            # Every simulated citizen and clerk comes from 127.0.0.1: lift the limits per address
            # (docs/security.md), which would otherwise refuse all but a few dozen of them.
            "RVW_WEB_CONNECTIONS_PER_ADDRESS": "1000000",
            "RVW_OPEN_REQUESTS_PER_ADDRESS": "1000000",
            "RVW_REQUESTS_PER_ADDRESS": "100000000",
            "RVW_LOGIN_FAILURES_PER_ADDRESS": "1000000",
            "RVW_MAX_CONNECTIONS_PER_ADDRESS": "1000000",
            "PYTHONUNBUFFERED": "1",
        }
    )
    env.update(extra or {})
    return env


def clerk_name(i: int) -> str:
    return f"bench-clerk-{i:03d}"


def create_clerks(var_dir: Path, count: int, parallel: int, extra_env: dict[str, str] | None = None) -> float:
    """``rvw db upgrade`` then ``rvw user add`` once per clerk (password on stdin); returns the seconds taken."""
    began = time.monotonic()
    env = ours_env(var_dir, extra=extra_env)
    subprocess.run([*rvw_command(), "db", "upgrade"], env=env, check=True, capture_output=True, cwd=ROOT)

    def add(i: int) -> None:
        cmd = [
            *rvw_command(),
            "user",
            "add",
            "--username",
            clerk_name(i),
            "--role",
            "clerk",
            "--region",
            CLERK_REGION,
            "--skills",
            CLERK_SKILL,
            "--display-name",
            f"Bench clerk {i}",
        ]
        done = subprocess.run(cmd, env=env, input=PASSWORD + "\n", text=True, capture_output=True, cwd=ROOT)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}): {done.stderr.strip()[-500:]}")

    with ThreadPoolExecutor(max_workers=max(1, parallel)) as pool:
        list(pool.map(add, range(count)))
    return time.monotonic() - began


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat(5))
    return ticks / os.sysconf("SC_CLK_TCK")


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs since boot, from /proc/stat."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    total = sum(values[:8])
    return float(total - idle), float(total)


class ServerProcess:
    """One server in its own process, on 127.0.0.1, logging to a file."""

    def __init__(
        self,
        kind: str,
        var_dir: Path,
        log_dir: Path,
        tag: str,
        event_rate: str = EVENT_RATE,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.kind = kind
        self.event_rate = event_rate
        self.extra_env = extra_env  # ours: RVW_* settings over the SQLite defaults
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{tag}-{kind}.log"
        self.var_dir = var_dir
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> Sequence[str]:
        if self.kind == "ours":
            return [*rvw_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port)]
        return [sys.executable, "-m", "bench.bare_relay", "--host", "127.0.0.1", "--port", str(self.port)]

    def start(self, timeout: float = 30.0) -> None:
        env = (
            ours_env(self.var_dir, self.event_rate, self.extra_env)
            if self.kind == "ours"
            else {**os.environ, "PYTHONUNBUFFERED": "1"}
        )
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(self.command(), cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.kind} server exited with {self.proc.returncode}: {self.log_tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    pass
                if asyncio.run(self._healthy()):
                    return
            except OSError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.kind} server did not answer /healthz within {timeout} s: {self.log_tail()}")

    async def _healthy(self) -> bool:
        try:
            async with aiohttp.ClientSession() as http, http.get(f"{self.base_url}/healthz") as resp:
                return resp.status == 200
        except aiohttp.ClientError:
            return False

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def stop(self) -> None:
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # aiohttp's run_app shuts down cleanly on SIGINT
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)

    def kill(self) -> None:
        """SIGKILL: a crash, with no clean-up of any kind."""
        proc = self.proc
        if proc is None or proc.poll() is not None:
            return
        proc.kill()
        proc.wait(timeout=10)

    def log_tail(self, chars: int = 1500) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def problems(self) -> list[str]:
        """Lines of the server's log that report errors (tracebacks, ERROR and WARNING records)."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return []
        return [ln for ln in lines if " ERROR " in ln or " WARNING " in ln or ln.startswith("Traceback")]


async def login_all(base_url: str, usernames: Sequence[str], concurrency: int = 4) -> list[str]:
    """POST /api/auth/login for each user; returns their tokens in order."""
    limit = asyncio.Semaphore(concurrency)

    async def one(http: aiohttp.ClientSession, username: str) -> str:
        async with (
            limit,
            http.post(f"{base_url}/api/auth/login", json={"username": username, "password": PASSWORD}) as resp,
        ):
            body: Any = await resp.json()
            if resp.status != 200 or not isinstance(body, dict) or "token" not in body:
                raise RuntimeError(f"log-in of {username} failed: HTTP {resp.status} {body!r:.300}")
            return str(body["token"])

    async with aiohttp.ClientSession() as http:
        return list(await asyncio.gather(*(one(http, u) for u in usernames)))


def commit() -> str:
    """The commit measured, with ``+changes`` when the work tree differs from it (read-only git commands)."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    except OSError:
        return "?"
    return head.stdout.strip() + ("+changes" if dirty.stdout.strip() else "")
