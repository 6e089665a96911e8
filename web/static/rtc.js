// @ts-check
// One WebRTC call between a clerk and a citizen, with "perfect negotiation".
//
// The clerk is the impolite peer and opens the negotiation: it adds its camera and
// microphone and offers. The citizen is the polite peer and never offers first: when the
// first offer arrives it puts its own camera and microphone on the offered transceivers
// (replaceTrack, direction "sendrecv") and answers. After that either side may
// renegotiate, e.g. to add a screen-share video track; on an offer collision the polite
// side rolls back and the impolite side ignores the other's offer.
//
// Events (CustomEvent, payload in `detail`):
//   state         the RTCPeerConnection's connectionState
//   remotecamera  the remote camera/microphone MediaStream
//   remotescreen  the remote screen-share MediaStream, or null when it stops
//   screenended   our own screen share stopped (e.g. from the browser's "stop sharing")
//   localscreen   our own screen share's stream when it starts, null when it stops (for the recorder)
//   recovery      the clerk's side acts on a media path in trouble: "ice-restart", then "rebuild"
//   error         an Error worth logging
//
// Recovery (the impolite side, the clerk, drives it; the citizen's side answers): a connection "disconnected" for
// ICE_RESTART_AFTER_MS, or "failed", gets an ICE restart (new candidates, the same connection and tracks); one still
// not connected REBUILD_AFTER_MS after the trouble began is replaced by a new connection and a new offer.

const ICE_RESTART_AFTER_MS = 2000;
const REBUILD_AFTER_MS = 10000;

/**
 * @typedef {import("./common.js").Answer} Answer
 * @typedef {{description?: RTCSessionDescriptionInit, candidate?: RTCIceCandidateInit | null}} Signal
 *   what goes between the two sides in `signal` (the case_id aside)
 * @typedef {{state: RTCPeerConnectionState, remotecamera: MediaStream, remotescreen: MediaStream | null,
 *   screenended: null, localscreen: MediaStream | null, recovery: "ice-restart" | "rebuild", error: unknown}} CallEvents
 *   a Call's events and their payloads
 */

/** Camera and microphone, falling back to one of them; null when neither can be opened. */
export async function openCamera() {
  const devices = navigator.mediaDevices;
  if (!devices || !devices.getUserMedia) return null;
  const attempts = [
    { audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } },
    { video: true },
    { audio: true },
  ];
  for (const constraints of attempts) {
    try {
      return await devices.getUserMedia(constraints);
    } catch (err) {
      console.warn("getUserMedia failed", constraints, err);
    }
  }
  return null;
}

/** @param {string | undefined} sdp */
function fingerprint(sdp) {
  const match = /^a=fingerprint:.*$/m.exec(sdp || "");
  return match ? match[0].trim() : "";
}

export class Call extends EventTarget {
  /**
   * @param {object} o
   * @param {string} o.caseId
   * @param {boolean} o.polite     true for the citizen
   * @param {RTCIceServer[]} o.iceServers   from the `matched` event
   * @param {(payload: Signal) => Promise<Answer>} o.send   sends a signal (without case_id), resolves to the ack
   * @param {Promise<MediaStream|null>} o.localMedia
   */
  constructor({ caseId, polite, iceServers, send, localMedia }) {
    super();
    this.caseId = caseId;
    this.polite = polite;
    this.iceServers = Array.isArray(iceServers) ? iceServers : [];
    this.sendSignal = send;
    this.localMedia = Promise.resolve(localMedia).catch(() => null);
    /** @type {MediaStream | null} */
    this.camera = null; // our camera stream once known
    /** @type {{stream: MediaStream, sender: RTCRtpSender | null} | null} */
    this.screen = null;
    this.closed = false;
    /** @type {Promise<void>} */
    this.chain = Promise.resolve();
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.restartTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.rebuildTimer = undefined;
    this.recoveries = { "ice-restart": 0, rebuild: 0 }; // how often each step was taken (shown to tests)
    this.videoOn = true; // false: sound only (a poor link); the camera's video goes neither way
    // The state of one connection: _build() sets it afresh.
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.answerPending = false;
    this.negotiated = false;
    /** @type {string | null} */
    this.remoteCameraId = null;
    /** @type {string | null} */
    this.remoteScreenId = null;
    this.remoteCamera = new MediaStream();
    this.pc = this._build();
  }

