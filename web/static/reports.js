// @ts-check
// The reports page, for supervisors and auditors: the service-level figures of any period
// (GET /api/sla, docs/sla.md) in total, by group and over time buckets, two uPlot charts, the case
// list of the same period as CSV (GET /api/cases?format=csv) and the figures as CSV.
//
// One state object, changed by `show()` only, and one `render()` that draws all of it; the language
// switch re-renders. Dates are China dates whatever the browser's time zone: a day is
// [00:00, 24:00) China time (UTC+8), as on the server.

import { $, CHINA_S, api, chinaMidnight, chinaToday, el, errorText, loginPanel, percent, say } from "./common.js";
import { lang, localName, onChange, regionName, skillName, t } from "./i18n.js";

/**
 * @typedef {import("../types/api").SlaReport} SlaReport
 * @typedef {import("../types/api").SlaFigures} SlaFigures
 * @typedef {import("../types/api").Matter} Matter
 * @typedef {import("uplot")} UPlot
 * @typedef {import("uplot").Options} ChartOptions
 * @typedef {import("uplot").Series} ChartSeries
 * @typedef {"15m" | "1h" | "1d"} Bucket
 * @typedef {{fromDate: string, toDate: string, start: number, end: number, group: string, bucket: Bucket}} Query
 *   the form's question: dates, their epoch seconds (the end date's midnight after it), grouping and bucket
 */

const DAY_S = 86400;
const GOAL = 0.9; // the service-level goal drawn on the chart (docs/sla.md)
const GOAL_PERCENT = 90; // the same, as the chart's values (0.9 * 100 is not quite 90 in floating point)
/** @type {Record<Bucket, number>} */
const BUCKET_S = { "15m": 900, "1h": 3600, "1d": 86400 };
const CHART_HEIGHT = 240;
/** @type {(keyof SlaFigures)[]} */
const FIGURES = [
  "requests",
  "answered",
  "answered_within_sla",
  "abandoned",
  "short_abandoned",
  "service_level",
  "asa_s",
  "abandon_rate",
  "aht_s",
  "resolution_rate",
  "rated",
  "positive_rate",
];
const RATES = new Set(["service_level", "abandon_rate", "resolution_rate", "positive_rate"]);
const SECONDS = new Set(["asa_s", "aht_s"]);
// A spreadsheet runs a cell starting with one of these as a formula: such cells get a leading
// apostrophe, as in the server's case export (server/records.py).
const FORMULA_STARTS = ["=", "+", "-", "@", "\t", "\r"];
const COLOURS = { line: "#0b4ea2", goal: "#b3261e", bar: "rgba(11, 78, 162, 0.6)" };
// The service level leads the totals, as on the wall; the table and the CSV keep the API's order.
/** @type {(keyof SlaFigures)[]} */
const TILES = ["service_level", ...FIGURES.filter((name) => name !== "service_level")];

const ui = {
  page: $("#reports"),
  logout: $("#logout"),
  wall: $("#link-wall"),
  form: $("#rep-form"),
  from: /** @type {HTMLInputElement} */ ($("#rep-from")),
  to: /** @type {HTMLInputElement} */ ($("#rep-to")),
  group: /** @type {HTMLSelectElement} */ ($("#rep-group")),
  bucket: /** @type {HTMLSelectElement} */ ($("#rep-bucket")),
  submit: /** @type {HTMLButtonElement} */ ($("#rep-show")),
  period: $("#rep-period"),
  error: $("#rep-error"),
  result: $("#rep-result"),
  totals: $("#rep-totals"),
  groupsPanel: $("#rep-groups-panel"),
  head: $("#rep-head"),
  rows: $("#rep-rows"),
  noGroups: $("#rep-no-groups"),
  exportCases: /** @type {HTMLAnchorElement} */ ($("#rep-export-cases")),
  exportFigures: $("#rep-export-figures"),
  slTitle: $("#chart-sl-title"),
  slChart: $("#chart-sl"),
  requestsTitle: $("#chart-requests-title"),
  requestsChart: $("#chart-requests"),
};

