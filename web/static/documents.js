// @ts-check
// Documents shown in a call (docs/protocol.md, `attachment`; REST /api/cases/{id}/attachments): one panel for
// the citizen's page and the clerk console. The kiosk takes a still from its camera ("show a document"), a
// browser citizen or a clerk may also pick a file; each side sees both sides' documents in a gallery, and opens
// one in a viewer with zoom. Files are fetched with the page's credentials (a clerk's log-in cookie, a citizen's
// api_token) and shown from object URLs that leave memory when the call's documents leave the page (clear).

import { $, el, errorText, say } from "./common.js";
import { t } from "./i18n.js";

export const DOCUMENT_TYPES = ["image/jpeg", "image/png", "application/pdf"];
export const DOCUMENT_MAX_BYTES = 10 * 1024 * 1024; // the server's limit (10 MiB)
const ZOOMS = [1, 1.5, 2, 3, 4];

/**
 * @typedef {object} DocItem
 * @property {string} id attachment_id
 * @property {"citizen"|"clerk"} from
 * @property {string} type its content type
 * @property {number} bytes
 * @property {string|null} url an object URL once the bytes are here
 * @property {"loading"|"ready"|"failed"} state
 *
 * @typedef {{case_id: string, attachment_id: string, content_type: string, bytes: number, from: string}}
 *   AttachmentEvent  the `attachment` event: the other side showed a document
 * @typedef {{key?: string, error?: import("./common.js").ErrorInfo}} Problem
 * @typedef {{list: HTMLElement, error: HTMLElement, snap: HTMLButtonElement|null, file: HTMLInputElement|null,
 *   viewer: HTMLDialogElement, image: HTMLImageElement, caption: HTMLElement, zoomIn: HTMLButtonElement,
 *   zoomOut: HTMLButtonElement, close: HTMLButtonElement}} DocumentElements
 */

/**
 * The panel's elements, as web/templates/_documents.html makes them (the camera button only on a citizen's page).
 * @returns {DocumentElements}
 */
export function documentElements() {
  return {
    list: $("#doc-list"),
    error: $("#doc-error"),
    snap: /** @type {HTMLButtonElement|null} */ (document.querySelector("#doc-snap")),
    file: /** @type {HTMLInputElement|null} */ (document.querySelector("#doc-file")),
    viewer: /** @type {HTMLDialogElement} */ ($("#doc-viewer")),
    image: /** @type {HTMLImageElement} */ ($("#doc-image")),
    caption: $("#doc-caption"),
    zoomIn: /** @type {HTMLButtonElement} */ ($("#doc-zoom-in")),
    zoomOut: /** @type {HTMLButtonElement} */ ($("#doc-zoom-out")),
    close: /** @type {HTMLButtonElement} */ ($("#doc-close")),
  };
}

export class DocumentPanel {
  /**
   * @param {object} o
   * @param {DocumentElements} o.ui the panel's elements (documentElements())
   * @param {"citizen"|"clerk"} o.me this page's side
   * @param {() => string|null} o.caseId the open case, or null when there is no call
   * @param {() => string|null} [o.token] a bearer token for REST (the citizen's api_token); none: the cookie
   * @param {() => HTMLVideoElement|null} [o.camera] the video element showing this side's camera (for a still)
   * @param {boolean} [o.detailed] show the server's own message beside a failure's words
   */
  constructor({ ui, me, caseId, token = () => null, camera = () => null, detailed = false }) {
    this.ui = ui;
    this.me = me;
    this.caseId = caseId;
    this.token = token;
    this.camera = camera;
    this.detailed = detailed;
    /** @type {DocItem[]} */
    this.items = [];
    /** @type {Problem|null} the last failed send's: {key} (checked here) or {error} (the server's answer) */
    this.error = null;
    this.sending = false;
    this.epoch = 0; // bumped on every clear: a late answer or download does not bring a document back
    this.zoom = 0; // index into ZOOMS
    /** @type {DocItem|null} the one in the viewer */
    this.open = null;
    if (ui.snap) ui.snap.addEventListener("click", () => this.snapshot());
    if (ui.file) {
      ui.file.addEventListener("change", () => {
        const input = /** @type {HTMLInputElement} */ (ui.file);
        const file = input.files && input.files[0];
        input.value = ""; // the same file may be picked again
        if (file) this.sendFile(file);
      });
    }
    ui.zoomIn.addEventListener("click", () => this.setZoom(this.zoom + 1));
    ui.zoomOut.addEventListener("click", () => this.setZoom(this.zoom - 1));
    ui.close.addEventListener("click", () => ui.viewer.close());
    ui.viewer.addEventListener("close", () => {
      this.open = null;
      ui.image.removeAttribute("src");
    });
  }

