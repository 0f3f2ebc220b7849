/** The REST API (docs/rest.md) with the same token source as the WebSocket client. */

import { ParleyError } from "./errors.js";
import { TokenSource, type TokenProvider } from "./token.js";
import type { Json, JsonObject } from "./types.js";

export interface Channel {
  id: string;
  kind: "direct" | "group" | "broadcast";
  name: string;
  topic: string;
  created_at: string;
  created_by: string;
  member_count: number;
  last_seq: number;
  role: string;
  read_seq: number;
  unread: number;
  last_message?: Message | null;
}

export interface Message {
  id: string;
  channel: string;
  seq: number;
  author: string;
  text: string;
  created_at: string;
  edited_at: string | null;
  deleted: boolean;
}

export interface Page<T> {
  items: T[];
  next_cursor?: string | null;
  next_before?: number | null;
  next_after?: number | null;
}

export type Query = Record<string, string | number | boolean | undefined | null>;

export interface RequestOptions {
  query?: Query;
  body?: Json | Blob | ArrayBuffer | FormData;
  /** Sent as `Idempotency-Key` (a retry of the same request creates nothing twice). */
  idempotencyKey?: string;
  headers?: Record<string, string>;
}

export interface RestOptions {
  /** e.g. `http://127.0.0.1:8080` (no trailing `/v1`). */
  baseUrl: string;
  token: TokenProvider | TokenSource;
  fetch?: typeof fetch;
}

export function newKey(): string {
  return crypto.randomUUID();
}

export class ParleyRest {
  readonly baseUrl: string;
  readonly tokens: TokenSource;
  private readonly fetchImpl: typeof fetch;

  constructor(options: RestOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.tokens = options.token instanceof TokenSource ? options.token : new TokenSource(options.token);
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
  }

  /** One request; a JSON error body becomes a {@link ParleyError}. A 401 asks the token
   * source for a fresh token and retries once (when it can give one). */
  async request<T = JsonObject>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    let url = `${this.baseUrl}${path}`;
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(options.query ?? {})) {
      if (v !== undefined && v !== null) params.set(k, String(v));
    }
    if ([...params].length > 0) url += `?${params}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = { ...options.headers };
      headers.Authorization = `Bearer ${await this.tokens.get()}`;
      if (options.idempotencyKey !== undefined) headers["Idempotency-Key"] = options.idempotencyKey;
      let body: BodyInit | undefined;
      const b = options.body;
      if (b instanceof Blob || b instanceof ArrayBuffer || b instanceof FormData) {
        body = b;
      } else if (b !== undefined) {
        body = JSON.stringify(b);
        headers["Content-Type"] = "application/json";
      }
      let res: Response;
      try {
        res = await this.fetchImpl(url, { method, headers, body });
      } catch (err) {
        throw new ParleyError("network", String(err));
      }
      if (res.status === 401 && attempt === 0 && this.tokens.refreshable) {
        this.tokens.invalidate();
        continue;
      }
      if (res.status === 204) return undefined as T;
      const text = await res.text();
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      if (!res.ok) {
        const err = (parsed as { error?: { code?: string; message?: string } } | null)?.error;
        throw new ParleyError(err?.code ?? "http_error", err?.message ?? `HTTP ${res.status}`, res.status);
      }
      return parsed as T;
    }
  }

  get<T = JsonObject>(path: string, query?: Query): Promise<T> {
    return this.request<T>("GET", path, { query });
  }

  post<T = JsonObject>(path: string, body?: Json, idempotencyKey: string = newKey()): Promise<T> {
    return this.request<T>("POST", path, { body, idempotencyKey });
  }

  /** Every channel of mine, following `next_cursor`. */
  async allChannels(): Promise<Channel[]> {
    const out: Channel[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await this.get<Page<Channel>>("/v1/channels", { limit: 200, cursor });
      out.push(...page.items);
      cursor = page.next_cursor;
    } while (cursor);
    return out;
  }

  channel(id: string): Promise<Channel> {
    return this.get<Channel>(`/v1/channels/${encodeURIComponent(id)}`);
  }

  /** Messages of a channel: newest first with `before`, oldest first with `after`. */
  messages(channel: string, query: { before?: number; after?: number; limit?: number } = {}): Promise<Page<Message>> {
    return this.get<Page<Message>>(`/v1/channels/${encodeURIComponent(channel)}/messages`, query);
  }

  /** Every message after `after`, oldest first (follows `next_after`). */
  async messagesAfter(channel: string, after: number): Promise<Message[]> {
    const out: Message[] = [];
    let next: number | null | undefined = after;
    while (next !== null && next !== undefined) {
      const page: Page<Message> = await this.messages(channel, { after: next, limit: 200 });
      out.push(...page.items);
      next = page.next_after;
    }
    return out;
  }

  createChannel(body: { kind: string; name?: string; topic?: string; members?: string[] }): Promise<Channel> {
    return this.post<Channel>("/v1/channels", body as Json);
  }

  markRead(channel: string, seq: number): Promise<{ channel: string; read_seq: number; unread: number }> {
    return this.post(`/v1/channels/${encodeURIComponent(channel)}/read`, { seq });
  }
}
