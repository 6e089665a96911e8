// @ts-check
// The supervisor's wall: the citizens waiting (with their timers), clerks by status, the queues, today's
// service level against the goal with two charts, alerts with a beep, the 差评 (ratings 1-2) still to follow
// up, and the supervisor's actions.
//
// Shape (../shared/STYLE.md, "Pages are state machines over a protocol client"): a `SupervisorClient`
// owns the /supervisor socket and speaks in typed events; the page keeps one `state`, changes its
// connection phase only through `go(next)` (a transition table that throws), and draws everything in
// `render()`: on every push, every tick of the timers, every answer to an action and every language
// switch. Rows are kept by key (ticket, clerk, queue) and patched in place, so a select someone is
// using is not torn down by the next push.

import { $, ack, api, clock, duration, el, errorText, loginPanel, percent, say } from "./common.js";
import { localName, onChange, regionName, skillName, t } from "./i18n.js";

/**
 * @typedef {import("../types/api").Dashboard} Dashboard
 * @typedef {import("../types/api").Alert} Alert
 * @typedef {import("../types/api").Followup} Followup
 * @typedef {import("../types/api").Matter} Matter
 * @typedef {import("../types/api").WaitingEntry} WaitingEntry
 * @typedef {import("../types/api").QueueEntry} QueueEntry
 * @typedef {import("../types/api").WallClerk} WallClerk
 * @typedef {import("../types/api").Staffing} Staffing
 * @typedef {import("./common.js").ErrorInfo} ErrorInfo
 * @typedef {import("./common.js").Answer} Answer
 * @typedef {import("uplot")} UPlot
 * @typedef {"login" | "connecting" | "online" | "lost" | "refused"} Phase
 * @typedef {{conn: "online" | "lost", dashboard: Dashboard, alert: Alert, refused: ErrorInfo}} ClientEvents
 */

const STALE_MS = 5000; // no push for this long: the wall says its figures are old
const RETRY_MS = 2000; // a busy server refused the connection: try again after this (plus up to as much again)
const TICK_MS = 500; // the timers count up between pushes at this rate
const RECENT_ALERTS = 20; // the wall keeps this many of the server's "alert" events
const MUTE_KEY = "rvw.supervisor.muted";
const STATUS_ORDER = ["available", "offered", "busy", "wrap_up", "missed", "break", "offline"];
const SETTABLE = ["available", "break", "offline"]; // what a supervisor may set (set_clerk_status)
const CHART_HEIGHT = 220;
const CHINA_UTC_OFFSET_S = 8 * 3600;
const DAY_S = 86400;
const COLOURS = { line: "#0b4ea2", goal: "#b3261e", bar: "rgba(11, 78, 162, 0.35)" };
const FOLLOWUP_LIMIT = 1000; // GET /api/followups answers at most this many (the newest): the panel says so
const FOLLOWUP_REFRESH_MS = 60000; // the follow-ups panel reloads this often (and right after a close)
const FOLLOWUP_STATES = ["open", "contacted", "appealed", "closed"]; // a follow-up's `state` (docs/protocol.md)

// ---- the protocol client ----

/**
 * The wall's side of the /supervisor namespace (it connects with the session cookie), as an EventTarget.
 *
 * Events (CustomEvent, data in `detail`): `conn` ("online" | "lost"), `dashboard` (the view, once a
 * second), `alert` (pre_breach, breach or service_level), `refused` ({code, message}: the server will
 * not let this page in; "unauthorized" means log in again). Busy refusals ("unavailable",
 * "rate_limited") are retried here and only show as `conn` "lost".
 */
class SupervisorClient extends EventTarget {
  constructor(namespace = "/supervisor") {
    super();
    this.namespace = namespace;
    /** @type {import("./common.js").Socket | null} */
    this.socket = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.retry = undefined;
  }

  /**
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {ClientEvents[K]} detail
   */
  fire(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  /**
   * Listen to one of the client's events, given its payload (the CustomEvent's `detail`).
   * @template {keyof ClientEvents} K
   * @param {K} type
   * @param {(detail: ClientEvents[K]) => void} listener
   */
  on(type, listener) {
    this.addEventListener(type, (event) => listener(/** @type {CustomEvent<ClientEvents[K]>} */ (event).detail));
  }

  open() {
    this.close();
    const socket = io(this.namespace); // with the session cookie
    this.socket = socket;
    socket.on("connect", () => this.fire("conn", "online"));
    socket.on("disconnect", (reason) => {
      this.fire("conn", "lost");
      if (reason === "io server disconnect") socket.connect();
    });
    // The server is shutting down and closes the connection next: Socket.IO reconnects by itself
    // (through the load balancer, to another server) with the log-in.
    socket.on("draining", () => this.fire("conn", "lost"));
    socket.on("connect_error", (err) => {
      if (socket.active) {
        this.fire("conn", "lost");
        return;
      }
      /** @type {Partial<ErrorInfo>} */
      const data = ("data" in err && err.data) || {};
      if (data.code === "unavailable" || data.code === "rate_limited") {
        // Busy (a server taking over from one that shut down, a Redis blip): try again.
        this.fire("conn", "lost");
        clearTimeout(this.retry);
        this.retry = setTimeout(
          () => {
            if (this.socket === socket) socket.connect();
          },
          RETRY_MS * (1 + Math.random()),
        );
        return;
      }
      this.close();
      this.fire("refused", { code: data.code || "unavailable", message: data.message || "" });
    });
    socket.on("dashboard", (/** @type {Dashboard} */ data) => this.fire("dashboard", data));
    socket.on("alert", (/** @type {Alert} */ data) => this.fire("alert", data));
  }

  close() {
    clearTimeout(this.retry);
    if (this.socket) {
      this.socket.removeAllListeners();
      this.socket.disconnect();
      this.socket = null;
    }
  }

  /**
   * Set a clerk's status: resolves to the server's {ok, ...} or {ok: false, error: {code, message}}.
   * @param {string} clerkId
   * @param {string} status
   * @param {string} [note]
   */
  setClerkStatus(clerkId, status, note = "") {
    /** @type {{clerk_id: string, status: string, note?: string}} */
    const data = { clerk_id: clerkId, status };
    if (note) data.note = note;
    return ack(this.socket, "set_clerk_status", data);
  }

  /**
   * Move a waiting request to another queue; resolves like `setClerkStatus`.
   * @param {{ticketId: string, targetRegion: string, matterCode: string, note: string}} move
   */
  moveRequest({ ticketId, targetRegion, matterCode, note }) {
    return ack(this.socket, "move_request", {
      ticket_id: ticketId,
      target_region: targetRegion,
      matter_code: matterCode,
      note,
    });
  }

  /**
   * Close the 差评 follow-up of a case rated 1 or 2 with a note saying what was done; resolves like
   * `setClerkStatus` ("conflict": closed already or not a 差评; "not_found": outside this supervisor's provinces).
   * @param {string} caseId
   * @param {string} note
   */
  closeFollowup(caseId, note) {
    return ack(this.socket, "close_followup", { case_id: caseId, note });
  }
}

// ---- the page's state and its connection phases ----

/** @param {string} key */
function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage refused (private mode): not muted
  }
}

/**
 * The supervisor's actions this page offers: the /supervisor namespace's set_clerk_status and move_request
 * (signaling/namespaces.py). Turning one off hides its column and controls. (close_followup is the follow-ups
 * panel's only purpose: it is always offered.)
 */
const ACTIONS = { setClerkStatus: true, moveRequest: true };
const NOTICE_MS = 15000; // an action's outcome stays this long

