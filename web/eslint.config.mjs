// ESLint for the pages' plain ES-module JavaScript: the recommended rules, browser globals and the
// globals of the vendored <script> tags. `npm run lint`.
import js from "@eslint/js";
import globals from "globals";

export default [
  // node_modules is ignored by default.
  js.configs.recommended,
  {
    files: ["static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "module",
      globals: {
        ...globals.browser,
        io: "readonly", // socket.io's client, from /static/vendor/socket.io.min.js
      },
    },
  },
  {
    files: ["eslint.config.mjs"],
    languageOptions: { globals: globals.node },
  },
];