  // ---- the peer connection ---------------------------------------------

  /** A new RTCPeerConnection, to become `this.pc`: the events of an older one are ignored. */
  _build() {
    const pc = new RTCPeerConnection({ iceServers: this.iceServers });
    this.makingOffer = false;
    this.ignoreOffer = false;
    this.answerPending = false;
    this.negotiated = false;
    this.remoteCameraId = null;
    this.remoteScreenId = null;
    this.remoteCamera = new MediaStream();
    pc.addEventListener("negotiationneeded", () => this._negotiate(pc));
    pc.addEventListener("icecandidate", (e) => {
      if (pc !== this.pc || this.closed) return;
      this._send({ candidate: e.candidate ? e.candidate.toJSON() : null });
    });
    pc.addEventListener("track", (e) => this._onTrack(pc, e));
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== this.pc || this.closed) return;
      this._fire("state", pc.connectionState);
      this._watch();
    });
    return pc;
  }

  /** The impolite side starts: camera tracks (or receive-only transceivers) → negotiationneeded → offer. */
  async start() {
    this.camera = await this.localMedia;
    if (this.closed || this.polite) return;
    this._addOwnTracks();
  }

  _addOwnTracks() {
    const pc = this.pc;
    const kinds = new Set();
    if (this.camera) {
      for (const track of this.camera.getTracks()) {
        pc.addTrack(track, this.camera);
        kinds.add(track.kind);
      }
    }
    // Without a camera or microphone we still want to receive the other side's.
    for (const kind of ["audio", "video"]) {
      if (!kinds.has(kind)) pc.addTransceiver(kind, { direction: "recvonly" });
    }
    if (this.screen) {
      this.screen.sender = pc.addTrack(this.screen.stream.getVideoTracks()[0], this.screen.stream);
    }
  }

  /** @param {RTCPeerConnection} pc */
  async _negotiate(pc) {
    if (pc !== this.pc || this.closed) return;
    // The citizen never opens the negotiation; once the first offer is answered it may renegotiate.
    if (this.polite && !this.negotiated) return;
    try {
      this.makingOffer = true;
      await pc.setLocalDescription();
      if (pc === this.pc && pc.localDescription) await this._send({ description: pc.localDescription.toJSON() });
    } catch (err) {
      this._fire("error", err);
    } finally {
      this.makingOffer = false;
    }
  }

  /**
   * Handle a `signal` message from the other side (in arrival order).
   * @param {Signal} message
   */
  handle(message) {
    this.chain = this.chain
      .then(() => this._handle(message))
      .catch((err) => this._fire("error", err));
    return this.chain;
  }

  /** @param {Signal} message */
  async _handle({ description, candidate }) {
    if (this.closed) return;
    if (description) {
      if (description.type === "offer" && this.polite && this._fromNewPeer(description)) {
        // The clerk's page was reloaded: its new connection cannot continue our old one.
        this._rebuild();
      }
      const pc = this.pc;
      const readyForOffer = !this.makingOffer && (pc.signalingState === "stable" || this.answerPending);
      const collision = description.type === "offer" && !readyForOffer;
      this.ignoreOffer = !this.polite && collision;
      if (this.ignoreOffer) return;
      this.answerPending = description.type === "answer";
      await pc.setRemoteDescription(description); // the polite side rolls back implicitly
      this.answerPending = false;
      this.negotiated = true;
      if (description.type === "offer") {
        await this._attachCamera(pc);
        if (pc !== this.pc || this.closed) return;
        await pc.setLocalDescription();
        if (pc.localDescription) await this._send({ description: pc.localDescription.toJSON() });
      }
    } else if (candidate !== undefined) {
      try {
        if (candidate === null) await this.pc.addIceCandidate();
        else await this.pc.addIceCandidate(candidate);
      } catch (err) {
        if (!this.ignoreOffer && candidate !== null) this._fire("error", err);
      }
    }
  }

  /** @param {RTCSessionDescriptionInit} offer */
  _fromNewPeer(offer) {
    const current = this.pc.remoteDescription;
    return Boolean(current && current.sdp && fingerprint(current.sdp) !== fingerprint(offer.sdp));
  }

  /**
   * Put our camera and microphone on the offered transceivers that carry nothing of ours yet.
   * @param {RTCPeerConnection} pc
   */
  async _attachCamera(pc) {
    const camera = await this.localMedia;
    this.camera = camera;
    if (!camera || pc !== this.pc) return;
    const sending = new Set(pc.getSenders().map((s) => s.track));
    const screenId = this.remoteScreenId;
    for (const track of camera.getTracks()) {
      if (sending.has(track)) continue;
      const transceiver = pc
        .getTransceivers()
        .find(
          (tr) =>
            tr.direction !== "stopped" &&
            tr.currentDirection !== "stopped" &&
            tr.mid !== null &&
            tr.receiver.track.kind === track.kind &&
            !tr.sender.track &&
            tr.mid !== screenId,
        );
      if (!transceiver) {
        pc.addTrack(track, camera); // a later renegotiation will carry it
        continue;
      }
      await transceiver.sender.replaceTrack(track);
      if (transceiver.sender.setStreams) transceiver.sender.setStreams(camera);
      transceiver.direction = "sendrecv";
    }
    if (!this.videoOn) this._applyVideo(pc); // sound only still holds on a rebuilt connection
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {RTCTrackEvent} event
   */
  _onTrack(pc, event) {
    if (pc !== this.pc) return;
    const track = event.track;
    const stream = event.streams[0];
    const camera = this.remoteCamera;
    const cameraVideo = camera.getVideoTracks().length > 0;
    // The camera (with its microphone) is the first stream to arrive; any other video is a shared screen.
    if ((stream && stream.id === this.remoteCameraId) || track.kind === "audio" || !cameraVideo) {
      if (stream && this.remoteCameraId === null) this.remoteCameraId = stream.id;
      if (!camera.getTrackById(track.id)) camera.addTrack(track);
      this._fire("remotecamera", camera);
      return;
    }
    this.remoteScreenId = event.transceiver ? event.transceiver.mid : null;
    const screen = new MediaStream([track]);
    const show = () => this._fire("remotescreen", screen);
    const hide = () => {
      if (this.pc === pc) this._fire("remotescreen", null);
    };
    track.addEventListener("mute", hide);
    track.addEventListener("unmute", show);
    track.addEventListener("ended", hide);
    if (stream) {
      stream.addEventListener("removetrack", (/** @type {MediaStreamTrackEvent} */ e) => {
        if (e.track === track) hide();
      });
    }
    show();
  }

  // ---- recovery ----------------------------------------------------------

  _watch() {
    const state = this.pc.connectionState;
    if (state === "connected") {
      clearTimeout(this.restartTimer);
      clearTimeout(this.rebuildTimer);
      this.restartTimer = this.rebuildTimer = undefined;
      return;
    }
    if (this.polite || (state !== "disconnected" && state !== "failed")) return;
    const pc = this.pc;
    if (!this.rebuildTimer) {
      this.rebuildTimer = setTimeout(() => {
        this.rebuildTimer = undefined;
        if (this.closed || this.pc.connectionState === "connected") return;
        this.recoveries.rebuild += 1;
        this._fire("recovery", "rebuild");
        this.restart();
      }, REBUILD_AFTER_MS);
    }
    // "failed" at once; "disconnected" may mend by itself within a moment.
    if (state === "failed") clearTimeout(this.restartTimer);
    else if (this.restartTimer) return;
    this.restartTimer = setTimeout(
      () => {
        this.restartTimer = undefined;
        if (this.closed || pc !== this.pc || pc.connectionState === "connected") return;
        this.recoveries["ice-restart"] += 1;
        this._fire("recovery", "ice-restart");
        pc.restartIce(); // negotiationneeded: a new offer with new ICE credentials
      },
      state === "failed" ? 0 : ICE_RESTART_AFTER_MS,
    );
  }

  /** A fresh connection and a fresh offer (impolite side), e.g. after the citizen's page was reloaded. */
  restart() {
    if (this.closed) return;
    this._rebuild();
    if (!this.polite) this._addOwnTracks();
  }

  _rebuild() {
    const old = this.pc;
    if (this.polite && this.screen) this._dropScreen();
    this.pc = this._build();
    try {
      old.close();
    } catch {
      // already closed
    }
    this._fire("remotescreen", null);
    this._fire("state", this.pc.connectionState);
  }

  /**
   * Sound only (on a poor link), or video again: the camera's video transceiver goes inactive (nothing sent or
   * received) or back to sendrecv. It renegotiates, and holds for a rebuilt connection too.
   * @param {boolean} on
   */
  setVideo(on) {
    this.videoOn = on;
    this._applyVideo(this.pc);
  }

  /** @param {RTCPeerConnection} pc */
  _applyVideo(pc) {
    const ours = this.camera ? this.camera.getVideoTracks() : [];
    for (const tr of pc.getTransceivers()) {
      if (tr.direction === "stopped" || tr.currentDirection === "stopped") continue;
      if (!tr.sender.track || !ours.includes(tr.sender.track)) continue;
      const want = this.videoOn ? "sendrecv" : "inactive";
      if (tr.direction !== want) tr.direction = want;
    }
  }

  /**
   * Send `fresh` where `old` was sent (the camera switched to another, e.g. a document camera): no renegotiation.
   * @param {MediaStreamTrack} old
   * @param {MediaStreamTrack} fresh
   */
  async replaceTrack(old, fresh) {
    for (const sender of this.pc.getSenders()) if (sender.track === old) await sender.replaceTrack(fresh);
  }

  // ---- screen sharing ------------------------------------------------------

  get sharing() {
    return Boolean(this.screen);
  }

  /** Share a screen as an extra video track (renegotiates). */
  async shareScreen() {
    if (this.screen || this.closed) return;
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: true, audio: false });
    const track = stream.getVideoTracks()[0];
    if (this.closed) {
      track.stop();
      return;
    }
    if ("contentHint" in track) track.contentHint = "detail";
    const sender = this.pc.addTrack(track, stream);
    this.screen = { stream, sender };
    track.addEventListener("ended", () => this.stopScreen());
    this._fire("localscreen", stream);
  }

  stopScreen() {
    if (!this.screen) return;
    const { sender } = this.screen;
    this._dropScreen();
    try {
      if (sender && this.pc.signalingState !== "closed") this.pc.removeTrack(sender);
    } catch (err) {
      this._fire("error", err);
    }
  }

  _dropScreen() {
    if (!this.screen) return;
    for (const track of this.screen.stream.getTracks()) track.stop();
    this.screen = null;
    this._fire("screenended", null);
    this._fire("localscreen", null);
  }

  // ---- the rest --------------------------------------------------------------

  /** @param {Signal} payload */
  async _send(payload) {
    try {
      const answer = await this.sendSignal(payload);
      if (answer && answer.ok === false) console.warn("signal refused", answer.error);
    } catch (err) {
      this._fire("error", err);
    }
  }

  /**
   * @template {keyof CallEvents} K
   * @param {K} type
   * @param {CallEvents[K]} detail
   */
  _fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listen to one of the call's events, given its payload (the CustomEvent's `detail`).
   * @template {keyof CallEvents} K
   * @param {K} type
   * @param {(detail: CallEvents[K]) => void} listener
   */
  on(type, listener) {
    this.addEventListener(type, (event) => listener(/** @type {CustomEvent<CallEvents[K]>} */ (event).detail));
  }

  /** Hang up the media; stops our screen share, and our camera unless `keepCamera`. */
  close({ keepCamera = false } = {}) {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.restartTimer);
    clearTimeout(this.rebuildTimer);
    if (this.screen) this._dropScreen();
    try {
      this.pc.close();
    } catch {
      // already closed
    }
    if (!keepCamera) {
      this.localMedia.then((stream) => {
        if (stream) for (const track of stream.getTracks()) track.stop();
      });
    }
  }
}

