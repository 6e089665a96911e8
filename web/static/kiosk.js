// @ts-check
// The citizen's page (kiosk or browser): choose a matter and a province, queue, talk to the clerk, rate.

import { $, $$, api, duration, el, errorText, say, session, showScreen } from "./common.js";
import { lang, localName, onChange, regionName, setLang, skillName, t } from "./i18n.js";
import { ChatPanel } from "./chat.js";
import { DocumentPanel, documentElements } from "./documents.js";
import { MicMeter, checkDevices, release } from "./devices.js";
import { CitizenClient } from "./citizen_client.js";
import { CallPanel, callElements } from "./call_panel.js";
import { openCamera } from "./rtc.js";

/**
 * @typedef {import("../types/api").Matter} Matter
 * @typedef {import("../types/api").CitizenSession} CitizenSession
 * @typedef {import("../types/api").QueueUpdate} QueueUpdate
 * @typedef {import("../types/api").CitizenMatched} CitizenMatched
 * @typedef {import("../types/api").CaseEnded} CaseEnded
 * @typedef {import("../types/api").Transferred} Transferred
 * @typedef {import("../types/api").ClerkAway} ClerkAway
 * @typedef {import("../types/api").ChatLine} ChatLine
 * @typedef {import("./documents.js").AttachmentEvent} AttachmentEvent
 * @typedef {{ticket_id: string, case_id: string | null, position?: number, estimated_wait_s?: number | null}} Ticket
 *   estimated_wait_s null: nobody on shift to estimate from; undefined: not heard yet
 * @typedef {{key: string, vars?: Record<string, string>, note?: string}} Notice  why the citizen waits again
 * @typedef {{caseId: string, settle: (agreed: boolean) => void}} ConsentAsk  the recording question, while open
 *
 * @typedef {object} State
 * @property {"matter"|"province"|"check"|"waiting"|"in_call"|"rating"|"done"} screen
 * @property {import("./devices.js").DeviceCheck|null} devices  the camera and microphone check, while shown
 * @property {string} origin  the citizen's region (a kiosk's comes with its `session`)
 * @property {Matter[]} matters
 * @property {Matter|null} matter
 * @property {string|null} province
 * @property {Ticket|null} ticket
 * @property {string|null} caseId
 * @property {Notice|null} notice  transferred or re-queued: shown while waiting again
 * @property {number|null} clerkAway  grace_s while the clerk's console is away mid-call
 * @property {{display_name?: string, region?: string}|null} clerk
 * @property {boolean} inCall  the call of `caseId` is on (the panel holds its connection)
 * @property {{case_id: string|null, outcome: string}|null} ended
 * @property {number|null} level  the rating chosen
 * @property {boolean} rated
 * @property {number|undefined} doneTimer
 * @property {{policy: string, keep_days: number}} recording  the server's recording terms (the `session` event)
 * @property {ConsentAsk|null} consentAsk
 * @property {object|null} callToken  changes with every call: late promises of an older call do nothing
 * @property {string|null} apiToken  for REST as this citizen (documents), from the `session` event
 */

const DONE_RESET_MS = 60_000;
const IDLE_RESET_MS = 60_000; // a kiosk left alone this long (not waiting, not in a call) is made ready for the next person
const TEXT_KEY = "rvw.text";

const KIOSK_KEY = "rvw.kiosk_token";
const params = new URLSearchParams(location.search);
// ?region=... is a citizen's own browser; a provisioned kiosk opens plain /kiosk.
const kioskToken = params.has("region") ? null : provisionedKiosk();
const webRegion = params.get("region") || "310000";
/** @type {Record<string, string>} */
const freshAuth = kioskToken ? { kiosk_token: kioskToken } : { channel: "web", region: webRegion };
const identity = kioskToken ? "kiosk" : `web:${webRegion}`;

/**
 * A kiosk is provisioned once (/kiosk/setup, or a link with #kiosk_token=... whose fragment never
 * leaves the browser): its token is kept in this browser's localStorage, never in the address.
 */
function provisionedKiosk() {
  const fragment = new URLSearchParams(location.hash.slice(1)).get("kiosk_token");
  try {
    if (fragment) {
      localStorage.setItem(KIOSK_KEY, fragment);
      history.replaceState(null, "", location.pathname + location.search); // out of the history too
    }
    return localStorage.getItem(KIOSK_KEY);
  } catch {
    return fragment; // storage refused (private mode): this page only
  }
}

