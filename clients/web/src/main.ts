/** Boot: read /app/config, sign in (a token, or "sign in as" on a development server),
 * then start the chat. The token stays in this tab's sessionStorage. */

import { ParleyError, tokenExpiry } from "../../js/src/index.js";
import { type AppConfig, Chat } from "./chat.js";
import { $, clear, h } from "./dom.js";

const KEY = "parley.token";

function claims(token: string): { sub?: string; org?: string } {
  try {
    const part = token.split(".")[1] ?? "";
    return JSON.parse(atob(part.replace(/-/g, "+").replace(/_/g, "/"))) as { sub?: string; org?: string };
  } catch {
    return {};
  }
}

async function boot(): Promise<void> {
  const config = (await (await fetch("/app/config")).json()) as AppConfig;
  const saved = sessionStorage.getItem(KEY);
  const exp = saved ? tokenExpiry(saved) : null;
  if (saved && (exp === null || exp * 1000 > Date.now() + 60_000)) await startChat(config, saved);
  else signIn(config);
}

async function startChat(config: AppConfig, token: string): Promise<void> {
  const { sub, org } = claims(token);
  if (!sub || !org) return signIn(config, "That is not a Parley token (no sub/org claims).");
  sessionStorage.setItem(KEY, token);
  const chat = new Chat(config, token, sub, org, () => {
    sessionStorage.removeItem(KEY);
    chat.client.close();
    signIn(config);
  });
  (window as unknown as { parley: Chat }).parley = chat; // for the console and the browser tests
  try {
    await chat.start();
  } catch (err) {
    chat.client.close();
    sessionStorage.removeItem(KEY);
    signIn(config, err instanceof ParleyError ? `Sign-in failed: ${err.message}` : String(err));
  }
}

function signIn(config: AppConfig, error = ""): void {
  const root = $("#root");
  clear(root);
  const token = h("textarea", { id: "token", rows: "4", required: true, "aria-label": "Token", placeholder: "eyJhbGciOi…" });
  const user = h("input", { id: "dev-user", required: true, autocomplete: "username", "aria-label": "User id", placeholder: "alice" });
  const org = h("input", { id: "dev-org", required: true, value: "acme", "aria-label": "Organisation", placeholder: "acme" });
  const dev = config.dev_sign_in
    ? h(
        "form",
        {
          id: "dev-sign-in",
          class: "card",
          onsubmit: async (e: Event) => {
            e.preventDefault();
            const res = await fetch("/app/dev/sign-in", {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ user: user.value.trim(), org: org.value.trim() }),
            });
            const body = (await res.json()) as { token?: string; error?: { message: string } };
            if (body.token) await startChat(config, body.token);
            else signIn(config, body.error?.message ?? `HTTP ${res.status}`);
          },
        },
        h("h2", {}, "Sign in as (development server)"),
        h("p", { class: "hint" }, "This server signs tokens with the secret it generated itself, so anyone on this machine may be anyone. Set PARLEY_JWT_SECRET for a real deployment."),
        h("label", { for: "dev-user" }, "User"),
        user,
        h("label", { for: "dev-org" }, "Organisation"),
        org,
        h("button", { type: "submit" }, "Sign in as"),
      )
    : null;
  root.append(
    h(
      "main",
      { class: "sign-in", "aria-label": "Sign in" },
      h("h1", {}, "Parley"),
      error ? h("p", { role: "alert", class: "error" }, error) : null,
      h(
        "form",
        { id: "token-sign-in", class: "card", onsubmit: (e: Event) => (e.preventDefault(), void startChat(config, token.value.trim())) },
        h("h2", {}, "Sign in with a token"),
        h("label", { for: "token" }, "Token (a JWT, e.g. from `parley token --sub alice --org acme`)"),
        token,
        h("button", { type: "submit" }, "Sign in"),
      ),
      dev,
    ),
  );
  (config.dev_sign_in ? user : token).focus();
}

void boot();
