// @ts-check
// The case search page (/cases), for supervisors and auditors: the case records of a period found by province,
// matter, outcome, rating and 差评 follow-up (GET /api/cases, a page at a time by its `next_cursor`), each
// case number a link to its page (/cases/{id}, case.js), the same list as CSV (format=csv), and a box that
// opens a case by its number. A province's supervisor sees only that province's cases (the server's scope).
//
// The page is a small state machine: `go(next)` moves between phases by a table and refuses any other move,
// and one `render()` draws the state (the language switch re-renders). Everything from the records is set as
// text, never as markup. Dates are China dates whatever the browser's time zone, as on the reports page.

import { $, CHINA_S, api, chinaMidnight, chinaToday, duration, el, errorText, loginPanel, say } from "./common.js";
import { lang, localName, onChange, regionName, t } from "./i18n.js";

/**
 * @typedef {import("../types/api").CaseRecord} CaseRecord
 * @typedef {import("../types/api").Matter} Matter
 * @typedef {import("./common.js").ErrorInfo} ErrorInfo
 * @typedef {Omit<CaseRecord, "attachments" | "recording_consent" | "recordings" | "timeline">} CaseSummary
 *   one entry of GET /api/cases (a case record without its timeline, documents and recordings)
 * @typedef {{cases: CaseSummary[], next_cursor: string | null}} CaseList  GET /api/cases
 * @typedef {"login" | "loading" | "shown" | "more" | "failed"} Phase
 * @typedef {{key?: string, vars?: Record<string, unknown>, error?: ErrorInfo}} Failure
 * @typedef {object} Query  the form's question, as asked
 * @property {string} fromDate
 * @property {string} toDate
 * @property {number} start  epoch seconds of the first day's China midnight
 * @property {number} end  epoch seconds of the midnight after the last day (the last day is included)
 * @property {[string, string][]} filters  the API's filter parameters that are set, in the form's order
 * @property {number} limit
 */

const DAY_S = 86400;
const MAX_LIMIT = 1000; // the API's most per page
const LOW_RATING = 2; // a rating of 1 or 2 (差评) opens a follow-up
// A case number is RVW, the China date and 12 hex digits (signaling/namespaces.py); the check is loose on the
// rest so that numbers of other forms still reach the case page, which says when one is not there.
const CASE_NUMBER = /^RVW[0-9A-Z]{8,32}$/;
const SHOWN_INPUT = 40; // characters of a refused case number repeated in the message
// The filters the form sends, each an API parameter named after its <select> or <input>.
const FILTERS = /** @type {const} */ (["target_region", "matter_code", "outcome", "rating", "followup", "clerk_id"]);

// ---- the page's phases ----

// login: the log-in panel (no user yet, or logged out); loading: a search is asked; shown: its cases are on the
// page; more: the next page is asked, the cases so far still shown; failed: the search could not be made or
// answered (state.error says why; a failed "more" goes back to shown with the error beside the cases).
/** @type {Record<Phase, Phase[]>} */
const MOVES = {
  login: ["loading", "failed"],
  loading: ["loading", "shown", "failed", "login"],
  shown: ["loading", "more", "failed", "login"],
  more: ["loading", "shown", "failed", "login"],
  failed: ["loading", "failed", "login"],
};

const ui = {
  page: $("#cases"),
  logout: $("#logout"),
  reports: $("#link-reports"),
  wall: $("#link-wall"),
  status: $("#cases-status"),
  openForm: $("#cases-open-form"),
  openId: /** @type {HTMLInputElement} */ ($("#cases-open-id")),
  openError: $("#cases-open-error"),
  form: $("#cases-form"),
  from: /** @type {HTMLInputElement} */ ($("#cases-from")),
  to: /** @type {HTMLInputElement} */ ($("#cases-to")),
  region: /** @type {HTMLSelectElement} */ ($("#cases-region")),
  matter: /** @type {HTMLSelectElement} */ ($("#cases-matter")),
  outcome: /** @type {HTMLSelectElement} */ ($("#cases-outcome")),
  rating: /** @type {HTMLSelectElement} */ ($("#cases-rating")),
  followup: /** @type {HTMLSelectElement} */ ($("#cases-followup")),
  clerk: /** @type {HTMLInputElement} */ ($("#cases-clerk")),
  limit: /** @type {HTMLInputElement} */ ($("#cases-limit")),
  submit: /** @type {HTMLButtonElement} */ ($("#cases-search")),
  error: $("#cases-error"),
  result: $("#cases-result"),
  csv: /** @type {HTMLAnchorElement} */ ($("#cases-csv")),
  count: $("#cases-count"),
  rows: $("#cases-rows"),
  none: $("#cases-none"),
  more: /** @type {HTMLButtonElement} */ ($("#cases-more")),
};

