"""Recording with consent (issue 8): real aiortc peers on both sides send to the server's recorder
processes; the files are opened with PyAV and checked against what was sent."""

from __future__ import annotations

import asyncio
import hashlib
import os
import signal
import time
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import aiohttp
import av
import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack

from queueing.clock import ManualClock
from recordings.media_files import MediaFileError, TrackFile, vp8_keyframe_size
from server.config import ConfigError, Settings
from tests.conftest import KIOSK_TOKEN, Client, Server, redis_nodes, start_server, stop_server
from tests.helpers import ask, clerk_on_duty, matched_case


class CountingVideo(VideoStreamTrack):
    """aiortc's test pattern (640x480, 30 fps), counting the frames handed to the encoder."""

    def __init__(self) -> None:
        super().__init__()
        self.sent = 0

    async def recv(self) -> Any:
        frame = await super().recv()
        self.sent += 1
        return frame


class Side:
    """One side's peer connection to the recorder, offering through ``record_offer``."""

    def __init__(self, client: Client, case_id: str) -> None:
        self.client = client
        self.case_id = case_id
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        self.camera = CountingVideo()
        self.screen: CountingVideo | None = None
        self.pc.addTrack(AudioStreamTrack())
        self.pc.addTrack(self.camera)

    async def offer(self) -> dict[str, Any]:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        screens = [
            t.mid for t in self.pc.getTransceivers() if self.screen is not None and t.sender.track is self.screen
        ]
        payload = {
            "case_id": self.case_id,
            "description": {"type": "offer", "sdp": self.pc.localDescription.sdp},
            "screens": [m for m in screens if m],
        }
        ack = await self.client.call("record_offer", payload)
        if ack.get("ok"):
            await self.pc.setRemoteDescription(RTCSessionDescription(**ack["description"]))
        return dict(ack)

    async def share_screen(self) -> dict[str, Any]:
        self.screen = CountingVideo()
        self.pc.addTrack(self.screen)
        return await self.offer()

    async def stop_screen(self) -> dict[str, Any]:
        # aiortc has no removeTrack: the same as a browser's, by hand.
        for transceiver in self.pc.getTransceivers():
            if self.screen is not None and transceiver.sender.track is self.screen:
                transceiver.sender.replaceTrack(None)
                transceiver.direction = "inactive"
        return await self.offer()

    async def connected(self) -> None:
        for _ in range(200):
            if self.pc.connectionState == "connected":
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"the recorder connection did not come up: {self.pc.connectionState}")

    async def close(self) -> None:
        await self.pc.close()


@pytest.fixture
async def rec_server(tmp_path: Path) -> AsyncIterator[Server]:
    runner, srv = await start_server(tmp_path, ManualClock(), recording="optional", recorder_workers=1)
    try:
        yield srv
    finally:
        await stop_server(runner, srv)


async def staff(server: Server) -> tuple[str, str]:
    await server.add_user("boss", "supervisor", "delta", [])
    await server.add_user("audit", "auditor", "delta", [])
    return await server.login("boss"), await server.login("audit")


def settled(count: int) -> Any:
    """A predicate: ``count`` rows, none still being written."""
    return lambda rs: len(rs) == count and all(r["state"] != "recording" for r in rs)