/**
 * @typedef {object} State
 * @property {Phase} phase  see PHASES
 * @property {ErrorInfo | null} refusal  when the server would not let the wall in
 * @property {Dashboard | null} data  the last "dashboard" view
 * @property {number} receivedAt  performance.now() when it came: the timers count up from there
 * @property {Alert[]} recent  the last "alert" events, newest first
 * @property {boolean} muted
 * @property {Map<string, Matter>} matters  the catalog (GET /api/matters) by code
 * @property {Set<string>} clerkBusy  clerks whose status change is on its way
 * @property {{kind: "ok" | "error", text: () => string, until: number} | null} notice  after an action
 * @property {{ticketId: string, target: string, matter: string, note: string, busy: boolean,
 *   error: (() => string) | null} | null} move  the move form
 * @property {{cases: Followup[], more: boolean, overdue: number, at: number | null} | null} followups
 *   the open 差评 follow-ups once loaded (GET /api/followups?state=open); `at` in epoch seconds, server's clock
 * @property {(() => string) | null} followupsError  the last load failed (the list shown, if any, is the one before)
 * @property {{caseId: string, case: Followup, note: string, busy: boolean, error: (() => string) | null,
 *   invalid: boolean} | null} followup  the close form
 */
/** @type {State} */
const state = {
  phase: "login",
  refusal: null,
  data: null,
  receivedAt: 0,
  recent: [],
  muted: stored(MUTE_KEY) === "1",
  matters: new Map(),
  clerkBusy: new Set(),
  notice: null,
  move: null,
  followups: null,
  followupsError: null,
  followup: null,
};

/**
 * Connection phases; `go` refuses any other step. "login" is also where logging out leads.
 * @type {Record<Phase, Phase[]>}
 */
const PHASES = {
  login: ["connecting"],
  connecting: ["online", "lost", "refused", "login"],
  online: ["lost", "refused", "login"],
  lost: ["online", "refused", "login"],
  refused: ["connecting", "login"],
};

/** @param {Phase} next */
function go(next) {
  if (next === state.phase) return;
  if (!(PHASES[state.phase] || []).includes(next)) throw new Error(`wall: no way from ${state.phase} to ${next}`);
  state.phase = next;
  render();
}

const client = new SupervisorClient();
const login = loginPanel({ role: "supervisor", onReady: start });

client.on("conn", go);
client.on("dashboard", (data) => {
  state.data = data;
  state.receivedAt = performance.now();
  // Follow-ups read before any push: they were read about now on the server's clock.
  if (state.followups && state.followups.at === null) state.followups.at = data.at;
  render();
});
/**
 * An alert's identity: across a writer take-over the same alert may come twice (server/alerts.py).
 * @param {Alert} a
 */
function alertKey(a) {
  return `${a.kind}:${a.ticket_id || `${a.target_region}/${a.skill}`}:${a.at}`;
}

client.on("alert", (alert) => {
  if (state.recent.some((a) => alertKey(a) === alertKey(alert))) return;
  state.recent.unshift(alert);
  state.recent.length = Math.min(state.recent.length, RECENT_ALERTS);
  render();
  beep(alert.kind);
});
client.on("refused", (error) => {
  if (error.code === "unauthorized") {
    stop();
    login.expired();
    return;
  }
  state.refusal = error;
  go("refused");
});

/** @type {ReturnType<typeof setInterval> | undefined} */
let ticker;

/**
 * The follow-ups' loads: only the answer to the latest one is shown (`seq`).
 * @type {{seq: number, timer: ReturnType<typeof setInterval> | undefined}}
 */
const followupLoads = { seq: 0, timer: undefined };

function start() {
  state.refusal = null;
  state.notice = null;
  go("connecting");
  client.open();
  loadMatters();
  clearInterval(ticker);
  ticker = setInterval(render, TICK_MS); // the timers, and "stale" once the pushes stop
  loadFollowups();
  clearInterval(followupLoads.timer);
  followupLoads.timer = setInterval(loadFollowups, FOLLOWUP_REFRESH_MS);
}

function stop() {
  client.close();
  clearInterval(ticker);
  ticker = undefined;
  clearInterval(followupLoads.timer);
  followupLoads.timer = undefined;
  followupLoads.seq += 1; // an answer on its way is for the user who left
  state.move = null;
  state.followups = null;
  state.followupsError = null;
  state.followup = null;
  go("login");
}

async function loadMatters() {
  const { status, data } = await api("GET", "/api/matters");
  if (status === 200 && Array.isArray(data)) {
    state.matters = new Map(data.map((/** @type {Matter} */ m) => [m.code, m]));
    render();
  }
}

// ---- small helpers ----

/**
 * Text of a node, written only when it changed (no flicker, nothing re-read by screen readers).
 * @param {Node} node
 * @param {string | number | null | undefined} value  the dash when null or undefined
 */
function setText(node, value) {
  const text = value === null || value === undefined ? t("sup.none") : String(value);
  if (node.textContent !== text) node.textContent = text;
}

/**
 * `say` (common.js), but only when the message changed: a live region is not read out again every tick.
 * @param {HTMLElement} node
 * @param {string} text
 * @param {"error" | "info" | "ok"} [kind]
 */
function tell(node, text, kind = "info") {
  if (node.textContent === (text || "") && node.hidden === !text && (!text || node.dataset.kind === kind)) return;
  say(node, text, kind);
}

/**
 * @param {HTMLElement} node
 * @param {string} key
 * @param {string} value
 */
function setData(node, key, value) {
  if (node.dataset[key] !== value) node.dataset[key] = value;
}

/**
 * Keep `parent`'s children in the order of `items`, one per key: existing nodes are reused and
 * `update`d in place, new ones come from `make`, the rest are removed.
 * @template T
 * @param {HTMLElement} parent
 * @param {T[]} items
 * @param {(item: T) => string | number | undefined} keyOf
 * @param {(item: T) => HTMLElement} make
 * @param {(node: HTMLElement, item: T) => void} update
 */
function reconcile(parent, items, keyOf, make, update) {
  // Moving a node takes the focus off it: give it back (a status select whose row moved to another group).
  const active = document.activeElement;
  const focused = active instanceof HTMLElement && parent.contains(active) ? active : null;
  /** @type {Map<string | undefined, HTMLElement>} */
  const old = new Map();
  for (const node of parent.children) {
    if (node instanceof HTMLElement) old.set(node.dataset.key, node);
  }
  /** @type {HTMLElement | null} */
  let prev = null;
  for (const item of items) {
    const key = String(keyOf(item));
    let node = old.get(key);
    if (node) old.delete(key);
    else {
      node = make(item);
      node.dataset.key = key;
    }
    update(node, item);
    /** @type {Element | null} */
    const want = prev ? prev.nextElementSibling : parent.firstElementChild;
    if (node !== want) parent.insertBefore(node, want);
    prev = node;
  }
  for (const node of old.values()) node.remove();
  if (focused && focused.isConnected && document.activeElement !== focused) focused.focus({ preventScroll: true });
}

/**
 * Seconds since the last push: the timers count up by it from the push's figures. They are anchored to when
 * the push arrived, not to its `at`, so the browser's clock need not agree with the server's (nor with a
 * test's manual clock).
 */
function sincePush() {
  return state.data ? Math.max(0, (performance.now() - state.receivedAt) / 1000) : 0;
}

/**
 * "45 秒", "3 分 05 秒", "2 小时 07 分": a count-up that moves every second.
 * @param {number} seconds
 */
