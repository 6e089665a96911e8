// @ts-check
// The citizen's side of the /citizen protocol (docs/protocol.md): one Socket.IO connection, its resume token, its
// requests, and the server's events as events of this object (an EventTarget). The page (kiosk.js) knows its
// screens and words; this knows the protocol: how a dropped connection comes back with the resume token, what to do
// when the server is busy or the token has run out, and that a newer connection replaces this one.

import { ack, session } from "./common.js";

const RESUME_KEY = "rvw.resume";
const RETRY_MS = 2000; // a busy server refused us: try again after this (plus up to as much again)

/** The server's events that the page hears, as they come (docs/protocol.md). */
const SERVER_EVENTS = [
  "session",
  "queue_update",
  "matched",
  "signal",
  "case_ended",
  "transferred",
  "requeued",
  "chat",
  "attachment",
  "clerk_away",
  "clerk_back",
];

/**
 * The connection as the page shows it: "online"; "lost" (Socket.IO is trying again); "moving" (the server is shutting
 * down and the connection moves to another); "refused" with the server's error, or `replaced` by a newer connection.
 * @typedef {{state: "online" | "lost" | "moving" | "refused", error?: import("./common.js").ErrorInfo,
 *   replaced?: boolean}} Connection
 *
 * @typedef {object} CitizenEvents  each event the page hears, with its payload
 * @property {import("../types/api").CitizenSession} session
 * @property {import("../types/api").QueueUpdate} queue_update
 * @property {import("../types/api").CitizenMatched} matched
 * @property {import("./rtc.js").Signal & {case_id: string}} signal
 * @property {import("../types/api").CaseEnded} case_ended
 * @property {import("../types/api").Transferred} transferred
 * @property {import("../types/api").Transferred} requeued
 * @property {import("../types/api").ChatLine} chat
 * @property {import("./documents.js").AttachmentEvent} attachment
 * @property {import("../types/api").ClerkAway} clerk_away
 * @property {{case_id: string}} clerk_back
 * @property {Connection} connection
 */

export class CitizenClient extends EventTarget {
  /**
   * @param {object} o
   * @param {Record<string, string>} o.fresh  the auth of a new identity: {kiosk_token} or {channel: "web", region}
   * @param {string} o.identity  whose resume token this page keeps ("kiosk", or "web:<region>")
   */
  constructor({ fresh, identity }) {
    super();
    this.fresh = fresh;
    this.identity = identity;
    const resume = this.storedResume();
    this.resuming = Boolean(resume); // the connection presents a resume token
    this.replaced = false;
    this.moving = false;
    /** @type {import("./common.js").Socket} */
    this.socket = io("/citizen", { auth: resume ? { resume_token: resume } : { ...fresh } });
    const socket = this.socket;
    for (const name of SERVER_EVENTS) {
      socket.on(name, (/** @type {unknown} */ data) => this._fire(name, data));
    }
    socket.on("connect", () => {
      this.moving = false;
      this._fire("connection", { state: "online" });
    });
    // Keep the new token (it works once); Socket.IO's own reconnection presents it.
    socket.on("session", (/** @type {{resume_token: string}} */ data) => {
      session.set(RESUME_KEY, JSON.stringify({ identity, token: data.resume_token }));
      socket.auth = { resume_token: data.resume_token };
      this.resuming = true;
    });
    socket.on("connect_error", (/** @type {Error & {data?: import("./common.js").ErrorInfo}} */ err) =>
      this._refused(err),
    );
    socket.on("disconnect", (/** @type {string} */ reason) => {
      if (!this.moving) this._fire("connection", { state: "lost" });
      if (reason === "io server disconnect" && !this.replaced) socket.connect();
    });
    // One live connection per citizen: a newer one (another tab or device with our token) replaced this one.
    socket.on("replaced", () => {
      this.replaced = true;
      session.set(RESUME_KEY, null);
      this._fire("connection", { state: "refused", replaced: true });
    });
    // The server is shutting down and closes us next: Socket.IO reconnects by itself (through the load balancer,
    // to another server) with our resume token, and we keep our place.
    socket.on("draining", () => {
      this.moving = true;
      this._fire("connection", { state: "moving" });
    });
  }

  /** @returns {string | null} */
  storedResume() {
    try {
      const saved = JSON.parse(session.get(RESUME_KEY) || "null");
      return saved && saved.identity === this.identity ? saved.token : null;
    } catch {
      return null;
    }
  }

  /** @param {Error & {data?: import("./common.js").ErrorInfo}} err */
  _refused(err) {
    const socket = this.socket;
    if (socket.active) {
      this._fire("connection", { state: "lost" }); // the transport failed: Socket.IO retries by itself
      return;
    }
    const error = err && err.data ? err.data : { code: "network" };
    if (this.resuming && (error.code === "unavailable" || error.code === "rate_limited")) {
      // Busy (a node taking over from one that shut down, a Redis blip): keep the resume token, and with it our
      // place in the queue, and try again.
      this._fire("connection", { state: "lost" });
      setTimeout(() => socket.connect(), RETRY_MS * (1 + Math.random()));
      return;
    }
    if (this.resuming) {
      // The resume token expired or is unknown: start afresh.
      this.resuming = false;
      session.set(RESUME_KEY, null);
      socket.auth = { ...this.fresh };
      socket.connect();
      return;
    }
    this._fire("connection", { state: "refused", error });
  }

  /** A new identity (the next person at a kiosk): the old resume token is dropped and a fresh connection made. */
  restart() {
    session.set(RESUME_KEY, null);
    this.resuming = false;
    this.socket.disconnect();
    this.socket.auth = { ...this.fresh };
    this.socket.connect();
  }

  /**
   * Send a request and wait for its acknowledgement (`{"ok": true, ...}` or `{"ok": false, "error"}`).
   * @param {string} event
   * @param {object} payload
   */
  request(event, payload) {
    return ack(this.socket, event, payload);
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  _fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listen to one of the server's events, or to "connection", given its payload.
   * @template {keyof CitizenEvents} K
   * @param {K} type
   * @param {(detail: CitizenEvents[K]) => void} listener
   */
  on(type, listener) {
    this.addEventListener(type, (event) => listener(/** @type {CustomEvent<CitizenEvents[K]>} */ (event).detail));
  }
}
