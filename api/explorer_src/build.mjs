// Bundle the npm libraries into api/static/explorer/vendor/graphlibs.js (committed),
// with their licences, so the page needs no Node and no CDN at run time.
//
// Run from anywhere: `node api/explorer_src/build.mjs`. It installs the locked packages
// into a scratch directory outside the repository (node_modules is never committed).
import { execFileSync } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "..", "static", "explorer", "vendor");
const work = process.env.EXPLORER_BUILD_DIR || join(tmpdir(), "callcircle-explorer-build");

mkdirSync(work, { recursive: true });
for (const name of ["package.json", "package-lock.json", "entry.js"]) {
  if (existsSync(join(here, name))) copyFileSync(join(here, name), join(work, name));
}
const lock = existsSync(join(here, "package-lock.json"));
execFileSync("npm", [lock ? "ci" : "install", "--no-audit", "--no-fund"], { cwd: work, stdio: "inherit" });
if (!lock) copyFileSync(join(work, "package-lock.json"), join(here, "package-lock.json"));

const esbuild = await import(join(work, "node_modules", "esbuild", "lib", "main.js"));
mkdirSync(out, { recursive: true });
await esbuild.build({
  entryPoints: [join(work, "entry.js")],
  bundle: true,
  format: "esm",
  minify: true,
  target: "es2020",
  legalComments: "none",
  outfile: join(out, "graphlibs.js"),
});

// Licences of every bundled package, in one file next to the bundle.
const packages = ["sigma", "graphology", "graphology-layout-forceatlas2", "graphology-utils",
  "graphology-indices", "events"];
const parts = [];
for (const name of packages) {
  const dir = join(work, "node_modules", name);
  if (!existsSync(dir)) continue;
  const meta = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const file = ["LICENSE.txt", "LICENSE", "LICENSE.md", "license"].map((f) => join(dir, f)).find(existsSync);
  parts.push(`${name} ${meta.version} (${meta.license})\n\n${file ? readFileSync(file, "utf8").trim() : "(no licence file shipped)"}\n`);
}
writeFileSync(join(out, "LICENSES.txt"), parts.join("\n" + "-".repeat(72) + "\n\n"));
console.log(`wrote ${join(out, "graphlibs.js")} and LICENSES.txt`);
