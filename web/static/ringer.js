// @ts-check
// The console's ring: while an offer waits for the clerk, a two-tone chime every two seconds (Web Audio, no sound
// file), and a browser notification per offer when the clerk allowed them (so an offer is noticed from another
// window). The clerk can switch the sound off; the setting is kept in this browser.

const RING_EVERY_MS = 2000;
const SOUND_KEY = "rvw.ring";

export class Ringer {
  constructor() {
    /** @type {AudioContext | null} */
    this.context = null;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    this.chimes = 0; // how many chimes were played (shown to tests through rvwDebug)
    /** @type {string | null} */
    let saved;
    try {
      saved = localStorage.getItem(SOUND_KEY);
    } catch {
      saved = null; // storage refused: the sound is on
    }
    this.sound = saved !== "off";
  }

  get ringing() {
    return this.timer !== undefined;
  }

  /**
   * Ask once, from a press of the clerk's (a browser asks only then), whether offers may show as notifications.
   */
  askForNotifications() {
    if ("Notification" in window && Notification.permission === "default") {
      Notification.requestPermission().catch(() => {});
    }
    // A press also lets the page make sound.
    if (this.sound) this.audio();
  }

  /** @param {boolean} on */
  setSound(on) {
    this.sound = on;
    try {
      localStorage.setItem(SOUND_KEY, on ? "on" : "off");
    } catch {
      // storage refused: for this page only
    }
    if (!on) this.stop();
  }

  /** @returns {AudioContext | null} */
  audio() {
    if (!this.context && "AudioContext" in window) this.context = new AudioContext();
    if (this.context && this.context.state === "suspended") this.context.resume().catch(() => {});
    return this.context;
  }

  /** Ring until stop(): at once, then every two seconds. */
  start() {
    if (this.timer !== undefined || !this.sound) return;
    this.chime();
    this.timer = setInterval(() => this.chime(), RING_EVERY_MS);
  }

  stop() {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  chime() {
    const context = this.audio();
    if (!context) return;
    const at = context.currentTime;
    for (const [i, frequency] of [880, 660].entries()) {
      const tone = context.createOscillator();
      const gain = context.createGain();
      tone.frequency.value = frequency;
      gain.gain.setValueAtTime(0.0001, at + i * 0.25);
      gain.gain.exponentialRampToValueAtTime(0.3, at + i * 0.25 + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, at + i * 0.25 + 0.22);
      tone.connect(gain).connect(context.destination);
      tone.start(at + i * 0.25);
      tone.stop(at + i * 0.25 + 0.24);
    }
    this.chimes += 1;
  }

  /**
   * A notification for one offer, when allowed; clicking it brings the console forward.
   * @param {string} title
   * @param {string} body
   * @param {string} tag one per offer: a repeated offer replaces its notification
   * @returns {Notification | null}
   */
  notify(title, body, tag) {
    if (!("Notification" in window) || Notification.permission !== "granted") return null;
    try {
      const shown = new Notification(title, { body, tag, requireInteraction: true });
      shown.addEventListener("click", () => {
        window.focus();
        shown.close();
      });
      return shown;
    } catch {
      return null; // some browsers allow notifications only from a service worker
    }
  }
}