const ui = {
  conn: $("#conn-status"),
  error: $("#kiosk-error"),
  where: $("#where"),
  matters: $("#matter-list"),
  chosenMatter: $("#chosen-matter"),
  provinces: $("#province-list"),
  ask: /** @type {HTMLButtonElement} */ ($("#ask-help")),
  ticket: $("#ticket-id"),
  position: $("#queue-position"),
  wait: $("#queue-wait"),
  waitNote: $("#queue-wait-note"),
  waitingCase: $("#waiting-case"),
  waitingNotice: $("#waiting-notice"),
  cancel: /** @type {HTMLButtonElement} */ ($("#cancel-ticket")),
  callTitle: $("#call-title"),
  mediaState: $("#media-state"),
  clerkAway: $("#clerk-away"),
  cameraNote: $("#camera-note"),
  hangUp: /** @type {HTMLButtonElement} */ ($("#hang-up")),
  endedReason: $("#ended-reason"),
  rateCase: $("#rate-case"),
  comment: /** @type {HTMLTextAreaElement} */ ($("#rate-comment")),
  submitRating: /** @type {HTMLButtonElement} */ ($("#submit-rating")),
  skipRating: /** @type {HTMLButtonElement} */ ($("#skip-rating")),
  doneTitle: $("#done-title"),
  doneText: $("#done-text"),
  startOver: /** @type {HTMLButtonElement} */ ($("#start-over")),
  chatList: $("#chat-list"),
  chatError: $("#chat-error"),
  chatForm: /** @type {HTMLFormElement} */ ($("#chat-form")),
  chatInput: /** @type {HTMLTextAreaElement} */ ($("#chat-input")),
  chatSend: /** @type {HTMLButtonElement} */ ($("#chat-send")),
  consent: $("#consent"),
  consentText: $("#consent-text"),
  consentChoice: $("#consent-choice"),
  consentYes: /** @type {HTMLButtonElement} */ ($("#consent-yes")),
  consentNo: /** @type {HTMLButtonElement} */ ($("#consent-no")),
  back: /** @type {HTMLButtonElement} */ ($("#back-to-matter")),
};

/** @type {State} */
const state = {
  screen: "matter",
  origin: kioskToken ? "" : webRegion,
  matters: [],
  matter: null,
  province: null,
  ticket: null,
  caseId: null,
  notice: null,
  clerkAway: null,
  clerk: null,
  inCall: false,
  ended: null,
  level: null,
  rated: false,
  doneTimer: undefined,
  recording: { policy: "off", keep_days: 0 },
  consentAsk: null,
  callToken: null,
  apiToken: null,
  devices: null,
};

const panel = new CallPanel({
  ui: callElements(),
  mediaState: ui.mediaState,
  polite: true,
  words: { share: "kiosk.shareScreen", stopShare: "kiosk.stopShare", viewOther: "call.viewClerk", poor: "link.poor" },
  onError: (text) => tell(text, "error"),
});

const chat = new ChatPanel({
  ui: { list: ui.chatList, error: ui.chatError, form: ui.chatForm, input: ui.chatInput, send: ui.chatSend },
  me: "citizen",
  deliver: (text) => client.request("chat", { case_id: state.caseId, text }),
  canSend: () => Boolean(state.inCall && state.caseId),
});

const docs = new DocumentPanel({
  ui: documentElements(),
  me: "citizen",
  caseId: () => (state.inCall && state.caseId) || null,
  token: () => state.apiToken,
  camera: () => panel.ui.localVideo,
});
// A citizen in their own browser may also send a file; a kiosk has only its camera.
$("#doc-pick").hidden = Boolean(kioskToken);

// ---- the screens: one transition function -----------------------------------------------------------

/** @typedef {State["screen"]} Screen */

/**
 * Which screen may follow which. Besides these, the start screen may always come (a fresh start, a closed
 * ticket) and so may the call (the clerk answered, also after a reload); a screen may be shown again.
 * @type {Record<Screen, Screen[]>}
 */
const NEXT = {
  matter: ["province", "waiting"], // waiting: the server tells a reloaded page about its ticket
  province: ["check"],
  check: ["province", "waiting"],
  waiting: ["province"], // the request expired: the same choice, to ask again
  in_call: ["rating", "waiting"], // ended; or transferred and re-queued
  rating: ["done"],
  done: [],
};

/** @type {Record<Screen, string>} */
const SECTION = {
  matter: "screen-matter",
  province: "screen-province",
  check: "screen-check",
  waiting: "screen-waiting",
  in_call: "screen-call",
  rating: "screen-rate",
  done: "screen-done",
};

/**
 * Show `next`, if it may follow the screen shown; a wrong move is refused (and logged), never half made.
 * @param {Screen} next
 * @returns {boolean} whether it was made
 */
