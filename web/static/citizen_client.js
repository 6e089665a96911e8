// @ts-check
// The citizen's side of the /citizen protocol (docs/protocol.md): one Socket.IO connection, its resume token, its
// requests, and the server's events as events of this object (an EventTarget). The page (kiosk.js) knows its
// screens and words; this knows the protocol: how a dropped connection comes back with the resume token, what to do
// when the server is busy or the token has run out, and that a newer connection replaces this one.

import { session } from "./common.js";
import { SocketClient } from "./socket_client.js";

const RESUME_KEY = "rvw.resume";

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
 * @typedef {import("./socket_client.js").Connection} Connection
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

/** @extends {SocketClient<CitizenEvents>} */
export class CitizenClient extends SocketClient {
  /**
   * @param {object} o
   * @param {Record<string, string>} o.fresh  the auth of a new identity: {kiosk_token} or {channel: "web", region}
   * @param {string} o.identity  whose resume token this page keeps ("kiosk", or "web:<region>")
   */
  constructor({ fresh, identity }) {
    const resume = storedResume(identity);
    super(io("/citizen", { auth: resume ? { resume_token: resume } : { ...fresh } }), SERVER_EVENTS);
    this.fresh = fresh;
    this.identity = identity;
    this.resuming = Boolean(resume); // the connection presents a resume token
    this.replaced = false;
    const socket = this.socket;
    // Keep the new token (it works once); Socket.IO's own reconnection presents it.
    socket.on("session", (/** @type {{resume_token: string}} */ data) => {
      session.set(RESUME_KEY, JSON.stringify({ identity, token: data.resume_token }));
      socket.auth = { resume_token: data.resume_token };
      this.resuming = true;
    });
    socket.on("connect_error", (/** @type {Error & {data?: import("./common.js").ErrorInfo}} */ err) =>
      this._refused(err),
    );
    // One live connection per citizen: a newer one (another tab or device with our token) replaced this one.
    socket.on("replaced", () => {
      this.replaced = true;
      session.set(RESUME_KEY, null);
      this._fire("connection", { state: "refused", replaced: true });
    });
  }

  _mayReconnect() {
    return !this.replaced && !this.closed;
  }

  /** @param {Error & {data?: import("./common.js").ErrorInfo}} err */
  _refused(err) {
    const socket = this.socket;
    if (socket.active) {
      this._fire("connection", { state: "lost" }); // the transport failed: Socket.IO retries by itself
      return;
    }
    const error = err && err.data ? err.data : { code: "network", message: "" };
    if (this.resuming && (error.code === "unavailable" || error.code === "rate_limited")) {
      // Busy: keep the resume token, and with it our place in the queue, and try again.
      this._retrySoon();
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
}

/**
 * The resume token this page keeps for `identity`, if any.
 * @param {string} identity
 * @returns {string | null}
 */
function storedResume(identity) {
  try {
    const saved = JSON.parse(session.get(RESUME_KEY) || "null");
    return saved && saved.identity === identity ? saved.token : null;
  } catch {
    return null;
  }
}
