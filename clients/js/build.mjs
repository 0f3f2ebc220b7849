// Build the SDK as one plain ES module (dist/parley.js) plus type declarations.
import { execFileSync } from "node:child_process";
import { build } from "esbuild";

await build({
  entryPoints: ["src/index.ts"],
  bundle: true,
  format: "esm",
  target: "es2022",
  outfile: "dist/parley.js",
  legalComments: "none",
  logLevel: "warning",
});
execFileSync("node", ["node_modules/typescript/bin/tsc", "-p", "tsconfig.json"], { stdio: "inherit" });