/** @type {Record<(typeof FILTERS)[number], HTMLInputElement | HTMLSelectElement>} */
const FILTER_FIELDS = {
  target_region: ui.region,
  matter_code: ui.matter,
  outcome: ui.outcome,
  rating: ui.rating,
  followup: ui.followup,
  clerk_id: ui.clerk,
};

/**
 * @typedef {object} State
 * @property {Phase} phase
 * @property {import("./common.js").User | null} user
 * @property {Query | null} query  the search shown (or being asked)
 * @property {CaseSummary[]} cases  the pages read so far, in the API's order
 * @property {string | null} cursor  the last page's `next_cursor`: null when there is no more
 * @property {Failure | null} error
 * @property {number} focusRow  after "more": the index of the first new row, whose link takes the focus; else -1
 * @property {number} seq  bumped on every search, page and log-out: answers to an older one are dropped
 */
/** @type {State} */
const state = { phase: "login", user: null, query: null, cases: [], cursor: null, error: null, focusRow: -1, seq: 0 };
/** @type {Map<string, Matter>} */
const matters = new Map(); // code -> {name: {zh, en}, skill, provinces}

/** @param {Phase} next */
function go(next) {
  if (!MOVES[state.phase].includes(next)) {
    throw new Error(`case search: no move from ${state.phase} to ${next}`);
  }
  state.phase = next;
  render();
}

// ---- China dates and times ----

/** @param {number} ts  epoch seconds */
function isoChina(ts) {
  return `${new Date((ts + CHINA_S) * 1000).toISOString().slice(0, 19)}+08:00`;
}

/**
 * "2026-11-28 14:03:22" in China time for an ISO 8601 time; the dash when there is none.
 * @param {string | null | undefined} time
 */
function chinaDateTime(time) {
  const ms = Date.parse(time || "");
  if (!Number.isFinite(ms)) return t("sup.none");
  return new Date(ms + CHINA_S * 1000).toISOString().slice(0, 19).replace("T", " ");
}

/**
 * @param {string | null | undefined} from
 * @param {string | null | undefined} to
 */
function seconds(from, to) {
  const a = Date.parse(from || "");
  const b = Date.parse(to || "");
  return Number.isFinite(a) && Number.isFinite(b) ? Math.max(0, (b - a) / 1000) : null;
}

// ---- the query ----

/**
 * The form's query, or {problem: i18n key} when it cannot be asked.
 * @returns {Query | {problem: string}}
 */
function readQuery() {
  const fromDate = ui.from.value;
  const toDate = ui.to.value;
  if (!fromDate || !toDate) return { problem: "cases.needDates" };
  if (toDate < fromDate) return { problem: "cases.badRange" };
  const rawLimit = ui.limit.value.trim();
  const limit = Number(rawLimit);
  if (!/^[0-9]{1,4}$/.test(rawLimit) || limit < 1 || limit > MAX_LIMIT) return { problem: "cases.badLimit" };
  ui.clerk.value = ui.clerk.value.trim();
  // The API takes 1 to 32 printable ASCII characters (server/records.py): anything else is said here, in words.
  if (ui.clerk.value && !/^[\x20-\x7e]{1,32}$/.test(ui.clerk.value)) return { problem: "cases.badClerk" };
  /** @type {[string, string][]} */
  const filters = [];
  for (const name of FILTERS) {
    const value = FILTER_FIELDS[name].value;
    if (value) filters.push([name, value]);
  }
  return {
    fromDate,
    toDate,
    start: chinaMidnight(fromDate),
    end: chinaMidnight(toDate) + DAY_S, // the end date is included: up to its midnight
    filters,
    limit,
  };
}

