// @ts-check
// The camera and microphone check before a citizen joins the queue: which of the two works, and if one does not,
// why (refused, not there, or unusable), so that the page can say what to do instead of leaving a dead end; and a
// level meter that shows the microphone hears the citizen.

/**
 * "ok"; "denied": the browser or the person refused it; "missing": none connected; "unusable": there, but it
 * cannot be opened (another program holds it, or it is broken); "unsupported": this browser cannot use media.
 * @typedef {"ok" | "denied" | "missing" | "unusable" | "unsupported"} DeviceState
 * @typedef {{camera: DeviceState, mic: DeviceState, stream: MediaStream | null}} DeviceCheck
 */

/**
 * @param {unknown} err what getUserMedia threw
 * @returns {DeviceState}
 */
function why(err) {
  const name = err && typeof err === "object" && "name" in err ? String(err.name) : "";
  if (name === "NotAllowedError" || name === "SecurityError") return "denied";
  if (name === "NotFoundError" || name === "OverconstrainedError") return "missing";
  return "unusable";
}

/**
 * Open the camera and the microphone, together if both work, else each alone to find out which does not.
 * The stream (or null) is the caller's to stop.
 * @returns {Promise<DeviceCheck>}
 */
export async function checkDevices() {
  const media = navigator.mediaDevices;
  if (!media || !media.getUserMedia) return { camera: "unsupported", mic: "unsupported", stream: null };
  try {
    const stream = await media.getUserMedia({ audio: true, video: { width: { ideal: 640 }, height: { ideal: 480 } } });
    return { camera: "ok", mic: "ok", stream };
  } catch {
    // One of the two may still work.
  }
  /** @type {MediaStream | null} */
  let stream = null;
  /** @type {DeviceState} */
  let mic = "ok";
  /** @type {DeviceState} */
  let camera = "ok";
  try {
    stream = await media.getUserMedia({ audio: true });
  } catch (err) {
    mic = why(err);
  }
  try {
    const video = await media.getUserMedia({ video: true });
    if (stream) for (const track of video.getVideoTracks()) stream.addTrack(track);
    else stream = video;
  } catch (err) {
    camera = why(err);
  }
  return { camera, mic, stream };
}

/** Stop every track of a stream (the check's camera is let go before the call opens its own). */
export function release(/** @type {MediaStream | null} */ stream) {
  if (stream) for (const track of stream.getTracks()) track.stop();
}

/** A <meter> that follows the loudness of a stream's sound, and remembers whether it ever heard something. */
export class MicMeter {
  /**
   * @param {MediaStream} stream
   * @param {HTMLMeterElement} meter
   */
  constructor(stream, meter) {
    this.meter = meter;
    this.heard = false;
    this.context = new AudioContext();
    this.context.resume().catch(() => {}); // reached by a press, so the page may start sound
    this.analyser = this.context.createAnalyser();
    this.analyser.fftSize = 1024;
    this.context.createMediaStreamSource(stream).connect(this.analyser);
    this.samples = new Float32Array(this.analyser.fftSize);
    /** @type {number | null} */
    this.frame = null;
    this.tick = this.tick.bind(this);
    this.frame = requestAnimationFrame(this.tick);
  }

  tick() {
    this.analyser.getFloatTimeDomainData(this.samples);
    let sum = 0;
    for (const s of this.samples) sum += s * s;
    const level = Math.min(1, Math.sqrt(sum / this.samples.length) * 4); // speech at arm's length fills about half
    this.meter.value = level;
    if (level > 0.02) {
      this.heard = true;
      this.meter.dataset.heard = "true";
    }
    this.frame = requestAnimationFrame(this.tick);
  }

  close() {
    if (this.frame !== null) cancelAnimationFrame(this.frame);
    this.frame = null;
    this.meter.value = 0;
    delete this.meter.dataset.heard;
    this.context.close().catch(() => {});
  }
}
