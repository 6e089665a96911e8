// The supervisor's wall: queues, clerks, today's figures and the citizens who have waited too long.

import { $, api, clock, duration, el, errorText, loginPanel, percent, say } from "./common.js";
import { onChange, regionName, skillName, t } from "./i18n.js";

const STALE_MS = 5000;
const RETRY_MS = 2000; // a busy server refused the connection: try again after this (plus up to as much again)
const SLA_S = Number(document.body.dataset.sla) || 60;
const ALERT_S = Math.round(SLA_S * 0.75); // the server alerts at three quarters of the SLA
const STATUS_ORDER = ["available", "offered", "busy", "break", "offline"];
const RECENT_ALERTS = 20; // the wall keeps this many of the server's "alert" events
const MUTE_KEY = "rvw.supervisor.muted";

const ui = {
  board: $("#board"),
  logout: $("#logout"),
  at: $("#board-at"),
  error: $("#board-error"),
  alertsTitle: $("#alerts-title"),
  alerts: $("#alert-list"),
  noAlerts: $("#no-alerts"),
  queues: $("#queue-rows"),
  noQueues: $("#no-queues"),
  counts: $("#status-counts"),
  clerks: $("#clerk-rows"),
  noClerks: $("#no-clerks"),
  events: $("#event-list"),
  noEvents: $("#no-events"),
  mute: $("#alert-mute"),
};

// ---- alerts as they happen ("alert" events), with a short beep the supervisor can mute ----

function stored(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null; // storage refused (private mode): not muted
  }
}

const sound = { ctx: null, muted: stored(MUTE_KEY) === "1" };
const recent = [];

function beep(kind) {
  if (sound.muted) return;
  try {
    sound.ctx = sound.ctx || new AudioContext();
    if (sound.ctx.state === "suspended") sound.ctx.resume(); // allowed after any click on the page
    const ctx = sound.ctx;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = kind === "breach" ? 880 : 660;
    gain.gain.setValueAtTime(0.2, ctx.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, ctx.currentTime + 0.3);
    osc.connect(gain).connect(ctx.destination);
    osc.start();
    osc.stop(ctx.currentTime + 0.3);
  } catch {
    // No audio (or not yet allowed): the list still shows the alert.
  }
}

function renderMute() {
  ui.mute.setAttribute("aria-pressed", String(sound.muted));
  ui.mute.textContent = t(sound.muted ? "sup.unmute" : "sup.mute");
}

ui.mute.addEventListener("click", () => {
  sound.muted = !sound.muted;
  try {
    localStorage.setItem(MUTE_KEY, sound.muted ? "1" : "0");
  } catch {
    // kept for this page only
  }
  renderMute();
});

function renderEvents() {
  ui.events.replaceChildren(
    ...recent.map((a) =>
      el(
        "li",
        { class: "alert", dataset: { kind: a.kind, ticket: a.ticket_id } },
        t("sup.eventLine", {
          time: clock(Date.parse(a.at) / 1000),
          kind: t(`sup.alert.${a.kind}`),
          ticket: a.ticket_id,
          region: regionName(a.target_region),
          skill: skillName(a.skill),
          s: Math.round(a.waited_s),
        }),
      ),
    ),
  );
  ui.noEvents.hidden = recent.length > 0;
}

function onAlert(data) {
  recent.unshift(data);
  recent.length = Math.min(recent.length, RECENT_ALERTS);
  renderEvents();
  beep(data.kind);
}

const state = { socket: null, data: null, lastAt: 0, staleTimer: null, connState: "connecting" };

const login = loginPanel({ role: "supervisor", onReady: start });

function start() {
  ui.board.hidden = false;
  ui.logout.hidden = false;
  say(ui.error, "");
  renderAlertsTitle();
  const socket = io("/supervisor"); // with the session cookie
  state.socket = socket;
  socket.on("connect", () => setConn("online"));
  socket.on("disconnect", (reason) => {
    setConn("lost");
    if (reason === "io server disconnect") socket.connect();
  });
  // The server is shutting down and closes the connection next: Socket.IO reconnects by itself
  // (through the load balancer, to another server) with the log-in.
  socket.on("draining", () => setConn("lost"));
  socket.on("connect_error", (err) => {
    if (socket.active) {
      setConn("lost");
      return;
    }
    const data = (err && err.data) || {};
    if (data.code === "unavailable" || data.code === "rate_limited") {
      // Busy (a server taking over from one that shut down, a Redis blip): try again.
      setConn("lost");
      setTimeout(() => {
        if (state.socket === socket) socket.connect();
      }, RETRY_MS * (1 + Math.random()));
      return;
    }
    stop();
    if (data.code === "unauthorized") login.expired();
    else {
      ui.board.hidden = false;
      say(ui.error, errorText(data, true), "error");
    }
  });
  socket.on("alert", onAlert);
  socket.on("dashboard", (data) => {
    state.data = data;
    state.lastAt = performance.now();
    render();
  });
  clearInterval(state.staleTimer);
  state.staleTimer = setInterval(() => {
    if (state.connState === "online" && state.lastAt && performance.now() - state.lastAt > STALE_MS) {
      setConn("stale");
    }
  }, 1000);
}

function stop() {
  if (state.socket) {
    state.socket.removeAllListeners();
    state.socket.disconnect();
    state.socket = null;
  }
  clearInterval(state.staleTimer);
  ui.board.hidden = true;
  ui.logout.hidden = true;
}

