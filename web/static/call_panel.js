// @ts-check
// The call panel, the same on the kiosk and the console: the video stage (the other side large, their shared screen
// when there is one, ourselves small, a note in words whenever the video is not through), the call's state, the
// controls (microphone, camera, a second camera, volume, which picture is large, sharing our screen), sound only on
// a poor link, and our media to the server's recorder. The page decides when a call starts and ends, and what is
// asked before it (the citizen's consent); the panel holds the call (rtc.js) and shows it.

import { $ } from "./common.js";
import { t } from "./i18n.js";
import { LinkWatch } from "./quality.js";
import { recordCall, renderRecordingBadge } from "./recording.js";
import { caseCall, playStream, showSharedScreen, toggleShare } from "./rtc.js";

/**
 * @typedef {import("./rtc.js").Call} Call
 * @typedef {import("./recording.js").RecorderLink} RecorderLink
 * @typedef {(event: string, payload: object) => Promise<import("./common.js").Answer>} Emit
 *
 * @typedef {object} CallWords  the i18n keys that differ between the pages
 * @property {string} share  "share my screen"
 * @property {string} stopShare
 * @property {string} viewOther  show the other side large (while their screen is shared)
 * @property {string} poor  the link is poor: sound only is offered
 */

/** The panel's elements, by their ids in web/templates/_stage.html (the same on both pages). */
export function callElements() {
  return {
    stage: $("#stage"),
    remoteVideo: /** @type {HTMLVideoElement} */ ($("#remote-video")),
    remoteScreen: /** @type {HTMLVideoElement} */ ($("#remote-screen")),
    remoteScreenBox: $("#remote-screen-box"),
    localVideo: /** @type {HTMLVideoElement} */ ($("#local-video")),
    videoNote: $("#video-note"),
    sound: /** @type {HTMLButtonElement} */ ($("#enable-sound")),
    share: /** @type {HTMLButtonElement} */ ($("#share-screen")),
    recBadge: $("#rec-badge"),
    mute: /** @type {HTMLButtonElement} */ ($("#mute")),
    camera: /** @type {HTMLButtonElement} */ ($("#camera-toggle")),
    switchCamera: /** @type {HTMLButtonElement} */ ($("#switch-camera")),
    swap: /** @type {HTMLButtonElement} */ ($("#swap-view")),
    volume: /** @type {HTMLInputElement} */ ($("#volume")),
    linkNotice: $("#link-notice"),
    linkText: $("#link-text"),
    audioOnly: /** @type {HTMLButtonElement} */ ($("#audio-only")),
    videoAgain: /** @type {HTMLButtonElement} */ ($("#video-again")),
  };
}

/** @typedef {ReturnType<typeof callElements>} CallElements */

export class CallPanel {
  /**
   * @param {object} o
   * @param {CallElements} o.ui
   * @param {HTMLElement} o.mediaState  where the call's state is said in words
   * @param {boolean} o.polite  the citizen's side is polite (rtc.js's perfect negotiation)
   * @param {CallWords} o.words
   * @param {(text: string) => void} o.onError  a device or the browser refused something
   */
  constructor({ ui, mediaState, polite, words, onError }) {
    this.ui = ui;
    this.mediaStateEl = mediaState;
    this.polite = polite;
    this.words = words;
    this.onError = onError;
    /** @type {Call | null} */
    this.call = null;
    /** @type {RecorderLink | null} */
    this.recorder = null;
    this.mediaState = "new";
    this.muted = false; // our microphone is off: the other side hears silence
    this.cameraOff = false; // our camera is off: the other side sees black
    this.focusOther = false; // the other side large while their screen is shared
    this.linkPoor = false; // their video arrives poorly (LinkWatch): sound only is offered
    this.audioOnly = false; // sound only was chosen: no video either way
    /** @type {LinkWatch | null} */
    this.linkWatch = null;
    this._wire();
  }

  /** Our own camera and microphone as the call sends them (and the recorder), once open. */
  get local() {
    return this.call ? this.call.camera : null;
  }