function go(next) {
  const from = state.screen;
  if (next !== from && next !== "matter" && next !== "in_call" && !NEXT[from].includes(next)) {
    console.warn(`kiosk: no way from the ${from} screen to ${next}`);
    return false;
  }
  if (from === "check" && next !== from) stopCheck(); // leaving the check lets the camera go, however it is left
  state.screen = next;
  document.body.dataset.screen = next;
  const section = document.getElementById(SECTION[next]);
  if (next !== from || (section && section.hidden)) showScreen(SECTION[next]);
  return true;
}

// ---- the connection ------------------------------------------------------------

const client = new CitizenClient({ fresh: freshAuth, identity });

/** @typedef {"error" | "info" | "ok"} Kind */

/**
 * The notice at the top of the page; one given by its i18n key (tellKey) follows language changes.
 * @param {string} text
 * @param {Kind} [kind]
 */
function tell(text, kind = "info") {
  delete ui.error.dataset.key;
  say(ui.error, text, kind);
}

/**
 * @param {string} key
 * @param {Kind} [kind]
 */
function tellKey(key, kind = "info") {
  say(ui.error, t(key), kind);
  ui.error.dataset.key = key;
}

/**
 * @param {string} key
 * @param {string} kind
 * @param {Record<string, string>} [vars]
 */
function connStatus(key, kind, vars) {
  ui.conn.dataset.state = kind;
  ui.conn.textContent = t(key, vars);
  ui.conn.dataset.key = key;
}

client.on("connection", (connection) => {
  if (connection.state === "online") connStatus("conn.online", "online");
  else if (connection.state === "moving") connStatus("conn.moving", "lost");
  else if (connection.state === "lost") {
    if (ui.conn.dataset.key !== "conn.moving") connStatus("conn.lost", "lost");
  } else if (connection.replaced) {
    connStatus("conn.refused", "refused", { msg: t("err.replaced") });
    tellKey("err.replaced", "error");
  } else {
    const error = connection.error || { code: "unknown" };
    let message = errorText(error);
    if (error.code === "unauthorized" && kioskToken) message = t("err.kioskToken");
    else if (error.code === "bad_request" && !kioskToken) message = t("err.region");
    connStatus("conn.refused", "refused", { msg: message });
    tell(message, "error");
  }
});

client.on("session", (data) => {
  state.origin = data.origin_region || state.origin;
  if (data.recording) state.recording = data.recording;
  state.apiToken = data.api_token || null;
  renderWhere();
  // Back after a drop: the server says what we come back to. A ticket closed while we were away is gone.
  if (data.resumed_to === "none" && state.screen === "waiting") ticketClosed("abandoned");
});

client.on("queue_update", (data) => {
  if (state.inCall) return;
  if (!state.ticket || state.ticket.ticket_id !== data.ticket_id) {
    // After a page reload the server tells us about our ticket again.
    state.ticket = { ticket_id: data.ticket_id, case_id: state.caseId };
  }
  Object.assign(state.ticket, { position: data.position, estimated_wait_s: data.estimated_wait_s });
  showWaiting();
});

client.on("matched", (data) => {
  if (state.inCall && state.caseId === data.case_id) return; // our own call, seen again after a reconnect
  startCall(data);
});

client.on("signal", (data) => {
  if (panel.call && state.inCall && data.case_id === state.caseId) panel.call.handle(data);
});

client.on("case_ended", (data) => {
  if (data.outcome === "expired") {
    // Waited past the maximum: the request is over. Only a waiting request can expire.
    if (!state.inCall && (!state.ticket || !data.ticket_id || data.ticket_id === state.ticket.ticket_id)) {
      requestExpired();
    }
    return;
  }
  if (data.outcome === "cancelled" || data.outcome === "abandoned") {
    if (!state.inCall && state.ticket && (!data.ticket_id || data.ticket_id === state.ticket.ticket_id)) {
      ticketClosed(data.outcome);
    }
    return;
  }
  if (data.case_id === state.caseId && state.screen === "in_call") callEnded(data.outcome);
});

// The clerk handed the case to another province or matter: the call is over, the same case waits first in line.
client.on("transferred", (data) => {
  backInQueue(data, {
    key: "kiosk.transferred",
    vars: { region: data.target_region, skill: data.skill },
    note: data.note || "",
  });
});

// The clerk's console did not come back in time: the same case waits first in line again.
client.on("requeued", (data) => backInQueue(data, { key: "kiosk.requeued" }));

client.on("chat", (data) => {
  if (state.screen !== "in_call" || !state.inCall || data.case_id !== state.caseId) return;
  chat.receive(data);
});

