// @ts-check
// Small helpers shared by the pages: DOM building, acknowledged emits, REST calls,
// plain-words errors and the log-in panel of the console and the supervisor page.

import { t } from "./i18n.js";

/**
 * @typedef {{code: string, message?: string}} ErrorInfo  the server's error object (stable code, English message)
 * @typedef {{ok: boolean, error?: ErrorInfo, [field: string]: any}} Answer  an acknowledgement, JSON as sent
 * @typedef {{id: string, username: string, role: string, display_name: string, region: string,
 *   skills: string[]}} User  /api/me
 * @typedef {import("socket.io-client").Socket} Socket
 * @typedef {string | number | Node | null | undefined | false} Child  what el() appends (nothing for the empty ones)
 */

export const CHINA_S = 8 * 3600; // China time is UTC+8 all year (no daylight saving)

/** Today's date in China, "YYYY-MM-DD", wherever the browser is. */
export function chinaToday() {
  return new Date(Date.now() + CHINA_S * 1000).toISOString().slice(0, 10);
}

/**
 * Epoch seconds of 00:00 China time on a "YYYY-MM-DD" date.
 * @param {string} date
 */
export function chinaMidnight(date) {
  const [y, m, d] = date.split("-").map(Number);
  return Date.UTC(y, m - 1, d) / 1000 - CHINA_S;
}

/**
 * The element that `selector` finds: typed as present, since the pages look up their own markup
 * (a cast names the element's kind where the page needs more than an HTMLElement).
 * @param {string} selector
 * @param {ParentNode} [root]
 */
export const $ = (selector, root = document) => /** @type {HTMLElement} */ (root.querySelector(selector));
/**
 * @param {string} selector
 * @param {ParentNode} [root]
 * @returns {HTMLElement[]}
 */
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

/**
 * el("button", {class: "big", onclick: fn}, "text", child)
 * @template {keyof HTMLElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, unknown>} [attrs]
 * @param {...(Child | Child[])} children
 * @returns {HTMLElementTagNameMap[K]}
 */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") {
      node.addEventListener(key.slice(2), /** @type {EventListener} */ (value));
    } else if (key === "class") {
      node.className = String(value);
    } else if (key === "dataset") {
      Object.assign(node.dataset, value);
    } else if (value === true) {
      node.setAttribute(key, "");
    } else {
      node.setAttribute(key, String(value));
    }
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

/**
 * Emit with an acknowledgement; resolves to the server's {"ok", ...} answer (a timeout becomes an error).
 * @param {Socket | null} socket
 * @param {string} event
 * @param {unknown} data
 * @param {number} [timeoutMs]
 * @returns {Promise<Answer>}
 */
export function ack(socket, event, data, timeoutMs = 10000) {
  return new Promise((resolve) => {
    if (!socket || !socket.connected) {
      resolve({ ok: false, error: { code: "network", message: "not connected" } });
      return;
    }
    socket.timeout(timeoutMs).emit(event, data, (/** @type {Error | null} */ err, /** @type {unknown} */ answer) => {
      if (err) {
        resolve({ ok: false, error: { code: "timeout", message: "no answer from the server" } });
      } else if (!answer || typeof answer !== "object") {
        resolve({ ok: false, error: { code: "unavailable", message: "empty answer" } });
      } else {
        resolve(/** @type {Answer} */ (answer));
      }
    });
  });
}

/**
 * An error object {code, message} in plain words. With `detail`, the server's own message
 * (English, technical) follows in brackets: useful to clerks, noise to citizens.
 * @param {Partial<ErrorInfo> | null | undefined} error
 * @param {boolean} [detail]
 */
export function errorText(error, detail = false) {
  const code = error && error.code;
  const key = `err.${code}`;
  let text = t(key);
  if (text === key) text = t("err.unknown");
  if (detail && error && error.message) text += `（${error.message}）`;
  return text;
}

/**
 * fetch JSON: resolves to {status, data}; a network failure is status 0. `data` is the JSON as the
 * server sent it (null when the body was not JSON).
 * @param {string} method
 * @param {string} path
 * @param {unknown} [body]
 * @returns {Promise<{status: number, data: any}>}
 */
export async function api(method, path, body) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  /** @type {RequestInit} */
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  try {
    const resp = await fetch(path, init);
    let data = null;
    try {
      data = await resp.json();
    } catch {
      data = null;
    }
    return { status: resp.status, data };
  } catch {
    return { status: 0, data: { error: { code: "network", message: "network error" } } };
  }
}

/**
 * Show one `.screen` section of a page and hide the others.
 * @param {string} id
 */
