"""The recorder processes of a node, seen from the signaling process.

:class:`RecorderPool` starts ``RVW_RECORDER_WORKERS`` processes of
:mod:`recordings.media_worker`, hands each side's ``record_offer`` to one of them (the same one
for the whole of that side's session, so renegotiations reach the same peer) and turns what they
report into rows (:class:`recordings.media_index.MediaIndex`). Only pipe I/O happens here: the
media, the files and their hashing are the workers'.

A worker that dies (killed, out of memory) is started again after a pause; the files it had open
are measured and hashed as they are on disk (in a thread) and their rows marked ``interrupted``.
The pages notice their recorder connection failing and offer again, which starts new files.
:meth:`close` asks every worker to finish its files and waits for them.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
import os
import sys
import time
from pathlib import Path
from typing import Any

from queueing.commands import Result
from queueing.events import CaseClosed

from .media_files import probe, sha256_of
from .media_index import MediaIndex

log = logging.getLogger(__name__)

OFFER_TIMEOUT_S = 20.0  # answering includes gathering the recorder's candidates
RESTART_AFTER_S = (0.5, 1.0, 2.0, 5.0, 10.0)  # pauses before starting a dead worker again
SHUTDOWN_TIMEOUT_S = 10.0


class RecorderUnavailable(Exception):
    """No recorder process could take the offer (starting, restarting or overloaded)."""


class _Process:
    """One worker process: its pipes, the replies it owes and the files it has open."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.proc: asyncio.subprocess.Process | None = None
        self.waiting: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.open_files: dict[str, dict[str, Any]] = {}  # recording_id -> its row
        self.sessions: set[tuple[str, str]] = set()
        self.ready = asyncio.Event()
        self.task: asyncio.Task[None] | None = None
        self.failures = 0