client.on("attachment", (data) => {
  if (state.screen !== "in_call" || !state.inCall || data.case_id !== state.caseId) return;
  docs.receive(data);
});

client.on("clerk_away", (data) => {
  if (!state.inCall || data.case_id !== state.caseId) return;
  state.clerkAway = Number(data.grace_s) || 0;
  renderClerkAway();
});

client.on("clerk_back", (data) => {
  if (data.case_id !== state.caseId) return;
  state.clerkAway = null;
  renderClerkAway();
});

// ---- choosing -----------------------------------------------------------------------

async function loadMatters() {
  const { status, data } = await api("GET", "/api/matters");
  if (status !== 200 || !Array.isArray(data)) {
    ui.matters.replaceChildren(el("p", { class: "notice", "data-kind": "error" }, errorText(data && data.error)));
    return;
  }
  state.matters = data;
  renderMatters();
}

function renderWhere() {
  ui.where.textContent = state.origin ? t("kiosk.where", { region: regionName(state.origin) }) : "";
}

function renderMatters() {
  if (!state.matters.length) {
    ui.matters.replaceChildren(el("p", { class: "muted" }, t("kiosk.noMatters")));
    return;
  }
  ui.matters.replaceChildren(
    ...state.matters.map((m) =>
      el(
        "button",
        { type: "button", class: "choice", dataset: { matter: m.code }, onclick: () => chooseMatter(m) },
        el("span", { class: "choice-title" }, localName(m.name)),
        el("span", { class: "choice-sub" }, skillName(m.skill)),
      ),
    ),
  );
}

function goMatter() {
  clearTimeout(state.doneTimer);
  chat.clear(); // privacy: the next citizen at the kiosk sees nothing of this one's call
  docs.clear();
  stopCheck();
  state.notice = null;
  state.matter = null;
  state.province = null;
  go("matter");
}

/** @param {Matter} matter */
function chooseMatter(matter) {
  tell("");
  state.matter = matter;
  const own = state.origin ? state.origin.slice(0, 2) + "0000" : null;
  state.province =
    matter.provinces.length === 1 ? matter.provinces[0] : own && matter.provinces.includes(own) ? own : null;
  renderProvince();
  go("province");
}

function renderProvince() {
  const matter = state.matter;
  if (!matter) return;
  ui.chosenMatter.textContent = t("kiosk.chosenMatter", { name: localName(matter.name) });
  ui.provinces.replaceChildren(
    ...matter.provinces.map((code) =>
      el(
        "button",
        {
          type: "button",
          class: "choice province",
          "aria-pressed": String(code === state.province),
          dataset: { province: code },
          onclick: () => {
            state.province = code;
            renderProvince();
          },
        },
        el("span", { class: "choice-title" }, regionName(code)),
      ),
    ),
  );
  ui.ask.disabled = !state.province;
}

ui.back.addEventListener("click", goMatter);

// ---- the camera and microphone check, then the queue --------------------------------------------

const check = {
  video: /** @type {HTMLVideoElement} */ ($("#check-video")),
  camera: $("#check-camera"),
  mic: $("#check-mic"),
  level: /** @type {HTMLMeterElement} */ ($("#mic-level")),
  meterBox: $("#mic-meter"),
  preview: $(".check-box"),
  help: $("#check-help"),
  join: /** @type {HTMLButtonElement} */ ($("#join-queue")),
  again: /** @type {HTMLButtonElement} */ ($("#check-again")),
  back: /** @type {HTMLButtonElement} */ ($("#check-back")),
};
/** @type {MicMeter | null} */
let meter = null;
let checking = 0; // bumped by every check and every leaving of the screen: a late answer is let go

ui.ask.addEventListener("click", () => {
  if (!state.matter || !state.province) return;
  tell("");
  if (go("check")) runCheck();
});

async function runCheck() {
  stopCheck();
  const mine = checking;
  state.devices = null;
  renderCheck();
  const found = await checkDevices();
  if (mine !== checking || state.screen !== "check") {
    release(found.stream);
    return;
  }
  state.devices = found;
  check.video.srcObject = found.stream && found.stream.getVideoTracks().length ? found.stream : null;
  if (found.stream && found.stream.getAudioTracks().length) meter = new MicMeter(found.stream, check.level);
  renderCheck();
  check.join.focus();
}

/** Let the camera and microphone go (the call opens its own) and forget a check under way. */
function stopCheck() {
  checking += 1;
  if (meter) meter.close();
  meter = null;
  const stream = check.video.srcObject instanceof MediaStream ? check.video.srcObject : null;
  if (state.devices) release(state.devices.stream);
  release(stream);
  check.video.srcObject = null;
  state.devices = null;
}

