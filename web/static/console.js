// @ts-check
// The clerk's console: log in, go available, answer offers, serve the citizen over video, end or transfer the case.
// The page is a state machine over its protocol client (clerk_client.js): the server's events change `state`, one
// transition function (`go`) moves between the desk's phases and refuses a move the flow does not allow, and one
// render shows the state (the language switch renders it again). The call itself is the shared call panel.

import { $, $$, ack, api, clock, el, errorText, loginPanel, say, session } from "./common.js";
import { lang, onChange, regionName, skillName, t } from "./i18n.js";
import { ChatPanel } from "./chat.js";
import { DocumentPanel, documentElements } from "./documents.js";
import { Ringer } from "./ringer.js";
import { CallPanel, callElements } from "./call_panel.js";
import { ClerkClient } from "./clerk_client.js";
import { openCamera } from "./rtc.js";

/**
 * @typedef {import("../types/api").Offer} Offer
 * @typedef {import("../types/api").Matter} Matter
 * @typedef {import("../types/api").ClerkSession} ClerkSession
 * @typedef {import("../types/api").ClerkMatched} ClerkMatched
 * @typedef {import("../types/api").CaseEnded} CaseEnded
 * @typedef {import("../types/api").Consent} Consent
 * @typedef {import("../types/api").ChatLine} ChatLine
 * @typedef {import("./common.js").ErrorInfo} ErrorInfo
 * @typedef {Offer & {deadline: number, since: number}} OfferEntry  an offer with its times on performance.now()
 * @typedef {{case_id: string, ticket_id: string, citizen: {origin_region?: string | null, channel?: string | null},
 *   matter_code: string}} CaseInfo  the case on the clerk's desk
 * @typedef {import("../types/api").ClerkDay} ClerkDay
 * @typedef {import("../types/api").Guidance} Guidance
 * @typedef {{case_id: string, outcome: string, to?: string, at: number}} HistoryItem  a case of today's list
 */

const TICK_MS = 250;
const DAY_EVERY_MS = 60_000; // the clerk's day is fetched again this often (ratings come after a case ends)

const ui = {
  desk: $("#desk"),
  logout: $("#logout"),
  meName: $("#me-name"),
  meDetail: $("#me-detail"),
  status: $("#my-status"),
  statusNotice: $("#status-notice"),
  statusTime: $("#status-time"),
  ring: /** @type {HTMLButtonElement} */ ($("#ring-toggle")),
  day: $("#my-day"),
  dayCases: $("#day-cases"),
  dayHandle: $("#day-handle"),
  dayRating: $("#day-rating"),
  dayPoor: $("#day-poor"),
  guide: $("#case-guide"),
  guideMaterials: $("#guide-materials"),
  guideSteps: $("#guide-steps"),
  guideLimit: $("#guide-limit"),
  conn: $("#conn-status"),
  error: $("#console-error"),
  offers: $("#offer-list"),
  noOffers: $("#no-offers"),
  casePanel: $("#case-panel"),
  caseId: $("#case-id"),
  caseMatter: $("#case-matter"),
  caseCitizen: $("#case-citizen"),
  consent: $("#case-consent"),
  citizenEnded: $("#citizen-ended"),
  stage: $("#stage"),
  mediaState: $("#case-media-state"),
  controls: $(".call-controls"),
  reconnect: /** @type {HTMLButtonElement} */ ($("#reconnect-video")),
  callActions: $("#call-actions"),
  transferOpen: $("#transfer-open"),
  transferForm: $("#transfer-form"),
  transferMatter: /** @type {HTMLSelectElement} */ ($("#transfer-matter")),
  transferProvince: /** @type {HTMLSelectElement} */ ($("#transfer-province")),
  transferNote: /** @type {HTMLTextAreaElement} */ ($("#transfer-note")),
  transferSummary: $("#transfer-summary"),
  transferError: $("#transfer-error"),
  transferSubmit: /** @type {HTMLButtonElement} */ ($("#transfer-submit")),
  transferCancel: $("#transfer-cancel"),
  endForm: /** @type {HTMLFormElement} */ ($("#end-form")),
  notes: /** @type {HTMLTextAreaElement} */ ($("#case-notes")),
  endButton: /** @type {HTMLButtonElement} */ ($("#end-case")),
  endCall: /** @type {HTMLButtonElement} */ ($("#end-call")),
  history: $("#history-list"),
  noHistory: $("#no-history"),
  chatList: $("#chat-list"),
  chatError: $("#chat-error"),
  chatForm: /** @type {HTMLFormElement} */ ($("#chat-form")),
  chatInput: /** @type {HTMLTextAreaElement} */ ($("#chat-input")),
  chatSend: /** @type {HTMLButtonElement} */ ($("#chat-send")),
};

/** @typedef {"login" | "idle" | "in_call" | "wrap_up"} Phase  logged out; at the desk; in a call; writing a case up */