function elapsed(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return t("unit.s", { n: s });
  if (s < 3600) return t("sup.elapsed.ms", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
  return t("sup.elapsed.hm", { h: Math.floor(s / 3600), m: String(Math.floor(s / 60) % 60).padStart(2, "0") });
}

/**
 * "90%" or "82.5%": a goal or alert figure.
 * @param {number | null | undefined} value
 */
function pct(value) {
  return value === null || value === undefined ? t("sup.none") : `${+(value * 100).toFixed(1)}%`;
}

/**
 * ok, amber from prebreach_s, red from the SLA: the wall's words for a wait.
 * @param {number} waited
 * @param {Dashboard} d
 */
function waitLevel(waited, d) {
  if (waited >= d.sla_s) return "red";
  if (waited >= d.prebreach_s) return "amber";
  return "ok";
}

/**
 * @param {HTMLElement} node
 * @param {string} level
 */
function levelMark(node, level) {
  setData(node, "level", level);
  setText(node, level === "ok" ? "" : t(`sup.level.${level}`));
}

/** @param {string} status */
function statusName(status) {
  const key = `status.${status}`;
  const text = t(key);
  return text === key ? t(`sup.status.${status}`) : text;
}

/** @param {string} code */
function matterName(code) {
  const m = state.matters.get(code);
  return m ? localName(m.name) : code;
}

/** @param {number} at */
function startOfDay(at) {
  const local = at + CHINA_UTC_OFFSET_S;
  return local - (local % DAY_S) - CHINA_UTC_OFFSET_S;
}

/** @param {number} epochS */
function chinaTime(epochS) {
  const d = new Date((epochS + CHINA_UTC_OFFSET_S) * 1000);
  return d.toISOString().slice(11, 16);
}

/**
 * "2026-09-21 22:13" in China time, from an ISO 8601 time of the REST API (or epoch milliseconds).
 * @param {string | number} time
 */
function chinaDateTime(time) {
  const ms = typeof time === "number" ? time : Date.parse(time);
  if (!Number.isFinite(ms)) return t("sup.none");
  return new Date(ms + CHINA_UTC_OFFSET_S * 1000).toISOString().slice(0, 16).replace("T", " ");
}

// ---- alerts as they happen ("alert" events), with a short beep the supervisor can mute ----

/** @type {{ctx: AudioContext | null}} */
const sound = { ctx: null };

/** @param {Alert["kind"]} kind */
function beep(kind) {
  if (state.muted) return;
  try {
    const ctx = sound.ctx || new AudioContext();
    sound.ctx = ctx;
    if (ctx.state === "suspended") ctx.resume(); // allowed after any click on the page
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = kind === "breach" ? 880 : kind === "service_level" ? 520 : 660;
    gain.gain.setValueAtTime(0.2, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.3);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.3);
  } catch {
    // No audio (or not yet allowed): the list still shows the alert.
  }
}

$("#alert-mute").addEventListener("click", () => {
  state.muted = !state.muted;
  try {
    localStorage.setItem(MUTE_KEY, state.muted ? "1" : "0");
  } catch {
    // kept for this page only
  }
  render();
});

/** @param {Alert} a */
function eventLine(a) {
  const time = clock(Date.parse(a.at) / 1000);
  if (a.kind === "service_level") {
    return t("sup.slEventLine", {
      time,
      region: regionName(a.target_region),
      skill: skillName(a.skill),
      min: Math.round((a.window_s || 900) / 60),
      sl: pct(a.service_level),
      goal: pct(a.goal),
    });
  }
  return t("sup.eventLine", {
    time,
    kind: t(`sup.alert.${a.kind}`),
    ticket: a.ticket_id,
    region: regionName(a.target_region),
    skill: skillName(a.skill),
    s: Math.round(a.waited_s ?? 0),
  });
}

// ---- the whole page ----

const ui = {
  board: $("#board"),
  logout: $("#logout"),
  at: $("#board-at"),
  scope: $("#board-scope"),
  error: $("#board-error"),
  notice: $("#action-notice"),
  mute: $("#alert-mute"),
  events: $("#event-list"),
  noEvents: $("#no-events"),
  alertsTitle: $("#alerts-title"),
  alerts: $("#alert-list"),
  noAlerts: $("#no-alerts"),
  waiting: $("#waiting-rows"),
  waitingCount: $("#waiting-count"),
  noWaiting: $("#no-waiting"),
  waitingMore: $("#waiting-more"),
  waitingActions: $("#waiting-actions-head"),
  queues: $("#queue-rows"),
  noQueues: $("#no-queues"),
  queuesNote: $("#queues-note"),
  counts: $("#status-counts"),
  clerks: $("#clerk-rows"),
  noClerks: $("#no-clerks"),
  clerkActions: $("#clerk-actions-head"),
  slTitle: $("#chart-sl-title"),
  slChart: $("#chart-sl"),
  arrivalsChart: $("#chart-arrivals"),
  followupsTitle: $("#followups-title"),
  followupsAt: $("#followups-at"),
  followupsError: $("#followups-error"),
  followups: $("#followup-rows"),
  noFollowups: $("#no-followups"),
  followupsMore: $("#followups-more"),
};

function render() {
  const shown = state.phase !== "login";
  ui.board.hidden = !shown;
  ui.logout.hidden = !shown;
  renderConn();
  renderMute();
  renderEvents();
  if (state.data) {
    renderToday(state.data);
    renderAlerts(state.data);
    renderWaiting(state.data);
    renderQueues(state.data);
    renderClerks(state.data);
    renderCharts(state.data);
  }
  renderMove();
  renderFollowups();
  renderFollowupForm();
  if (state.notice && performance.now() > state.notice.until) state.notice = null;
  if (state.notice) tell(ui.notice, state.notice.text(), state.notice.kind);
  else tell(ui.notice, "");
}

function renderConn() {
  const d = state.data;
  const stale = state.phase === "online" && d && performance.now() - state.receivedAt > STALE_MS;
  const shown = stale ? "stale" : state.phase === "login" ? "connecting" : state.phase;
  setData(ui.at, "state", shown);
  if (shown === "stale") setText(ui.at, t("sup.stale"));
  else if (shown === "lost") setText(ui.at, t("conn.lost"));
  else if (shown === "refused") setText(ui.at, t("conn.refused", { msg: errorText(state.refusal) }));
  else if (d && shown === "online") setText(ui.at, t("sup.updated", { t: clock(d.at) }));
  else setText(ui.at, t(shown === "online" ? "conn.online" : "conn.connecting"));
  if (state.phase === "refused") tell(ui.error, errorText(state.refusal, true), "error");
  else tell(ui.error, "");
  if (d) {
    setText(
      ui.scope,
      d.scope === "delta" ? t("sup.scope.delta") : t("sup.scope.province", { region: regionName(d.scope) }),
    );
  }
}

function renderMute() {
  ui.mute.setAttribute("aria-pressed", String(state.muted));
  setText(ui.mute, t(state.muted ? "sup.unmute" : "sup.mute"));
}

function renderEvents() {
  reconcile(
    ui.events,
    state.recent,
    alertKey,
    () => el("li", { class: "alert" }),
    (li, a) => {
      setData(li, "kind", a.kind);
      if (a.ticket_id) setData(li, "ticket", a.ticket_id);
      setText(li, eventLine(a));
    },
  );
  ui.noEvents.hidden = state.recent.length > 0;
}

