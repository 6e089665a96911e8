// Globals that the pages' classic <script> tags define before the ES modules run.
import type { io as socketIo } from "socket.io-client";
import type uPlotLib from "uplot";

declare global {
  /** socket.io's client, from /static/vendor/socket.io.min.js (console and supervisor pages). */
  const io: typeof socketIo;

  interface Window {
    /** uPlot, from /static/vendor/uplot.min.js; missing when `npm ci` was not run (the tables still show). */
    uPlot?: typeof uPlotLib;
    /** What the browser tests read from a page; each page sets its own. */
    rvwDebug?: Record<string, unknown>;
  }
}
