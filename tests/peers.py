"""Real aiortc peers that signal through the server's `signal` events, candidates trickled separately."""

from __future__ import annotations

import asyncio
from typing import Any

from aiortc import MediaStreamTrack, RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp

from tests.conftest import Client


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """The SDP without its candidate lines, and those candidates as browser-style objects."""
    lines, candidates = [], []
    mid: str | None = None
    index = -1
    for line in sdp.splitlines():
        if line.startswith("m="):
            index += 1
            mid = None
        if line.startswith("a=mid:"):
            mid = line[len("a=mid:") :]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index})
            continue
        if line.startswith("a=end-of-candidates"):
            continue
        lines.append(line)
    return "\r\n".join(lines) + "\r\n", candidates


class Peer:
    """One side of the call: an aiortc connection driven by signal events from ``client``."""

    def __init__(self, client: Client, case_id: str) -> None:
        self.client = client
        self.case_id = case_id
        self.pc = RTCPeerConnection()
        self.video_frames = 0
        self.audio_frames = 0
        self.tracks: list[MediaStreamTrack] = []
        self._readers: list[asyncio.Task[None]] = []
        self.pc.addTrack(VideoStreamTrack())
        self.pc.addTrack(AudioStreamTrack())

        @self.pc.on("track")
        def on_track(track: MediaStreamTrack) -> None:
            self.tracks.append(track)
            self._readers.append(asyncio.get_running_loop().create_task(self._read(track)))

    async def _read(self, track: MediaStreamTrack) -> None:
        try:
            while True:
                await track.recv()
                if track.kind == "video":
                    self.video_frames += 1
                else:
                    self.audio_frames += 1
        except Exception:
            return

    async def _send_description(self) -> None:
        desc = self.pc.localDescription
        sdp, candidates = split_candidates(desc.sdp)
        ack = await self.client.call(
            "signal", {"case_id": self.case_id, "description": {"type": desc.type, "sdp": sdp}}
        )
        assert ack == {"ok": True}, ack
        for cand in candidates:
            ack = await self.client.call("signal", {"case_id": self.case_id, "candidate": cand})
            assert ack == {"ok": True}, ack
        ack = await self.client.call("signal", {"case_id": self.case_id, "candidate": None})
        assert ack == {"ok": True}, ack

    async def offer(self) -> None:
        await self.pc.setLocalDescription(await self.pc.createOffer())
        await self._send_description()

    async def handle(self, message: dict[str, Any]) -> None:
        assert message["case_id"] == self.case_id
        if "description" in message:
            d = message["description"]
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=d["sdp"], type=d["type"]))
            if d["type"] == "offer":
                await self.pc.setLocalDescription(await self.pc.createAnswer())
                await self._send_description()
        elif message.get("candidate") is None:
            await self.pc.addIceCandidate(None)
        else:
            c = message["candidate"]
            cand = candidate_from_sdp(c["candidate"].split(":", 1)[1])
            cand.sdpMid = c.get("sdpMid")
            cand.sdpMLineIndex = c.get("sdpMLineIndex")
            await self.pc.addIceCandidate(cand)

    async def close(self) -> None:
        for t in self._readers:
            t.cancel()
        await asyncio.gather(*self._readers, return_exceptions=True)
        await self.pc.close()