async def rows_of(server: Server, case_id: str, token: str, want: Any, within: float = 15.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + within
    while True:
        status, rows = await server.get_json(f"/api/cases/{case_id}/recordings", token)
        assert status == 200, rows
        if want(rows) or time.monotonic() > deadline:
            return list(rows)
        await asyncio.sleep(0.1)


async def terms(server: Server) -> Any:
    """What a citizen's page is told about recording when it connects (the `session` event)."""
    c = Client(server, "/citizen")
    await c.connect({"channel": "web", "region": "310104"})
    try:
        return (await c.wait_for("session"))["recording"]
    finally:
        await c.close()


def decoded(path: Path) -> tuple[int, float, tuple[int, int] | None, tuple[int, str]]:
    """Frames decoded, seconds from first to last frame, (video) the picture size, and the file's
    size and SHA-256."""
    frames, first, last, size = 0, None, 0.0, None
    with av.open(str(path)) as container:
        stream = container.streams[0]
        for frame in container.decode(stream):
            frames += 1
            at = float(getattr(frame, "time", None) or 0.0)
            first = at if first is None else first
            last = at
            if isinstance(frame, av.VideoFrame):
                size = (frame.width, frame.height)
    data = path.read_bytes()
    return frames, last - (first or 0.0), size, (len(data), hashlib.sha256(data).hexdigest())


async def test_consent_comes_first_and_is_told_to_the_clerk(rec_server: Server) -> None:
    server = rec_server
    clerk, citizen, case_id = await matched_case(server)
    assert await terms(server) == {"policy": "optional", "keep_days": 180}
    side = Side(citizen, case_id)
    try:
        # No answer yet: nothing may be recorded.
        ack = await side.offer()
        assert ack["ok"] is False and ack["error"]["code"] == "conflict", ack
        # The clerk cannot answer for the citizen; another citizen cannot answer in this case.
        assert (await clerk.call("consent", {"case_id": case_id, "recording": True}))["error"]["code"] == "forbidden"
        other = Client(server, "/citizen")
        await other.connect({"channel": "web", "region": "310104"})
        await other.wait_for("session")
        ack = await other.call("consent", {"case_id": case_id, "recording": True})
        assert ack["error"]["code"] == "not_found", ack
        # A refusal under the optional policy: told to the clerk, kept, and nothing is recorded.
        ack = await citizen.call("consent", {"case_id": case_id, "recording": False})
        assert ack == {"ok": True, "case_id": case_id, "recording": False, "policy": "optional"}
        told = await clerk.wait_for("consent")
        assert told["recording"] is False and told["policy"] == "optional" and told["case_id"] == case_id
        assert (await side.offer())["error"]["code"] == "forbidden"
        clerk_side = Side(clerk, case_id)
        assert (await clerk_side.offer())["error"]["code"] == "forbidden"
        await clerk_side.close()
        # The answer is given once.
        ack = await citizen.call("consent", {"case_id": case_id, "recording": True})
        assert ack["error"]["code"] == "conflict"
        assert (await citizen.call("consent", {"case_id": case_id, "recording": False}))["ok"] is True
        assert clerk.seen("consent") == []  # the same answer again is not told twice
        # A console reloaded mid-case gets its case back and, with it, the answer given meanwhile.
        await clerk.close()
        clerk = Client(server, "/clerk")
        await clerk.connect({"token": await server.login("clerk_a")})
        assert (await clerk.wait_for("matched"))["resumed"] is True
        assert await clerk.wait_for("consent") == told
        _, audit = await staff(server)
        status, record = await server.get_json(f"/api/cases/{case_id}", audit)
        assert status == 200
        assert record["recording_consent"] is False and record["recordings"] == []
        lines = [e for e in record["timeline"] if e["event"] == "consent"]
        assert len(lines) == 1 and lines[0]["detail"] == {"recording": False, "policy": "optional"}
        assert lines[0]["actor"].startswith("citizen:")
    finally:
        await side.close()


async def test_required_policy_leaves_a_refusal_to_the_clerk(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, ManualClock(), recording="required")
    try:
        clerk, citizen, case_id = await matched_case(server)
        assert await terms(server) == {"policy": "required", "keep_days": 180}
        assert (await citizen.call("consent", {"case_id": case_id, "recording": False}))["ok"] is True
        told = await clerk.wait_for("consent")
        assert told["policy"] == "required" and told["recording"] is False
        # The clerk decides: here, to end the case. The case is not blocked by the refusal.
        ack = await clerk.call("end_case", {"case_id": case_id, "outcome": "unresolved", "notes": "拒绝录音录像"})
        assert ack["ok"] is True, ack
    finally:
        await stop_server(runner, server)


async def test_recording_off_refuses_consent_and_offers(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, ManualClock(), recording="off")
    try:
        clerk, citizen, case_id = await matched_case(server)
        assert (await terms(server))["policy"] == "off"
        assert server.services.recorder_pool is None
        ack = await citizen.call("consent", {"case_id": case_id, "recording": True})
        assert ack["error"]["code"] == "forbidden"
        side = Side(clerk, case_id)
        try:
            assert (await side.offer())["error"]["code"] == "forbidden"
        finally:
            await side.close()
    finally:
        await stop_server(runner, server)


async def test_both_sides_recorded_with_a_screen_added(rec_server: Server) -> None:
    server = rec_server
    clerk, citizen, case_id = await matched_case(server)
    boss, audit = await staff(server)
    assert (await citizen.call("consent", {"case_id": case_id, "recording": True}))["ok"] is True
    assert (await clerk.wait_for("consent"))["recording"] is True
    sides = {"citizen": Side(citizen, case_id), "clerk": Side(clerk, case_id)}
    try:
        began = time.monotonic()
        for side in sides.values():
            ack = await side.offer()
            assert ack["ok"] is True, ack
            assert ack["description"]["type"] == "answer"
            assert "a=candidate:" in ack["description"]["sdp"]  # complete: no trickle needed
        for side in sides.values():
            await side.connected()
        await asyncio.sleep(2.0)
        # The clerk starts sharing a screen: the same connection renegotiates and a file is added.
        screen_began = time.monotonic()
        ack = await sides["clerk"].share_screen()
        assert ack["ok"] is True, ack
        await asyncio.sleep(2.0)
        # The share stops: renegotiated again, the screen's file is finished while the cameras go on.
        screen_ended = time.monotonic()
        ack = await sides["clerk"].stop_screen()
        assert ack["ok"] is True, ack
        screen_rows = await rows_of(
            server, case_id, audit, lambda rs: any(r["kind"] == "screen" and r["state"] == "complete" for r in rs)
        )
        assert [r["state"] for r in screen_rows if r["kind"] == "video"] == ["recording", "recording"]
        await asyncio.sleep(0.5)
        ended = time.monotonic()
        assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": ""}))["ok"]
        want = {("citizen", "audio"), ("citizen", "video"), ("clerk", "audio"), ("clerk", "video"), ("clerk", "screen")}
        rows = await rows_of(
            server,
            case_id,
            audit,
            lambda rs: {(r["side"], r["kind"]) for r in rs} == want and all(r["state"] == "complete" for r in rs),
        )
        assert {(r["side"], r["kind"]) for r in rows} == want, rows
        assert all(r["state"] == "complete" for r in rows), [(r["side"], r["kind"], r["state"]) for r in rows]
        sent = {
            ("citizen", "video"): sides["citizen"].camera.sent,
            ("clerk", "video"): sides["clerk"].camera.sent,
            ("clerk", "screen"): sides["clerk"].screen.sent if sides["clerk"].screen else 0,
        }
        root = Path(server.services.settings.recordings_dir)
        for row in rows:
            assert row["container"] == "webm"
            assert row["codec"] == ("opus" if row["kind"] == "audio" else "vp8")
            media = server.services.media
            assert media is not None
            found = await media.get(row["recording_id"])
            assert found is not None
            path = Path(found["path"])
            assert path.is_relative_to(root)
            frames, span, size, digest = await asyncio.to_thread(decoded, path)
            assert digest == (row["bytes"], row["sha256"])
            assert frames == row["frames"], (row, frames)
            # As long as the session: from its start (or the screen's) to the end of the case.
            length = (screen_ended - screen_began) if row["kind"] == "screen" else (ended - began)
            assert length - 1.5 <= row["duration_s"] <= length + 0.5, (row, length)
            assert abs(span - row["duration_s"]) < 0.2, (row, span)
            if row["kind"] == "audio":
                assert frames >= 0.9 * row["duration_s"] * 50  # 20 ms Opus frames
                continue
            assert size == (640, 480)
            # Every frame sent was stored, within loss (127.0.0.1 loses none; a first frame may wait for the keyframe).
            assert 0.9 * sent[(row["side"], row["kind"])] <= frames <= sent[(row["side"], row["kind"])], (row, sent)
        # Playback: supervisors and auditors, with range requests; clerks are refused; all audited.
        video = next(r for r in rows if r["side"] == "citizen" and r["kind"] == "video")
        async with aiohttp.ClientSession() as http:
            url = f"{server.base_url}/api/recordings/{video['recording_id']}"
            async with http.get(url, headers={"Authorization": f"Bearer {boss}", "Range": "bytes=0-99"}) as resp:
                assert resp.status == 206 and resp.headers["Content-Type"] == "video/webm"
                assert resp.headers["Content-Range"] == f"bytes 0-99/{video['bytes']}"
                assert len(await resp.read()) == 100
            async with http.get(url, headers={"Authorization": f"Bearer {audit}"}) as resp:
                assert resp.status == 200
                assert hashlib.sha256(await resp.read()).hexdigest() == video["sha256"]
        clerk_token = await server.login("clerk_a")
        assert (await server.get_json(f"/api/cases/{case_id}/recordings", clerk_token))[0] == 403
        async with aiohttp.ClientSession() as http:
            async with http.get(url, headers={"Authorization": f"Bearer {clerk_token}"}) as resp:
                assert resp.status == 403
        status, entries = await server.get_json("/api/audit?action=recording_view", audit)
        assert status == 200
        seen = [(e["role"], e["ok"]) for e in entries["entries"] if e["target"] == video["recording_id"]]
        assert sorted(seen) == [("auditor", True), ("clerk", False), ("supervisor", True)], entries
        status, entries = await server.get_json("/api/audit?action=recording_list", audit)
        assert any(e["role"] == "clerk" and not e["ok"] for e in entries["entries"])
    finally:
        for side in sides.values():
            await side.close()


async def test_a_killed_recorder_leaves_readable_segments(rec_server: Server) -> None:
    server = rec_server
    clerk, citizen, case_id = await matched_case(server)
    _, audit = await staff(server)
    assert (await citizen.call("consent", {"case_id": case_id, "recording": True}))["ok"] is True
    side = Side(citizen, case_id)
    again: Side | None = None
    try:
        assert (await side.offer())["ok"] is True
        await side.connected()
        await asyncio.sleep(3.5)
        pool = server.services.recorder_pool
        assert pool is not None
        pids = pool.worker_pids()
        assert len(pids) == 1
        # Every thread of the worker (the loop's, aiortc's decoder threads) yields to signaling: SCHED_IDLE, nice 5.
        threads = [int(name) for name in os.listdir(f"/proc/{pids[0]}/task")]
        assert len(threads) > 1 and {os.sched_getscheduler(t) for t in threads} == {os.SCHED_IDLE}
        assert {os.getpriority(os.PRIO_PROCESS, t) for t in threads} == {5}
        os.kill(pids[0], signal.SIGKILL)
        rows = await rows_of(
            server, case_id, audit, lambda rs: len(rs) == 2 and all(r["state"] != "recording" for r in rs)
        )
        assert {r["state"] for r in rows} == {"interrupted"}, rows
        root = Path(server.services.settings.recordings_dir)
        for row in rows:
            assert row["frames"] > 0 and row["sha256"] and row["bytes"] > 0
            path = root / "media" / case_id
            files = list(path.glob(f"*{row['recording_id']}.webm"))
            assert len(files) == 1
            frames, span, _, digest = await asyncio.to_thread(decoded, files[0])
            # What reached the disk plays: all but at most the last second of the 3.5 s.
            assert frames == row["frames"] and span >= 2.0, (row, frames, span)
            assert digest == (row["bytes"], row["sha256"])
        # The page offers again on a new connection: a new worker takes it, new files (a new segment).
        await side.close()
        again = Side(citizen, case_id)
        deadline = time.monotonic() + 20
        while True:
            ack = await again.offer()
            if ack["ok"] or time.monotonic() > deadline:
                break
            assert ack["error"]["code"] == "unavailable", ack
            await asyncio.sleep(0.5)
        assert ack["ok"] is True, ack
        await again.connected()
        await asyncio.sleep(2.0)
        assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": ""}))["ok"]
        rows = await rows_of(
            server, case_id, audit, lambda rs: len(rs) == 4 and all(r["state"] != "recording" for r in rs)
        )
        assert sorted(r["state"] for r in rows) == ["complete", "complete", "interrupted", "interrupted"], rows
    finally:
        await side.close()
        if again is not None:
            await again.close()


def test_a_video_file_starts_on_a_keyframe(tmp_path: Path) -> None:
    """Frames before the first keyframe are dropped (a file must start clean) and the peer is asked for one."""
    encoder = av.CodecContext.create("libvpx", "w")
    assert isinstance(encoder, av.VideoCodecContext)
    encoder.width, encoder.height, encoder.pix_fmt = 320, 240, "yuv420p"
    encoder.time_base = Fraction(1, 30)
    encoder.open()
    packets: list[bytes] = []
    for i in range(40):
        frame = av.VideoFrame(320, 240, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes([i * 6 % 256]) * plane.buffer_size)
        frame.pts = i
        packets += [bytes(p) for p in encoder.encode(frame)]
    packets += [bytes(p) for p in encoder.encode(None)]
    assert vp8_keyframe_size(packets[0]) == (320, 240) and vp8_keyframe_size(packets[1]) is None
    file = TrackFile(tmp_path / "v.webm", "vp8")
    # Joined mid-stream: delta frames first.
    assert file.add(packets[1], 3000, 1.0) is False and file.wants_keyframe
    assert file.add(packets[2], 6000, 1.1) is False and file.wants_keyframe
    assert file.add(packets[0], 9000, 1.2) is True and not file.wants_keyframe
    for i, packet in enumerate(packets[1:], start=4):
        assert file.add(packet, i * 3000, 1.2 + i / 30)
    done = file.close()
    assert done is not None and done.frames == len(packets)
    frames, _, size, digest = decoded(tmp_path / "v.webm")
    assert frames == len(packets) and size == (320, 240)
    assert digest == (done.bytes, done.sha256)
    assert file.close() is done  # twice is safe
    with pytest.raises(MediaFileError):
        TrackFile(tmp_path / "h.mkv", "h264")


def test_an_unknown_recording_policy_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="RVW_RECORDING"):
        Settings.from_env({"RVW_RECORDING": "sometimes", "RVW_SECRET_KEY": "k"})
    assert Settings.from_env({"RVW_RECORDING": "Required", "RVW_SECRET_KEY": "k"}).recording == "required"
    with pytest.raises(ConfigError, match="RVW_RECORDER_SCHED"):
        Settings.from_env({"RVW_RECORDER_SCHED": "fifo", "RVW_SECRET_KEY": "k"})
    assert Settings.from_env({"RVW_SECRET_KEY": "k"}).recorder_sched == "idle"
    assert Settings.from_env({"RVW_RECORDER_SCHED": "Normal", "RVW_SECRET_KEY": "k"}).recorder_sched == "normal"