function renderCheck() {
  const found = state.devices;
  check.camera.dataset.state = found ? found.camera : "pending";
  check.camera.textContent = t(`check.camera.${found ? found.camera : "pending"}`);
  check.mic.dataset.state = found ? found.mic : "pending";
  check.mic.textContent = t(`check.mic.${found ? found.mic : "pending"}`);
  check.meterBox.hidden = !found || found.mic !== "ok";
  check.preview.hidden = found !== null && found.camera !== "ok"; // no empty black box
  let help = "";
  if (found && (found.camera === "denied" || found.mic === "denied")) help = "check.help.denied";
  else if (found && found.mic !== "ok") help = "check.help.noMic";
  else if (found && found.camera !== "ok") help = "check.help.noCamera";
  check.help.hidden = !help;
  check.help.textContent = help ? t(help) : "";
  if (help) check.help.dataset.key = help;
  else delete check.help.dataset.key;
  check.again.hidden = !found || (found.camera === "ok" && found.mic === "ok");
  check.join.disabled = !found;
  // Not a dead end: without a camera, sound only; without a microphone, in writing (chat).
  let label = "check.join";
  if (found && found.mic !== "ok") label = "check.joinText";
  else if (found && found.camera !== "ok") label = "check.joinAudio";
  check.join.textContent = t(label);
  check.join.dataset.i18n = label;
}

check.again.addEventListener("click", runCheck);
check.back.addEventListener("click", () => {
  stopCheck();
  renderProvince();
  go("province");
});

check.join.addEventListener("click", async () => {
  if (!state.matter || !state.province || !state.devices) return;
  check.join.disabled = true;
  tell("");
  const answer = await client.request("request_help", {
    matter_code: state.matter.code,
    target_region: state.province,
    priority: "normal",
    language: lang(),
  });
  check.join.disabled = false;
  if (!answer.ok) {
    tell(errorText(answer.error), "error");
    return;
  }
  if (state.inCall) return; // answered already: `matched` came first
  state.ticket = {
    ticket_id: answer.ticket_id,
    case_id: answer.case_id,
    position: answer.position,
    estimated_wait_s: answer.estimated_wait_s,
  };
  state.caseId = answer.case_id;
  state.notice = null;
  stopCheck();
  showWaiting();
});

// ---- waiting ----------------------------------------------------------------------------

function showWaiting() {
  const ticket = state.ticket;
  if (!ticket) return;
  ui.ticket.textContent = ticket.ticket_id;
  const position = Number(ticket.position) || 1;
  ui.position.textContent = position <= 1 ? t("kiosk.positionFirst") : t("kiosk.positionValue", { n: position - 1 });
  renderEstimate(ticket.estimated_wait_s);
  const caseId = state.caseId || ticket.case_id;
  ui.waitingCase.hidden = !caseId; // unknown after a page reload: the server sends only the ticket
  ui.waitingCase.textContent = caseId ? t("kiosk.caseLine", { id: caseId }) : "";
  if (caseId) ui.waitingCase.dataset.case = caseId;
  else delete ui.waitingCase.dataset.case;
  renderWaitingNotice();
  go("waiting");
}

/**
 * null: nobody who serves the queue is on shift (say so, never "0"); undefined: not heard yet.
 * @param {number | null | undefined} wait
 */
function renderEstimate(wait) {
  ui.waitNote.hidden = wait !== null;
  ui.waitNote.textContent = wait === null ? t("kiosk.estimateUnknownHint") : "";
  if (wait === null) {
    ui.wait.textContent = t("kiosk.estimateUnknown");
  } else if (wait === undefined) {
    ui.wait.textContent = t("kiosk.estimatePending");
  } else {
    const s = Number(wait) || 0;
    ui.wait.textContent = s <= 0 ? t("kiosk.estimateSoon") : t("kiosk.estimateValue", { t: duration(s) });
  }
}

function renderWaitingNotice() {
  const notice = state.notice;
  if (!notice) {
    ui.waitingNotice.replaceChildren();
    ui.waitingNotice.hidden = true;
    delete ui.waitingNotice.dataset.key;
    return;
  }
  const vars = { ...notice.vars };
  if (vars.region) vars.region = regionName(vars.region);
  if (vars.skill) vars.skill = skillName(vars.skill);
  const lines = [el("p", {}, t(notice.key, vars))];
  if (notice.note) lines.push(el("p", { class: "notice-note" }, t("kiosk.transferNote", { note: notice.note })));
  ui.waitingNotice.replaceChildren(...lines);
  ui.waitingNotice.dataset.key = notice.key;
  ui.waitingNotice.hidden = false;
}