/**
 * The period and the filters as the API's parameters.
 * @param {Query} q
 */
function params(q) {
  return new URLSearchParams([["from", isoChina(q.start)], ["to", isoChina(q.end)], ...q.filters]);
}

/**
 * @param {Query} q
 * @param {string | null} cursor
 */
function listPath(q, cursor) {
  const p = params(q);
  p.set("limit", String(q.limit));
  if (cursor) p.set("cursor", cursor);
  return `/api/cases?${p}`;
}

/** @param {Query} q  every matching case, as CSV (the API refuses `limit` and `cursor` with it) */
function csvPath(q) {
  const p = params(q);
  p.set("format", "csv");
  return `/api/cases?${p}`;
}

/**
 * What an answer that is not a page means: the log-in panel for 401 (true), else the failure.
 * @param {number} status
 * @param {any} data
 * @returns {Failure | true}
 */
function failureOf(status, data) {
  if (status === 401) return true;
  if (status === 403) return { key: "cases.forbidden" };
  return { error: (data && data.error) || { code: status ? "unavailable" : "network" } };
}

/** @param {any} data */
function isCaseList(data) {
  return !!data && Array.isArray(data.cases) && (data.next_cursor === null || typeof data.next_cursor === "string");
}

async function search() {
  const q = readQuery();
  const seq = ++state.seq; // an answer to an older question is dropped
  Object.assign(state, { cases: [], cursor: null, error: null, focusRow: -1 });
  if ("problem" in q) {
    state.query = null;
    state.error = { key: q.problem };
    go("failed");
    return;
  }
  state.query = q;
  go("loading");
  const { status, data } = await api("GET", listPath(q, null));
  if (seq !== state.seq) return;
  if (status === 200 && isCaseList(data)) {
    const list = /** @type {CaseList} */ (data);
    Object.assign(state, { cases: list.cases, cursor: list.next_cursor });
    go("shown");
    return;
  }
  const failure = failureOf(status, data);
  if (failure === true) {
    expired();
    return;
  }
  state.error = failure;
  go("failed");
}

async function more() {
  const q = state.query;
  if (state.phase !== "shown" || !q || !state.cursor) return;
  const seq = ++state.seq;
  state.error = null;
  go("more");
  const { status, data } = await api("GET", listPath(q, state.cursor));
  if (seq !== state.seq) return;
  if (status === 200 && isCaseList(data)) {
    const list = /** @type {CaseList} */ (data);
    state.focusRow = list.cases.length ? state.cases.length : -1;
    Object.assign(state, { cases: [...state.cases, ...list.cases], cursor: list.next_cursor });
    go("shown");
    return;
  }
  const failure = failureOf(status, data);
  if (failure === true) {
    expired();
    return;
  }
  state.error = failure; // the cases so far stay; "more" may be tried again
  go("shown");
}

// ---- opening a case by its number ----

/**
 * The case number typed in the box, trimmed and in capitals, or {problem} in words.
 * @param {string} raw
 * @returns {{id: string} | {problem: string}}
 */
function caseNumberOf(raw) {
  const id = raw.trim().toUpperCase();
  if (!id) return { problem: t("cases.openEmpty") };
  if (!CASE_NUMBER.test(id)) {
    const shown = raw.trim();
    return {
      problem: t("cases.openBad", { value: shown.length > SHOWN_INPUT ? `${shown.slice(0, SHOWN_INPUT)}…` : shown }),
    };
  }
  return { id };
}