/** @param {Dashboard} d */
function renderToday(d) {
  /** @type {Partial<Dashboard["today"]>} */
  const today = d.today || {};
  const goal = today.goal ?? d.goal;
  const sl = today.service_level;
  const slNode = $("#kpi-sl");
  setText(slNode, percent(sl));
  const known = sl !== null && sl !== undefined;
  setData(slNode, "level", !known ? "none" : sl >= goal ? "good" : sl >= goal - 0.1 ? "fair" : "poor");
  setText($("#kpi-goal"), t("sup.goal", { goal: pct(goal) }));
  const mark = $("#kpi-sl-mark");
  setData(mark, "level", !known ? "none" : sl >= goal ? "ok" : "red");
  setText(mark, !known ? "" : t(sl >= goal ? "sup.goalMet" : "sup.goalMissed"));
  const figure = (/** @type {string} */ id, /** @type {string | number | null | undefined} */ value) =>
    setText($(id), value);
  const time = (/** @type {number | null | undefined} */ v) => (v === null || v === undefined ? null : duration(v));
  figure("#kpi-requests", today.requests);
  figure("#kpi-answered", today.answered);
  figure("#kpi-within", today.answered_within_sla);
  figure("#kpi-abandoned", today.abandoned);
  figure("#kpi-abandon-rate", percent(today.abandon_rate));
  figure("#kpi-asa", time(today.asa_s));
  figure("#kpi-aht", time(today.aht_s));
  // The view carries no open_cases (signaling/wall.py leaves the node-wide count out): in a scope, every open
  // case has its clerk "busy".
  figure("#kpi-open", d.open_cases ?? (d.clerks_by_status || {}).busy ?? 0);
  figure("#kpi-resolution", percent(today.resolution_rate));
  figure("#kpi-positive", percent(today.positive_rate));
  figure("#kpi-complaints", today.complaints);
  figure("#kpi-followups", today.followups_open);
}

/** @param {Dashboard} d */
function renderAlerts(d) {
  setText(ui.alertsTitle, t("sup.alerts", { s: d.prebreach_s }));
  const late = sincePush();
  // The waiting citizens past the pre-breach time: the head of `waiting` (longest first).
  const alerts = (d.waiting || []).filter((w) => w.waited_s >= d.prebreach_s);
  reconcile(
    ui.alerts,
    alerts,
    (a) => a.ticket_id,
    () => el("li", { class: "alert" }, el("span", { class: "alert-text" }), " ", el("span", { class: "level-mark" })),
    (li, a) => {
      const waited = a.waited_s + late;
      const level = waitLevel(waited, d);
      setData(li, "ticket", a.ticket_id);
      setData(li, "level", level);
      setData(li, "kind", level === "red" ? "breach" : "pre_breach");
      setText(
        $(".alert-text", li),
        t("sup.alertLine", {
          ticket: a.ticket_id,
          region: regionName(a.region),
          skill: skillName(a.skill),
          s: Math.floor(waited),
        }),
      );
      levelMark($(".level-mark", li), level);
    },
  );
  ui.noAlerts.hidden = alerts.length > 0;
}

/** @param {Dashboard} d */
function renderWaiting(d) {
  const late = sincePush();
  const rows = d.waiting || [];
  const total = d.waiting_total ?? rows.length;
  ui.waitingActions.hidden = !ACTIONS.moveRequest;
  setText(ui.waitingCount, t("sup.waitingCount", { n: total }));
  reconcile(
    ui.waiting,
    rows,
    (w) => w.ticket_id,
    (w) =>
      el(
        "tr",
        { class: "waiting-row" },
        el(
          "td",
          { class: "num wait-cell" },
          el("span", { class: "wait-time" }),
          " ",
          el("span", { class: "level-mark" }),
        ),
        el("td", { class: "c-target" }),
        el(
          "td",
          { class: "c-matter" },
          el("span", { class: "matter-name" }),
          el("span", { class: "sub matter-skill" }),
        ),
        el("td", { class: "c-origin" }),
        el("td", { class: "c-channel" }),
        el("td", { class: "c-state" }),
        el("td", {}, el("code", { class: "c-case" })),
        ACTIONS.moveRequest
          ? el(
              "td",
              { class: "c-actions" },
              el("button", {
                type: "button",
                class: "secondary small move-open",
                "aria-controls": "move-form",
                onclick: () => openMove(w.ticket_id),
              }),
            )
          : null,
      ),
    (tr, w) => {
      const waited = w.waited_s + late;
      const level = waitLevel(waited, d);
      setData(tr, "ticket", w.ticket_id);
      setData(tr, "level", level);
      setData(tr, "state", w.state || "");
      setText($(".wait-time", tr), elapsed(waited));
      levelMark($(".level-mark", tr), level);
      setText($(".c-target", tr), regionName(w.region));
      setText($(".matter-name", tr), matterName(w.matter_code));
      setText($(".matter-skill", tr), skillName(w.skill));
      setText($(".c-origin", tr), regionName(w.origin_region));
      setText($(".c-channel", tr), t(`channel.${w.channel}`));
      setText($(".c-state", tr), t(`sup.ticket.${w.state}`));
      setText($(".c-case", tr), w.case_id);
      const button = tr.querySelector(".move-open");
      if (button) {
        setText(button, t("sup.move"));
        button.setAttribute("aria-label", t("sup.moveLabel", { ticket: w.ticket_id }));
        button.setAttribute("aria-expanded", String(state.move?.ticketId === w.ticket_id));
      }
    },
  );
  ui.noWaiting.hidden = total > 0;
  const more = total - rows.length;
  ui.waitingMore.hidden = more <= 0;
  if (more > 0) setText(ui.waitingMore, t("sup.more", { n: more, shown: rows.length }));
}

/** @param {Dashboard} d */
function renderQueues(d) {
  const late = sincePush();
  const queues = d.queues || [];
  reconcile(
    ui.queues,
    queues,
    (q) => `${q.region}/${q.skill}`,
    () =>
      el(
        "tr",
        {},
        el("td", { class: "c-region" }),
        el("td", { class: "c-skill" }),
        el("td", { class: "num c-waiting" }),
        el("td", { class: "num c-offered" }),
        el("td", { class: "num c-oldest" }),
        el("td", { class: "num c-sl" }, el("span", { class: "sl-value" }), " ", el("span", { class: "level-mark" })),
        el("td", { class: "num c-staffed" }),
        el(
          "td",
          { class: "num c-needed" },
          el("span", { class: "needed-value" }),
          " ",
          el("span", { class: "level-mark" }),
        ),
      ),
    (tr, q) => {
      const oldest = q.waiting > 0 ? q.oldest_wait_s + late : 0;
      const level = q.waiting > 0 ? waitLevel(oldest, d) : "ok";
      setData(tr, "queue", `${q.region}/${q.skill}`);
      setData(tr, "level", level);
      tr.classList.toggle("late", level !== "ok");
      setText($(".c-region", tr), regionName(q.region));
      setText($(".c-skill", tr), skillName(q.skill));
      setText($(".c-waiting", tr), q.waiting);
      setText($(".c-offered", tr), q.offered);
      setText($(".c-oldest", tr), q.waiting > 0 ? elapsed(oldest) : t("sup.none"));
      const sl = q.service_level_15m;
      const below = sl !== null && sl !== undefined && sl < d.goal;
      const slCell = $(".c-sl", tr);
      setData(slCell, "level", sl === null || sl === undefined ? "none" : below ? "poor" : "good");
      setText($(".sl-value", slCell), percent(sl));
      const slMark = $(".level-mark", slCell);
      setData(slMark, "level", below ? "red" : "ok");
      setText(slMark, below ? t("sup.belowGoal") : "");
      setText($(".c-staffed", tr), q.staffed);
      const needed = q.needed;
      const short = needed !== null && needed !== undefined && q.staffed < needed;
      const neededCell = $(".c-needed", tr);
      setData(neededCell, "short", String(short));
      setText($(".needed-value", neededCell), needed);
      const mark = $(".level-mark", neededCell);
      setData(mark, "level", short ? "amber" : "ok");
      setText(mark, short ? t("sup.short", { n: (needed ?? 0) - q.staffed }) : "");
    },
  );
  ui.noQueues.hidden = queues.length > 0;
  setText(ui.queuesNote, t("sup.queuesNote", { sla: d.sla_s, goal: pct(d.goal) }));
}