async def test_shutdown_closes_the_files_cleanly(tmp_path: Path) -> None:
    runner, server = await start_server(tmp_path, ManualClock(), recording="optional", recorder_workers=1)
    side: Side | None = None
    try:
        clerk, citizen, case_id = await matched_case(server)
        assert (await citizen.call("consent", {"case_id": case_id, "recording": True}))["ok"] is True
        side = Side(clerk, case_id)
        assert (await side.offer())["ok"] is True
        await side.connected()
        await asyncio.sleep(2.0)
    finally:
        # The node stops while the clerk is still sending: the recorder finishes its files first.
        await stop_server(runner, server)
        if side is not None:
            await side.close()
    runner, server = await start_server(tmp_path, ManualClock(), recording="optional", recorder_workers=1)
    try:
        media = server.services.media
        assert media is not None
        rows = await media.of_case(case_id)
        assert sorted((r["kind"], r["state"]) for r in rows) == [("audio", "complete"), ("video", "complete")]
        for row in rows:
            found = await media.get(row["recording_id"])
            assert found is not None
            frames, _, _, digest = await asyncio.to_thread(decoded, Path(found["path"]))
            assert frames == row["frames"] > 0 and digest == (row["bytes"], row["sha256"])
    finally:
        await stop_server(runner, server)