/**
 * The call ended on the clerk's side (transferred or re-queued): close it and wait first in line, same case.
 * @param {Transferred} data
 * @param {Notice} notice
 */
function backInQueue(data, notice) {
  if (state.caseId && data.case_id !== state.caseId) return;
  closeCall();
  tell("");
  state.caseId = data.case_id;
  state.clerk = null;
  state.notice = notice;
  // The server follows with `queue_update` (position and estimate), then `matched` with the new clerk.
  state.ticket = { ticket_id: data.ticket_id, case_id: data.case_id, position: 1, estimated_wait_s: undefined };
  showWaiting();
}

ui.cancel.addEventListener("click", async () => {
  if (!state.ticket) return;
  ui.cancel.disabled = true;
  const answer = await client.request("cancel", { ticket_id: state.ticket.ticket_id });
  ui.cancel.disabled = false;
  if (answer.ok || (answer.error && answer.error.code === "not_found")) {
    ticketClosed("cancelled");
  } else {
    tell(errorText(answer.error), "error");
  }
});

/** @param {string} outcome */
function ticketClosed(outcome) {
  state.ticket = null;
  state.caseId = null;
  goMatter();
  tellKey(`kiosk.ended.${outcome}`, outcome === "cancelled" ? "info" : "error");
}

/** The request waited longer than the maximum and ended: say so plainly and let the citizen ask again. */
function requestExpired() {
  state.ticket = null;
  state.caseId = null;
  if (state.matter && state.province) {
    // Back to the province screen with the same choice: one press on "呼叫工作人员" asks again.
    clearTimeout(state.doneTimer);
    state.notice = null;
    renderProvince();
    go("province");
    tellKey("kiosk.ended.expired", "error");
  } else {
    goMatter();
    tellKey("kiosk.ended.expiredChoose", "error");
  }
}

// ---- the call --------------------------------------------------------------------------------

/** @param {CitizenMatched} data */
function startCall(data) {
  panel.close();
  if (state.consentAsk) state.consentAsk.settle(false);
  state.consentAsk = null;
  chat.clear();
  docs.clear();
  stopCheck();
  tell("");
  state.caseId = data.case_id;
  state.ticket = null;
  state.notice = null;
  state.clerkAway = null;
  renderClerkAway();
  state.clerk = data.clerk || {};
  state.ended = null;
  renderCallTitle();
  go("in_call");
  ui.hangUp.disabled = false;
  ui.cameraNote.hidden = true;

  const token = {};
  state.callToken = token;
  const caseId = data.case_id;
  // Recorded sessions: the citizen is told and answers before any media starts (PIPL Art. 17).
  const consent = state.recording.policy === "off" ? Promise.resolve(false) : askConsent(caseId);
  const localMedia = consent
    .then(() => (state.callToken === token ? openCamera() : null))
    .then((stream) => {
      if (state.callToken !== token) {
        if (stream) for (const track of stream.getTracks()) track.stop();
        return null;
      }
      if (!stream) ui.cameraNote.hidden = false;
      return stream;
    });
  /** @type {(event: string, payload: object) => Promise<import("./common.js").Answer>} */
  const emit = (event, payload) => client.request(event, payload);
  const call = panel.open({ caseId, iceServers: data.ice_servers, localMedia, emit });
  state.inCall = true;
  docs.render(); // a call to send documents in
  consent.then((agreed) => {
    if (agreed && panel.call === call) panel.record({ caseId, iceServers: data.ice_servers, localMedia, emit });
  });
}

// ---- recording -------------------------------------------------------------------------------

/**
 * Show the recording notice and wait for the citizen's answer; resolves true if they agreed.
 * @param {string} caseId
 * @returns {Promise<boolean>}
 */
function askConsent(caseId) {
  return new Promise((resolve) => {
    state.consentAsk = { caseId, settle: resolve };
    renderConsent();
    ui.consent.hidden = false;
    ui.consentYes.focus();
  });
}

/** @param {boolean} agreed */
async function answerConsent(agreed) {
  const asked = state.consentAsk;
  if (!asked) return;
  ui.consentYes.disabled = ui.consentNo.disabled = true;
  ui.consentChoice.textContent = t("consent.sending");
  const answer = await client.request("consent", { case_id: asked.caseId, recording: agreed });
  ui.consentYes.disabled = ui.consentNo.disabled = false;
  if (state.consentAsk !== asked) return; // the call ended meanwhile
  // `conflict`: answered before this page was reloaded; the server keeps that answer and decides.
  if (!answer.ok && !(answer.error && answer.error.code === "conflict")) {
    tell(errorText(answer.error), "error");
    renderConsent();
    return;
  }
  state.consentAsk = null;
  ui.consent.hidden = true;
  asked.settle(agreed || !answer.ok);
}

