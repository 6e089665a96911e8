// @ts-check
// Watching how well the clerk's video reaches the citizen, so that on a poor link the page can offer sound only:
// every two seconds the call's statistics give the video received (bits per second, frames per second, packets
// lost) and the bandwidth the connection estimates for sending. Three poor samples in a row make the link "poor",
// three good ones make it good again (one bad second is not worth a question to the citizen).

const EVERY_MS = 2000;
const IN_A_ROW = 3;
const POOR_KBPS = 120; // below this a 640x480 picture is a slideshow
const POOR_FPS = 6;
const POOR_LOSS = 0.1; // a tenth of the video packets lost

/** @typedef {{kbps: number, fps: number, loss: number, sendKbps: number | null}} LinkSample */

export class LinkWatch {
  /**
   * @param {() => RTCPeerConnection | null} connection the call's current connection
   * @param {(poor: boolean, sample: LinkSample) => void} onChange called when the link turns poor or good again
   */
  constructor(connection, onChange) {
    this.connection = connection;
    this.onChange = onChange;
    this.poor = false;
    this.streak = 0; // samples in a row that disagree with `poor`
    /** @type {{pc: RTCPeerConnection, bytes: number, packets: number, lost: number, at: number} | null} */
    this.last = null;
    /** @type {LinkSample | null} */
    this.sample = null;
    this.timer = setInterval(() => this.check(), EVERY_MS);
  }

  async check() {
    const pc = this.connection();
    if (!pc || pc.connectionState !== "connected") {
      this.last = null;
      return;
    }
    const report = await pc.getStats();
    let bytes = 0;
    let packets = 0;
    let lost = 0;
    let fps = 0;
    /** @type {number | null} */
    let sendKbps = null;
    report.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") {
        bytes += s.bytesReceived || 0;
        packets += s.packetsReceived || 0;
        lost += Math.max(0, s.packetsLost || 0);
        fps = Math.max(fps, s.framesPerSecond || 0);
      } else if (s.type === "candidate-pair" && s.nominated && s.state === "succeeded") {
        if (typeof s.availableOutgoingBitrate === "number") sendKbps = s.availableOutgoingBitrate / 1000;
      }
    });
    const now = performance.now();
    const last = this.last;
    this.last = { pc, bytes, packets, lost, at: now };
    if (!last || last.pc !== pc || packets < last.packets) return; // a new connection: start again
    const seconds = (now - last.at) / 1000;
    const got = packets - last.packets;
    if (got === 0) return; // no video coming (none sent, or sound only): nothing to judge
    const missing = lost - last.lost;
    const sample = {
      kbps: ((bytes - last.bytes) * 8) / 1000 / seconds,
      fps,
      loss: got + missing > 0 ? missing / (got + missing) : 0,
      sendKbps,
    };
    this.sample = sample;
    const poor =
      sample.kbps < POOR_KBPS ||
      sample.fps < POOR_FPS ||
      sample.loss > POOR_LOSS ||
      (sendKbps !== null && sendKbps < POOR_KBPS);
    if (poor === this.poor) {
      this.streak = 0;
      return;
    }
    this.streak += 1;
    if (this.streak < IN_A_ROW) return;
    this.poor = poor;
    this.streak = 0;
    this.onChange(poor, sample);
  }

  close() {
    clearInterval(this.timer);
  }
}
