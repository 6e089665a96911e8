// @ts-check
// This side's media to the server's recorder (issue 8), beside the call itself.
//
// After the citizen agreed to recording, each side opens a second RTCPeerConnection to the
// server's recorder peer and sends it what it sends the other side: camera, microphone and, while
// sharing, the screen. The offer goes out with all its candidates (gathering finished), through
// `record_offer`; the ack carries the recorder's answer. Sharing a screen or stopping renegotiates
// the same connection; a connection that fails is rebuilt and offered again (the server starts
// new files: a new segment). VP8 and Opus are preferred: the recorder stores them without
// re-encoding.
//
// Events (CustomEvent, `detail`): state (the connection's state), refused ({code, message}: the
// server will not record, e.g. the citizen said no).

import { t } from "./i18n.js";

const GATHER_TIMEOUT_MS = 3000;
const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

/**
 * Resolve once the connection's candidates are all gathered (or after a few seconds).
 * @param {RTCPeerConnection} pc
 * @returns {Promise<void>}
 */
function gathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      if (pc.iceGatheringState !== "complete") return;
      pc.removeEventListener("icegatheringstatechange", done);
      clearTimeout(timer);
      resolve(undefined);
    };
    const timer = setTimeout(() => {
      pc.removeEventListener("icegatheringstatechange", done);
      resolve(undefined);
    }, GATHER_TIMEOUT_MS);
    pc.addEventListener("icegatheringstatechange", done);
  });
}

/**
 * Put `mime` first among a transceiver's codecs, when the browser lets us choose.
 * @param {RTCRtpTransceiver} transceiver
 * @param {string} kind  "audio" | "video"
 * @param {string} mime  lower case, e.g. "video/vp8"
 */
function prefer(transceiver, kind, mime) {
  const caps = typeof RTCRtpSender !== "undefined" && RTCRtpSender.getCapabilities && RTCRtpSender.getCapabilities(kind);
  if (!caps || !transceiver.setCodecPreferences) return;
  const first = caps.codecs.filter((c) => c.mimeType.toLowerCase() === mime);
  const rest = caps.codecs.filter((c) => c.mimeType.toLowerCase() !== mime);
  if (!first.length) return;
  try {
    transceiver.setCodecPreferences([...first, ...rest]);
  } catch {
    // an old browser: its own order then
  }
}