ui.consentYes.addEventListener("click", () => answerConsent(true));
ui.consentNo.addEventListener("click", () => answerConsent(false));

function renderConsent() {
  ui.consentText.textContent = t("consent.text", { days: state.recording.keep_days });
  ui.consentChoice.textContent = t(state.recording.policy === "required" ? "consent.required" : "consent.optional");
}

function renderCallTitle() {
  const clerk = state.clerk || {};
  ui.callTitle.textContent = t("kiosk.callWith", {
    name: clerk.display_name || t("kiosk.clerk"),
    region: regionName(clerk.region),
  });
}

ui.hangUp.addEventListener("click", async () => {
  const call = panel.call;
  if (!call || !state.inCall || !state.caseId) return;
  if (!window.confirm(t("kiosk.hangUpConfirm"))) return;
  if (panel.call !== call) return; // the call ended while the question was open (transferred, re-queued)
  ui.hangUp.disabled = true;
  const answer = await client.request("hang_up", { case_id: state.caseId });
  ui.hangUp.disabled = false;
  if (answer.ok || (answer.error && answer.error.code === "not_found")) {
    callEnded(answer.outcome || "citizen_ended");
  } else {
    tell(errorText(answer.error), "error");
  }
});

function renderClerkAway() {
  const grace = state.clerkAway;
  ui.clerkAway.hidden = grace === null;
  ui.clerkAway.textContent = grace === null ? "" : t("kiosk.clerkAway", { t: duration(grace) });
}

function closeCall() {
  panel.close();
  state.inCall = false;
  state.callToken = null;
  if (state.consentAsk) state.consentAsk.settle(false);
  state.consentAsk = null;
  ui.consent.hidden = true;
  chat.clear(); // the call is over (ended, transferred, re-queued): its lines leave the page
  docs.clear(); // and its documents
  state.clerkAway = null;
  renderClerkAway();
}

/** @param {string} outcome */
function callEnded(outcome) {
  closeCall();
  state.ended = { case_id: state.caseId, outcome };
  state.level = null;
  ui.comment.value = "";
  renderRating();
  go("rating");
}

// ---- rating -------------------------------------------------------------------------------------

function renderRating() {
  const outcome = state.ended ? state.ended.outcome : null;
  const key = `kiosk.ended.${outcome}`;
  ui.endedReason.textContent = outcome && t(key) !== key ? t(key) : t("kiosk.ended.other");
  ui.rateCase.textContent = state.ended ? t("kiosk.rateCase", { id: state.ended.case_id }) : "";
  for (const button of $$(".rate-button")) {
    const chosen = Number(button.dataset.level) === state.level;
    button.setAttribute("aria-checked", String(chosen));
    button.classList.toggle("chosen", chosen);
  }
  ui.submitRating.disabled = !state.level;
}

for (const button of $$(".rate-button")) {
  button.addEventListener("click", () => {
    state.level = Number(button.dataset.level);
    renderRating();
  });
}

ui.submitRating.addEventListener("click", async () => {
  if (!state.ended || !state.level) return;
  ui.submitRating.disabled = true;
  const answer = await client.request("rate", {
    case_id: state.ended.case_id,
    level: state.level,
    comment: ui.comment.value.trim().slice(0, 500),
  });
  ui.submitRating.disabled = false;
  if (answer.ok) {
    showDone(true);
  } else {
    tell(errorText(answer.error), "error");
  }
});

ui.skipRating.addEventListener("click", () => showDone(false));

/** @param {boolean} rated */
function showDone(rated) {
  tell("");
  state.rated = rated;
  renderDone();
  go("done");
  clearTimeout(state.doneTimer);
  state.doneTimer = setTimeout(startOver, DONE_RESET_MS);
}

function renderDone() {
  ui.doneTitle.textContent = state.rated ? t("kiosk.doneTitle") : t("kiosk.doneNoRate");
  ui.doneText.textContent = state.ended ? t("kiosk.doneText", { id: state.ended.case_id }) : "";
}

function startOver() {
  // The next person at the kiosk starts with a new identity.
  state.ended = null;
  state.caseId = null;
  state.ticket = null;
  state.level = null;
  ui.comment.value = "";
  client.restart();
  tell("");
  goMatter();
  clearScreens();
  if (kioskToken) forgetCitizen();
}

