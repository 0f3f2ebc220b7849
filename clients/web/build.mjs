// Build the web app into the package data Parley serves at /app (api/webapp_static/):
// one ES module bundle (the SDK and highlight.js inlined: no CDN), the page and the styles.
// PARLEY_BUILD_OUT=dir: build there instead (tests compare it with the committed files).
import { execFileSync } from "node:child_process";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { build } from "esbuild";

const out = process.env.PARLEY_BUILD_OUT || "../../api/webapp_static";
mkdirSync(out, { recursive: true });
execFileSync("node", ["node_modules/typescript/bin/tsc", "--noEmit", "-p", "tsconfig.json"], { stdio: "inherit" });
await build({
  entryPoints: ["src/main.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  minify: true,
  outfile: `${out}/app.js`,
  legalComments: "eof",
  logLevel: "warning",
});
const hl = (name) => readFileSync(`node_modules/highlight.js/styles/${name}.css`, "utf8");
const css = [
  readFileSync("src/app.css", "utf8"),
  "/* highlight.js themes (BSD-3-Clause) */",
  "@media (prefers-color-scheme: light) {", hl("github"), "}",
  "@media (prefers-color-scheme: dark) {", hl("github-dark"), "}",
].join("\n");
writeFileSync(`${out}/app.css`, css);
writeFileSync(`${out}/index.html`, readFileSync("src/index.html", "utf8"));