/** @param {string} status */
function statusRank(status) {
  const i = STATUS_ORDER.indexOf(status);
  return i < 0 ? STATUS_ORDER.length : i;
}

/** @param {Dashboard} d */
function renderClerks(d) {
  const late = sincePush();
  const byStatus = d.clerks_by_status || {};
  const statuses = [...STATUS_ORDER, ...Object.keys(byStatus).filter((s) => !STATUS_ORDER.includes(s))];
  reconcile(
    ui.counts,
    statuses.filter((s) => byStatus[s]),
    (s) => s,
    (s) => el("li", { class: "status-pill", dataset: { status: s } }, el("span", {}), " ", el("strong", {})),
    (li, s) => {
      setText($("span", li), statusName(s));
      setText($("strong", li), byStatus[s]);
    },
  );

  // Grouped by status (the order of STATUS_ORDER), then by name; a heading row per group with its count.
  const clerks = [...(d.clerks || [])].sort(
    (a, b) =>
      statusRank(a.status) - statusRank(b.status) ||
      String(a.display_name || a.clerk_id).localeCompare(String(b.display_name || b.clerk_id), "zh-CN"),
  );
  /** @type {{status: string, clerk?: WallClerk}[]} */
  const rows = [];
  /** @type {string | null} */
  let group = null;
  for (const c of clerks) {
    if (c.status !== group) rows.push({ status: (group = c.status) });
    rows.push({ clerk: c, status: c.status });
  }
  ui.clerkActions.hidden = !ACTIONS.setClerkStatus;
  const columns = ACTIONS.setClerkStatus ? 6 : 5;
  reconcile(
    ui.clerks,
    rows,
    (r) => (r.clerk ? `clerk:${r.clerk.clerk_id}` : `group:${r.status}`),
    (r) =>
      r.clerk
        ? el(
            "tr",
            { class: "clerk-row" },
            el("td", { class: "c-name" }),
            el("td", { class: "c-region" }),
            el("td", {}, el("span", { class: "status-pill" })),
            el("td", { class: "num c-since" }),
            el("td", {}, el("code", { class: "c-case" })),
            ACTIONS.setClerkStatus ? el("td", { class: "c-actions" }) : null,
          )
        : el("tr", { class: "group-row" }, el("th", { colspan: columns, scope: "colgroup" })),
    (tr, r) => {
      if (!r.clerk) {
        setData(tr, "status", r.status);
        setText($("th", tr), `${statusName(r.status)} · ${byStatus[r.status] || 0}`);
        return;
      }
      const c = r.clerk;
      setData(tr, "clerk", c.clerk_id);
      setData(tr, "status", c.status);
      setText($(".c-name", tr), c.display_name || c.clerk_id);
      setText($(".c-region", tr), regionName(c.region));
      const pill = $(".status-pill", tr);
      setData(pill, "status", c.status);
      setText(pill, statusName(c.status));
      const since = c.in_status_s ?? (c.since ? d.at - c.since : null);
      setText($(".c-since", tr), since === null || since === undefined ? null : elapsed(since + late));
      setText($(".c-case", tr), c.case_id || t("sup.none"));
      if (ACTIONS.setClerkStatus) renderClerkAction($(".c-actions", tr), c);
    },
  );
  ui.noClerks.hidden = clerks.length > 0;
}

/**
 * The status select of a clerk on shift (a clerk not on shift cannot be set: the server answers not_found).
 * @param {HTMLElement} td
 * @param {WallClerk} c
 */
function renderClerkAction(td, c) {
  const onShift = c.since !== null && c.since !== undefined;
  let select = td.querySelector("select");
  if (!onShift) {
    if (select) select.remove();
    return;
  }
  if (!select) {
    const made = el("select", {
      class: "clerk-status-select",
      onchange: () => changeStatus(c.clerk_id, made.value),
    });
    made.append(el("option", { value: "" }), ...SETTABLE.map((s) => el("option", { value: s })));
    td.append(made);
    select = made;
  }
  const name = c.display_name || c.clerk_id;
  select.setAttribute("aria-label", t("sup.setStatusLabel", { name }));
  select.dataset.name = name;
  const [choose, ...options] = select.options;
  setText(choose, t("sup.setStatusChoose"));
  for (const option of options) {
    setText(option, statusName(option.value));
    option.disabled = option.value === c.status;
  }
  select.disabled = state.clerkBusy.has(c.clerk_id);
  if (document.activeElement !== select && !select.disabled) select.value = "";
}

/**
 * An action's outcome, in words (a function: the language may change while it shows).
 * @param {"ok" | "error"} kind
 * @param {() => string} text
 */
function notify(kind, text) {
  state.notice = { kind, text, until: performance.now() + NOTICE_MS };
}

/**
 * @param {string} clerkId
 * @param {string} status
 */
async function changeStatus(clerkId, status) {
  if (!status || state.clerkBusy.has(clerkId)) return;
  const clerk = (state.data?.clerks || []).find((c) => c.clerk_id === clerkId);
  const name = clerk ? clerk.display_name || clerkId : clerkId;
  state.clerkBusy.add(clerkId);
  render();
  const answer = await client.setClerkStatus(clerkId, status);
  state.clerkBusy.delete(clerkId);
  if (answer.ok) {
    notify("ok", () => t("sup.setStatusDone", { name, status: statusName(status) }));
  } else {
    notify("error", () => t("sup.setStatusFailed", { name, error: errorText(answer.error, true) }));
  }
  const select = ui.clerks.querySelector(`tr[data-clerk="${CSS.escape(clerkId)}"] select`);
  if (select instanceof HTMLSelectElement) select.value = "";
  render();
}

// ---- moving a waiting request to another queue ----

const move = {
  form: $("#move-form"),
  title: $("#move-title"),
  from: $("#move-from"),
  province: /** @type {HTMLSelectElement} */ ($("#move-province")),
  matter: /** @type {HTMLSelectElement} */ ($("#move-matter")),
  note: /** @type {HTMLTextAreaElement} */ ($("#move-note")),
  summary: $("#move-summary"),
  error: $("#move-error"),
  submit: /** @type {HTMLButtonElement} */ ($("#move-submit")),
  cancel: $("#move-cancel"),
};

/** @param {string} ticketId */
function openMove(ticketId) {
  const w = (state.data?.waiting || []).find((x) => x.ticket_id === ticketId);
  if (!w) return;
  state.move = { ticketId, target: "", matter: w.matter_code, note: "", busy: false, error: null };
  state.notice = null;
  render();
  move.title.focus();
}

function closeMove() {
  const ticketId = state.move?.ticketId;
  state.move = null;
  render();
  const button = ticketId && ui.waiting.querySelector(`tr[data-ticket="${CSS.escape(ticketId)}"] .move-open`);
  if (button instanceof HTMLElement) button.focus();
}

function provinces() {
  /** @type {Set<string>} */
  const all = new Set();
  for (const m of state.matters.values()) for (const p of m.provinces || []) all.add(p);
  for (const p of state.data?.provinces || []) all.add(p);
  return [...all].sort();
}

/**
 * @param {HTMLSelectElement} select
 * @param {{value: string, label: string, disabled?: boolean}[]} options
 * @param {string} value
 */
function fillSelect(select, options, value) {
  const want = JSON.stringify(options);
  if (select.dataset.options !== want) {
    select.replaceChildren(
      ...options.map((o) => el("option", { value: o.value, disabled: o.disabled || undefined }, o.label)),
    );
    select.dataset.options = want;
  }
  if (select.value !== value) select.value = value;
}