const state = {
  /** @type {Phase} */
  phase: "login",
  /** @type {import("./common.js").User | null} */
  user: null,
  /** @type {ClerkSession["clerk"] | null} */
  clerk: null,
  /** @type {ClerkClient | null} */
  client: null,
  status: "offline",
  wanted: "offline", // the presence the clerk chose; restored after a reconnect or a wrap-up
  /** @type {Map<string, OfferEntry>} */
  offers: new Map(), // ticket_id -> offer (+ deadline)
  /** @type {Map<string, Offer>} */
  offerOfCase: new Map(), // case_id -> offer
  /** @type {Map<string, Matter>} */
  matters: new Map(), // code -> {name, skill}
  /** @type {CaseInfo | null} */
  case: null,
  /** @type {RTCIceServer[]} */
  iceServers: [], // the case's, from `matched` (the recorder uses them too)
  recordingPolicy: "off", // the server's RVW_RECORDING (the `session` event)
  /** @type {{recording: boolean, policy: string} | null} */
  consent: null, // the citizen's answer about recording in this case
  /** @type {Promise<MediaStream | null> | null} */
  localMedia: null, // the call's camera promise (the recorder sends the same stream)
  /** @type {{matter: string, province: string} | null} */
  transfer: null, // while the transfer form is open
  /** @type {"citizen" | "clerk" | "resumed"} */
  wrapBy: "citizen", // who ended the call being written up
  /** @type {ReturnType<typeof setInterval> | undefined} */
  ticker: undefined,
  shownStatus: "", // the status shown, and since when (performance.now()): the time in status
  statusSince: 0,
  /** @type {ReturnType<typeof setInterval> | undefined} */
  clock: undefined, // once a second: the time in status
  /** @type {ReturnType<typeof setInterval> | undefined} */
  dayTimer: undefined,
  /** @type {ClerkDay | null} */
  day: null,
  /** @type {Map<string, Guidance | null>} */
  guides: new Map(), // matter code -> its guidance (null: none in the catalog)
  /** @type {Map<string, Notification>} */
  notices: new Map(), // ticket_id -> the browser notification of its offer
};

const ringer = new Ringer();

const panel = new CallPanel({
  ui: callElements(),
  mediaState: ui.mediaState,
  polite: false,
  words: {
    share: "console.shareScreen",
    stopShare: "console.stopShare",
    viewOther: "call.viewCitizen",
    poor: "link.poorConsole",
  },
  onError: (text) => say(ui.error, text, "error"),
});

/**
 * A request to the server, answered `{ok: false, error: {code: "network"}}` while there is no connection.
 * @param {string} event
 * @param {object} payload
 */
function send(event, payload) {
  return state.client ? state.client.request(event, payload) : ack(null, event, payload);
}

const chat = new ChatPanel({
  ui: { list: ui.chatList, error: ui.chatError, form: ui.chatForm, input: ui.chatInput, send: ui.chatSend },
  me: "clerk",
  deliver: (text) => send("chat", { case_id: state.case?.case_id, text }), // canSend: a case is on
  canSend: () => Boolean(state.case) && state.phase === "in_call",
  detailed: true,
});

const docs = new DocumentPanel({
  ui: documentElements(),
  me: "clerk",
  caseId: () => (state.case && state.phase === "in_call" ? state.case.case_id : null),
  detailed: true,
});

const login = loginPanel({ role: "clerk", onReady: start });

// ---- the phases: one transition function, one render ---------------------------------------------------

/**
 * Which phase may follow which (a phase may always be shown again, and logging out may always come).
 * @type {Record<Phase, Phase[]>}
 */
const NEXT = {
  login: ["idle"],
  idle: ["in_call", "wrap_up"], // wrap_up: a reloaded console whose write-up is still pending
  in_call: ["wrap_up", "idle"], // the citizen hung up; or the clerk ended or transferred the case
  wrap_up: ["idle"], // the write-up is sent
};

/**
 * Whether `next` may follow the phase shown (a refused move is logged).
 * @param {Phase} next
 */
function may(next) {
  const from = state.phase;
  if (next === from || next === "login" || NEXT[from].includes(next)) return true;
  console.warn(`console: no way from ${from} to ${next}`);
  return false;
}

/**
 * Move to `next`, if it may follow the phase shown; a wrong move is refused (and logged), never half made.
 * @param {Phase} next
 * @returns {boolean} whether it was made
 */
function go(next) {
  if (!may(next)) return false;
  state.phase = next;
  document.body.dataset.phase = next;
  render();
  return true;
}

