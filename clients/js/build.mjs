// Build the SDK as one plain ES module (dist/parley.js) plus type declarations.
// PARLEY_BUILD_OUT=dir: the bundle only, into that dir (tests compare it with dist/).
import { execFileSync } from "node:child_process";
import { build } from "esbuild";

const out = process.env.PARLEY_BUILD_OUT || "dist";
await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: `${out}/parley.js`,
  legalComments: "none",
  logLevel: "warning",
});
if (!process.env.PARLEY_BUILD_OUT) {
  execFileSync("node", ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
}