/**
 * @typedef {object} State
 * @property {"idle" | "loading" | "shown" | "failed"} phase
 *   "idle" (not shown yet), "loading", "shown" (answer and query set) or "failed" (error set)
 * @property {Query | null} query
 * @property {SlaReport | null} answer
 * @property {(import("./common.js").ErrorInfo & {key?: string}) | null} error
 * @property {number} seq
 */
/** @type {State} */
const state = { phase: "idle", query: null, answer: null, error: null, seq: 0 };
/** @type {Map<string, Matter>} */
const matters = new Map(); // code -> {name: {zh, en}, skill}
/** @type {{sl: UPlot | null, requests: UPlot | null}} */
const charts = { sl: null, requests: null };

// ---- China dates ----

/**
 * "2026-09-22T09:15:00" in China time for epoch seconds.
 * @param {number} ts
 */
function chinaTime(ts) {
  return new Date((ts + CHINA_S) * 1000).toISOString().slice(0, 19);
}

/** @param {number} ts */
function isoChina(ts) {
  return `${chinaTime(ts)}+08:00`;
}

// ---- the query ----

/**
 * The form's query, or {problem: i18n key} when it cannot be asked.
 * @returns {Query | {problem: string}}
 */
function readQuery() {
  const fromDate = ui.from.value;
  const toDate = ui.to.value;
  if (!fromDate || !toDate) return { problem: "rep.needDates" };
  if (toDate < fromDate) return { problem: "rep.badRange" };
  return {
    fromDate,
    toDate,
    start: chinaMidnight(fromDate),
    end: chinaMidnight(toDate) + DAY_S, // the end date is included: up to its midnight
    group: ui.group.value,
    bucket: /** @type {Bucket} */ (ui.bucket.value),
  };
}

/** @param {Query} q */
function slaPath(q) {
  const params = new URLSearchParams({ from: isoChina(q.start), to: isoChina(q.end) });
  if (q.group) params.set("group_by", q.group);
  params.set("bucket", q.bucket);
  return `/api/sla?${params}`;
}

/** @param {Query} q */
function casesPath(q) {
  return `/api/cases?${new URLSearchParams({ from: isoChina(q.start), to: isoChina(q.end), format: "csv" })}`;
}

async function show() {
  const q = readQuery();
  const seq = ++state.seq; // an answer to an older question is dropped
  if ("problem" in q) {
    Object.assign(state, { phase: "failed", query: null, answer: null, error: { code: "", key: q.problem } });
    render();
    return;
  }
  state.phase = "loading";
  render();
  const { status, data } = await api("GET", slaPath(q));
  if (seq !== state.seq) return;
  if (status === 200 && data && data.total) {
    Object.assign(state, { phase: "shown", query: q, answer: data, error: null });
  } else if (status === 401) {
    stop();
    login.expired();
    return;
  } else {
    const error = (data && data.error) || { code: status ? "unavailable" : "network" };
    Object.assign(state, { phase: "failed", query: null, answer: null, error });
  }
  render();
}

// ---- words and numbers ----

/** @param {(import("./common.js").ErrorInfo & {key?: string}) | null} error */
function errorWords(error) {
  if (!error) return "";
  if (error.key) return t(error.key);
  if (error.code === "forbidden") return t("rep.forbidden");
  return errorText(error, true);
}

/**
 * @param {string} name
 * @param {number} sla
 */
function figureLabel(name, sla) {
  return t(`rep.fig.${name}`, { sla });
}

/**
 * @param {string} name
 * @param {number | null | undefined} value
 */
function figureText(name, value) {
  if (value === null || value === undefined) return t("sup.none");
  if (RATES.has(name)) return percent(value);
  if (SECONDS.has(name)) return t("rep.seconds", { n: Number(value.toFixed(1)) });
  return String(value);
}

/** @param {number | null | undefined} serviceLevel */
function level(serviceLevel) {
  if (serviceLevel === null || serviceLevel === undefined) return "none";
  return serviceLevel >= GOAL ? "good" : serviceLevel >= 0.8 ? "fair" : "poor";
}

/**
 * A group's key in words: regions and skills by name, matters by name and code.
 * @param {string} column
 * @param {string | null | undefined} value
 */