/** The whole desk from `state`: which panels show in this phase, and every text in the language chosen. */
function render() {
  const phase = state.phase;
  const live = phase === "in_call";
  ui.desk.hidden = phase === "login";
  ui.logout.hidden = phase === "login";
  ui.casePanel.hidden = !state.case || (phase !== "in_call" && phase !== "wrap_up");
  // In the write-up the call is over: no video, controls or chat box; the lines stay for the notes.
  for (const node of [ui.stage, ui.callActions, ui.mediaState, ui.controls, ui.chatForm]) node.hidden = !live;
  ui.citizenEnded.hidden = phase !== "wrap_up";
  // The write-up: who ended the call, and the form's button says that it sends the outcome (the call is over).
  const ended = state.wrapBy === "citizen" ? "console.citizenEnded" : "console.wrapUp";
  ui.citizenEnded.dataset.i18n = ended;
  ui.citizenEnded.textContent = t(ended);
  ui.endCall.hidden = !live;
  const submit = phase === "wrap_up" ? "console.wrapSubmit" : "console.endSubmit";
  ui.endButton.dataset.i18n = submit;
  ui.endButton.textContent = t(submit);
  ui.reconnect.disabled = !panel.call;
  renderMe();
  renderStatus();
  renderOffers();
  renderCase();
  renderTransfer();
  renderConsent();
  renderHistory();
  renderRing();
  renderDay();
  renderGuide();
  panel.render();
  chat.render();
  docs.render();
  const key = ui.conn.dataset.key;
  if (key && key !== "conn.refused") ui.conn.textContent = t(key);
  const notice = ui.statusNotice.dataset.key;
  if (notice && !ui.statusNotice.hidden) ui.statusNotice.textContent = t(notice);
}

// ---- start and connection --------------------------------------------------------------------

/** @param {import("./common.js").User} user */
function start(user) {
  state.user = user;
  say(ui.error, "");
  go("idle");
  loadMatters();
  connect();
  loadDay();
  clearInterval(state.clock);
  state.clock = setInterval(renderStatusTime, 1000);
  clearInterval(state.dayTimer);
  state.dayTimer = setInterval(loadDay, DAY_EVERY_MS);
}

async function loadMatters() {
  const { status, data } = await api("GET", "/api/matters");
  if (status === 200 && Array.isArray(data)) {
    for (const m of /** @type {Matter[]} */ (data)) state.matters.set(m.code, m);
    renderCase();
    renderTransfer();
  }
}

function connect() {
  const client = new ClerkClient();
  state.client = client;

  client.on("connection", (connection) => {
    if (connection.state === "online") {
      connStatus("conn.online", "online");
      // The server set us offline when the connection dropped; come back as we were (still on break while writing
      // up a case the citizen hung up: the server keeps the clerk in wrap-up, without offers, until it is sent).
      // A status chosen before the first connection was up is sent now too.
      if (state.wanted !== "offline") setStatus(state.wanted);
    } else if (connection.state === "moving") {
      connStatus("conn.moving", "lost");
    } else if (connection.state === "lost") {
      if (ui.conn.dataset.key !== "conn.moving") connStatus("conn.lost", "lost");
    } else {
      state.client = null;
      if (connection.error && connection.error.code === "unauthorized") {
        stop();
        login.expired();
        return;
      }
      connStatus("conn.refused", "refused", { msg: errorText(connection.error, true) });
    }
  });
  client.on("session", (data) => {
    state.clerk = data.clerk;
    state.recordingPolicy = data.recording || "off";
    renderMe();
  });
  client.on("status", (data) => {
    state.status = data.status;
    if (data.reason === "missed_offer") {
      state.wanted = "break";
      say(ui.statusNotice, t("status.reason.missed_offer"), "error");
      ui.statusNotice.dataset.key = "status.reason.missed_offer";
    }
    renderStatus();
  });
  client.on("offer", addOffer);
  client.on("offer_withdrawn", (data) => removeOffer(data.ticket_id, data.reason));
  client.on("matched", startCase);
  client.on("signal", (data) => {
    if (panel.call && state.case && data.case_id === state.case.case_id) panel.call.handle(data);
  });
  client.on("case_ended", (data) => {
    if (data.outcome !== "citizen_ended") return;
    if (state.case && data.case_id === state.case.case_id && state.phase === "in_call") {
      wrapUp("citizen");
    } else if (!state.case && data.resumed) {
      // The page was reloaded while a write-up was pending: bring the form back.
      state.case = { case_id: data.case_id, ticket_id: "", citizen: {}, matter_code: "" };
      ui.endForm.reset();
      ui.notes.value = "";
      ui.endButton.disabled = false;
      wrapUp("resumed");
    }
  });
  client.on("consent", (data) => {
    if (!state.case || data.case_id !== state.case.case_id || state.phase !== "in_call") return;
    state.consent = { recording: data.recording, policy: data.policy };
    renderConsent();
    if (data.recording) startRecorder(data.case_id);
  });
  client.on("chat", (data) => {
    if (!state.case || data.case_id !== state.case.case_id || state.phase !== "in_call") return;
    chat.receive(data);
  });
  client.on("attachment", (data) => {
    if (!state.case || data.case_id !== state.case.case_id) return;
    docs.receive(data);
  });
  client.on("citizen_resumed", (data) => {
    // The citizen's page came back mid-call: offer again now rather than wait for ICE to time out.
    if (panel.call && state.case && data.case_id === state.case.case_id) panel.call.restart();
  });
}

