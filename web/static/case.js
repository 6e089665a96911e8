// @ts-check
// The case page (/cases/{id}), for supervisors and auditors: one case's record (GET /api/cases/{id}) with its
// facts, timeline, chat lines, documents, rating and 差评 follow-up, and its recordings
// (GET /api/cases/{id}/recordings) played side by side under one play/pause and one position.
//
// The page is a small state machine: `go(next)` moves between phases by a table and refuses any other move,
// and one `render()` draws the state (the language switch re-renders). The recordings player is an object
// of its own: its <video> and <audio> elements are made once per record and kept across renders, so a
// language switch does not restart playback. Everything from the record is set as text, never as markup.

import { $, api, clock, duration, el, errorText, loginPanel, say } from "./common.js";
import { lang, localName, onChange, regionName, skillName, t } from "./i18n.js";

/**
 * @typedef {import("../types/api").CaseRecord} CaseRecord
 * @typedef {import("../types/api").Followup} Followup
 * @typedef {import("../types/api").Matter} Matter
 * @typedef {import("../types/api").RecordingInfo} RecordingInfo
 * @typedef {import("../types/api").AttachmentInfo} AttachmentInfo
 * @typedef {import("../types/api").TimelineEntry} TimelineEntry
 * @typedef {import("./common.js").ErrorInfo} ErrorInfo
 * @typedef {"login" | "loading" | "shown" | "failed"} Phase
 * @typedef {{key?: string, vars?: Record<string, unknown>, error?: ErrorInfo}} Failure
 */

const CHINA_MS = 8 * 3600 * 1000;
const RECORDS = "/api/recordings/";
const DOCUMENTS = "/api/attachments/";
const LOW_RATING = 2; // a rating of 1 or 2 (差评) opens a follow-up
const SHA_SHOWN = 12; // hex digits of a SHA-256 shown; the whole one is in the title
const CHAT_IN_TIMELINE = 60; // characters of a chat line repeated in the timeline

// ---- the page's phases ----

// login: the log-in panel (no user yet, or logged out); loading: the record is asked for;
// shown: the record is on the page; failed: it could not be read (state.error says why).
/** @type {Record<Phase, Phase[]>} */
const MOVES = {
  login: ["loading"],
  loading: ["shown", "failed", "login"],
  shown: ["login"],
  failed: ["login"],
};

const ui = {
  page: $("#case"),
  body: $("#case-body"),
  heading: $("#case-heading"),
  status: $("#case-status"),
  error: $("#case-error"),
  logout: $("#logout"),
  reports: $("#link-reports"),
  cases: $("#link-cases"),
  wall: $("#link-wall"),
  facts: $("#case-facts"),
  rating: $("#case-rating"),
  followup: $("#case-followup"),
  docs: $("#case-docs"),
  noDocs: $("#case-no-docs"),
  consent: $("#case-consent"),
  recStatus: $("#rec-status"),
  files: $("#rec-files"),
  filesHead: $("#rec-files-head"),
  filesRows: $("#rec-files-rows"),
  chat: $("#case-chat"),
  noChat: $("#case-no-chat"),
  timeline: $("#case-timeline"),
};

/**
 * @typedef {object} State
 * @property {Phase} phase
 * @property {string} caseId
 * @property {import("./common.js").User | null} user
 * @property {CaseRecord | null} record  GET /api/cases/{id}
 * @property {Failure | null} error  {key, vars} or {error} (the server's) when failed
 * @property {{phase: string, rows: RecordingInfo[], error: ErrorInfo | null}} recordings
 *   GET /api/cases/{id}/recordings
 * @property {{phase: string, row: Followup | null, error: ErrorInfo | null}} followup
 *   the case's row of GET /api/followups, for a 差评
 * @property {number} seq  bumped on every log-in and log-out: answers to an older one are dropped
 */
/** @type {State} */
const state = {
  phase: "login",
  caseId: caseIdOfAddress(),
  user: null,
  record: null,
  error: null,
  recordings: { phase: "idle", rows: [], error: null },
  followup: { phase: "idle", row: null, error: null },
  seq: 0,
};
/** @type {Map<string, Matter>} */
const matters = new Map(); // code -> {name: {zh, en}, skill}
/** @type {Map<string, HTMLLIElement>} */
const docNodes = new Map(); // attachment_id -> its <li>, made once (an image is fetched once, not per render)

/** @param {Phase} next */
function go(next) {
  if (!MOVES[state.phase].includes(next)) {
    throw new Error(`case page: no move from ${state.phase} to ${next}`);
  }
  state.phase = next;
  render();
}

