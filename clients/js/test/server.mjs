// A real `parley serve` on 127.0.0.1 for the SDK tests: started as a child process
// (PARLEY_PYTHON, else python3, from the repository root), restartable on the same ports
// and data directory.
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const SECRET = "sdk-test-secret-0123456789abcdef0123456789";
const ROOT = resolve(import.meta.dirname, "../../..");

function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
    srv.on("error", fail);
  });
}

const b64 = (obj) => Buffer.from(JSON.stringify(obj)).toString("base64url");

/** An HS256 token signed with the test secret. */
export function token(sub, { org = "acme", ttl = 3600, roles } = {}) {
  const now = Math.floor(Date.now() / 1000);
  const payload = { sub, org, iat: now, exp: now + ttl, ...(roles ? { roles } : {}) };
  const head = `${b64({ alg: "HS256", typ: "JWT" })}.${b64(payload)}`;
  return `${head}.${createHmac("sha256", SECRET).update(head).digest("base64url")}`;
}

export class Server {
  constructor(env = {}) {
    this.extraEnv = env;
    this.dataDir = mkdtempSync(join(tmpdir(), "parley-sdk-"));
    this.proc = null;
  }

  get wsUrl() {
    return `ws://127.0.0.1:${this.wsPort}/ws`;
  }

  get httpUrl() {
    return `http://127.0.0.1:${this.httpPort}`;
  }

  async start() {
    this.wsPort ??= await freePort();
    this.httpPort ??= await freePort();
    const python = process.env.PARLEY_PYTHON || "python3";
    const env = {
      ...process.env,
      PARLEY_JWT_SECRET: SECRET,
      PARLEY_DATA_DIR: this.dataDir,
      PARLEY_WS_PORT: String(this.wsPort),
      PARLEY_HTTP_PORT: String(this.httpPort),
      PARLEY_LOG_LEVEL: "warning",
      PARLEY_SHUTDOWN_TIMEOUT: "2",
      ...this.extraEnv,
    };
    this.proc = spawn(python, ["-m", "parley", "serve"], { cwd: ROOT, env, stdio: ["ignore", "inherit", "inherit"] });
    const exited = new Promise((ok) => this.proc.once("exit", ok));
    this.exited = exited;
    for (let i = 0; i < 300; i++) {
      try {
        const res = await fetch(`${this.httpUrl}/healthz`);
        if (res.ok) return this;
      } catch {
        // not yet
      }
      if (this.proc.exitCode !== null) throw new Error(`parley serve exited with ${this.proc.exitCode}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("parley serve did not start in 30 s");
  }

  /** SIGTERM (clients see 1001), wait for the exit. */
  async stop() {
    if (this.proc === null) return;
    this.proc.kill("SIGTERM");
    await this.exited;
    this.proc = null;
  }

  async restart() {
    await this.stop();
    await this.start();
  }

  async close() {
    await this.stop();
    rmSync(this.dataDir, { recursive: true, force: true });
  }

  /** A REST call as `user` (JSON in, JSON out; throws on an error status). */
  async call(user, method, path, body) {
    const res = await fetch(`${this.httpUrl}${path}`, {
      method,
      headers: { Authorization: `Bearer ${token(user)}`, "Content-Type": "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return text ? JSON.parse(text) : null;
  }
}

/** Resolve once `predicate()` holds (polled), or reject after `ms`. */
export async function until(predicate, ms = 10000, what = "condition") {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}