/**
 * @param {string} key
 * @param {"online" | "lost" | "refused"} kind
 * @param {Record<string, unknown>} [vars]
 */
function connStatus(key, kind, vars) {
  ui.conn.dataset.state = kind;
  ui.conn.dataset.key = key;
  ui.conn.textContent = t(key, vars);
}

function stop() {
  if (state.client) state.client.close();
  state.client = null;
  closeCall();
  closeTransfer();
  chat.clear();
  docs.clear();
  clearInterval(state.ticker);
  state.ticker = undefined;
  clearInterval(state.clock);
  clearInterval(state.dayTimer);
  state.clock = state.dayTimer = undefined;
  state.offers.clear();
  state.case = null;
  state.status = state.wanted = "offline";
  go("login");
  offersChanged();
}

ui.logout.addEventListener("click", async () => {
  stop();
  await login.logout();
});

// ---- who and status ------------------------------------------------------------------------------------

function renderMe() {
  /** @type {{display_name?: string, username?: string, region?: string, skills?: string[]}} */
  const c = state.clerk || state.user || {};
  ui.meName.textContent = c.display_name || c.username || "";
  ui.meDetail.textContent = t("console.me", {
    name: c.display_name || "",
    region: regionName(c.region),
    skills: (c.skills || []).map(skillName).join("、") || "—",
  });
}

function renderStatus() {
  const shown = state.phase === "wrap_up" ? "wrap_up" : state.status;
  if (shown !== state.shownStatus) {
    state.shownStatus = shown;
    state.statusSince = performance.now();
  }
  renderStatusTime();
  ui.status.dataset.status = shown;
  ui.status.dataset.i18n = `status.${shown}`;
  ui.status.textContent = t(`status.${shown}`);
  for (const button of $$("[data-set-status]")) {
    const pressed = state.phase !== "wrap_up" && button.dataset.setStatus === state.wanted;
    button.setAttribute("aria-pressed", String(pressed));
  }
}

/**
 * Ask the server for a status. Before the connection is up (just logged in) or while it is down, the choice is kept
 * and sent as soon as it is up: a press is never lost to a "not connected" error.
 * @param {string} status
 */
async function setStatus(status) {
  if (!state.client || !state.client.socket.connected) {
    state.wanted = status;
    renderStatus();
    return { ok: false, error: { code: "network", message: "not connected yet: sent once connected" } };
  }
  const answer = await send("set_status", { status });
  if (answer.ok) {
    state.wanted = status;
    state.status = answer.status || status;
    if (status === "available") say(ui.statusNotice, "");
    renderStatus();
  } else {
    say(ui.error, errorText(answer.error, true), "error");
  }
  return answer;
}

for (const button of $$("[data-set-status]")) {
  button.addEventListener("click", () => {
    say(ui.error, "");
    if (button.dataset.setStatus === "available") ringer.askForNotifications(); // a press: the browser may ask
    setStatus(button.dataset.setStatus || "");
  });
}

/** How long in the status shown (a wrap-up's timer too), in minutes and seconds. */
function renderStatusTime() {
  const seconds = Math.max(0, Math.floor((performance.now() - state.statusSince) / 1000));
  ui.statusTime.textContent = state.shownStatus ? t("console.statusFor", { t: clockSpan(seconds) }) : "";
  ui.statusTime.dataset.seconds = String(seconds);
}

/** @param {number} seconds */
function clockSpan(seconds) {
  const m = Math.floor(seconds / 60);
  const s = seconds % 60;
  const two = (/** @type {number} */ n) => String(n).padStart(2, "0");
  return m >= 60 ? `${Math.floor(m / 60)}:${two(m % 60)}:${two(s)}` : `${m}:${two(s)}`;
}

// ---- the ring, and the keys ----------------------------------------------------------------------------

function renderRing() {
  ui.ring.setAttribute("aria-pressed", String(ringer.sound));
  const key = ringer.sound ? "console.ringOn" : "console.ringOff";
  ui.ring.textContent = t(key);
  ui.ring.dataset.i18n = key;
}

ui.ring.addEventListener("click", () => {
  ringer.setSound(!ringer.sound);
  if (ringer.sound) ringer.askForNotifications();
  offersChanged();
  renderRing();
});

/** Ring while an offer waits; each offer's notification leaves with it. */
function offersChanged() {
  if (state.offers.size && state.phase !== "login") ringer.start();
  else ringer.stop();
  for (const [ticket, shown] of state.notices) {
    if (state.offers.has(ticket)) continue;
    shown.close();
    state.notices.delete(ticket);
  }
}

/** The offer that has waited longest: the one the keys act on. */
function firstOffer() {
  let first = null;
  for (const offer of state.offers.values()) if (!first || offer.since < first.since) first = offer;
  return first;
}