function renderMove() {
  const m = state.move;
  move.form.hidden = !m;
  if (!m) return;
  const w = (state.data?.waiting || []).find((x) => x.ticket_id === m.ticketId);
  setText(move.title, t("sup.moveTitle", { ticket: m.ticketId }));
  if (w) {
    setText(
      move.from,
      t("sup.moveFrom", {
        region: regionName(w.region),
        matter: matterName(w.matter_code),
        waited: elapsed(w.waited_s + sincePush()),
      }),
    );
  }
  const choose = { value: "", label: t("sup.moveChoose") };
  fillSelect(move.province, [choose, ...provinces().map((p) => ({ value: p, label: regionName(p) }))], m.target);
  const matters = [...state.matters.values()].map((x) => {
    const served = !m.target || (x.provinces || []).includes(m.target);
    const name = `${localName(x.name)}（${x.code}）`;
    return { value: x.code, label: served ? name : t("sup.moveNotServed", { name }), disabled: !served };
  });
  fillSelect(move.matter, [choose, ...matters], m.matter);
  if (move.note.value !== m.note) move.note.value = m.note;
  const same = w && m.target && m.target === w.region && m.matter === w.matter_code;
  setText(
    move.summary,
    m.target && m.matter ? t("sup.moveSummary", { region: regionName(m.target), matter: matterName(m.matter) }) : "",
  );
  const problem = !w ? t("sup.moveGone") : same ? t("sup.moveSameQueue") : m.error ? m.error() : "";
  tell(move.error, problem, "error");
  move.submit.disabled = m.busy || !w || Boolean(same);
}

move.province.addEventListener("change", () => {
  if (!state.move) return;
  state.move.target = move.province.value;
  const matter = state.matters.get(state.move.matter);
  if (matter && state.move.target && !(matter.provinces || []).includes(state.move.target)) state.move.matter = "";
  state.move.error = null;
  render();
});
move.matter.addEventListener("change", () => {
  if (!state.move) return;
  state.move.matter = move.matter.value;
  state.move.error = null;
  render();
});
move.note.addEventListener("input", () => {
  if (state.move) state.move.note = move.note.value;
});
move.cancel.addEventListener("click", closeMove);
move.form.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeMove();
});

move.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const m = state.move;
  if (!m || m.busy) return;
  const need = !m.target
    ? "sup.moveNeedProvince"
    : !m.matter
      ? "sup.moveNeedMatter"
      : !m.note.trim()
        ? "sup.moveNeedNote"
        : "";
  if (need) {
    m.error = () => t(need);
    render();
    return;
  }
  m.busy = true;
  m.error = null;
  render();
  const answer = await client.moveRequest({
    ticketId: m.ticketId,
    targetRegion: m.target,
    matterCode: m.matter,
    note: m.note.trim(),
  });
  if (state.move !== m) return; // closed meanwhile
  m.busy = false;
  if (answer.ok) {
    const { ticketId, target, matter } = m;
    notify("ok", () => t("sup.moveDone", { ticket: ticketId, region: regionName(target), matter: matterName(matter) }));
    closeMove();
  } else {
    m.error = () => t("sup.moveFailed", { error: errorText(answer.error, true) });
    render();
  }
});

// ---- 差评 follow-ups: the open ones (GET /api/followups?state=open) with their due times, overdue first;
// closed with a note (close_followup) ----

async function loadFollowups() {
  if (state.phase === "login") return;
  const seq = ++followupLoads.seq;
  const { status, data } = await api("GET", "/api/followups?state=open");
  if (seq !== followupLoads.seq) return; // a later load (or a log-out) came since: its answer counts
  if (status === 200 && Array.isArray(data)) {
    // Overdue ones first; within each, newest first as the server lists them (the sort is stable).
    const cases = data
      .filter((c) => c.state !== "closed")
      .sort((a, b) => Number(Boolean(b.overdue)) - Number(Boolean(a.overdue)));
    state.followups = {
      cases,
      more: data.length >= FOLLOWUP_LIMIT,
      overdue: cases.filter((c) => c.overdue).length,
      at: state.data ? state.data.at + sincePush() : null, // when, on the server's clock (null: no push yet)
    };
    state.followupsError = null;
  } else if (status === 401) {
    stop();
    login.expired();
    return;
  } else {
    const error = (data && data.error) || { code: status ? "unavailable" : "network" };
    state.followupsError = () => t("sup.followupsFailed", { error: errorText(error, true) });
  }
  render();
}

/** @param {string} caseId */
function followupCase(caseId) {
  return (state.followups?.cases || []).find((c) => c.case_id === caseId) || null;
}

/** @param {number | null | undefined} level */
function ratingWords(level) {
  return level ? t(`rating.${level}`) : t("sup.none");
}

/** @param {string} value */
function followupStateWords(value) {
  return FOLLOWUP_STATES.includes(value) ? t(`sup.followupState.${value}`) : String(value || t("sup.none"));
}

/**
 * A due time (ISO 8601; the end of a working day) in China time: "09-22 24:00", or with `long` the year too.
 * A deadline at midnight is shown as 24:00 of the day it ends, as the rules say it.
 * @param {string} time
 * @param {boolean} [long]
 */
function dueText(time, long = false) {
  const ms = Date.parse(time);
  if (!Number.isFinite(ms)) return t("sup.none");
  const local = new Date(ms + CHINA_UTC_OFFSET_S * 1000);
  const midnight = local.getUTCHours() === 0 && local.getUTCMinutes() === 0 && local.getUTCSeconds() === 0;
  const day = new Date(local.getTime() - (midnight ? DAY_S * 1000 : 0)).toISOString().slice(long ? 0 : 5, 10);
  return `${day} ${midnight ? "24:00" : local.toISOString().slice(11, 16)}`;
}

/**
 * @param {HTMLElement} cell
 * @param {string} time
 * @param {boolean} late
 */
function setDue(cell, time, late) {
  const node = /** @type {HTMLTimeElement} */ ($("time", cell));
  setText(node, dueText(time));
  if (node.getAttribute("datetime") !== time) node.setAttribute("datetime", time || "");
  const title = dueText(time, true);
  if (node.title !== title) node.title = title;
  setData(cell, "late", String(late));
}