/** The texts the screens were filled with for the last citizen (their ticket, case number, clerk). */
function clearScreens() {
  for (const node of [ui.ticket, ui.position, ui.wait]) node.textContent = "—";
  for (const node of [ui.waitingCase, ui.waitNote, ui.callTitle, ui.endedReason, ui.rateCase, ui.doneTitle]) {
    node.textContent = "";
  }
  ui.doneText.textContent = "";
  ui.chosenMatter.textContent = "";
  ui.provinces.replaceChildren();
  delete ui.waitingCase.dataset.case;
  ui.waitingCase.hidden = true;
  state.notice = null;
  renderWaitingNotice();
}

ui.startOver.addEventListener("click", startOver);

// ---- larger text, and the next person at the kiosk ---------------------------------------------

const textSize = $("#text-size");

/** @param {boolean} on */
function setLargeText(on) {
  document.documentElement.classList.toggle("text-large", on);
  textSize.setAttribute("aria-pressed", String(on));
  session.set(TEXT_KEY, on ? "large" : null);
}

textSize.addEventListener("click", () => setLargeText(!document.documentElement.classList.contains("text-large")));
setLargeText(session.get(TEXT_KEY) === "large");

/** A kiosk keeps nothing of the person who used it: their language and text size, and every stored key but the
 * kiosk's own provisioning token (the page's chat, documents and choices are cleared by startOver / goMatter). */
function forgetCitizen() {
  setLargeText(false);
  panel.resetVolume();
  if (lang() !== "zh") setLang("zh");
  try {
    sessionStorage.clear();
    for (const key of Object.keys(localStorage)) if (key !== KIOSK_KEY) localStorage.removeItem(key);
  } catch {
    // storage refused (private mode): nothing was kept
  }
}

/** @type {number | undefined} */
let idleTimer;

/** Any touch, key or typing restarts the minute. */
function armIdle() {
  clearTimeout(idleTimer);
  if (kioskToken) idleTimer = setTimeout(idleReset, IDLE_RESET_MS);
}

function idleReset() {
  // Waiting is not being idle: the citizen waits for the clerk, and the call has its own ending.
  if (state.screen === "waiting" || state.screen === "in_call") {
    armIdle();
    return;
  }
  const pristine =
    state.screen === "matter" && lang() === "zh" && !document.documentElement.classList.contains("text-large") &&
    ui.error.hidden;
  if (!pristine) startOver();
  armIdle();
}

for (const type of ["pointerdown", "keydown", "input", "wheel"]) {
  document.addEventListener(type, armIdle, { capture: true, passive: true });
}
armIdle();

// A provisioned kiosk fills the screen from its first touch (a browser allows full screen only after one, and
// leaves it on Esc; the next touch returns to it). A kiosk browser started with Chromium's --kiosk is full already.
if (kioskToken) {
  document.addEventListener(
    "pointerdown",
    () => {
      const root = document.documentElement;
      if (!document.fullscreenElement && root.requestFullscreen) {
        root.requestFullscreen({ navigationUI: "hide" }).catch(() => {});
      }
    },
    { capture: true },
  );
}

// ---- language --------------------------------------------------------------------------------

/** The screen shown, from `state`, in the language chosen (the language switch renders it again). */
function render() {
  renderWhere();
  renderMatters();
  if (state.matter) renderProvince();
  if (state.screen === "check") renderCheck();
  if (state.ticket) showWaiting();
  if (state.screen === "in_call") {
    renderCallTitle();
    panel.render();
    renderClerkAway();
    chat.render();
    docs.render();
    if (state.consentAsk) renderConsent();
  }
  if (state.screen === "rating") renderRating();
  if (state.screen === "done") renderDone();
  const key = ui.conn.dataset.key;
  if (key && key !== "conn.refused") ui.conn.textContent = t(key);
  if (ui.error.dataset.key && !ui.error.hidden) ui.error.textContent = t(ui.error.dataset.key);
}

onChange(render);

window.rvwDebug = {
  pc: () => (panel.call ? panel.call.pc : null),
  state: () => state.screen,
  go: (/** @type {any} */ next) => go(next), // for tests of the transition table: a refused move returns false
  caseId: () => state.caseId || (state.ended && state.ended.case_id) || null,
  ticketId: () => (state.ticket ? state.ticket.ticket_id : null),
  call: () => panel.call,
  recorder: () => (panel.recorder ? panel.recorder.state : null),
  local: () => panel.local,
  link: () => (panel.linkWatch ? { poor: panel.linkWatch.poor, sample: panel.linkWatch.sample } : null),
};

renderWhere();
loadMatters();