// A (or Alt+A while typing) accepts the first offer, D (Alt+D) declines it.
document.addEventListener("keydown", (event) => {
  if (state.phase === "login" || event.ctrlKey || event.metaKey || event.repeat) return;
  const target = event.target instanceof HTMLElement ? event.target : null;
  const typing = Boolean(target && target.closest("input, textarea, select, [contenteditable]"));
  if (typing && !event.altKey) return;
  const key = event.code === "KeyA" ? "accept" : event.code === "KeyD" ? "decline" : null;
  const offer = key ? firstOffer() : null;
  if (!offer) return;
  event.preventDefault();
  if (key === "accept") accept(offer);
  else decline(offer);
});

// ---- the clerk's day -------------------------------------------------------------------------------------

async function loadDay() {
  const { status, data } = await api("GET", "/api/clerk/day");
  if (status !== 200 || !data) return;
  state.day = /** @type {ClerkDay} */ (data);
  renderDay();
}

function renderDay() {
  const day = state.day;
  ui.day.hidden = !day;
  if (!day) return;
  const handle = day.handle_s_avg === null ? "—" : clockSpan(Math.round(day.handle_s_avg));
  const rating = day.ratings.average === null ? "—" : day.ratings.average.toFixed(1);
  ui.dayCases.textContent = String(day.cases);
  ui.dayHandle.textContent = handle;
  ui.dayRating.textContent = t("console.dayRating", { avg: rating, n: day.ratings.count });
  ui.dayPoor.textContent = String(day.ratings.poor);
}

// ---- offers ---------------------------------------------------------------------------------------------

/** @param {Offer} offer */
function addOffer(offer) {
  const now = performance.now();
  const entry = { ...offer, deadline: now + offer.expires_in_s * 1000, since: now - offer.waited_s * 1000 };
  state.offers.set(offer.ticket_id, entry);
  state.offerOfCase.set(offer.case_id, offer);
  renderOffers();
  if (!state.ticker) state.ticker = setInterval(tick, TICK_MS);
  offersChanged();
  if (!state.notices.has(offer.ticket_id)) {
    const shown = ringer.notify(
      t("console.ringTitle", { matter: matterName(offer) }),
      t("console.ringBody", { origin: regionName(offer.origin_region), s: offer.waited_s, left: offer.expires_in_s }),
      offer.ticket_id,
    );
    if (shown) state.notices.set(offer.ticket_id, shown);
  }
}

/**
 * @param {string} ticketId
 * @param {string} [reason]
 */
function removeOffer(ticketId, reason) {
  if (!state.offers.delete(ticketId)) return;
  renderOffers();
  offersChanged();
  if (reason && reason !== "declined" && reason !== "accepted") {
    const key = `console.withdrawn.${reason}`;
    delete ui.statusNotice.dataset.key;
    say(ui.statusNotice, t(t(key) === key ? "console.withdrawn.other" : key, { id: ticketId }), "info");
  }
}

/** @param {Offer | string | null | undefined} offerOrCode */
function matterName(offerOrCode) {
  if (offerOrCode && typeof offerOrCode === "object") {
    return lang() === "en" ? offerOrCode.matter_name_en || offerOrCode.matter_name : offerOrCode.matter_name;
  }
  const code = offerOrCode || "";
  const m = state.matters.get(code);
  if (!m) return code;
  return (m.name && (m.name[lang() === "en" ? "en" : "zh"] || m.name.zh)) || code;
}

function renderOffers() {
  const items = [...state.offers.values()].map((o) =>
    el(
      "li",
      { class: "offer", dataset: { ticket: o.ticket_id } },
      el(
        "div",
        { class: "offer-main" },
        el(
          "p",
          { class: "offer-title" },
          o.priority === "priority" ? el("span", { class: "badge" }, t("console.priority")) : null,
          matterName(o),
        ),
        el(
          "p",
          { class: "offer-from" },
          t("console.offerFrom", { origin: regionName(o.origin_region), channel: t(`channel.${o.channel}`) }),
          " → ",
          regionName(o.target_region),
        ),
        el("p", { class: "offer-times" }, el("span", { class: "waited" }), " · ", el("span", { class: "countdown" })),
        el("div", { class: "meter" }, el("span", { class: "meter-fill" })),
      ),
      el(
        "div",
        { class: "offer-actions" },
        el(
          "button",
          { type: "button", class: "accept primary", onclick: () => accept(o), "aria-keyshortcuts": "A" },
          t("console.accept"),
          " ",
          el("kbd", {}, "A"),
        ),
        el(
          "button",
          { type: "button", class: "decline secondary", onclick: () => decline(o), "aria-keyshortcuts": "D" },
          t("console.decline"),
          " ",
          el("kbd", {}, "D"),
        ),
      ),
    ),
  );
  ui.offers.replaceChildren(...items);
  ui.noOffers.hidden = items.length > 0;
  tick();
}

function tick() {
  const now = performance.now();
  for (const item of $$(".offer", ui.offers)) {
    const o = state.offers.get(item.dataset.ticket || "");
    if (!o) continue;
    const left = Math.max(0, (o.deadline - now) / 1000);
    $(".countdown", item).textContent = t("console.offerExpires", { s: Math.ceil(left) });
    $(".waited", item).textContent = t("console.offerWaited", { s: Math.round((now - o.since) / 1000) });
    const total = Math.max(1, o.expires_in_s);
    $(".meter-fill", item).style.width = `${Math.min(100, (left / total) * 100)}%`;
    item.classList.toggle("urgent", left <= 5);
  }
  if (!state.offers.size) {
    clearInterval(state.ticker);
    state.ticker = undefined;
  }
}