function keyName(column, value) {
  if (value === null || value === undefined || value === "") {
    return column === "clerk_id" ? t("rep.notAnswered") : t("sup.none");
  }
  if (column === "target_region" || column === "origin_region") return regionName(value);
  if (column === "skill") return skillName(value);
  if (column === "channel") {
    const text = t(`channel.${value}`);
    return text === `channel.${value}` ? value : text;
  }
  if (column === "matter_code") {
    const m = matters.get(value);
    if (!m) return value;
    return lang() === "en" ? `${localName(m.name)} (${value})` : `${localName(m.name)}（${value}）`;
  }
  return String(value);
}

// ---- drawing ----

function render() {
  const { phase, answer: a, query: q } = state;
  ui.page.dataset.phase = phase;
  ui.submit.disabled = phase === "loading";
  say(ui.error, phase === "failed" ? errorWords(state.error) : "", "error");
  if (phase === "loading") ui.period.textContent = t("rep.loading");
  else if (phase === "shown" && q) ui.period.textContent = t("rep.period", { from: q.fromDate, to: q.toDate });
  else ui.period.textContent = "";
  ui.result.hidden = phase !== "shown";
  if (phase !== "shown" || !a || !q) {
    // Loading keeps the charts of the previous answer under the hidden panel; a failure drops them.
    if (phase === "failed") destroyCharts();
    return;
  }
  renderTotals(a);
  renderGroups(a, q);
  renderCharts(a, q);
  ui.exportCases.href = casesPath(q);
  ui.exportCases.setAttribute("download", `cases_${q.fromDate}_${q.toDate}.csv`);
}

/** @param {SlaReport} a */
function renderTotals(a) {
  ui.totals.replaceChildren(
    ...TILES.map((name) =>
      el(
        "div",
        { class: name === "service_level" ? "kpi kpi-main" : "kpi", dataset: { figure: name } },
        el("span", { class: "kpi-label" }, figureLabel(name, a.sla_s)),
        el(
          "span",
          { class: "kpi-value", dataset: name === "service_level" ? { level: level(a.total[name]) } : {} },
          figureText(name, a.total[name]),
        ),
      ),
    ),
  );
}

/**
 * @param {SlaReport} a
 * @param {Query} q
 */
function renderGroups(a, q) {
  ui.groupsPanel.hidden = !q.group;
  if (!q.group) return;
  ui.head.replaceChildren(
    el("th", { scope: "col" }, t(`rep.group.${q.group}`)),
    ...FIGURES.map((name) => el("th", { scope: "col", class: "num" }, figureLabel(name, a.sla_s))),
  );
  /**
   * @param {string} cls
   * @param {string} key
   * @param {string} name
   * @param {SlaFigures} figures
   */
  const row = (cls, key, name, figures) =>
    el(
      "tr",
      { class: cls, dataset: { key } },
      el("th", { scope: "row", title: key || null }, name),
      ...FIGURES.map((f) => el("td", { class: "num", dataset: { figure: f } }, figureText(f, figures[f]))),
    );
  const rows = a.groups.map((g) => {
    const value = g.key[q.group];
    return row("", value ?? "", keyName(q.group, value), g);
  });
  if (rows.length) rows.push(row("total-row", "", t("rep.total"), a.total));
  ui.rows.replaceChildren(...rows);
  ui.noGroups.hidden = a.groups.length > 0;
}

/**
 * The buckets on a full grid over the period: empty buckets have 0 requests and no service level. One more
 * point at the period's end carries the goal line to the right edge (a bar from there would be off the chart).
 * @param {SlaReport} a
 * @param {Query} q
 */
function bucketSeries(a, q) {
  const width = BUCKET_S[q.bucket];
  const n = Math.ceil((q.end - q.start) / width);
  const xs = Array.from({ length: n + 1 }, (_, i) => Math.min(q.start + i * width, q.end));
  /** @type {(number | null)[]} */
  const sl = new Array(n + 1).fill(null);
  /** @type {number[]} */
  const requests = new Array(n + 1).fill(0);
  for (const b of a.buckets) {
    const i = Math.round((Date.parse(b.start) / 1000 - q.start) / width);
    if (i < 0 || i >= n) continue;
    sl[i] = b.service_level === null ? null : b.service_level * 100;
    requests[i] = b.requests;
  }
  return { xs, sl, requests, goal: xs.map(() => GOAL_PERCENT) };
}