export function showScreen(id) {
  for (const section of $$(".screen")) {
    section.hidden = section.id !== id;
  }
  const shown = document.getElementById(id);
  const heading = shown && shown.querySelector("h2, h1");
  if (heading instanceof HTMLElement) {
    heading.setAttribute("tabindex", "-1");
    heading.focus({ preventScroll: true });
  }
}

/**
 * A message in an element with role=alert or role=status.
 * @param {HTMLElement | null | undefined} node
 * @param {string | null | undefined} text
 * @param {"error" | "info" | "ok"} [kind]
 */
export function say(node, text, kind = "info") {
  if (!node) return;
  node.textContent = text || "";
  node.dataset.kind = kind;
  node.hidden = !text;
}

/** @param {number | string | null | undefined} seconds */
export function duration(seconds) {
  const s = Math.max(0, Math.round(Number(seconds) || 0));
  if (s < 90) return t("unit.s", { n: s });
  return t("unit.min", { n: Math.round(s / 60) });
}

/** @param {number | null | undefined} value  a fraction (0.5 is 50.0%) */
export function percent(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return t("sup.none");
  return `${(value * 100).toFixed(1)}%`;
}

/** @param {number | null} [epochSeconds]  now when left out */
export function clock(epochSeconds) {
  // China time whatever the browser's zone: the service, its records and its reports keep China time.
  const d = epochSeconds ? new Date(epochSeconds * 1000) : new Date();
  return d.toLocaleTimeString("zh-CN", { hour12: false, timeZone: "Asia/Shanghai" });
}

/** A key kept in sessionStorage (per tab); failures (private mode) are ignored. */
export const session = {
  /** @param {string} key */
  get(key) {
    try {
      return sessionStorage.getItem(key);
    } catch {
      return null;
    }
  },
  /**
   * @param {string} key
   * @param {string | null | undefined} value  null or undefined removes the key
   */
  set(key, value) {
    try {
      if (value === null || value === undefined) sessionStorage.removeItem(key);
      else sessionStorage.setItem(key, value);
    } catch {
      // ignore
    }
  },
};

/**
 * The log-in panel: #login-panel holds #login-form (#login-username, #login-password) and #login-error.
 * Calls `onReady(user)` once a user of `role` (or of any of `roles`) is logged in (now or from an earlier
 * log-in), and returns {logout(), expired()} for the page; another role is told `wrongRoleKey`'s text. The
 * session lives in the HttpOnly cookie only: the page keeps no token where a script could read it, and
 * sockets connect with the cookie.
 * @param {object} o
 * @param {string} [o.role]
 * @param {string[]} [o.roles]  defaults to [role]
 * @param {string} [o.wrongRoleKey]
 * @param {(user: User) => void} o.onReady
 */
export function loginPanel({ role, roles = role ? [role] : [], wrongRoleKey = `login.wrongRole.${role}`, onReady }) {
  const panel = $("#login-panel");
  const form = $("#login-form");
  const errorBox = $("#login-error");
  const usernameInput = /** @type {HTMLInputElement} */ ($("#login-username"));
  const passwordInput = /** @type {HTMLInputElement} */ ($("#login-password"));

  /** @param {string} message */
  function showForm(message) {
    panel.hidden = false;
    say(errorBox, message || "", "error");
    const user = usernameInput;
    if (user && !user.value) user.focus();
  }

  async function check() {
    const { status, data } = await api("GET", "/api/me");
    if (status === 200 && data && roles.includes(data.role)) {
      panel.hidden = true;
      onReady(data);
    } else if (status === 200) {
      showForm(t(wrongRoleKey));
    } else {
      showForm("");
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const button = /** @type {HTMLButtonElement} */ (form.querySelector("button[type=submit]"));
    button.disabled = true;
    say(errorBox, "");
    const username = usernameInput.value.trim();
    const password = passwordInput.value;
    const { status, data } = await api("POST", "/api/auth/login", { username, password });
    button.disabled = false;
    if (status === 200 && data && data.token) {
      if (!roles.includes(data.role)) {
        await api("POST", "/api/auth/logout");
        showForm(t(wrongRoleKey));
        return;
      }
      passwordInput.value = "";
      panel.hidden = true;
      onReady(data.user);
    } else if (status === 401) {
      showForm(t("login.failed"));
    } else if (status === 429) {
      showForm(t("login.throttled"));
    } else {
      showForm(errorText((data && data.error) || { code: status ? "unavailable" : "network" }));
    }
  });

  check();

  return {
    async logout() {
      await api("POST", "/api/auth/logout");
      showForm("");
    },
    expired() {
      showForm(t("login.expired"));
    },
  };
}