/** @param {Offer} offer */
async function accept(offer) {
  say(ui.error, "");
  setOfferBusy(offer.ticket_id, true);
  const answer = await send("accept", { ticket_id: offer.ticket_id });
  if (answer.ok) {
    state.offers.delete(offer.ticket_id);
    renderOffers(); // `matched` follows the ack and opens the case
    offersChanged();
  } else {
    setOfferBusy(offer.ticket_id, false);
    say(ui.error, errorText(answer.error, true), "error");
    if (answer.error && ["not_found", "conflict"].includes(answer.error.code)) removeOffer(offer.ticket_id);
  }
}

/** @param {Offer} offer */
async function decline(offer) {
  setOfferBusy(offer.ticket_id, true);
  const answer = await send("decline", { ticket_id: offer.ticket_id });
  if (answer.ok || (answer.error && answer.error.code === "not_found")) {
    removeOffer(offer.ticket_id, "declined");
  } else {
    setOfferBusy(offer.ticket_id, false);
    say(ui.error, errorText(answer.error, true), "error");
  }
}

/**
 * @param {string} ticketId
 * @param {boolean} busy
 */
function setOfferBusy(ticketId, busy) {
  const item = ui.offers.querySelector(`[data-ticket="${CSS.escape(ticketId)}"]`);
  if (item) for (const b of item.querySelectorAll("button")) b.disabled = busy;
}

// ---- the case -----------------------------------------------------------------------------------

/** @param {ClerkMatched} data */
function startCase(data) {
  if (state.case && state.case.case_id === data.case_id && panel.call) return; // seen again after a reconnect
  if (!may("in_call")) return;
  closeCall();
  say(ui.error, "");
  say(ui.statusNotice, "");
  const offer = state.offerOfCase.get(data.case_id);
  if (!state.case || state.case.case_id !== data.case_id) {
    chat.clear();
    docs.clear();
  }
  state.case = {
    case_id: data.case_id,
    ticket_id: data.ticket_id,
    citizen: data.citizen || {},
    matter_code: data.matter_code || (offer && offer.matter_code) || "",
  };
  ui.endForm.reset();
  ui.notes.value = "";
  ui.endButton.disabled = false;
  closeTransfer();
  loadGuide(state.case.matter_code);

  const localMedia = openCamera();
  state.localMedia = localMedia;
  state.iceServers = data.ice_servers;
  state.consent = null;
  const caseId = data.case_id;
  panel.open({ caseId, iceServers: data.ice_servers, localMedia, emit: send });
  go("in_call");
  // After a reload mid-case the answer was given already: offer, and the server records only if it was yes.
  if (data.resumed && state.recordingPolicy !== "off") startRecorder(caseId);
  ui.casePanel.scrollIntoView({ block: "start", behavior: "smooth" });
}

function renderCase() {
  const c = state.case;
  if (!c) return;
  const offer = state.offerOfCase.get(c.case_id);
  ui.caseId.textContent = c.case_id;
  ui.caseMatter.textContent = offer ? matterName(offer) : matterName(c.matter_code);
  const origin = c.citizen.origin_region || (offer && offer.origin_region);
  const channel = c.citizen.channel || (offer && offer.channel);
  ui.caseCitizen.textContent = origin
    ? t("console.citizenFrom", { origin: regionName(origin), channel: channel ? t(`channel.${channel}`) : "" })
    : "—";
}

ui.reconnect.addEventListener("click", () => {
  if (panel.call) panel.call.restart();
});

// ---- recording -------------------------------------------------------------------------------

/** @param {string} caseId */
function startRecorder(caseId) {
  const { localMedia } = state;
  if (!panel.call || !localMedia) return;
  panel.record({ caseId, iceServers: state.iceServers, localMedia, emit: send });
}

function renderConsent() {
  const answer = state.consent;
  let key = null;
  if (panel.call && state.recordingPolicy !== "off") {
    if (!answer) key = "console.consent.waiting";
    else if (answer.recording) key = "console.consent.yes";
    else key = answer.policy === "required" ? "console.consent.requiredNo" : "console.consent.no";
  }
  ui.consent.hidden = !key;
  ui.consent.textContent = key ? t(key) : "";
  ui.consent.dataset.key = key || "";
  ui.consent.dataset.kind = key === "console.consent.requiredNo" ? "error" : "info";
}

function closeCall() {
  panel.close();
  state.localMedia = null;
  state.consent = null;
  renderConsent();
}

/**
 * The call is over and the case is written up (the status shows the wrap-up's time); the server offers no new
 * citizen until the outcome is sent.
 * @param {"citizen" | "clerk" | "resumed"} by  who ended the call (resumed: a reloaded console, we do not know)
 */