/**
 * @param {number} ts
 * @param {number} bucketS
 * @param {number} span
 */
function axisLabel(ts, bucketS, span) {
  const time = chinaTime(ts); // "YYYY-MM-DDTHH:MM:SS"
  if (bucketS >= DAY_S) return time.slice(5, 10);
  if (span <= DAY_S) return time.slice(11, 16);
  return `${time.slice(5, 10)} ${time.slice(11, 16)}`;
}

/**
 * @param {Query} q
 * @param {HTMLElement} node
 * @param {{series: ChartSeries[], yRange: import("uplot").Scale.Range, yValues: (v: number) => string}} o
 * @returns {ChartOptions}
 */
function chartOptions(q, node, { series, yRange, yValues }) {
  const bucketS = BUCKET_S[q.bucket];
  const span = q.end - q.start;
  const long = bucketS < DAY_S && span > DAY_S;
  return {
    width: chartWidth(node),
    height: CHART_HEIGHT,
    // Time axes split on China-time boundaries, whatever the browser's zone.
    tzDate: (ts) => (window.uPlot ? window.uPlot.tzDate(new Date(ts * 1000), "Asia/Shanghai") : new Date(ts * 1000)),
    scales: { x: { time: true, range: () => [q.start, q.end] }, y: { range: yRange } },
    axes: [
      { space: long ? 100 : 60, values: (u, splits) => splits.map((ts) => axisLabel(ts, bucketS, span)) },
      { values: (u, splits) => splits.map(yValues) },
    ],
    series: [
      {
        label: t("rep.seriesTime"),
        value: (u, ts) =>
          ts === null || ts === undefined ? t("sup.none") : chinaTime(ts).slice(0, 16).replace("T", " "),
      },
      ...series,
    ],
    legend: { show: true },
    cursor: { drag: { x: false, y: false } },
  };
}

/** @param {HTMLElement} node */
function chartWidth(node) {
  return Math.max(240, Math.floor(node.clientWidth));
}

function destroyCharts() {
  for (const key of /** @type {(keyof typeof charts)[]} */ (["sl", "requests"])) {
    charts[key]?.destroy();
    charts[key] = null;
  }
}

/**
 * @param {SlaReport} a
 * @param {Query} q
 */
function renderCharts(a, q) {
  destroyCharts();
  const uPlot = window.uPlot;
  const slTitle = t("rep.chartSl", { sla: a.sla_s });
  ui.slTitle.textContent = slTitle;
  ui.slChart.setAttribute("aria-label", slTitle);
  ui.requestsChart.setAttribute("aria-label", t("rep.chartRequests"));
  if (!uPlot) return; // the vendored library is missing (npm ci not run): the tables still show
  const s = bucketSeries(a, q);
  const none = t("sup.none");
  const pct = (/** @type {UPlot} */ u, /** @type {number | null} */ v) =>
    v === null || v === undefined ? none : `${v.toFixed(1)}%`;
  const slOptions = chartOptions(q, ui.slChart, {
    yRange: [0, 100],
    yValues: (v) => `${v}%`,
    series: [
      { label: t("rep.seriesSl"), stroke: COLOURS.line, width: 2, spanGaps: true, value: pct, points: { size: 6 } },
      {
        label: t("rep.seriesGoal", { goal: percent(GOAL) }),
        stroke: COLOURS.goal,
        width: 1.5,
        dash: [6, 4],
        value: pct,
        points: { show: false },
      },
    ],
  });
  charts.sl = new uPlot(slOptions, [s.xs, s.sl, s.goal], ui.slChart);
  const top = Math.max(1, ...s.requests);
  const requestsOptions = chartOptions(q, ui.requestsChart, {
    yRange: () => [0, Math.ceil(top * 1.1)],
    yValues: (v) => (Number.isInteger(v) ? String(v) : ""),
    series: [
      {
        label: t("rep.seriesRequests"),
        stroke: COLOURS.line,
        fill: COLOURS.bar,
        width: 0, // no outline: an empty bucket's bar of height 0 leaves no line
        value: (u, v) => (v === null || v === undefined ? none : String(v)),
        // A bar covers its bucket [start, start + width): drawn to the right of its start.
        paths: uPlot.paths.bars?.({ size: [0.9, 80], align: 1 }),
        points: { show: false },
      },
    ],
  });
  charts.requests = new uPlot(requestsOptions, [s.xs, s.requests], ui.requestsChart);
}