@pytest.mark.redis
@pytest.mark.postgres
async def test_two_nodes_record_the_sides_they_serve(tmp_path: Path, manual_clock: ManualClock) -> None:
    """Citizen on node a, clerk on node b: the answer reaches the clerk across nodes, each node records the side
    connected to it, and the rows (in the shared database) and files (in the shared directory) serve from either."""
    shared = str(tmp_path / "shared-recordings")
    async with redis_nodes(tmp_path, manual_clock, recording="optional", recorder_workers=1, recordings_dir=shared) as (
        a,
        b,
    ):
        clerk = await clerk_on_duty(b, "clerk_b")
        citizen = Client(a, "/citizen")
        await citizen.connect({"kiosk_token": KIOSK_TOKEN})
        await citizen.wait_for("session")
        case_id = (await ask(citizen))["case_id"]
        offer = await clerk.wait_for("offer")
        assert (await clerk.call("accept", {"ticket_id": offer["ticket_id"]}))["ok"] is True
        await citizen.wait_for("matched")
        assert (await citizen.call("consent", {"case_id": case_id, "recording": True}))["ok"] is True
        assert (await clerk.wait_for("consent"))["recording"] is True
        sides = [Side(citizen, case_id), Side(clerk, case_id)]
        try:
            for side in sides:
                ack = await side.offer()
                assert ack["ok"] is True, ack
            for side in sides:
                await side.connected()
            await asyncio.sleep(2.0)
            assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": ""}))["ok"]
            await a.add_user("audit", "auditor", "delta", [])
            token = await a.login("audit")
            rows = await rows_of(a, case_id, token, settled(4))
            assert sorted((r["side"], r["kind"], r["state"]) for r in rows) == [
                ("citizen", "audio", "complete"),
                ("citizen", "video", "complete"),
                ("clerk", "audio", "complete"),
                ("clerk", "video", "complete"),
            ]
            media = a.services.media
            assert media is not None
            nodes = {r["side"]: (await media.get(r["recording_id"]) or {})["node"] for r in rows}
            assert nodes == {"citizen": a.services.queue.node, "clerk": b.services.queue.node}
            clerk_video = next(r for r in rows if r["side"] == "clerk" and r["kind"] == "video")
            async with aiohttp.ClientSession() as http:
                url = f"{a.base_url}/api/recordings/{clerk_video['recording_id']}"
                async with http.get(url, headers={"Authorization": f"Bearer {token}"}) as resp:
                    assert resp.status == 200
                    assert hashlib.sha256(await resp.read()).hexdigest() == clerk_video["sha256"]
        finally:
            for side in sides:
                await side.close()