function wrapUp(by) {
  closeCall();
  closeTransfer();
  state.wrapBy = by;
  go("wrap_up");
  ui.notes.focus();
}

function chosenOutcome() {
  const checked = ui.endForm.querySelector("input[name=outcome]:checked");
  return (checked instanceof HTMLInputElement && checked.value) || "resolved";
}

// "End the call, then write it up": the citizen's call ends now (they may rate it), the outcome chosen so far is
// the case's until the write-up is sent.
ui.endCall.addEventListener("click", async () => {
  const c = state.case;
  if (!c || state.phase !== "in_call") return;
  ui.endCall.disabled = true;
  const answer = await send("end_case", {
    case_id: c.case_id,
    outcome: chosenOutcome(),
    notes: ui.notes.value.trim().slice(0, 2000),
    wrap_up: true,
  });
  ui.endCall.disabled = false;
  if (!answer.ok) {
    say(ui.error, errorText(answer.error, true), "error");
    return;
  }
  if (state.case === c && state.phase === "in_call") wrapUp("clerk");
});

ui.endForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const c = state.case;
  if (!c) return;
  const outcome = chosenOutcome();
  ui.endButton.disabled = true;
  const answer = await send("end_case", {
    case_id: c.case_id,
    outcome,
    notes: ui.notes.value.trim().slice(0, 2000),
  });
  ui.endButton.disabled = false;
  if (!answer.ok) {
    say(ui.error, errorText(answer.error, true), "error");
    return;
  }
  finishCase({ case_id: c.case_id, outcome, at: Date.now() / 1000 });
});

/**
 * The case is off this clerk's desk (ended or transferred): close it and keep it in today's list.
 * @param {HistoryItem} item
 */
function finishCase(item) {
  closeCall();
  closeTransfer();
  chat.clear();
  docs.clear();
  addHistory(item);
  loadDay();
  state.case = null;
  say(ui.error, "");
  go("idle");
}

// ---- the matter's guidance (materials, steps, time limit), beside the video -------------------------------

/** @param {string} code */
async function loadGuide(code) {
  if (!code || state.guides.has(code)) {
    renderGuide();
    return;
  }
  const { status, data } = await api("GET", `/api/matters/${encodeURIComponent(code)}`);
  if (status === 200 || status === 404) {
    state.guides.set(code, status === 200 && data && data.guidance ? /** @type {Guidance} */ (data.guidance) : null);
  }
  renderGuide();
}

function renderGuide() {
  const c = state.case;
  const guide = c ? state.guides.get(c.matter_code) : undefined;
  ui.guide.hidden = !guide;
  if (!guide) return;
  /** @param {{zh: string, en?: string}} w */
  const words = (w) => (lang() === "en" ? w.en || w.zh : w.zh);
  ui.guideMaterials.replaceChildren(...guide.materials.map((m) => el("li", {}, words(m))));
  ui.guideSteps.replaceChildren(...guide.steps.map((m) => el("li", {}, words(m))));
  ui.guideLimit.textContent = guide.time_limit ? words(guide.time_limit) : "—";
}

// ---- transfer to another province or matter -------------------------------------------------------------

/** The queue the case is in now: the province it was offered in (else the clerk's own) and its matter's skill. */
function currentQueue() {
  const c = state.case;
  const offer = c && state.offerOfCase.get(c.case_id);
  const region = (offer && offer.target_region) || (state.clerk && state.clerk.region) || "";
  const matter = c ? state.matters.get(c.matter_code) : undefined;
  return { province: region ? region.slice(0, 2) + "0000" : "", skill: matter ? matter.skill : null };
}

function openTransfer() {
  const c = state.case;
  if (!c || state.phase !== "in_call") return;
  state.transfer = { matter: c.matter_code, province: "" };
  ui.transferNote.value = "";
  say(ui.transferError, "");
  ui.transferForm.hidden = false;
  ui.transferOpen.setAttribute("aria-expanded", "true");
  renderTransfer();
  ui.transferForm.scrollIntoView({ block: "nearest", behavior: "smooth" });
  ui.transferMatter.focus();
}

function closeTransfer() {
  state.transfer = null;
  ui.transferForm.hidden = true;
  ui.transferOpen.setAttribute("aria-expanded", "false");
  say(ui.transferError, "");
}