class RecorderPool:
    def __init__(
        self, index: MediaIndex, root: Path, workers: int, node: str, nice: int = 0, sched: str = "normal"
    ) -> None:
        self.index = index
        self.nice = nice
        self.sched = sched
        self.root = root
        self.node = node
        self.processes = [_Process(i) for i in range(max(1, workers))]
        self.placement: dict[tuple[str, str], _Process] = {}
        self.ids = itertools.count(1)
        self.closing = False
        self.row_writes: set[asyncio.Task[None]] = set()
        self.stopping: set[asyncio.Task[None]] = set()

    # ---- life cycle ----------------------------------------------------------------------------

    async def start(self) -> None:
        """Close what a crash of this whole node left open. Workers start with the first offer
        (a node that records nothing runs none)."""
        for row in await self.index.unfinished(self.node):
            await self._interrupted(row)

    def accept(self, result: Result) -> None:
        """A queue sink: a case that closed stops being recorded (its files are finished)."""
        for event in result.events:
            if isinstance(event, CaseClosed) and any(key[0] == event.case_id for key in self.placement):
                task = asyncio.get_running_loop().create_task(self.stop_case(event.case_id))
                self.stopping.add(task)
                task.add_done_callback(self.stopping.discard)

    async def close(self) -> None:
        """Ask every worker to finish its files cleanly; wait for them and for the rows."""
        if self.closing:
            return
        self.closing = True
        await asyncio.gather(*list(self.stopping), return_exceptions=True)
        for process in self.processes:
            proc = process.proc
            if proc is not None and proc.returncode is None and proc.stdin is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    proc.stdin.write(b'{"op": "shutdown"}\n')
        tasks = [p.task for p in self.processes if p.task is not None]
        _done, late = await asyncio.wait(tasks, timeout=SHUTDOWN_TIMEOUT_S) if tasks else (set(), set())
        for process in self.processes:
            if process.proc is not None and process.proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    process.proc.kill()
        for task in late:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        while self.row_writes:
            await asyncio.gather(*self.row_writes, return_exceptions=True)

    async def _keep(self, process: _Process) -> None:
        """Run the worker; start it again when it dies (unless the pool is closing)."""
        while not self.closing:
            started = time.monotonic()
            try:
                await self._run(process)
            except Exception:
                log.exception("recorder worker %d", process.index)
            await self._lost(process)
            if self.closing:
                return
            process.failures = process.failures + 1 if time.monotonic() - started < 30 else 1
            pause = RESTART_AFTER_S[min(process.failures, len(RESTART_AFTER_S)) - 1]
            log.warning("recorder worker %d stopped; starting it again in %.1f s", process.index, pause)
            await asyncio.sleep(pause)

    async def _run(self, process: _Process) -> None:
        env = {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "RVW_RECORDER_NICE": str(self.nice),
            "RVW_RECORDER_SCHED": self.sched,
        }
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "recordings.media_worker",
            str(self.root),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=env,
            limit=1 << 22,
        )
        process.proc = proc
        process.ready.set()
        assert proc.stdout is not None
        try:
            while line := await proc.stdout.readline():
                try:
                    message = json.loads(line)
                except ValueError:
                    log.warning("recorder worker %d wrote a line that is not JSON", process.index)
                    continue
                self._heard(process, message)
        finally:
            process.ready.clear()
            if proc.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
            await proc.wait()

    def _heard(self, process: _Process, message: dict[str, Any]) -> None:
        if "id" in message:
            future = process.waiting.pop(message["id"], None)
            if future is not None and not future.done():
                future.set_result(message)
            return
        event = message.get("ev")
        if event == "opened":
            row = message["file"]
            process.open_files[row["recording_id"]] = row
            self._write(self.index.opened(row, self.node))
        elif event == "closed":
            process.open_files.pop(message["recording_id"], None)
            self._write(self.index.finished(message["recording_id"], message["state"], message["facts"]))

    def _write(self, work: Any) -> None:
        """Row writes run in order of arrival per file: an `opened` is awaited before its `closed`
        because each write task is chained after the ones already pending."""
        previous = list(self.row_writes)

        async def run() -> None:
            if previous:
                await asyncio.gather(*previous, return_exceptions=True)
            try:
                await work
            except Exception:
                log.exception("recording row")

        task = asyncio.get_running_loop().create_task(run())
        self.row_writes.add(task)
        task.add_done_callback(self.row_writes.discard)

    async def _lost(self, process: _Process) -> None:
        """The worker is gone: its pending replies fail, its open files are closed as they are."""
        for future in process.waiting.values():
            if not future.done():
                future.set_exception(RecorderUnavailable("the recorder process stopped"))
        process.waiting.clear()
        for key in list(process.sessions):
            self.placement.pop(key, None)
        process.sessions.clear()
        files = list(process.open_files.values())
        process.open_files.clear()
        for row in files:
            await self._interrupted({**row, "path": self.root / row["path"]})

    async def _interrupted(self, row: dict[str, Any]) -> None:
        """Measure and hash what reached the disk of a file whose writer died; mark its row."""
        path = Path(row["path"])

        def measure() -> dict[str, Any]:
            if not path.exists():
                return {"ended_at": None, "duration_s": 0.0, "frames": 0, "bytes": 0, "sha256": None}
            frames, duration = probe(path)
            size, digest = sha256_of(path)
            return {
                "ended_at": path.stat().st_mtime,
                "duration_s": round(duration, 3),
                "frames": frames,
                "bytes": size,
                "sha256": digest,
            }

        facts = await asyncio.to_thread(measure)
        await asyncio.gather(*list(self.row_writes), return_exceptions=True)  # its `opened` row first
        await self.index.finished(row["recording_id"], "interrupted", facts)

    # ---- commands ------------------------------------------------------------------------------

    def _place(self, key: tuple[str, str]) -> _Process:
        process = self.placement.get(key)
        if process is None:
            # The least busy worker; one not started yet counts as free and is started now.
            process = min(self.processes, key=lambda p: (len(p.sessions), p.task is None))
            self.placement[key] = process
            process.sessions.add(key)
        if process.task is None and not self.closing:
            process.task = asyncio.get_running_loop().create_task(self._keep(process))
        return process

    async def _ask(self, process: _Process, command: dict[str, Any]) -> dict[str, Any]:
        if self.closing:
            raise RecorderUnavailable("the server is shutting down")
        try:
            await asyncio.wait_for(process.ready.wait(), OFFER_TIMEOUT_S)
        except TimeoutError:
            raise RecorderUnavailable("no recorder process is running") from None
        proc = process.proc
        assert proc is not None and proc.stdin is not None
        request_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        process.waiting[request_id] = future
        try:
            proc.stdin.write((json.dumps({**command, "id": request_id}) + "\n").encode())
            await proc.stdin.drain()
            return await asyncio.wait_for(future, OFFER_TIMEOUT_S)
        except (ConnectionError, TimeoutError) as exc:
            raise RecorderUnavailable(f"the recorder did not answer ({type(exc).__name__})") from None
        finally:
            process.waiting.pop(request_id, None)

    async def offer(self, case_id: str, side: str, description: dict[str, Any], screens: list[str]) -> dict[str, Any]:
        """The recorder's answer to one side's offer. ValueError if the offer was refused by the
        peer (a malformed description), RecorderUnavailable if no worker answered."""
        process = self._place((case_id, side))
        reply = await self._ask(
            process,
            {"op": "offer", "case_id": case_id, "side": side, "description": description, "screens": screens},
        )
        if not reply.get("ok"):
            raise ValueError(str(reply.get("error") or "the recorder refused the offer"))
        return dict(reply["description"])

    async def stop_case(self, case_id: str) -> None:
        """Close the case's recorder connections and finish its files (the case has ended)."""
        processes = {p.index: p for key, p in list(self.placement.items()) if key[0] == case_id}
        for key in [k for k in self.placement if k[0] == case_id]:
            process = self.placement.pop(key)
            process.sessions.discard(key)
        for process in processes.values():
            with contextlib.suppress(RecorderUnavailable):
                await self._ask(process, {"op": "stop", "case_id": case_id})

    def worker_pids(self) -> list[int]:
        return [p.proc.pid for p in self.processes if p.proc is not None and p.proc.returncode is None]

    @property
    def sessions(self) -> int:
        return len(self.placement)