ui.openForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const found = caseNumberOf(ui.openId.value);
  if ("problem" in found) {
    say(ui.openError, found.problem, "error");
    ui.openId.setAttribute("aria-invalid", "true");
    ui.openId.focus();
    return;
  }
  say(ui.openError, "");
  ui.openId.removeAttribute("aria-invalid");
  location.assign(`/cases/${encodeURIComponent(found.id)}`);
});

ui.openId.addEventListener("input", () => {
  if (!ui.openError.hidden) {
    say(ui.openError, "");
    ui.openId.removeAttribute("aria-invalid");
  }
});

// ---- words ----

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

/** @param {Failure | null} error */
function failureWords(error) {
  if (!error) return "";
  if (error.key) return t(error.key, error.vars);
  return t("cases.failed", { error: errorText(error.error, true) });
}

/** @param {string} code */
function matterName(code) {
  const m = matters.get(code);
  return m ? localName(m.name) : code || t("sup.none");
}

/** @param {string | null | undefined} outcome */
function outcomeWords(outcome) {
  if (!outcome) return t("case.outcomeNone");
  return words([`outcome.${outcome}`, `case.outcome.${outcome}`], outcome);
}

/** @param {CaseSummary} c */
function waitedWords(c) {
  if (c.answered_at) return duration(seconds(c.requested_at, c.answered_at));
  const waited = seconds(c.requested_at, c.ended_at);
  return waited === null ? t("sup.none") : t("cases.waitedUnanswered", { wait: duration(waited) });
}

/** @param {CaseSummary} c */
function ratingCell(c) {
  if (!c.rating) return [el("span", { class: "muted" }, t("cases.rating.none"))];
  const level = c.rating.level;
  const text = t("case.ratingLevel", { words: words([`rating.${level}`], String(level)), level });
  if (level > LOW_RATING) return [text];
  // A 差评 carries its follow-up's state in words (colour is never the only sign).
  const closed = !!c.followup_closed_at;
  return [
    text,
    el(
      "span",
      { class: "cases-followup", dataset: { followup: closed ? "closed" : "open" } },
      t(closed ? "cases.followupClosedMark" : "cases.followupOpenMark"),
    ),
  ];
}

// ---- drawing ----

function render() {
  const { phase, query: q } = state;
  const listed = phase === "shown" || phase === "more";
  ui.page.dataset.phase = phase;
  ui.page.hidden = phase === "login";
  ui.submit.disabled = phase === "loading";
  say(ui.error, failureWords(state.error), "error");
  if (phase === "loading") ui.status.textContent = t("cases.loading");
  else if (listed && q) ui.status.textContent = t("cases.period", { from: q.fromDate, to: q.toDate });
  else ui.status.textContent = "";
  renderMatterOptions();
  ui.result.hidden = !listed;
  if (!listed || !q) {
    ui.rows.replaceChildren();
    return;
  }
  const n = state.cases.length;
  ui.count.textContent = t(state.cursor ? "cases.countMore" : n === 1 ? "cases.countOne" : "cases.count", { n });
  ui.count.dataset.count = String(n);
  ui.none.hidden = n > 0;
  ui.rows.replaceChildren(...state.cases.map(row));
  ui.more.hidden = !state.cursor;
  ui.more.disabled = phase === "more";
  ui.more.textContent = t(phase === "more" ? "cases.moreLoading" : "cases.more");
  ui.csv.href = csvPath(q);
  if (phase === "shown" && state.focusRow >= 0) {
    // After "more", the first new case takes the focus: the button may be gone, and the reader goes on there.
    const link = ui.rows.children[state.focusRow]?.querySelector("a");
    if (link instanceof HTMLElement) link.focus();
    state.focusRow = -1;
  }
}

/**
 * One case as a table row; each cell's `data-col` names its column for the tests and the stylesheet.
 * @param {CaseSummary} c
 */