function renderFollowups() {
  const f = state.followups;
  const cases = f ? f.cases : [];
  setText(
    ui.followupsTitle,
    f
      ? t("sup.followupsCount", { n: f.more ? `${cases.length}+` : cases.length, overdue: f.overdue })
      : t("sup.followups"),
  );
  // When it was read, in China time like the rows, on the server's clock (known from the pushes).
  const readAt = f ? f.at : null;
  const read = readAt === null ? "" : t("sup.updated", { t: chinaDateTime(readAt * 1000).slice(11) });
  setText(ui.followupsAt, read || (f || state.followupsError ? "" : t("sup.followupsLoading")));
  tell(ui.followupsError, state.followupsError ? state.followupsError() : "", "error");
  reconcile(
    ui.followups,
    cases,
    (c) => c.case_id,
    (c) =>
      el(
        "tr",
        { class: "followup-row" },
        // The case number opens the case's page (its record, documents and recordings).
        el("td", {}, el("a", { href: `/cases/${encodeURIComponent(c.case_id)}` }, el("code", { class: "f-case" }))),
        el("td", { class: "f-at" }),
        el("td", { class: "f-region" }),
        el("td", { class: "f-matter" }),
        el(
          "td",
          { class: "f-rating" },
          el("span", { class: "rating-words" }),
          el("span", { class: "sub rating-level" }),
        ),
        el(
          "td",
          { class: "f-state" },
          el("span", { class: "state-words" }),
          el("span", { class: "level-mark overdue-mark", "data-level": "red" }),
        ),
        el("td", { class: "f-due f-contact-due" }, el("time", {})),
        el("td", { class: "f-due f-fix-due" }, el("time", {})),
        el("td", { class: "f-comment" }),
        el(
          "td",
          { class: "c-actions" },
          el("button", {
            type: "button",
            class: "secondary small followup-open",
            "aria-controls": "followup-form",
            onclick: () => openFollowup(c.case_id),
          }),
        ),
      ),
    (tr, c) => {
      const level = c.rating ? String(c.rating) : "";
      const overdue = Boolean(c.overdue);
      setData(tr, "case", c.case_id);
      setData(tr, "rating", level);
      setData(tr, "state", String(c.state));
      setData(tr, "overdue", String(overdue));
      tr.classList.toggle("overdue", overdue);
      setText($(".f-case", tr), c.case_id);
      setText($(".f-at", tr), chinaDateTime(c.opened_at));
      setText($(".f-region", tr), regionName(c.target_region));
      setText($(".f-matter", tr), matterName(c.matter_code));
      setText($(".rating-words", tr), ratingWords(c.rating));
      setText($(".rating-level", tr), level ? `${level}/5` : "");
      // The state in words, and "overdue" in words too (the row's colour only adds to them).
      setText($(".state-words", tr), followupStateWords(c.state));
      setText($(".overdue-mark", tr), overdue ? t("sup.followupOverdue") : "");
      // Which deadline ran out: the contact's while nobody was contacted, else the fix's.
      const contactLate = overdue && c.state === "open";
      const fixLate = overdue && (c.state !== "open" || (readAt !== null && Date.parse(c.fix_due) <= readAt * 1000));
      setDue($(".f-contact-due", tr), c.contact_due, contactLate);
      setDue($(".f-fix-due", tr), c.fix_due, fixLate);
      // The citizen's own words: text only (setText writes textContent), never markup.
      const comment = c.comment || "";
      const cell = $(".f-comment", tr);
      setText(cell, comment || t("sup.followupNoComment"));
      cell.classList.toggle("muted", !comment);
      const button = $(".followup-open", tr);
      setText(button, t("sup.followupClose"));
      button.setAttribute("aria-label", t("sup.followupCloseLabel", { case: c.case_id }));
      button.setAttribute("aria-expanded", String(state.followup?.caseId === c.case_id));
    },
  );
  ui.noFollowups.hidden = !f || cases.length > 0;
  ui.followupsMore.hidden = !f?.more;
  if (f?.more) setText(ui.followupsMore, t("sup.followupsMore", { shown: cases.length }));
}

const closing = {
  form: $("#followup-form"),
  title: $("#followup-title"),
  about: $("#followup-about"),
  note: /** @type {HTMLTextAreaElement} */ ($("#followup-note")),
  error: $("#followup-error"),
  submit: /** @type {HTMLButtonElement} */ ($("#followup-submit")),
  cancel: $("#followup-cancel"),
};

/** @param {string} caseId */
function openFollowup(caseId) {
  const c = followupCase(caseId);
  if (!c) return;
  state.followup = { caseId, case: c, note: "", busy: false, error: null, invalid: false };
  state.notice = null;
  render();
  closing.title.focus();
}

function closeFollowupForm() {
  const caseId = state.followup?.caseId;
  state.followup = null;
  render();
  const button = caseId && ui.followups.querySelector(`tr[data-case="${CSS.escape(caseId)}"] .followup-open`);
  (button instanceof HTMLElement ? button : ui.followupsTitle).focus();
}

function renderFollowupForm() {
  const m = state.followup;
  closing.form.hidden = !m;
  if (!m) return;
  const c = m.case;
  const gone = !m.busy && !followupCase(m.caseId);
  setText(closing.title, t("sup.followupTitle", { case: m.caseId }));
  setText(
    closing.about,
    t("sup.followupAbout", {
      time: chinaDateTime(c.opened_at),
      region: regionName(c.target_region),
      matter: matterName(c.matter_code),
      rating: ratingWords(c.rating),
      comment: c.comment || t("sup.followupNoComment"),
    }),
  );
  if (closing.note.value !== m.note) closing.note.value = m.note;
  closing.note.setAttribute("aria-invalid", String(m.invalid));
  tell(closing.error, gone ? t("sup.followupGone") : m.error ? m.error() : "", "error");
  closing.submit.disabled = m.busy || gone;
}

closing.note.addEventListener("input", () => {
  if (!state.followup) return;
  state.followup.note = closing.note.value;
  if (state.followup.invalid && closing.note.value.trim()) {
    state.followup.invalid = false;
    state.followup.error = null;
    render();
  }
});
closing.cancel.addEventListener("click", closeFollowupForm);
closing.form.addEventListener("keydown", (event) => {
  if (event.key === "Escape") closeFollowupForm();
});

closing.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const m = state.followup;
  if (!m || m.busy) return;
  const note = m.note.trim();
  if (!note) {
    // Refused here: the note is what the case's timeline keeps of the follow-up.
    m.error = () => t("sup.followupNeedNote");
    m.invalid = true;
    render();
    closing.note.focus();
    return;
  }
  m.busy = true;
  m.error = null;
  render();
  const answer = await client.closeFollowup(m.caseId, note);
  m.busy = false;
  const { caseId } = m;
  if (answer.ok) {
    if (state.followups) {
      const cases = state.followups.cases.filter((c) => c.case_id !== caseId);
      state.followups = { ...state.followups, cases, overdue: cases.filter((c) => c.overdue).length };
    }
    notify("ok", () => t("sup.followupDone", { case: caseId }));
    if (state.followup === m) closeFollowupForm();
    else render();
  } else {
    const failed = () => t("sup.followupFailed", { error: errorText(answer.error, true) });
    if (state.followup === m) m.error = failed;
    else notify("error", failed);
    render();
  }
  // After a close (or a refusal that says the list was out of date) the list is read again.
  if (answer.ok || ["conflict", "not_found"].includes(answer.error?.code || "")) loadFollowups();
});

// ---- today's charts (uPlot), redrawn only when a push brought other figures ----

/** @type {{sl: UPlot | null, arrivals: UPlot | null, key: string, lang: string, range: [number, number]}} */
const charts = { sl: null, arrivals: null, key: "", lang: "", range: [0, 1] };

/**
 * Today's 15-minute buckets from midnight (China time) to the current one: nothing asked is 0 and no level.
 * @param {Dashboard} d
 */
function bucketSeries(d) {
  const bucket = d.chart?.bucket_s || 900;
  const day = startOfDay(d.at);
  const n = Math.floor((d.at - day) / bucket) + 1;
  const xs = Array.from({ length: n }, (_, i) => day + i * bucket);
  /** @type {(number | null)[]} */
  const sl = xs.map(() => null);
  const requests = xs.map(() => 0);
  for (const b of d.chart?.buckets || []) {
    const i = Math.round((b.start - day) / bucket);
    if (i < 0 || i >= n) continue;
    sl[i] = b.service_level === null || b.service_level === undefined ? null : b.service_level * 100;
    requests[i] = b.requests;
  }
  /** @type {[number, number]} */
  const range = [day, day + n * bucket];
  return { xs, sl, requests, goal: xs.map(() => d.goal * 100), range };
}

/** @param {HTMLElement} node */
function chartWidth(node) {
  return Math.max(240, Math.floor(node.clientWidth));
}

/**
 * @param {HTMLElement} node
 * @param {{series: import("uplot").Series[], yRange: import("uplot").Scale.Range, yValues: (v: number) => string}} o
 * @returns {import("uplot").Options}
 */