new ResizeObserver(() => {
  /** @type {[UPlot | null, HTMLElement][]} */
  const shown = [
    [charts.sl, ui.slChart],
    [charts.requests, ui.requestsChart],
  ];
  for (const [chart, node] of shown) {
    if (chart && node.clientWidth) chart.setSize({ width: chartWidth(node), height: CHART_HEIGHT });
  }
}).observe(ui.result);

// ---- the figures as CSV, made in the page ----

/** @param {string | number | null | undefined} value */
function csvCell(value) {
  if (value === null || value === undefined) return "";
  if (typeof value === "number") return String(value);
  let text = String(value);
  if (FORMULA_STARTS.some((c) => text.startsWith(c))) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/**
 * @param {SlaReport} a
 * @param {Query} q
 */
function figuresCsv(a, q) {
  const column = q.group || "group";
  /** @type {(string | number | null | undefined)[][]} */
  const lines = [[column, "name", ...FIGURES]];
  for (const g of q.group ? a.groups : []) {
    const value = g.key[q.group];
    lines.push([value, keyName(q.group, value), ...FIGURES.map((f) => g[f])]);
  }
  lines.push(["total", t("rep.total"), ...FIGURES.map((f) => a.total[f])]);
  return lines.map((cells) => cells.map(csvCell).join(",")).join("\r\n") + "\r\n";
}

/**
 * @param {string} name
 * @param {string} text
 */
function download(name, text) {
  // The BOM tells spreadsheet programs the file is UTF-8, so Chinese reads correctly.
  const url = URL.createObjectURL(new Blob(["\ufeff", text], { type: "text/csv;charset=utf-8" }));
  const link = el("a", { href: url, download: name, hidden: true });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

ui.exportFigures.addEventListener("click", () => {
  const { answer: a, query: q } = state;
  if (state.phase !== "shown" || !a || !q) return;
  download(`figures_${q.fromDate}_${q.toDate}${q.group ? `_${q.group}` : ""}.csv`, figuresCsv(a, q));
});

// ---- log-in ----

async function loadMatters() {
  const { status, data } = await api("GET", "/api/matters");
  if (status !== 200 || !Array.isArray(data)) return; // codes are shown instead of names
  for (const m of data) matters.set(m.code, m);
  if (state.phase === "shown") render();
}

/** @param {import("./common.js").User} user */
function start(user) {
  ui.page.hidden = false;
  ui.logout.hidden = false;
  ui.wall.hidden = user.role !== "supervisor";
  loadMatters();
  show();
}

function stop() {
  state.seq += 1;
  Object.assign(state, { phase: "idle", query: null, answer: null, error: null });
  destroyCharts();
  render();
  ui.page.hidden = true;
  ui.logout.hidden = true;
}

ui.form.addEventListener("submit", (event) => {
  event.preventDefault();
  show();
});

ui.logout.addEventListener("click", async () => {
  stop();
  await login.logout();
});

const today = chinaToday();
ui.from.value = ui.from.value || today;
ui.to.value = ui.to.value || today;

const login = loginPanel({ roles: ["supervisor", "auditor"], wrongRoleKey: "rep.wrongRole", onReady: start });

onChange(() => render());

window.rvwDebug = {
  phase: () => state.phase,
  answer: () => state.answer,
  path: () => state.query && slaPath(state.query),
  charts: () => ({ sl: charts.sl && charts.sl.data, requests: charts.requests && charts.requests.data }),
};