  /** @returns {Record<string, string>} */
  headers() {
    const token = this.token();
    return token ? { Authorization: `Bearer ${token}` } : {};
  }

  /**
   * An `attachment` event: the other side showed a document (the page has checked it is about its call).
   * @param {AttachmentEvent} data
   */
  receive(data) {
    if (this.items.some((item) => item.id === data.attachment_id)) return;
    const from = data.from === this.me ? this.me : this.me === "clerk" ? "citizen" : "clerk";
    /** @type {DocItem} */
    const item = {
      id: String(data.attachment_id),
      from,
      type: String(data.content_type),
      bytes: Number(data.bytes) || 0,
      url: null,
      state: "loading",
    };
    this.items.push(item);
    this.render();
    this.download(item);
  }

  /** @param {DocItem} item */
  async download(item) {
    const epoch = this.epoch;
    try {
      const resp = await fetch(`/api/attachments/${encodeURIComponent(item.id)}`, {
        headers: this.headers(),
        credentials: "same-origin",
      });
      if (!resp.ok) throw new Error(String(resp.status));
      const blob = await resp.blob();
      if (epoch !== this.epoch) return;
      item.url = URL.createObjectURL(blob);
      item.state = "ready";
    } catch {
      if (epoch !== this.epoch) return;
      item.state = "failed";
    }
    this.render();
  }

