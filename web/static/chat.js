// @ts-check
// The chat panel of a call, one for the citizen's page and the clerk console (docs/protocol.md, `chat`).
// It owns the lines, the box and the send button; the page tells it when lines arrive and when the call's
// chat leaves the page (clear), and re-renders it on a language switch.

import { clock, el, errorText, say } from "./common.js";
import { t } from "./i18n.js";

/**
 * @typedef {{from: string, text: string, at: string, ms: number}} Line
 * @typedef {{key?: string, error?: import("./common.js").ErrorInfo}} Problem
 */

export class ChatPanel {
  /**
   * @param {object} o
   * @param {{list: HTMLElement, error: HTMLElement, form: HTMLFormElement, input: HTMLTextAreaElement,
   *   send: HTMLButtonElement}} o.ui the panel's elements (#chat-list, #chat-error, #chat-form, ...)
   * @param {"citizen"|"clerk"} o.me this page's side
   * @param {(text: string) => Promise<import("./common.js").Answer>} o.deliver sends one line; resolves to
   *   the server's ack
   * @param {() => boolean} o.canSend whether a call is on to send to
   * @param {boolean} [o.detailed] show the server's own message beside a failure's words
   */
  constructor({ ui, me, deliver, canSend, detailed = false }) {
    this.ui = ui;
    this.me = me;
    this.deliver = deliver;
    this.canSend = canSend;
    this.detailed = detailed;
    /** @type {Line[]} */
    this.lines = []; // in time order
    /** @type {Problem | null} */
    this.error = null; // {key} (checked here) or {error} (the server's answer) of the last failed send
    this.sending = false;
    this.epoch = 0; // bumped on every clear, so that a late answer does not bring a line back
    ui.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    ui.input.addEventListener("keydown", (event) => {
      // Enter sends, Shift+Enter is a new line; an Enter that ends an IME composition (pinyin) is not a send.
      if (event.key !== "Enter" || event.shiftKey || event.isComposing || event.keyCode === 229) return;
      event.preventDefault();
      this.send();
    });
    ui.input.addEventListener("input", () => {
      if (this.error && this.error.key) {
        this.error = null;
        this.renderError();
      }
    });
  }

  /**
   * A `chat` event from the other side (the page has checked it is about its call).
   * @param {{from?: string, text?: unknown, at?: string}} data
   */
  receive(data) {
    const other = this.me === "clerk" ? "citizen" : "clerk";
    this.add(data.from === this.me ? this.me : other, String(data.text ?? ""), data.at);
  }

  /**
   * A line, kept in the server's time order; `at` is its ISO 8601 time.
   * @param {string} from
   * @param {string} text
   * @param {string | undefined} at
   */
  add(from, text, at) {
    const parsed = Date.parse(at || "");
    const line = { from, text, at: at || "", ms: Number.isNaN(parsed) ? Date.now() : parsed };
    let i = this.lines.length;
    while (i > 0 && this.lines[i - 1].ms > line.ms) i -= 1;
    this.lines.splice(i, 0, line);
    this.ui.list.insertBefore(this.item(line), this.ui.list.children[i] || null);
    this.ui.list.scrollTop = this.ui.list.scrollHeight;
  }

  /** @param {Line} line */
  item(line) {
    const mine = line.from === this.me;
    return el(
      "li",
      { class: mine ? "chat-line mine" : "chat-line", dataset: { from: line.from } },
      el(
        "span",
        { class: "chat-meta" },
        el("span", { class: "chat-who" }, t(mine ? "chat.me" : `chat.${line.from}`)),
        " ",
        el("time", { class: "chat-time", datetime: line.at || null }, clock(line.ms / 1000)),
      ),
      el("p", { class: "chat-text" }, line.text), // a text node: never parsed as HTML
    );
  }

  render() {
    this.ui.list.replaceChildren(...this.lines.map((line) => this.item(line)));
    this.ui.list.scrollTop = this.ui.list.scrollHeight;
    this.renderError();
  }

  renderError() {
    const problem = this.error;
    if (!problem) {
      say(this.ui.error, "");
      return;
    }
    let text = problem.key ? t(problem.key) : "";
    if (!problem.key) {
      const key = `chat.err.${problem.error && problem.error.code}`;
      text = t("chat.notSent", { why: t(key) !== key ? t(key) : errorText(problem.error, this.detailed) });
    }
    say(this.ui.error, text, "error");
  }

  /** The call's chat leaves the page: lines, an unsent draft and any error. */
  clear() {
    this.lines = [];
    this.error = null;
    this.sending = false;
    this.epoch += 1;
    this.ui.input.value = "";
    this.ui.input.readOnly = false;
    this.ui.send.disabled = false;
    this.render();
  }

  async send() {
    if (this.sending || !this.canSend()) return;
    const { input, send } = this.ui;
    const text = input.value.trim();
    if (!text) {
      this.error = { key: "chat.empty" };
      this.renderError();
      input.focus();
      return;
    }
    const epoch = this.epoch;
    this.sending = true;
    input.readOnly = true; // kept as typed until the server has it
    send.disabled = true;
    const answer = await this.deliver(text);
    if (epoch !== this.epoch) return; // the call's chat left the page meanwhile
    this.sending = false;
    input.readOnly = false;
    send.disabled = false;
    if (answer.ok) {
      input.value = "";
      this.error = null;
      this.add(this.me, text, answer.at);
    } else {
      this.error = { error: answer.error }; // the text stays in the box to send again
    }
    this.renderError();
    input.focus();
  }
}