  /**
   * Start the call of a case; `localMedia` resolves to our camera (or null: none, or refused).
   * @param {object} o
   * @param {string} o.caseId
   * @param {RTCIceServer[]} o.iceServers
   * @param {Promise<MediaStream | null>} o.localMedia
   * @param {Emit} o.emit
   * @returns {Call}
   */
  open({ caseId, iceServers, localMedia, emit }) {
    this.close();
    this.muted = this.cameraOff = this.focusOther = false;
    this.ui.switchCamera.hidden = true;
    const call = caseCall({
      caseId,
      polite: this.polite,
      iceServers,
      localMedia,
      emit,
      onState: (value) => {
        this.mediaState = value;
        this.render();
      },
      onCamera: (stream) => playStream(this.ui.remoteVideo, stream, this.ui.sound),
      onScreen: (stream) => this._showScreen(stream),
      onScreenEnded: () => this.render(),
    });
    this.call = call;
    localMedia.then((stream) => {
      if (this.call !== call || !stream) return;
      this.ui.localVideo.srcObject = stream;
      this._applyTracks();
      this._offerCameraSwitch();
    });
    this.linkWatch = new LinkWatch(
      () => (this.call ? this.call.pc : null),
      (poor) => {
        this.linkPoor = poor;
        this.render();
      },
    );
    this.render();
    return call;
  }

  /**
   * Send our media to the server's recorder too (the citizen agreed, or a reloaded page rejoins a recorded case).
   * @param {object} o
   * @param {string} o.caseId
   * @param {RTCIceServer[]} o.iceServers
   * @param {Promise<MediaStream | null>} o.localMedia
   * @param {Emit} o.emit
   */
  record({ caseId, iceServers, localMedia, emit }) {
    const call = this.call;
    if (!call || this.recorder) return;
    this.recorder = recordCall({
      call,
      caseId,
      iceServers,
      localMedia,
      emit,
      onChange: () => this.render(),
      current: (recorder) => this.recorder === recorder,
    });
    this.render();
  }

  /** The call is over: the connection, the recorder link and every picture go. */
  close() {
    if (this.linkWatch) this.linkWatch.close();
    this.linkWatch = null;
    if (this.call) this.call.close();
    this.call = null;
    if (this.recorder) this.recorder.close();
    this.recorder = null;
    this.linkPoor = this.audioOnly = false;
    this.mediaState = "new";
    this.ui.localVideo.srcObject = null;
    this.ui.remoteVideo.srcObject = null;
    this._showScreen(null);
    this.ui.sound.hidden = true;
    this.render();
  }

  /** The next person at a kiosk starts with the full volume. */
  resetVolume() {
    this.ui.volume.value = "100";
    this.ui.remoteVideo.volume = 1;
  }

  /** Everything the panel shows, from its state (also after a language change). */
  render() {
    const { ui, call } = this;
    const el = this.mediaStateEl;
    el.dataset.state = this.mediaState;
    el.textContent = t(`media.${this.mediaState}`);
    // Never a frozen picture without words: while the video is not through, it is dimmed and says why.
    const trouble = Boolean(call) && this.mediaState !== "connected";
    const note = trouble ? t(`media.${this.mediaState}`) : this.audioOnly ? t("link.audioNote") : "";
    ui.stage.dataset.media = trouble ? this.mediaState : this.audioOnly ? "audio" : "connected";
    ui.videoNote.hidden = !note;
    ui.videoNote.textContent = note;

    const sharing = Boolean(call && call.sharing);
    ui.share.disabled = !call || this.mediaState !== "connected";
    setToggle(ui.share, sharing, sharing ? this.words.stopShare : this.words.share);
    setToggle(ui.mute, this.muted, this.muted ? "call.unmute" : "call.mute");
    setToggle(ui.camera, this.cameraOff, this.cameraOff ? "call.cameraOn" : "call.cameraOff");
    setToggle(ui.swap, this.focusOther, this.focusOther ? "call.viewScreen" : this.words.viewOther);
    ui.stage.classList.toggle("focus-clerk", this.focusOther);

    const shown = Boolean(call) && (this.audioOnly || this.linkPoor);
    ui.linkNotice.hidden = !shown;
    ui.linkText.textContent = this.audioOnly ? t("link.audio") : shown ? t(this.words.poor) : "";
    ui.audioOnly.hidden = this.audioOnly;
    ui.videoAgain.hidden = !this.audioOnly;

    renderRecordingBadge(ui.recBadge, this.recorder);
  }

