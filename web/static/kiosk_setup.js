// @ts-check
// Kiosk provisioning: the attendant enters the kiosk token once; it is kept in this browser's
// localStorage (read by kiosk.js) and never put in an address, a log or a Referer.

import { $, say } from "./common.js";
import { onChange, t } from "./i18n.js";

const KIOSK_KEY = "rvw.kiosk_token";
const stateBox = $("#setup-state");
const tokenInput = /** @type {HTMLInputElement} */ ($("#setup-token"));

function stored() {
  try {
    return localStorage.getItem(KIOSK_KEY);
  } catch {
    return null;
  }
}

function render() {
  say(stateBox, t(stored() ? "setup.provisioned" : "setup.notProvisioned"), stored() ? "info" : "error");
}

$("#setup-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  try {
    localStorage.setItem(KIOSK_KEY, token);
  } catch {
    say(stateBox, t("setup.noStorage"), "error");
    return;
  }
  tokenInput.value = "";
  location.assign("/kiosk");
});

$("#setup-clear").addEventListener("click", () => {
  try {
    localStorage.removeItem(KIOSK_KEY);
  } catch {
    // nothing stored
  }
  render();
});

onChange(render);
render();
