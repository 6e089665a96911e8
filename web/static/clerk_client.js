// @ts-check
// The clerk's side of the /clerk protocol (docs/protocol.md): one Socket.IO connection made with the log-in cookie,
// its requests, and the server's events as events of this object. The console (console.js) knows its panels and
// words; this knows the protocol: a dropped connection comes back by itself, a busy server is asked again, and an
// expired log-in ends the connection (the page asks to log in again).

import { SocketClient } from "./socket_client.js";

/** The server's events that the console hears, as they come (docs/protocol.md). */
const SERVER_EVENTS = [
  "session",
  "status",
  "offer",
  "offer_withdrawn",
  "matched",
  "signal",
  "case_ended",
  "consent",
  "chat",
  "attachment",
  "citizen_resumed",
];

/**
 * @typedef {object} ClerkEvents  each event the console hears, with its payload
 * @property {import("../types/api").ClerkSession} session
 * @property {{status: string, reason: string}} status
 * @property {import("../types/api").Offer} offer
 * @property {{ticket_id: string, reason: string}} offer_withdrawn
 * @property {import("../types/api").ClerkMatched} matched
 * @property {import("./rtc.js").Signal & {case_id: string}} signal
 * @property {import("../types/api").CaseEnded} case_ended
 * @property {import("../types/api").Consent} consent
 * @property {import("../types/api").ChatLine} chat
 * @property {import("./documents.js").AttachmentEvent} attachment
 * @property {{case_id: string}} citizen_resumed
 * @property {import("./socket_client.js").Connection} connection
 */

/** @extends {SocketClient<ClerkEvents>} */
export class ClerkClient extends SocketClient {
  constructor() {
    super(io("/clerk"), SERVER_EVENTS); // the session cookie is the credential
    this.socket.on("connect_error", (/** @type {Error & {data?: import("./common.js").ErrorInfo}} */ err) => {
      if (this.socket.active) {
        this._fire("connection", { state: "lost" }); // the transport failed: Socket.IO retries by itself
        return;
      }
      const error = err && err.data ? err.data : { code: "network", message: "" };
      if (error.code === "unavailable" || error.code === "rate_limited") {
        this._retrySoon();
        return;
      }
      // Refused for good (the log-in expired, the account was disabled): the page says so.
      this._fire("connection", { state: "refused", error });
      this.close();
    });
  }
}