/**
 * Inbound video per track from getStats (for tests and the status line).
 * @param {RTCPeerConnection | null | undefined} pc
 */
export async function inboundVideo(pc) {
  if (!pc) return [];
  const report = await pc.getStats();
  /** @type {{mid: string, trackIdentifier: string, framesDecoded: number}[]} */
  const out = [];
  report.forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") {
      out.push({ mid: r.mid, trackIdentifier: r.trackIdentifier, framesDecoded: r.framesDecoded || 0 });
    }
  });
  return out;
}

/**
 * Play a remote stream in a <video>; if the browser blocks sound, play muted and offer a button.
 * @param {HTMLVideoElement} video
 * @param {MediaStream | null} stream
 * @param {HTMLElement} [soundButton]
 */
export function playStream(video, stream, soundButton) {
  if (video.srcObject !== stream) video.srcObject = stream;
  if (!stream) return;
  const attempt = video.play();
  if (attempt && attempt.catch) {
    attempt.catch(() => {
      if (video.muted) return;
      video.muted = true;
      video.play().catch(() => {});
      if (soundButton) {
        soundButton.hidden = false;
        soundButton.onclick = () => {
          video.muted = false;
          video.play().catch(() => {});
          soundButton.hidden = true;
        };
      }
    });
  }
}