function chartOptions(node, { series, yRange, yValues }) {
  return {
    width: chartWidth(node),
    height: CHART_HEIGHT,
    scales: { x: { time: true, range: () => charts.range }, y: { range: yRange } },
    axes: [
      { values: (u, splits) => splits.map((ts) => chinaTime(ts)) },
      { values: (u, splits) => splits.map(yValues) },
    ],
    series: [
      {
        label: t("sup.seriesTime"),
        value: (u, ts) => (ts === null || ts === undefined ? t("sup.none") : chinaTime(ts)),
      },
      ...series,
    ],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
}

/** @param {Dashboard} d */
function renderCharts(d) {
  /** @type {Partial<Dashboard["today"]>} */
  const today = d.today || {};
  setText(ui.slTitle, t("sup.chartSl", { sla: d.sla_s }));
  ui.slChart.setAttribute(
    "aria-label",
    t("sup.chartSlLabel", { sla: d.sla_s, goal: pct(d.goal), sl: percent(today.service_level) }),
  );
  ui.arrivalsChart.setAttribute("aria-label", t("sup.chartArrivalsLabel", { n: today.requests ?? 0 }));
  const uPlot = window.uPlot;
  if (!uPlot) {
    // The vendored library is missing (npm ci not run): the figures above still show.
    if (!ui.slChart.textContent) ui.slChart.textContent = t("sup.noCharts");
    return;
  }
  if (ui.board.hidden) return; // no width to draw into yet
  const s = bucketSeries(d);
  const key = JSON.stringify([s.range, s.sl, s.requests, d.goal]);
  const lang = t("lang.switch");
  if (charts.sl && charts.lang === lang) {
    if (key === charts.key) return; // the same figures: nothing to redraw (the timers tick twice a second)
    charts.key = key;
    charts.range = s.range;
    charts.sl.setData([s.xs, s.sl, s.goal]);
    charts.arrivals?.setData([s.xs, s.requests]);
    return;
  }
  for (const name of /** @type {const} */ (["sl", "arrivals"])) {
    charts[name]?.destroy();
    charts[name] = null;
  }
  ui.slChart.textContent = "";
  charts.key = key;
  charts.lang = lang;
  charts.range = s.range;
  const none = t("sup.none");
  const value = (/** @type {UPlot} */ u, /** @type {number | null} */ v) =>
    v === null || v === undefined ? none : `${v.toFixed(1)}%`;
  charts.sl = new uPlot(
    chartOptions(ui.slChart, {
      yRange: [0, 100],
      yValues: (v) => `${v}%`,
      series: [
        // Points always: a bucket between two empty ones has no line to show it.
        {
          label: t("sup.seriesSl"),
          stroke: COLOURS.line,
          width: 2,
          spanGaps: true,
          value,
          points: { show: true, size: 6 },
        },
        {
          label: t("sup.seriesGoal", { goal: pct(d.goal) }),
          stroke: COLOURS.goal,
          width: 1.5,
          dash: [6, 4],
          value,
          points: { show: false },
        },
      ],
    }),
    [s.xs, s.sl, s.goal],
    ui.slChart,
  );
  charts.arrivals = new uPlot(
    chartOptions(ui.arrivalsChart, {
      yRange: (u, min, max) => [0, Math.max(1, Math.ceil((max || 0) * 1.1))],
      yValues: (v) => (Number.isInteger(v) ? String(v) : ""),
      series: [
        {
          label: t("sup.seriesRequests"),
          stroke: COLOURS.line,
          fill: COLOURS.bar,
          width: 1,
          // A bar covers its bucket [start, start + 15 min): drawn to the right of its start.
          paths: uPlot.paths.bars?.({ size: [0.9, 40], align: 1 }),
          points: { show: false },
        },
      ],
    }),
    [s.xs, s.requests],
    ui.arrivalsChart,
  );
}

// Keep the charts as wide as their panels.
new ResizeObserver(() => {
  /** @type {[UPlot | null, HTMLElement][]} */
  const shown = [
    [charts.sl, ui.slChart],
    [charts.arrivals, ui.arrivalsChart],
  ];
  for (const [chart, node] of shown) {
    if (chart && node.clientWidth && chart.width !== chartWidth(node)) {
      chart.setSize({ width: chartWidth(node), height: CHART_HEIGHT });
    }
  }
}).observe($(".wall-charts"));

ui.logout.addEventListener("click", async () => {
  stop();
  await login.logout();
});

// ---- staffing what-if: Erlang C beside the simulator (GET /api/staffing) ----

const staff = {
  form: $("#staffing-form"),
  submit: /** @type {HTMLButtonElement} */ ($("#staff-submit")),
  error: $("#staff-error"),
  result: $("#staff-result"),
  summary: $("#staff-summary"),
  rows: $("#staff-rows"),
  /** @type {Staffing | null} */
  answer: null,
};

/** @param {number | null | undefined} value */
function seconds(value) {
  return value === null || value === undefined ? t("sup.none") : t("staff.seconds", { n: value.toFixed(1) });
}

function renderStaffing() {
  const a = staff.answer;
  staff.result.hidden = !a;
  if (!a) return;
  const goal = `${+(a.goal * 100).toFixed(1)}%`;
  const lines = [t("staff.needed", { n: a.clerks_needed, sla: a.sla_s, goal, load: a.offered_load.toFixed(2) })];
  if (a.clerks !== a.clerks_needed) lines.push(t("staff.forClerks", { n: a.clerks }));
  if (!a.stable) lines.push(t("staff.unstable", { n: a.clerks }));
  staff.summary.textContent = lines.join(" ");
  staff.summary.dataset.stable = String(a.stable);
  const sim = a.simulated;
  const none = t("sup.none");
  const row = (
    /** @type {string} */ key,
    /** @type {string | number} */ erlang,
    /** @type {string | number} */ simulated,
  ) =>
    el(
      "tr",
      {},
      el("td", {}, t(key, { sla: a.sla_s })),
      el("td", { class: "num" }, erlang),
      el("td", { class: "num" }, simulated),
    );
  staff.rows.replaceChildren(
    row("staff.row.clerks", a.clerks, sim ? a.clerks : none),
    row("staff.row.sl", percent(a.service_level), sim ? percent(sim.service_level) : none),
    row("staff.row.asa", seconds(a.asa_s), sim ? seconds(sim.asa_s) : none),
    row("staff.row.occupancy", percent(a.occupancy), sim ? percent(sim.occupancy) : none),
    row("staff.row.pwait", percent(a.p_wait), none),
    row("staff.row.arrivals", none, sim ? `${sim.arrivals} / ${sim.answered}` : none),
  );
}

staff.form.addEventListener("submit", async (event) => {
  event.preventDefault();
  const value = (/** @type {string} */ id) => /** @type {HTMLInputElement} */ ($(id)).value.trim();
  const params = new URLSearchParams({
    arrivals_per_hour: value("#staff-arrivals"),
    aht_s: value("#staff-aht"),
    sla_s: value("#staff-sla"),
    goal: String(Number(value("#staff-goal")) / 100),
  });
  if (value("#staff-clerks")) params.set("clerks", value("#staff-clerks"));
  if (/** @type {HTMLInputElement} */ ($("#staff-simulate")).checked) params.set("simulate", "1");
  staff.submit.disabled = true;
  say(staff.error, "");
  try {
    const { status, data } = await api("GET", `/api/staffing?${params}`);
    if (status === 200) {
      staff.answer = data;
    } else {
      if (status === 401) {
        stop();
        login.expired();
      }
      staff.answer = null;
      say(staff.error, errorText(data && data.error, true), "error");
    }
    renderStaffing();
  } finally {
    staff.submit.disabled = false;
  }
});

render();

onChange(() => {
  render();
  renderStaffing();
});

window.rvwDebug = {
  data: () => state.data,
  state: () => state.phase,
  alerts: () => [...state.recent],
  charts: () => ({ sl: Boolean(charts.sl), arrivals: Boolean(charts.arrivals), key: charts.key }),
  followups: () => (state.followups ? state.followups.cases.map((c) => c.case_id) : null),
};