  /** @param {MediaStream | null} stream */
  _showScreen(stream) {
    const { ui } = this;
    showSharedScreen({ box: ui.remoteScreenBox, stage: ui.stage, video: ui.remoteScreen }, stream);
    ui.swap.hidden = !stream;
    if (!stream) this.focusOther = false;
    this.render();
  }

  /** Muting or turning the camera off sends silence or black: the connection and the recording go on. */
  _applyTracks() {
    const stream = this.local;
    if (!stream) return;
    for (const track of stream.getAudioTracks()) track.enabled = !this.muted;
    for (const track of stream.getVideoTracks()) track.enabled = !this.cameraOff;
  }

  /** A second (document) camera is offered once there is one. */
  async _offerCameraSwitch() {
    const devices = await navigator.mediaDevices.enumerateDevices().catch(() => []);
    this.ui.switchCamera.hidden = devices.filter((d) => d.kind === "videoinput").length < 2 || !this.local;
  }

  /** The next camera, without a new negotiation: the same sender (and the recorder's) gets the new track. */
  async _switchCamera() {
    const call = this.call;
    const stream = this.local;
    if (!call || !stream) return;
    const old = stream.getVideoTracks()[0];
    const cameras = (await navigator.mediaDevices.enumerateDevices()).filter((d) => d.kind === "videoinput");
    if (cameras.length < 2) return;
    const current = old ? old.getSettings().deviceId : undefined;
    const next = cameras[(cameras.findIndex((d) => d.deviceId === current) + 1) % cameras.length];
    this.ui.switchCamera.disabled = true;
    try {
      const fresh = (
        await navigator.mediaDevices.getUserMedia({
          video: { deviceId: { exact: next.deviceId }, width: { ideal: 640 }, height: { ideal: 480 } },
        })
      ).getVideoTracks()[0];
      if (this.call !== call) {
        fresh.stop();
        return;
      }
      fresh.enabled = !this.cameraOff;
      if (old) {
        await call.replaceTrack(old, fresh);
        if (this.recorder) await this.recorder.replaceTrack(old, fresh);
        stream.removeTrack(old);
        old.stop();
      }
      stream.addTrack(fresh);
      this.ui.localVideo.srcObject = stream;
    } catch (err) {
      this.onError(t("err.media", { msg: (err instanceof Error && err.message) || String(err) }));
    } finally {
      this.ui.switchCamera.disabled = false;
    }
  }

  _wire() {
    const { ui } = this;
    ui.mute.addEventListener("click", () => {
      this.muted = !this.muted;
      this._applyTracks();
      this.render();
    });
    ui.camera.addEventListener("click", () => {
      this.cameraOff = !this.cameraOff;
      this._applyTracks();
      this.render();
    });
    ui.switchCamera.addEventListener("click", () => this._switchCamera());
    ui.swap.addEventListener("click", () => {
      this.focusOther = !this.focusOther;
      this.render();
    });
    ui.volume.addEventListener("input", () => {
      ui.remoteVideo.volume = Number(ui.volume.value) / 100;
    });
    ui.share.addEventListener("click", async () => {
      if (!this.call) return;
      await toggleShare(this.call, ui.share, (msg) => this.onError(t("err.media", { msg })));
      this.render();
    });
    ui.audioOnly.addEventListener("click", () => {
      if (!this.call) return;
      this.audioOnly = true;
      this.call.setVideo(false);
      this.render();
    });
    ui.videoAgain.addEventListener("click", () => {
      if (!this.call) return;
      this.audioOnly = false;
      this.linkPoor = false; // judged afresh once the video flows again
      this.call.setVideo(true);
      this.render();
    });
  }
}

/**
 * A button that is on or off, with its words.
 * @param {HTMLElement} button
 * @param {boolean} pressed
 * @param {string} key
 */
function setToggle(button, pressed, key) {
  button.setAttribute("aria-pressed", String(pressed));
  button.textContent = t(key);
  button.dataset.i18n = key;
}