function row(c) {
  return el(
    "tr",
    { dataset: { case: c.case_id, outcome: c.outcome || "" } },
    el(
      "th",
      { scope: "row", dataset: { col: "case" } },
      el("a", { href: `/cases/${encodeURIComponent(c.case_id)}` }, el("code", {}, c.case_id)),
    ),
    el("td", { class: "num", dataset: { col: "requested" } }, chinaDateTime(c.requested_at)),
    el("td", { dataset: { col: "matter" }, title: c.matter_code }, matterName(c.matter_code)),
    el("td", { dataset: { col: "region" } }, regionName(c.target_region)),
    el("td", { dataset: { col: "clerk" } }, c.clerk_id || t("case.notAnswered")),
    el("td", { class: `outcome outcome-${c.outcome || "none"}`, dataset: { col: "outcome" } }, outcomeWords(c.outcome)),
    el("td", { class: "num", dataset: { col: "waited" } }, waitedWords(c)),
    el("td", { dataset: { col: "rating", level: c.rating ? String(c.rating.level) : "" } }, ...ratingCell(c)),
  );
}

/** The matter filter's options, by name in the page's language (the one chosen is kept). */
function renderMatterOptions() {
  // Made again only when the names change: a render while the list is open would close it.
  const made = `${lang()} ${matters.size}`;
  if (ui.matter.dataset.made === made) return;
  ui.matter.dataset.made = made;
  const chosen = ui.matter.value;
  const all = /** @type {HTMLOptionElement} */ (ui.matter.options[0]);
  const sorted = [...matters.values()].sort((a, b) => a.code.localeCompare(b.code));
  ui.matter.replaceChildren(
    all,
    ...sorted.map((m) =>
      el("option", { value: m.code }, lang() === "en" ? `${localName(m.name)} (${m.code})` : `${localName(m.name)}（${m.code}）`),
    ),
  );
  ui.matter.value = matters.has(chosen) ? chosen : "";
}

/**
 * A province's supervisor sees that province only (server/supervision.py): the other provinces are offered
 * greyed out, since asking for them finds nothing. Auditors and the delta's supervisors are offered all.
 * @param {import("./common.js").User | null} user
 */
function scopeRegions(user) {
  const own = user && user.role === "supervisor" && user.region !== "delta" ? `${user.region.slice(0, 2)}0000` : null;
  for (const option of Array.from(ui.region.options)) {
    option.disabled = !!own && !!option.value && option.value !== own;
  }
  if (ui.region.selectedOptions[0]?.disabled) ui.region.value = "";
}

/** Region names in the page's language (the options are codes in the markup). */
function renderRegionNames() {
  for (const option of Array.from(ui.region.options)) {
    if (option.value) option.textContent = regionName(option.value);
  }
}

// ---- log-in ----

async function loadMatters() {
  const { status, data } = await api("GET", "/api/matters");
  if (status !== 200 || !Array.isArray(data)) return; // codes are shown instead of names
  for (const m of data) matters.set(m.code, m);
  render();
}

/** @param {import("./common.js").User} user */
function start(user) {
  state.user = user;
  ui.logout.hidden = false;
  ui.reports.hidden = false;
  ui.wall.hidden = user.role !== "supervisor";
  scopeRegions(user);
  if (!matters.size) loadMatters();
  search();
}

function stop() {
  state.seq += 1;
  Object.assign(state, { user: null, query: null, cases: [], cursor: null, error: null, focusRow: -1 });
  ui.logout.hidden = true;
  ui.reports.hidden = true;
  ui.wall.hidden = true;
  scopeRegions(null);
  if (state.phase !== "login") go("login");
}

function expired() {
  stop();
  login.expired();
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  search();
});

ui.more.addEventListener("click", () => {
  more();
});

ui.logout.addEventListener("click", async () => {
  stop();
  await login.logout();
});

const today = chinaToday();
ui.from.value = ui.from.value || today;
ui.to.value = ui.to.value || today;
renderRegionNames();

const login = loginPanel({ roles: ["supervisor", "auditor"], wrongRoleKey: "cases.wrongRole", onReady: start });

onChange(() => {
  renderRegionNames();
  render();
});

window.rvwDebug = {
  phase: () => state.phase,
  path: () => state.query && listPath(state.query, null),
  shown: () => state.cases.map((c) => c.case_id),
  cursor: () => state.cursor,
};