ui.logout.addEventListener("click", async () => {
  stop();
  await login.logout();
});

function setConn(value) {
  state.connState = value === "stale" ? "online" : value;
  ui.at.dataset.state = value;
  renderAt(value);
}

function renderAt(value = ui.at.dataset.state) {
  if (value === "stale") ui.at.textContent = t("sup.stale");
  else if (value === "lost") ui.at.textContent = t("conn.lost");
  else if (state.data) ui.at.textContent = t("sup.updated", { t: clock(state.data.at) });
  else ui.at.textContent = t(value === "online" ? "conn.online" : "conn.connecting");
}

function renderAlertsTitle() {
  ui.alertsTitle.textContent = t("sup.alerts", { s: ALERT_S });
}

function setText(id, value) {
  const node = document.getElementById(id);
  node.textContent = value === null || value === undefined ? t("sup.none") : String(value);
}

function render() {
  const d = state.data;
  if (!d) return;
  if (ui.at.dataset.state === "stale") ui.at.dataset.state = "online";
  renderAt();
  const today = d.today || {};
  setText("kpi-sl", percent(today.service_level));
  document.getElementById("kpi-sl").dataset.level =
    today.service_level === null || today.service_level === undefined
      ? "none"
      : today.service_level >= 0.9
        ? "good"
        : today.service_level >= 0.8
          ? "fair"
          : "poor";
  setText("kpi-requests", today.requests);
  setText("kpi-answered", today.answered);
  setText("kpi-within", today.answered_within_sla);
  setText("kpi-abandoned", today.abandoned);
  setText("kpi-asa", today.asa_s === null || today.asa_s === undefined ? null : duration(today.asa_s));
  setText("kpi-open", d.open_cases);
  setText("kpi-resolution", percent(today.resolution_rate));
  setText("kpi-positive", percent(today.positive_rate));

  const alerts = (d.alerts || []).filter((a) => a.waited_s >= ALERT_S);
  ui.alerts.replaceChildren(
    ...alerts.map((a) =>
      el(
        "li",
        { class: "alert", dataset: { ticket: a.ticket_id } },
        t("sup.alertLine", {
          ticket: a.ticket_id,
          region: regionName(a.region),
          skill: skillName(a.skill),
          s: Math.round(a.waited_s),
        }),
      ),
    ),
  );
  ui.noAlerts.hidden = alerts.length > 0;

  const queues = d.queues || [];
  ui.queues.replaceChildren(
    ...queues.map((q) =>
      el(
        "tr",
        { class: q.oldest_wait_s >= ALERT_S ? "late" : "" },
        el("td", {}, regionName(q.region)),
        el("td", {}, skillName(q.skill)),
        el("td", { class: "num" }, q.waiting),
        el("td", { class: "num" }, q.offered),
        el("td", { class: "num" }, duration(q.oldest_wait_s)),
        el("td", { class: "num" }, q.staffed),
      ),
    ),
  );
  ui.noQueues.hidden = queues.length > 0;

  const byStatus = d.clerks_by_status || {};
  const statuses = [...STATUS_ORDER, ...Object.keys(byStatus).filter((s) => !STATUS_ORDER.includes(s))];
  ui.counts.replaceChildren(
    ...statuses
      .filter((s) => byStatus[s])
      .map((s) =>
        el(
          "li",
          { class: "status-pill", dataset: { status: s } },
          `${t(`status.${s}`)} `,
          el("strong", {}, byStatus[s]),
        ),
      ),
  );
  const clerks = d.clerks || [];
  ui.clerks.replaceChildren(
    ...clerks.map((c) =>
      el(
        "tr",
        {},
        el("td", {}, c.display_name || c.clerk_id),
        el("td", {}, regionName(c.region)),
        el("td", {}, el("span", { class: "status-pill", dataset: { status: c.status } }, t(`status.${c.status}`))),
        el("td", {}, c.case_id ? el("code", {}, c.case_id) : t("sup.none")),
      ),
    ),
  );
  ui.noClerks.hidden = clerks.length > 0;
}

// ---- staffing what-if: Erlang C beside the simulator (GET /api/staffing) ----

const staff = {
  form: $("#staffing-form"),
  submit: $("#staff-submit"),
  error: $("#staff-error"),
  result: $("#staff-result"),
  summary: $("#staff-summary"),
  rows: $("#staff-rows"),
  answer: null,
};

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
  const row = (key, erlang, simulated) =>
    el("tr", {}, el("td", {}, t(key, { sla: a.sla_s })), el("td", { class: "num" }, erlang), el("td", { class: "num" }, simulated));
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
  const value = (id) => $(id).value.trim();
  const params = new URLSearchParams({
    arrivals_per_hour: value("#staff-arrivals"),
    aht_s: value("#staff-aht"),
    sla_s: value("#staff-sla"),
    goal: String(Number(value("#staff-goal")) / 100),
  });
  if (value("#staff-clerks")) params.set("clerks", value("#staff-clerks"));
  if ($("#staff-simulate").checked) params.set("simulate", "1");
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

renderMute();
renderEvents();

onChange(() => {
  renderMute();
  renderEvents();
  renderAlertsTitle();
  render();
  renderAt();
  renderStaffing();
});

window.rvwDebug = { data: () => state.data, state: () => state.connState, alerts: () => [...recent] };