  /** "Show a document": a still of this side's camera, sent as a JPEG. */
  async snapshot() {
    const video = this.camera();
    if (!video || !video.videoWidth) {
      this.fail({ key: "doc.err.camera" });
      return;
    }
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const context = canvas.getContext("2d");
    if (!context) {
      this.fail({ key: "doc.err.camera" });
      return;
    }
    context.drawImage(video, 0, 0, canvas.width, canvas.height);
    /** @type {Blob|null} */
    const blob = await new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.9));
    if (!blob) {
      this.fail({ key: "doc.err.camera" });
      return;
    }
    await this.upload(blob, "image/jpeg");
  }

  /**
   * A picked file: checked here first (type and size) so that the citizen is told at once.
   * @param {File} file
   */
  async sendFile(file) {
    if (!DOCUMENT_TYPES.includes(file.type)) {
      this.fail({ key: "doc.err.type" });
      return;
    }
    if (file.size > DOCUMENT_MAX_BYTES) {
      this.fail({ key: "doc.err.size" });
      return;
    }
    await this.upload(file, file.type);
  }

  /**
   * @param {Blob} blob
   * @param {string} type its content type
   */
  async upload(blob, type) {
    const caseId = this.caseId();
    if (!caseId || this.sending) return;
    const epoch = this.epoch;
    this.sending = true;
    this.error = null;
    this.renderControls();
    let status;
    let data = null;
    try {
      const resp = await fetch(`/api/cases/${encodeURIComponent(caseId)}/attachments`, {
        method: "POST",
        headers: { ...this.headers(), "Content-Type": type, Accept: "application/json" },
        credentials: "same-origin",
        body: blob,
      });
      status = resp.status;
      data = await resp.json().catch(() => null);
    } catch {
      status = 0;
    }
    if (epoch !== this.epoch) return; // the call's documents left the page meanwhile
    this.sending = false;
    if (status === 201 && data && data.attachment_id) {
      this.items.push({
        id: String(data.attachment_id),
        from: this.me,
        type,
        bytes: Number(data.bytes) || blob.size,
        url: URL.createObjectURL(blob),
        state: "ready",
      });
      this.error = null;
    } else {
      this.error = { error: (data && data.error) || { code: status ? "unknown" : "network" } };
    }
    this.render();
  }

  /** @param {Problem} problem */
  fail(problem) {
    this.error = problem;
    this.renderControls();
  }

  /**
   * "材料 2（我发的）": the item's place among those from the same side, counted from 1, and who sent it.
   * @param {DocItem} item
   */
  label(item) {
    const n = this.items.filter((other) => other.from === item.from).indexOf(item) + 1;
    const who = t(item.from === this.me ? "doc.mine" : `doc.${item.from}`);
    return t("doc.label", { n, who });
  }

  render() {
    this.ui.list.replaceChildren(...this.items.map((item) => this.entry(item)));
    this.renderControls();
    if (this.open) this.ui.caption.textContent = this.label(this.open);
  }

  renderControls() {
    const off = this.sending || !this.caseId();
    if (this.ui.snap) {
      this.ui.snap.disabled = off;
      this.ui.snap.textContent = t(this.sending ? "doc.sending" : "doc.snap");
    }
    if (this.ui.file) this.ui.file.disabled = off;
    const problem = this.error;
    if (!problem) {
      say(this.ui.error, "");
      return;
    }
    const why = problem.key ? t(problem.key) : errorText(problem.error, this.detailed);
    say(this.ui.error, t("doc.notSent", { why }), "error");
  }

  /** @param {DocItem} item */
  entry(item) {
    const image = item.type.startsWith("image/");
    const label = this.label(item);
    let body;
    if (item.state === "loading") {
      body = el("span", { class: "doc-wait" }, t("doc.loading"));
    } else if (item.state === "failed") {
      body = el("span", { class: "doc-wait" }, t("doc.failed"));
    } else if (image) {
      body = el(
        "button",
        { type: "button", class: "doc-thumb", onclick: () => this.show(item), "aria-label": t("doc.open", { label }) },
        el("img", { src: item.url, alt: label }),
      );
    } else {
      body = el(
        "a",
        { class: "doc-pdf", href: item.url, download: `${item.id}.pdf`, target: "_blank", rel: "noopener" },
        t("doc.pdf"),
      );
    }
    return el(
      "li",
      {
        class: item.from === this.me ? "doc-item mine" : "doc-item",
        dataset: { from: item.from, attachment: item.id, type: image ? "image" : "pdf", state: item.state },
      },
      body,
      el("span", { class: "doc-caption" }, label),
    );
  }

  /**
   * Open an image in the viewer, at its fitted size.
   * @param {DocItem} item
   */
  show(item) {
    if (!item.url) return;
    this.open = item;
    this.ui.image.src = item.url;
    this.ui.image.alt = this.label(item);
    this.ui.caption.textContent = this.label(item);
    this.setZoom(0);
    if (!this.ui.viewer.open) this.ui.viewer.showModal();
  }

  /** @param {number} index into ZOOMS */
  setZoom(index) {
    this.zoom = Math.max(0, Math.min(ZOOMS.length - 1, index));
    const scale = ZOOMS[this.zoom];
    this.ui.image.style.width = `${scale * 100}%`;
    this.ui.viewer.dataset.zoom = String(scale);
    this.ui.zoomOut.disabled = this.zoom === 0;
    this.ui.zoomIn.disabled = this.zoom === ZOOMS.length - 1;
  }

  /** The call's documents leave the page: the gallery, the viewer, and the bytes held in memory. */
  clear() {
    this.epoch += 1;
    for (const item of this.items) if (item.url) URL.revokeObjectURL(item.url);
    this.items = [];
    this.error = null;
    this.sending = false;
    if (this.ui.viewer.open) this.ui.viewer.close();
    this.open = null;
    this.ui.image.removeAttribute("src");
    this.render();
  }
}