export class RecorderLink extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.caseId
   * @param {RTCIceServer[]} o.iceServers
   * @param {(event: string, payload: object) => Promise<import("./common.js").Answer>} o.emit  resolves to the ack
   */
  constructor({ caseId, iceServers, emit }) {
    super();
    this.caseId = caseId;
    this.iceServers = Array.isArray(iceServers) ? iceServers : [];
    this.emit = emit;
    /** @type {MediaStream | null} */
    this.camera = null;
    /** @type {MediaStream | null} */
    this.screen = null;
    /** @type {RTCPeerConnection | null} */
    this.pc = null;
    /** @type {RTCRtpSender | null} */
    this.screenSender = null;
    this.closed = false;
    /** @type {Promise<unknown>} */
    this.chain = Promise.resolve();
    this.failures = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retryTimer = undefined;
    this.state = "new";
  }

  /**
   * Start sending `camera` (the same stream the call sends).
   * @param {MediaStream | null} camera
   */
  start(camera) {
    this.camera = camera;
    this._queue(() => this._connect());
  }

  /**
   * A screen share started (a stream) or stopped (null): renegotiate.
   * @param {MediaStream | null} stream
   */
  setScreen(stream) {
    if (this.closed || stream === this.screen) return;
    this.screen = stream;
    this._queue(async () => {
      const pc = this.pc;
      if (!pc || pc.signalingState === "closed") return this._connect();
      if (this.screenSender) {
        try {
          pc.removeTrack(this.screenSender);
        } catch {
          // the connection is closing
        }
        this.screenSender = null;
      }
      if (stream) {
        const transceiver = pc.addTransceiver(stream.getVideoTracks()[0], { direction: "sendonly", streams: [stream] });
        prefer(transceiver, "video", "video/vp8");
        this.screenSender = transceiver.sender;
      }
      await this._offer(pc);
    });
  }

  /**
   * The camera switched: record `fresh` where `old` was.
   * @param {MediaStreamTrack} old
   * @param {MediaStreamTrack} fresh
   */
  async replaceTrack(old, fresh) {
    if (!this.pc) return;
    for (const sender of this.pc.getSenders()) if (sender.track === old) await sender.replaceTrack(fresh);
  }

  /** @param {() => Promise<void>} step */
  _queue(step) {
    this.chain = this.chain.then(step).catch((err) => console.warn("recorder:", err));
  }

  _build() {
    if (this.pc) this.pc.close();
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.pc = pc;
    this.screenSender = null;
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.pc || this.closed) return;
      this._setState(pc.connectionState);
      if (pc.connectionState === "connected") this.failures = 0;
      if (pc.connectionState === "failed") this._retry();
    });
    const camera = this.camera;
    const tracks = camera ? camera.getTracks() : [];
    // Audio first, then the camera, then the screen: the server names files by these sections.
    for (const kind of ["audio", "video"]) {
      for (const track of tracks.filter((t) => t.kind === kind)) {
        const transceiver = pc.addTransceiver(track, { direction: "sendonly", streams: camera ? [camera] : [] });
        prefer(transceiver, kind, kind === "audio" ? "audio/opus" : "video/vp8");
      }
    }
    if (this.screen) {
      const transceiver = pc.addTransceiver(this.screen.getVideoTracks()[0], {
        direction: "sendonly",
        streams: [this.screen],
      });
      prefer(transceiver, "video", "video/vp8");
      this.screenSender = transceiver.sender;
    }
    return pc;
  }

  async _connect() {
    if (this.closed) return;
    if (!this.camera && !this.screen) return; // nothing to record from this side
    await this._offer(this._build());
  }

  /** @param {RTCPeerConnection} pc */
  async _offer(pc) {
    if (this.closed || pc !== this.pc) return;
    await pc.setLocalDescription();
    await gathered(pc);
    if (this.closed || pc !== this.pc) return;
    const local = pc.localDescription;
    if (!local) return;
    const screens = pc
      .getTransceivers()
      .filter((tr) => this.screenSender && tr.sender === this.screenSender && tr.mid)
      .map((tr) => tr.mid);
    const answer = await this.emit("record_offer", {
      case_id: this.caseId,
      description: { type: local.type, sdp: local.sdp },
      screens,
    });
    if (this.closed || pc !== this.pc) return;
    if (!answer || !answer.ok) {
      const error = (answer && answer.error) || { code: "unavailable", message: "no answer" };
      if (error.code === "unavailable") {
        this._retry();
      } else {
        this._setState("refused");
        this.dispatchEvent(new CustomEvent("refused", { detail: error }));
        this.pc = null;
        pc.close();
      }
      return;
    }
    await pc.setRemoteDescription(answer.description);
  }

  /** Rebuild and offer again after a pause that grows with each failure in a row. */
  _retry() {
    if (this.closed || this.retryTimer) return;
    const pause = RETRY_MS[Math.min(this.failures, RETRY_MS.length - 1)];
    this.failures += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this._queue(() => this._connect());
    }, pause);
  }

  /** @param {string} state */
  _setState(state) {
    if (state === this.state) return;
    this.state = state;
    this.dispatchEvent(new CustomEvent("state", { detail: state }));
  }

  /** Stop sending to the recorder (the call ended). Safe to call twice. */
  close() {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.retryTimer);
    if (this.pc) this.pc.close();
    this.pc = null;
    this._setState("closed");
  }
}

/**
 * Start recording a call's side: a RecorderLink that sends the call's camera (once `localMedia`
 * resolves) and follows its screen share. `onChange` is called on every change of the link's state.
 * `current()` tells whether this link is still the page's (a late camera must not start an old one).
 * @param {object} o
 * @param {import("./rtc.js").Call} o.call
 * @param {string} o.caseId
 * @param {RTCIceServer[]} o.iceServers
 * @param {(event: string, payload: object) => Promise<import("./common.js").Answer>} o.emit
 * @param {Promise<MediaStream | null>} o.localMedia
 * @param {(event: Event) => void} o.onChange
 * @param {(recorder: RecorderLink) => boolean} o.current
 */
export function recordCall({ call, caseId, iceServers, emit, localMedia, onChange, current }) {
  const recorder = new RecorderLink({ caseId, iceServers, emit });
  recorder.addEventListener("state", onChange);
  recorder.addEventListener("refused", onChange);
  call.on("localscreen", (stream) => recorder.setScreen(stream));
  if (call.screen) recorder.screen = call.screen.stream; // sharing already
  localMedia.then((stream) => {
    if (current(recorder)) recorder.start(stream);
  });
  return recorder;
}

/**
 * The "recording" badge of a page: shown while the link is connected, or reconnecting after a failure.
 * @param {HTMLElement} badge
 * @param {RecorderLink | null} recorder
 */
export function renderRecordingBadge(badge, recorder) {
  const state = recorder ? recorder.state : "none";
  const key = state === "connected" ? "rec.on" : state === "failed" ? "rec.retry" : null;
  badge.hidden = !key;
  badge.textContent = key ? t(key) : "";
  badge.dataset.state = state;
}