/**
 * Show the other side's shared screen (or hide it when `stream` is null) in `box`,
 * switching the call stage to its two-video layout.
 * @param {{box: HTMLElement, stage: HTMLElement, video: HTMLVideoElement}} ui
 * @param {MediaStream | null} stream
 */
export function showSharedScreen({ box, stage, video }, stream) {
  box.hidden = !stream;
  stage.classList.toggle("with-screen", Boolean(stream));
  playStream(video, stream);
}

/**
 * The "share my screen" button: start sharing, or stop if already sharing.
 * Resolves once done; `onError` gets the reason the browser refused.
 * @param {Call} call
 * @param {HTMLButtonElement} button
 * @param {(reason: string) => void} onError
 */
export async function toggleShare(call, button, onError) {
  if (call.sharing) {
    call.stopScreen();
    return;
  }
  button.disabled = true;
  try {
    await call.shareScreen();
  } catch (err) {
    onError((err instanceof Error && err.message) || String(err));
  }
}

/**
 * A Call for one case, wired to the server: signals and media states go out through
 * `emit(event, payload)` (which resolves to the ack), the page hears about the rest.
 * @param {object} o
 * @param {string} o.caseId
 * @param {boolean} o.polite
 * @param {RTCIceServer[]} o.iceServers
 * @param {Promise<MediaStream | null>} o.localMedia
 * @param {(event: string, payload: object) => Promise<Answer>} o.emit
 * @param {(state: string) => void} o.onState
 * @param {(stream: MediaStream) => void} o.onCamera
 * @param {(stream: MediaStream | null) => void} o.onScreen
 * @param {() => void} o.onScreenEnded
 */
export function caseCall({ caseId, polite, iceServers, localMedia, emit, onState, onCamera, onScreen, onScreenEnded }) {
  const call = new Call({
    caseId,
    polite,
    iceServers,
    localMedia,
    send: (payload) => emit("signal", { case_id: caseId, ...payload }),
  });
  call.on("state", (state) => {
    onState(state);
    emit("media_state", { case_id: caseId, state }).then((answer) => {
      if (!answer.ok) console.warn("media_state refused", answer.error);
    });
  });
  call.on("remotecamera", onCamera);
  call.on("remotescreen", onScreen);
  call.on("screenended", () => onScreenEnded());
  call.on("error", (err) => console.warn("call:", err));
  onState("new");
  call.start();
  return call;
}
