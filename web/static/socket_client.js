// @ts-check
// What the pages' protocol clients (citizen_client.js, clerk_client.js) share: one Socket.IO connection whose server
// events become events of this object (an EventTarget, with the payload as `detail`), requests that wait for the
// server's acknowledgement, and the connection's state as a "connection" event.

import { ack } from "./common.js";

/**
 * The connection as a page shows it: "online" (`again` after a drop); "lost" (Socket.IO is trying again); "moving"
 * (the server is shutting down and the connection moves to another); "refused" with the server's error, or `replaced`
 * by a newer connection of the same citizen.
 * @typedef {{state: "online" | "lost" | "moving" | "refused", again?: boolean,
 *   error?: import("./common.js").ErrorInfo, replaced?: boolean}} Connection
 */

export const RETRY_MS = 2000; // a busy server refused us: try again after this (plus up to as much again)

/**
 * @template {{connection: Connection}} Events  each event the page hears, with its payload
 */
export class SocketClient extends EventTarget {
  /**
   * @param {import("./common.js").Socket} socket
   * @param {string[]} serverEvents  the server's events the page hears, as they come (docs/protocol.md)
   */
  constructor(socket, serverEvents) {
    super();
    this.socket = socket;
    this.moving = false; // the server said it is shutting down: the next drop is a move, not a loss
    this.onceOnline = false;
    this.closed = false;
    for (const name of serverEvents) {
      socket.on(name, (/** @type {unknown} */ data) => this._fire(name, data));
    }
    socket.on("connect", () => {
      this.moving = false;
      this._fire("connection", { state: "online", again: this.onceOnline });
      this.onceOnline = true;
    });
    socket.on("disconnect", (/** @type {string} */ reason) => {
      if (!this.moving) this._fire("connection", { state: "lost" });
      if (reason === "io server disconnect" && this._mayReconnect()) socket.connect();
    });
    // The server is shutting down and closes us next: Socket.IO reconnects by itself (through the load balancer,
    // to another server) with our credentials, and the page keeps its place.
    socket.on("draining", () => {
      this.moving = true;
      this._fire("connection", { state: "moving" });
    });
  }

  /** Whether a connection the server closed should be made again (a subclass may say no). */
  _mayReconnect() {
    return !this.closed;
  }

  /** A busy server (a node taking over from one that shut down, a Redis blip): try again a little later. */
  _retrySoon() {
    this._fire("connection", { state: "lost" });
    setTimeout(() => {
      if (!this.closed) this.socket.connect();
    }, RETRY_MS * (1 + Math.random()));
  }

  /**
   * Send a request and wait for its acknowledgement (`{"ok": true, ...}` or `{"ok": false, "error"}`).
   * @param {string} event
   * @param {object} payload
   */
  request(event, payload) {
    return ack(this.closed ? null : this.socket, event, payload);
  }

  /** The page is done with the connection (logged out): nothing more is heard or sent. */
  close() {
    this.closed = true;
    this.socket.removeAllListeners();
    this.socket.disconnect();
  }

  /**
   * @param {string} type
   * @param {unknown} detail
   */
  _fire(type, detail) {
    if (!this.closed) this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listen to one of the server's events, or to "connection", given its payload.
   * @template {keyof Events & string} K
   * @param {K} type
   * @param {(detail: Events[K]) => void} listener
   */
  on(type, listener) {
    this.addEventListener(type, (event) => listener(/** @type {CustomEvent<Events[K]>} */ (event).detail));
  }
}