function renderTransfer() {
  const tr = state.transfer;
  if (!tr) return;
  const matters = [...state.matters.values()];
  const options = matters.map((m) => el("option", { value: m.code }, `${matterName(m.code)}（${m.code}）`));
  if (tr.matter && !state.matters.has(tr.matter)) {
    options.unshift(el("option", { value: tr.matter }, tr.matter)); // the catalog is not loaded (yet)
  }
  ui.transferMatter.replaceChildren(...options);
  ui.transferMatter.value = tr.matter || "";

  const matter = state.matters.get(tr.matter);
  const provinces = matter ? matter.provinces : [];
  if (!provinces.includes(tr.province)) tr.province = "";
  const here = currentQueue();
  ui.transferProvince.replaceChildren(
    el("option", { value: "" }, t("console.transferChoose")),
    ...provinces.map((code) => {
      // The server refuses a transfer into the queue the case is already in.
      const current = code === here.province && matter?.skill === here.skill;
      const name = regionName(code);
      return el(
        "option",
        { value: code, disabled: current },
        current ? t("console.transferCurrent", { name }) : name,
      );
    }),
  );
  ui.transferProvince.value = tr.province;
  ui.transferSummary.textContent = tr.province
    ? t("console.transferSummary", { region: regionName(tr.province), matter: matterName(tr.matter) })
    : "";
}

ui.transferOpen.addEventListener("click", () => (state.transfer ? closeTransfer() : openTransfer()));
ui.transferCancel.addEventListener("click", closeTransfer);

ui.transferMatter.addEventListener("change", () => {
  if (!state.transfer) return;
  state.transfer.matter = ui.transferMatter.value;
  renderTransfer();
});

ui.transferProvince.addEventListener("change", () => {
  if (!state.transfer) return;
  state.transfer.province = ui.transferProvince.value;
  say(ui.transferError, "");
  renderTransfer();
});

ui.transferForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const c = state.case;
  const tr = state.transfer;
  if (!c || !tr || state.phase !== "in_call") return;
  const note = ui.transferNote.value.trim().slice(0, 2000);
  if (!tr.province) {
    say(ui.transferError, t("console.transferNeedProvince"), "error");
    ui.transferProvince.focus();
    return;
  }
  if (!note) {
    say(ui.transferError, t("console.transferNeedNote"), "error");
    ui.transferNote.focus();
    return;
  }
  say(ui.transferError, "");
  ui.transferSubmit.disabled = true;
  /** @type {{case_id: string, target_region: string, note: string, matter_code?: string}} */
  const payload = { case_id: c.case_id, target_region: tr.province, note };
  if (tr.matter) payload.matter_code = tr.matter;
  const answer = await send("transfer", payload);
  ui.transferSubmit.disabled = false;
  if (!answer.ok) {
    /** @type {Partial<ErrorInfo>} */
    const error = answer.error || {};
    const text =
      error.code === "bad_request"
        ? `${t("console.transferBadRequest")}${error.message ? `（${error.message}）` : ""}`
        : errorText(error, true);
    say(ui.transferError, text, "error");
    return;
  }
  if (!state.case || state.case.case_id !== c.case_id) return; // closed meanwhile
  const region = answer.target_region || tr.province;
  const code = answer.matter_code || tr.matter;
  // The server frees the clerk at once and says so with `status`.
  finishCase({ case_id: c.case_id, outcome: "transferred", to: region, at: Date.now() / 1000 });
  delete ui.statusNotice.dataset.key;
  const done = t("console.transferDone", { id: c.case_id, region: regionName(region), matter: matterName(code) });
  say(ui.statusNotice, done, "ok");
});

// ---- history of the day -----------------------------------------------------------------------------

function historyKey() {
  const who = (state.clerk && state.clerk.id) || (state.user && state.user.id) || "";
  return `rvw.history.${who}`;
}

function today() {
  const d = new Date();
  return `${d.getFullYear()}-${d.getMonth() + 1}-${d.getDate()}`;
}

/** @returns {HistoryItem[]} */
function readHistory() {
  try {
    const saved = JSON.parse(session.get(historyKey()) || "null");
    return saved && saved.day === today() && Array.isArray(saved.items) ? saved.items : [];
  } catch {
    return [];
  }
}

/** @param {HistoryItem} item */
function addHistory(item) {
  const items = readHistory().filter((i) => i.case_id !== item.case_id);
  items.unshift(item);
  session.set(historyKey(), JSON.stringify({ day: today(), items }));
  renderHistory();
}

function renderHistory() {
  const items = readHistory();
  ui.history.replaceChildren(
    ...items.map((i) =>
      el(
        "li",
        { dataset: { case: i.case_id } },
        el("code", {}, i.case_id),
        el("span", { class: `outcome outcome-${i.outcome}` }, t(`outcome.${i.outcome}`)),
        i.to ? el("span", { class: "muted" }, `→ ${regionName(i.to)}`) : null,
        el("span", { class: "muted" }, clock(i.at)),
      ),
    ),
  );
  ui.noHistory.hidden = items.length > 0;
}

// ---- language ---------------------------------------------------------------------------------------

onChange(render);

window.rvwDebug = {
  pc: () => (panel.call ? panel.call.pc : null),
  state: () => state.phase,
  go: (/** @type {any} */ next) => go(next), // for tests of the transition table: a refused move returns false
  caseId: () => (state.case ? state.case.case_id : null),
  status: () => state.status,
  call: () => panel.call,
  recorder: () => (panel.recorder ? panel.recorder.state : null),
  ringing: () => ringer.ringing,
  chimes: () => ringer.chimes,
};