function caseIdOfAddress() {
  const raw = location.pathname.replace(/^\/cases\//, "").replace(/\/+$/, "");
  try {
    return decodeURIComponent(raw);
  } catch {
    return raw;
  }
}

const casePath = (suffix = "") => `/api/cases/${encodeURIComponent(state.caseId)}${suffix}`;

// ---- words, times and sizes ----

/**
 * The text of the first key that has one, else `fallback`.
 * @param {string[]} keys
 * @param {string} fallback
 * @param {Record<string, unknown>} [vars]
 */
function words(keys, fallback, vars) {
  for (const key of keys) {
    const text = t(key, vars);
    if (text !== key) return text;
  }
  return fallback;
}

/**
 * "2026-11-28 14:03:22" in China time for an ISO 8601 time (or epoch ms); the dash when there is none.
 * @param {string | number | null | undefined} time
 */
function chinaDateTime(time) {
  const ms = typeof time === "number" ? time : Date.parse(time || "");
  if (!Number.isFinite(ms)) return t("sup.none");
  return new Date(ms + CHINA_MS).toISOString().slice(0, 19).replace("T", " ");
}

/**
 * A due time: a deadline at midnight is the end of the day before ("2026-11-30 24:00"), as on the wall.
 * @param {string} time
 */
function dueText(time) {
  const ms = Date.parse(time);
  if (!Number.isFinite(ms)) return t("sup.none");
  const local = new Date(ms + CHINA_MS).toISOString();
  if (local.slice(11, 19) !== "00:00:00") return `${local.slice(0, 10)} ${local.slice(11, 16)}`;
  return `${new Date(ms + CHINA_MS - 86400 * 1000).toISOString().slice(0, 10)} 24:00`;
}

/** @param {string} time */
function chinaDate(time) {
  return chinaDateTime(time).slice(0, 10);
}

/**
 * A time of the case: the time of day alone when it is on the day the case was asked for.
 * @param {string} time
 */
function caseTime(time) {
  const full = chinaDateTime(time);
  const day = state.record ? chinaDate(state.record.requested_at) : "";
  return full.startsWith(day) && day ? full.slice(11) : full;
}

/**
 * @param {string} from
 * @param {string} to
 */
function seconds(from, to) {
  const a = Date.parse(from);
  const b = Date.parse(to);
  return Number.isFinite(a) && Number.isFinite(b) ? (b - a) / 1000 : null;
}

/**
 * A length of media as m:ss (h:mm:ss past an hour): the same in both languages.
 * @param {number | null | undefined} s
 */
function mediaLength(s) {
  if (s === null || s === undefined || !Number.isFinite(s)) return t("sup.none");
  const whole = Math.max(0, Math.floor(s));
  const h = Math.floor(whole / 3600);
  const m = Math.floor((whole % 3600) / 60);
  const sec = String(whole % 60).padStart(2, "0");
  return h ? `${h}:${String(m).padStart(2, "0")}:${sec}` : `${m}:${sec}`;
}

/** @param {number | null | undefined} bytes */
function size(bytes) {
  if (bytes === null || bytes === undefined) return t("sup.none");
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KB`;
  return `${(bytes / (1024 * 1024)).toFixed(1)} MB`;
}

/** @param {string | null | undefined} sha */
function shortSha(sha) {
  return sha ? `${sha.slice(0, SHA_SHOWN)}…` : t("sup.none");
}

/** @param {string} code */
function matterName(code) {
  const m = matters.get(code);
  if (!m) return code || t("sup.none");
  return lang() === "en" ? `${localName(m.name)} (${code})` : `${localName(m.name)}（${code}）`;
}

/** @param {string | null | undefined} outcome */
function outcomeWords(outcome) {
  if (!outcome) return t("case.outcomeNone");
  return words([`outcome.${outcome}`, `case.outcome.${outcome}`], outcome);
}

/** @param {number} level */
function ratingWords(level) {
  return t("case.ratingLevel", { words: words([`rating.${level}`], String(level)), level });
}

/**
 * Who did something: `citizen:<id>`, `clerk:<id>`, `supervisor:<id>` or `system`. The citizen's own id is
 * not shown: it names nobody to a reader and the record is theirs.
 * @param {string | null | undefined} actor
 */
function actorWords(actor) {
  const [role, id] = String(actor || "").split(/:(.*)/s);
  if (role === "citizen") return t("case.actor.citizen");
  if (role === "system") return t("case.actor.system");
  return words([`case.actor.${role}`], String(actor || t("sup.none")), { id: id || "" });
}

/** @param {string | null | undefined} actor */
function sideOf(actor) {
  const role = String(actor || "").split(":")[0];
  return role === "clerk" ? "clerk" : role === "citizen" ? "citizen" : "other";
}

// ---- loading ----

/** @param {import("./common.js").User} user */
async function start(user) {
  state.user = user;
  ui.logout.hidden = false;
  ui.reports.hidden = false;
  ui.cases.hidden = false;
  ui.wall.hidden = user.role !== "supervisor";
  go("loading");
  const seq = ++state.seq;
  loadMatters(seq);
  const { status, data } = await api("GET", casePath());
  if (seq !== state.seq) return;
  if (status === 200 && data && data.case_id) {
    state.record = data;
    go("shown");
    loadRecordings(seq);
    if (data.rating && data.rating.level <= LOW_RATING) loadFollowup(seq);
    return;
  }
  if (status === 401) {
    expired();
    return;
  }
  if (status === 404) state.error = { key: "case.notFound", vars: { id: state.caseId } };
  else if (status === 403) state.error = { key: "case.forbidden" };
  else state.error = { error: (data && data.error) || { code: status ? "unavailable" : "network" } };
  go("failed");
}

/** @param {number} seq */
async function loadMatters(seq) {
  const { status, data } = await api("GET", "/api/matters");
  if (seq !== state.seq || status !== 200 || !Array.isArray(data)) return; // codes are shown instead
  for (const m of data) matters.set(m.code, m);
  if (state.phase === "shown") render();
}

/** @param {number} seq */
async function loadRecordings(seq) {
  state.recordings = { phase: "loading", rows: [], error: null };
  render();
  const { status, data } = await api("GET", casePath("/recordings"));
  if (seq !== state.seq) return;
  if (status === 401) {
    expired();
    return;
  }
  if (status === 200 && Array.isArray(data)) {
    state.recordings = { phase: "shown", rows: data, error: null };
    player.load(data);
  } else {
    state.recordings = { phase: "failed", rows: [], error: (data && data.error) || { code: "network" } };
  }
  render();
}

/**
 * The 差评 follow-up's due dates and state, from the follow-up list (closed ones are listed apart).
 * @param {number} seq
 */
async function loadFollowup(seq) {
  state.followup = { phase: "loading", row: null, error: null };
  const which = state.record && state.record.followup_closed_at ? "closed" : "open";
  const { status, data } = await api("GET", `/api/followups?state=${which}`);
  if (seq !== state.seq) return;
  if (status === 401) {
    expired();
    return;
  }
  if (status === 200 && Array.isArray(data)) {
    const row = data.find((/** @type {Followup} */ f) => f.case_id === state.caseId) || null;
    state.followup = { phase: "shown", row, error: null };
  } else {
    state.followup = { phase: "failed", row: null, error: (data && data.error) || { code: "network" } };
  }
  render();
}

function stop() {
  state.seq += 1;
  player.close();
  docNodes.clear();
  Object.assign(state, {
    user: null,
    record: null,
    error: null,
    recordings: { phase: "idle", rows: [], error: null },
    followup: { phase: "idle", row: null, error: null },
  });
  ui.logout.hidden = true;
  ui.reports.hidden = true;
  ui.cases.hidden = true;
  ui.wall.hidden = true;
  if (state.phase !== "login") go("login");
}

function expired() {
  stop();
  login.expired();
}

// ---- drawing ----

function render() {
  const { phase, record } = state;
  ui.page.dataset.phase = phase;
  ui.page.hidden = phase === "login";
  ui.heading.textContent = t("case.heading", { id: state.caseId });
  ui.status.textContent = phase === "loading" ? t("case.loading") : "";
  say(ui.error, phase === "failed" ? failureWords(state.error) : "", "error");
  ui.body.hidden = phase !== "shown";
  if (phase !== "shown" || !record) return;
  renderFacts(record);
  renderRating(record);
  renderDocs(record);
  renderRecordings(record);
  renderChat(record);
  renderTimeline(record);
}

/** @param {Failure | null} error */
function failureWords(error) {
  if (!error) return "";
  if (error.key) return t(error.key, error.vars);
  return t("case.failed", { error: errorText(error.error, true) });
}

/**
 * A label and its value, as one cell of a `dl.case-facts` grid.
 * @param {string} label
 * @param {import("./common.js").Child} value
 * @param {Record<string, unknown> & {wide?: boolean}} [attrs]  those of the <dd>, and `wide`
 */
function fact(label, value, attrs = {}) {
  const { wide, ...rest } = attrs;
  return el("div", { class: wide ? "fact-wide" : null }, el("dt", {}, label), el("dd", rest, value));
}

/** @param {CaseRecord} r */
function renderFacts(r) {
  const waited = r.answered_at ? seconds(r.requested_at, r.answered_at) : null;
  const handled = r.answered_at && r.ended_at ? seconds(r.answered_at, r.ended_at) : null;
  const channel = words([`channel.${r.channel}`], r.channel);
  ui.facts.replaceChildren(
    fact(t("case.f.caseId"), el("code", {}, r.case_id), { dataset: { fact: "case_id" } }),
    fact(t("case.f.ticket"), r.ticket_id),
    fact(t("case.f.matter"), matterName(r.matter_code), { dataset: { fact: "matter" } }),
    fact(t("case.f.skill"), skillName(r.skill)),
    fact(t("case.f.target"), regionName(r.target_region), { dataset: { fact: "target_region" } }),
    fact(t("case.f.origin"), regionName(r.origin_region), { dataset: { fact: "origin_region" } }),
    fact(t("case.f.channel"), r.kiosk_id ? t("case.channelKiosk", { channel, kiosk: r.kiosk_id }) : channel),
    fact(t("case.f.priority"), words([`case.priority.${r.priority}`], r.priority)),
    fact(t("case.f.language"), words([`case.language.${r.language}`], r.language)),
    fact(t("case.f.clerk"), r.clerk_id ? r.clerk_id : t("case.notAnswered"), { dataset: { fact: "clerk" } }),
    fact(t("case.f.outcome"), outcomeWords(r.outcome), { dataset: { fact: "outcome" } }),
    fact(t("case.f.requested"), chinaDateTime(r.requested_at), { dataset: { fact: "requested_at" } }),
    fact(
      t("case.f.answered"),
      r.answered_at ? t("case.afterWait", { at: caseTime(r.answered_at), wait: duration(waited) }) : t("sup.none"),
      { dataset: { fact: "answered_at" } },
    ),
    fact(t("case.f.connected"), r.connected_at ? caseTime(r.connected_at) : t("sup.none")),
    fact(
      t("case.f.ended"),
      r.ended_at
        ? handled === null
          ? caseTime(r.ended_at)
          : t("case.afterHandle", { at: caseTime(r.ended_at), handle: duration(handled) })
        : t("sup.none"),
      { dataset: { fact: "ended_at" } },
    ),
    fact(t("case.f.wrapped"), r.wrapped_at ? caseTime(r.wrapped_at) : t("sup.none")),
    fact(t("case.f.counts"), t("case.counts", { offers: r.offers, answers: r.answers, transfers: r.transfers })),
    fact(t("case.f.notes"), r.notes ? r.notes : t("case.notesNone"), {
      wide: true,
      class: r.notes ? "case-notes" : "case-notes muted",
      dataset: { fact: "notes" },
    }),
  );
}

/** @param {CaseRecord} r */
function renderRating(r) {
  const rating = r.rating;
  ui.rating.replaceChildren(
    fact(t("case.rating"), rating ? ratingWords(rating.level) : t("case.ratingNone"), {
      dataset: { fact: "rating", level: rating ? String(rating.level) : "" },
    }),
    ...(rating
      ? [
          fact(t("case.comment"), rating.comment || t("case.commentNone"), {
            wide: true,
            class: rating.comment ? "case-notes" : "case-notes muted",
            dataset: { fact: "comment" },
          }),
        ]
      : []),
  );
  ui.followup.replaceChildren(...followupNodes(r));
}

/**
 * The follow-up of a 差评: its state, due dates and steps from the follow-up list; when that cannot be read,
 * the state as the case's timeline tells it.
 * @param {CaseRecord} r
 * @returns {HTMLElement[]}
 */
function followupNodes(r) {
  if (!r.rating || r.rating.level > LOW_RATING) {
    return [el("p", { class: "muted", id: "followup-state", dataset: { state: "none" } }, t("case.followupNone"))];
  }
  const f = state.followup;
  const row = f.row;
  const fromTimeline = timelineFollowupState(r);
  const current = row ? row.state : fromTimeline;
  /** @type {HTMLElement[]} */
  const nodes = [
    el("h3", { class: "case-subhead" }, t("case.followup")),
    el(
      "p",
      { id: "followup-state", class: "followup-state", dataset: { state: current, overdue: String(!!row?.overdue) } },
      words([`sup.followupState.${current}`], current),
      row && row.overdue
        ? el("span", { class: "level-mark", "data-level": "red" }, ` ${t("sup.followupOverdue")}`)
        : null,
    ),
  ];
  if (row) {
    nodes.push(
      el(
        "dl",
        { class: "case-facts" },
        fact(t("case.followupOpened"), chinaDateTime(row.opened_at)),
        fact(t("case.followupContactDue"), dueText(row.contact_due)),
        fact(t("case.followupFixDue"), dueText(row.fix_due)),
        fact(t("case.followupComplexity"), words([`case.complexity.${row.complexity}`], row.complexity)),
      ),
    );
  } else if (f.phase === "loading") {
    nodes.push(el("p", { class: "muted" }, t("case.loading")));
  } else if (f.phase === "failed" || f.phase === "shown") {
    nodes.push(el("p", { class: "muted" }, t("case.followupNoDetail")));
  }
  const steps = row ? row.history : [];
  if (steps.length) {
    nodes.push(
      el(
        "ol",
        { class: "case-timeline followup-steps" },
        ...steps.map((step) =>
          el(
            "li",
            { dataset: { action: String(step.action) } },
            el("time", { datetime: step.at }, chinaDateTime(step.at)),
            " ",
            el("span", { class: "tl-event" }, words([`case.step.${step.action}`], String(step.action))),
            " ",
            el("span", { class: "tl-actor" }, actorWords(step.by)),
            step.note ? el("span", { class: "tl-detail" }, step.note) : null,
          ),
        ),
      ),
    );
  }
  return nodes;
}

/** @param {CaseRecord} r */
function timelineFollowupState(r) {
  const seen = new Set(r.timeline.map((e) => e.event));
  if (seen.has("followup_closed") || r.followup_closed_at) return "closed";
  if (seen.has("followup_appealed")) return "appealed";
  if (seen.has("followup_contacted")) return "contacted";
  return "open";
}

/** @param {CaseRecord} r */
function renderDocs(r) {
  const docs = Array.isArray(r.attachments) ? r.attachments : [];
  const items = docs.map((doc) => {
    let node = docNodes.get(doc.attachment_id);
    if (!node) {
      node = docNode(doc);
      docNodes.set(doc.attachment_id, node);
    }
    const who = actorWords(doc.uploaded_by);
    const about = t("case.docAbout", { who, at: caseTime(doc.uploaded_at), size: size(doc.bytes) });
    $(".case-doc-meta", node).textContent = about;
    const img = node.querySelector("img");
    if (img) img.alt = t("case.docImage", { who, at: caseTime(doc.uploaded_at) });
    $("a", node).title = t(img ? "case.docOpenImage" : "case.docOpenPdf");
    const label = node.querySelector(".case-doc-label");
    if (label) label.textContent = t("case.docOpenPdf");
    return node;
  });
  ui.docs.replaceChildren(...items);
  ui.noDocs.hidden = docs.length > 0;
}

/** @param {AttachmentInfo} doc */
function docNode(doc) {
  const href = DOCUMENTS + encodeURIComponent(doc.attachment_id);
  const image = doc.content_type.startsWith("image/");
  return el(
    "li",
    { class: "case-doc", dataset: { attachment: doc.attachment_id, type: image ? "image" : "pdf" } },
    el(
      "a",
      { href, target: "_blank", rel: "noopener", class: "case-doc-link" },
      image
        ? el("img", { class: "case-doc-thumb", src: href, loading: "lazy", decoding: "async" })
        : el(
            "span",
            { class: "case-doc-pdf" },
            el("span", { "aria-hidden": "true" }, "PDF"),
            " ",
            el("span", { class: "case-doc-label" }),
          ),
    ),
    el("span", { class: "case-doc-meta" }),
    el("code", { class: "case-doc-sha", title: doc.sha256 }, shortSha(doc.sha256)),
  );
}

/** @param {CaseRecord} r */
function renderRecordings(r) {
  const consent = r.recording_consent;
  const key = consent === true ? "case.consentYes" : consent === false ? "case.consentNo" : "case.consentNone";
  ui.consent.textContent = t(key);
  ui.consent.dataset.consent = consent === null || consent === undefined ? "none" : String(consent);
  const rec = state.recordings;
  const rows = rec.rows;
  let status = "";
  if (rec.phase === "loading") status = t("case.loading");
  else if (rec.phase === "failed") status = t("case.recFailed", { error: errorText(rec.error, true) });
  else if (rec.phase === "shown" && !rows.length) status = t("case.recNone");
  else if (rec.phase === "shown") status = t("case.recCount", { n: rows.length, total: mediaLength(player.total) });
  ui.recStatus.textContent = status;
  ui.recStatus.dataset.phase = rec.phase;
  player.renderText();
  ui.files.hidden = !rows.length;
  if (!rows.length) return;
  ui.filesHead.replaceChildren(
    ...["side", "kind", "start", "length", "size", "codec", "state", "sha", "file"].map((name) =>
      el("th", { scope: "col" }, t(`case.file.${name}`)),
    ),
  );
  ui.filesRows.replaceChildren(...player.files.map((f) => fileRow(f)));
}

/** @param {PlayerFile} f */
function fileRow(f) {
  const row = f.row;
  const interrupted = row.state === "interrupted";
  const segment = f.track.files.length > 1 ? t("case.segment", { n: f.track.files.indexOf(f) + 1 }) : "";
  return el(
    "tr",
    { dataset: { recording: row.recording_id, side: row.side, kind: row.kind, state: row.state } },
    el("td", {}, t(`case.side.${row.side}`)),
    el("td", {}, t(`case.kind.${row.kind}`), segment ? el("span", { class: "sub" }, ` ${segment}`) : null),
    el(
      "td",
      { class: "num" },
      chinaDateTime(row.started_at).slice(11),
      el("span", { class: "sub muted" }, ` +${mediaLength(f.offset)}`),
    ),
    el("td", { class: "num" }, mediaLength(f.length)),
    el("td", { class: "num" }, size(row.bytes)),
    el("td", {}, `${row.container}/${row.codec}`),
    el(
      "td",
      { class: "rec-state" },
      interrupted
        ? el("span", { class: "level-mark", "data-level": "red" }, t("case.state.interrupted"))
        : t(`case.state.${row.state}`),
      f.failed ? el("span", { class: "level-mark", "data-level": "amber" }, ` ${t("case.playFailed")}`) : null,
    ),
    el("td", {}, el("code", { title: row.sha256 || "" }, shortSha(row.sha256))),
    el(
      "td",
      {},
      el(
        "a",
        { href: RECORDS + encodeURIComponent(row.recording_id), download: `${row.recording_id}.${row.container}` },
        t("case.file.open"),
      ),
    ),
  );
}

/** @param {CaseRecord} r */
function renderChat(r) {
  const lines = r.timeline.filter((e) => e.event === "chat" && e.detail && typeof e.detail.text === "string");
  ui.chat.replaceChildren(
    ...lines.map((e) => {
      const from = sideOf(e.actor);
      return el(
        "li",
        { class: "chat-line", dataset: { from } },
        el(
          "span",
          { class: "chat-meta" },
          el("span", { class: "chat-who" }, words([`chat.${from}`], actorWords(e.actor))),
          " ",
          el("time", { class: "chat-time", datetime: e.at }, caseTime(e.at)),
        ),
        el("p", { class: "chat-text" }, e.detail?.text),
      );
    }),
  );
  ui.noChat.hidden = lines.length > 0;
}

/** @param {CaseRecord} r */
function renderTimeline(r) {
  ui.timeline.replaceChildren(
    ...r.timeline.map((e) =>
      el(
        "li",
        { dataset: { event: e.event, side: sideOf(e.actor) } },
        el("time", { datetime: e.at, title: chinaDateTime(e.at) }, caseTime(e.at)),
        " ",
        el("span", { class: "tl-event" }, words([`case.ev.${e.event}`], e.event)),
        " ",
        el("span", { class: "tl-actor" }, actorWords(e.actor)),
        ...detailNodes(e),
      ),
    ),
  );
}

/**
 * A line's detail in words, for the events that have something to say.
 * @param {TimelineEntry} e
 */
function detailNodes(e) {
  const d = e.detail && typeof e.detail === "object" ? e.detail : {};
  /** @type {string[]} */
  const parts = [];
  if (e.event === "chat" && typeof d.text === "string") {
    parts.push(d.text.length > CHAT_IN_TIMELINE ? `${d.text.slice(0, CHAT_IN_TIMELINE)}…` : d.text);
  } else if (e.event === "consent") {
    parts.push(t(d.recording ? "case.consentYes" : "case.consentNo"));
  } else if (e.event === "rated" && d.level) {
    parts.push(ratingWords(d.level));
  } else if ((e.event === "ended" || e.event === "wrapped_up") && d.outcome) {
    parts.push(outcomeWords(d.outcome));
  } else if (e.event === "transferred") {
    const from = `${regionName(d.from_region)} · ${skillName(d.from_skill)}`;
    const to = `${regionName(d.to_region)} · ${skillName(d.to_skill)}`;
    parts.push(t("case.transfer", { from, to }));
    if (d.note) parts.push(d.note);
  } else if (e.event === "attachment") {
    parts.push(`${d.content_type || ""} · ${size(d.bytes)}`);
  } else if (e.event === "set_clerk_status") {
    const status = (/** @type {unknown} */ s) => words([`status.${s}`], String(s ?? ""));
    parts.push(t("case.statusSet", { id: d.clerk_id, from: status(d.from), to: status(d.to) }));
    if (d.note) parts.push(d.note);
  } else if (e.event.startsWith("followup_") && d.note) {
    parts.push(d.note);
  } else if (d.clerk_id && !String(e.actor).startsWith("clerk:")) {
    parts.push(t("case.actor.clerk", { id: d.clerk_id }));
  }
  return parts.map((text) => el("span", { class: "tl-detail" }, text));
}

// ---- the recordings, side by side under one clock ----

/** @type {Record<RecordingInfo["kind"], number>} */
const KIND_ORDER = { video: 0, screen: 1, audio: 2 };
/** @type {Record<RecordingInfo["side"], number>} */
const SIDE_ORDER = { citizen: 0, clerk: 1 };

/**
 * One recorded file in the player.
 * @typedef {object} PlayerFile
 * @property {RecordingInfo} row
 * @property {Track} track
 * @property {number} offset  seconds from the player's origin
 * @property {number | null} length  seconds; null until known
 * @property {HTMLVideoElement | HTMLAudioElement} el
 * @property {boolean} active
 * @property {boolean} failed
 */
/**
 * The files of one side's camera, screen or sound, and the elements that show or switch them.
 * @typedef {object} Track
 * @property {string} key
 * @property {RecordingInfo["side"]} side
 * @property {RecordingInfo["kind"]} kind
 * @property {PlayerFile[]} files
 * @property {HTMLElement} [box]
 * @property {HTMLElement} [caption]
 * @property {HTMLElement} [idle]
 */
const TICK_MS = 100;
const DRIFT_S = 0.3; // a file further than this from where the shared position puts it is moved there
const HOLD_MAX_S = 3; // the shared clock waits at most this long for a file that is still loading
const END_SLACK_S = 0.25; // near its end a file has no "future data": that is not loading

/**
 * The player: one <video> (camera, screen) or <audio> per recorded file, and one clock for all of them.
 * The clock's position counts seconds from the earliest file's start; a file that started later plays from
 * its own offset, and is parked at its first frame before it (at its last after its end). While the clock runs,
 * each file playing is kept within DRIFT_S of where it should be, and the clock waits (a while) for a file
 * that is still loading, so the sides stay together.
 */
class Player {
  constructor() {
    this.ui = {
      box: $("#player"),
      play: /** @type {HTMLButtonElement} */ ($("#player-play")),
      position: /** @type {HTMLInputElement} */ ($("#player-position")),
      time: $("#player-time"),
      clock: $("#player-clock"),
      sound: $("#player-sound"),
      stage: $("#player-stage"),
    };
    /** @type {PlayerFile[]} */
    this.files = [];
    /** @type {Track[]} */
    this.tracks = [];
    this.origin = 0; // epoch ms of the earliest start
    this.total = 0;
    this.position = 0;
    this.playing = false;
    this.last = 0;
    this.held = 0; // seconds the clock has waited for a file still loading
    this.waiting = false; // the clock stands (and every file is paused) until that file can play
    this.dragging = false; // the position slider is held: ticks leave its knob where the pointer puts it
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.timer = undefined;
    this.ui.play.addEventListener("click", () => (this.playing ? this.pause() : this.play()));
    this.ui.position.addEventListener("input", () => this.seek(Number(this.ui.position.value)));
    this.ui.position.addEventListener("pointerdown", () => (this.dragging = true));
    window.addEventListener("pointerup", () => (this.dragging = false));
  }

  /**
   * Make the elements for `rows` (GET /api/cases/{id}/recordings); called once per record.
   * @param {RecordingInfo[]} rows
   */
  load(rows) {
    this.close();
    const sorted = [...rows].sort((a, b) => Date.parse(a.started_at) - Date.parse(b.started_at));
    if (!sorted.length) return;
    this.origin = Math.min(...sorted.map((r) => Date.parse(r.started_at)));
    /** @type {Map<string, Track>} */
    const byKey = new Map();
    for (const row of sorted) {
      const key = `${row.side}-${row.kind}`;
      let track = byKey.get(key);
      if (!track) {
        track = { key, side: row.side, kind: row.kind, files: [] };
        byKey.set(key, track);
      }
      const known = row.duration_s ?? (row.ended_at ? seconds(row.started_at, row.ended_at) : null);
      /** @type {PlayerFile} */
      const file = {
        row,
        track,
        offset: (Date.parse(row.started_at) - this.origin) / 1000,
        length: known,
        el: this.element(row),
        active: false,
        failed: false,
      };
      file.el.addEventListener("loadedmetadata", () => {
        if (file.length === null && Number.isFinite(file.el.duration)) {
          file.length = file.el.duration; // a file still being written: as long as what it holds
          this.measure();
          render();
        }
      });
      file.el.addEventListener("error", () => {
        file.failed = true;
        render();
      });
      track.files.push(file);
      this.files.push(file);
    }
    this.tracks = [...byKey.values()].sort(
      (a, b) => KIND_ORDER[a.kind] - KIND_ORDER[b.kind] || SIDE_ORDER[a.side] - SIDE_ORDER[b.side],
    );
    const seen = this.tracks.filter((tr) => tr.kind !== "audio");
    for (const track of seen) {
      const caption = el("figcaption");
      const idle = el("p", { class: "player-idle" });
      track.caption = caption;
      track.idle = idle;
      track.box = el(
        "figure",
        { class: "video-box player-box", dataset: { track: track.key, side: track.side, kind: track.kind } },
        ...track.files.map((f) => f.el),
        idle,
        caption,
      );
    }
    // The sound of each side: its <audio> elements, with a switch to hear or silence that side.
    const heard = this.tracks.filter((tr) => tr.kind === "audio");
    for (const track of heard) {
      const caption = el("span");
      track.caption = caption;
      const box = el("input", { type: "checkbox", checked: true, dataset: { side: track.side } });
      box.addEventListener("change", () => {
        for (const f of track.files) f.el.muted = !box.checked;
      });
      track.box = el(
        "label",
        { class: "player-sound-switch", dataset: { track: track.key, side: track.side, kind: track.kind } },
        box,
        caption,
        ...track.files.map((f) => f.el),
      );
    }
    this.ui.stage.replaceChildren(...seen.map((tr) => tr.box || ""));
    this.ui.sound.replaceChildren(...heard.map((tr) => tr.box || ""));
    this.ui.box.hidden = false;
    this.measure();
    this.sync(true);
  }

  /** @param {RecordingInfo} row */
  element(row) {
    const media = document.createElement(row.kind === "audio" ? "audio" : "video");
    media.preload = "auto";
    if (media instanceof HTMLVideoElement) media.playsInline = true;
    media.dataset.recording = row.recording_id;
    media.dataset.side = row.side;
    media.dataset.kind = row.kind;
    media.src = RECORDS + encodeURIComponent(row.recording_id); // the session cookie authenticates it
    return media;
  }

  measure() {
    const ends = this.files.map((f) => f.offset + (f.length ?? 0));
    this.total = Math.max(0, ...ends);
    this.ui.position.max = String(this.total);
  }

  play() {
    if (!this.files.length) return;
    if (this.position >= this.total) this.position = 0;
    this.playing = true;
    this.last = performance.now();
    this.held = 0;
    this.waiting = false;
    clearInterval(this.timer);
    this.timer = setInterval(() => this.tick(), TICK_MS);
    this.sync(true);
    this.renderText();
  }

  pause() {
    this.playing = false;
    this.waiting = false;
    clearInterval(this.timer);
    this.timer = undefined;
    this.sync(false);
    this.renderText();
  }

  /** @param {number} position */
  seek(position) {
    this.position = Math.min(Math.max(0, position), this.total);
    this.last = performance.now();
    this.sync(true);
    this.renderPosition();
  }

  tick() {
    const now = performance.now();
    const step = (now - this.last) / 1000;
    this.last = now;
    const loading = this.loading();
    this.held = loading ? this.held + step : 0;
    this.waiting = loading && this.held < HOLD_MAX_S;
    if (!this.waiting) this.position = Math.min(this.total, this.position + step);
    if (this.position >= this.total) {
      this.pause();
      return;
    }
    this.sync(false);
    this.renderPosition();
  }

  /** Whether a file that should be playing now is still loading (or seeking). */
  loading() {
    return this.files.some((f) => {
      if (!f.active || f.failed || f.el.ended) return false;
      const end = Number.isFinite(f.el.duration) ? f.el.duration : (f.length ?? Infinity);
      const local = this.position - f.offset;
      return f.el.seeking || (f.el.readyState < HTMLMediaElement.HAVE_FUTURE_DATA && local < end - END_SLACK_S);
    });
  }

  /**
   * Put every file where the clock says; `force` moves them even when close (after a seek or a start).
   * @param {boolean} force
   */
  sync(force) {
    const run = this.playing && !this.waiting;
    for (const f of this.files) {
      const media = f.el;
      const local = this.position - f.offset;
      const length = f.length ?? Infinity;
      f.active = local >= 0 && local < length;
      if (!f.active) {
        if (!media.paused) media.pause();
        const park = local < 0 ? 0 : Math.min(length, Number.isFinite(media.duration) ? media.duration : length);
        if (Number.isFinite(park) && !media.seeking && Math.abs(media.currentTime - park) > DRIFT_S) {
          media.currentTime = park;
        }
        continue;
      }
      if (!media.seeking && (force || Math.abs(media.currentTime - local) > DRIFT_S)) {
        if (Math.abs(media.currentTime - local) > 0.05) media.currentTime = local;
      }
      if (run && media.paused) {
        media.play().catch(() => {
          // Refused (no gesture yet) or interrupted by a seek: the next tick tries again.
        });
      } else if (!run && !media.paused) {
        media.pause();
      }
    }
    this.renderTracks();
  }

  /** Per camera or screen: the file of this moment shown; before, between or after files, a word says so. */
  renderTracks() {
    for (const track of this.tracks) {
      const { box, idle: idleNode } = track;
      if (track.kind === "audio" || !box || !idleNode) continue;
      const active = track.files.find((f) => f.active);
      const before = track.files.filter((f) => f.offset <= this.position);
      const shown = active || before[before.length - 1] || track.files[0];
      for (const f of track.files) f.el.hidden = f !== shown;
      box.dataset.active = String(Boolean(active));
      const idle = active ? "" : t(this.position < track.files[0].offset ? "case.trackNotYet" : "case.trackIdle");
      if (idleNode.textContent !== idle) idleNode.textContent = idle;
      idleNode.hidden = !idle;
    }
  }

  renderPosition() {
    const { position, total } = this;
    if (!this.dragging) this.ui.position.value = String(position);
    const spoken = t("case.positionValue", { at: mediaLength(position), total: mediaLength(total) });
    this.ui.position.setAttribute("aria-valuetext", spoken);
    this.ui.time.textContent = `${mediaLength(position)} / ${mediaLength(total)}`;
    const at = (this.origin + position * 1000) / 1000; // epoch seconds of this moment of the recording
    this.ui.clock.textContent = this.files.length ? t("case.recordedAt", { time: clock(at) }) : "";
  }

  /** The words of the controls and captions, in the current language. */
  renderText() {
    this.ui.play.textContent = t(this.playing ? "case.pause" : "case.play");
    this.ui.play.setAttribute("aria-pressed", String(this.playing));
    this.ui.play.disabled = !this.files.length;
    for (const track of this.tracks) {
      if (track.caption) track.caption.textContent = t(`case.track.${track.side}.${track.kind}`);
    }
    this.renderTracks();
    this.renderPosition();
  }

  /** Stop and let go of every file (their downloads end); the player is empty again. Safe twice. */
  close() {
    this.playing = false;
    clearInterval(this.timer);
    this.timer = undefined;
    for (const f of this.files) {
      f.el.pause();
      f.el.removeAttribute("src");
      f.el.load();
    }
    this.files = [];
    this.tracks = [];
    this.total = 0;
    this.position = 0;
    this.ui.stage.replaceChildren();
    this.ui.sound.replaceChildren();
    this.ui.box.hidden = true;
  }

  /** What the tests read: the clock and each file's element. */
  debug() {
    return {
      position: this.position,
      total: this.total,
      playing: this.playing,
      files: this.files.map((f) => ({
        id: f.row.recording_id,
        side: f.row.side,
        kind: f.row.kind,
        offset: f.offset,
        length: f.length,
        active: f.active,
        currentTime: f.el.currentTime,
        readyState: f.el.readyState,
        paused: f.el.paused,
        failed: f.failed,
      })),
    };
  }
}

const player = new Player();

// ---- log-in ----

ui.logout.addEventListener("click", async () => {
  stop();
  await login.logout();
});

const login = loginPanel({ roles: ["supervisor", "auditor"], wrongRoleKey: "case.wrongRole", onReady: start });

onChange(() => render());
render();

window.rvwDebug = {
  phase: () => state.phase,
  caseId: () => state.caseId,
  record: () => state.record,
  recordings: () => state.recordings.phase,
  player: () => player.debug(),
};