async def test_a_dropped_connection_starts_a_new_segment(rec_server: Server) -> None:
    server = rec_server
    clerk, citizen, case_id = await matched_case(server)
    _, audit = await staff(server)
    assert (await citizen.call("consent", {"case_id": case_id, "recording": True}))["ok"] is True
    first = Side(citizen, case_id)
    second: Side | None = None
    try:
        assert (await first.offer())["ok"] is True
        await first.connected()
        await asyncio.sleep(2.0)
        await first.close()  # the page's recorder connection is gone (a reload, a network change)
        rows = await rows_of(server, case_id, audit, settled(2))
        assert sorted((r["kind"], r["state"]) for r in rows) == [("audio", "complete"), ("video", "complete")]
        second = Side(citizen, case_id)
        assert (await second.offer())["ok"] is True
        await second.connected()
        await asyncio.sleep(2.0)
        assert (await clerk.call("end_case", {"case_id": case_id, "outcome": "resolved", "notes": ""}))["ok"]
        rows = await rows_of(server, case_id, audit, settled(4))
        assert sorted((r["kind"], r["state"]) for r in rows) == [
            ("audio", "complete"),
            ("audio", "complete"),
            ("video", "complete"),
            ("video", "complete"),
        ]
        # In order, the second segment after the first; both play.
        videos = [r for r in rows if r["kind"] == "video"]
        assert videos[0]["ended_at"] <= videos[1]["started_at"]
        media = server.services.media
        assert media is not None
        for row in videos:
            found = await media.get(row["recording_id"])
            assert found is not None
            frames, _, _, _ = await asyncio.to_thread(decoded, Path(found["path"]))
            assert frames == row["frames"] > 30
    finally:
        await first.close()
        if second is not None:
            await second.close()
