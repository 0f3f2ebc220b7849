/** The chat screen: channel list, message list, thread and side panels, composer. All
 * live changes come from the SDK's channel-log events (exactly once, in order); reads and
 * history from REST. */

import { type Channel, type ChannelEvent, type JsonObject, type Message, ParleyClient, ParleyError, ParleyRest } from "../../js/src/index.js";
import { $, clear, h, type Child } from "./dom.js";
import { Inbox } from "./inbox.js";
import { mentions, render } from "./markdown.js";

export interface AppConfig {
  ws_url: string;
  meeting_url_template: string | null;
  dev_sign_in: boolean;
}

interface Reaction {
  emoji: string;
  count: number;
  me: boolean;
}

interface FileInfo {
  id: string;
  name: string;
  content_type: string;
  size: number;
  width?: number | null;
  height?: number | null;
}

interface Preview {
  url: string;
  title?: string | null;
  description?: string | null;
  image?: string | null;
}

interface View extends Message {
  thread_root?: string | null;
  also_in_channel?: boolean;
  thread?: { reply_count: number; last_reply_at: string | null; participants: string[] } | null;
  reactions?: Reaction[];
  pinned?: boolean;
  shared?: { author?: string | null; text?: string | null; channel_id?: string | null; message_id?: string | null; seq?: number | null } | null;
  collapsed?: boolean;
  /** The files posted with it (history views and the live event both carry them). */
  attachments?: FileInfo[];
}

interface Room {
  ch: Channel;
  messages: View[];
  nextBefore: number | null;
  loaded: boolean;
  mentions: number;
  receipts: Map<string, number>;
}

const QUICK_REACTIONS = ["👍", "❤️", "😄", "🎉"];
const time = (ts: string) => new Date(ts).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" });

export class Chat {
  readonly client: ParleyClient;
  readonly rest: ParleyRest;
  private readonly rooms = new Map<string, Room>();
  private current: string | null = null;
  private thread: { channel: string; root: View; replies: View[] } | null = null;
  private readonly attachments = new Map<string, FileInfo[]>();
  private readonly previews = new Map<string, Preview[]>();
  private readonly links = new Map<string, string>();
  private editing: string | null = null;
  /** The edit box's text, kept across re-renders of the list. */
  private editDraft: string | null = null;
  private loadingOlder = false;
  readonly inbox: Inbox;

  constructor(
    readonly config: AppConfig,
    token: string,
    readonly me: string,
    readonly org: string,
    private readonly onSignOut: () => void,
  ) {
    this.rest = new ParleyRest({ baseUrl: location.origin, token });
    this.client = new ParleyClient({ url: config.ws_url, token, rest: this.rest });
    this.inbox = new Inbox(this.rest, this.client, org, me, (channel, message) => (message ? this.jump(channel, message) : this.open(channel)), (text) => this.toast(text));
  }

  // --- start ---------------------------------------------------------------------------

  async start(): Promise<void> {
    this.layout();
    this.bindClient();
    const channels = await this.rest.allChannels();
    for (const ch of channels) {
      this.rooms.set(ch.id, this.room(ch));
      this.client.seqs.seed(ch.id, ch.last_seq); // what REST shows; live from here on
    }
    this.renderChannels();
    void this.loadMentions();
    await Promise.all([...this.rooms.values()].filter((r) => r.ch.kind === "direct").map((r) => this.loadMembers(r)));
    await this.client.connect();
    await this.client.subscribe(`events.${this.org}.conversations.>`);
    await this.inbox.start();
    document.addEventListener("visibilitychange", () => {
      void this.client.setPresence(document.hidden ? "away" : "online").catch(() => undefined);
    });
    const first = channels[0];
    if (first !== undefined) await this.open(first.id);
    this.watchPresence();
  }

  private room(ch: Channel): Room {
    return { ch, messages: [], nextBefore: null, loaded: false, mentions: 0, receipts: new Map() };
  }

  private async loadMentions(): Promise<void> {
    for (const room of this.rooms.values()) {
      if (!room.ch.unread) continue;
      try {
        const m = await this.rest.get<{ items: unknown[] }>(`/v1/channels/${room.ch.id}/mentions`);
        room.mentions = m.items.length;
      } catch {
        // the badge is a hint
      }
    }
    this.renderChannels();
  }

  /** Presence of my direct peers now; later changes come as presence pushes. */
  private watchPresence(): void {
    const users = new Set<string>();
    for (const r of this.rooms.values()) if (r.ch.kind === "direct") users.add(this.dmPeer(r.ch));
    void this.loadPresence([...users]);
  }

  private async loadPresence(users: string[]): Promise<void> {
    const ask = users.filter((u) => u !== this.me).slice(0, 100);
    if (ask.length === 0) return;
    try {
      const p = await this.rest.get<{ users: { user_id: string; status: string }[] }>("/v1/presence", { users: ask.join(",") });
      for (const u of p.users) this.presence.set(u.user_id, u.status);
    } catch {
      return; // presence is a hint
    }
    this.renderChannels();
    this.renderMessages();
  }

  /** A channel's members (the peer of a direct channel), and their presence. */
  private async loadMembers(room: Room): Promise<void> {
    try {
      const page = await this.rest.get<{ items: { user_id: string }[] }>(`/v1/channels/${room.ch.id}/members`, { limit: 200 });
      const users = page.items.map((m) => m.user_id);
      if (room.ch.kind === "direct") {
        const peer = users.find((u) => u !== this.me);
        if (peer) this.peers.set(room.ch.id, peer);
      }
      await this.loadPresence(users);
    } catch {
      // members are a hint here
    }
  }

  private readonly peers = new Map<string, string>();

  private readonly presence = new Map<string, string>();

  // --- layout --------------------------------------------------------------------------

  private layout(): void {
    const root = $("#root");
    clear(root);
    const call = this.config.meeting_url_template
      ? h("button", { id: "call", type: "button", class: "ghost", "aria-label": "Start a call in this channel", onclick: () => void this.startCall() }, "📞 Call")
      : null;
    root.append(
      h("div", { id: "banner", role: "status", "aria-live": "polite", hidden: true }),
      h(
        "div",
        { class: "shell" },
        h(
          "nav",
          { id: "sidebar", "aria-label": "Channels" },
          h("div", { class: "me" }, h("span", { class: "dot online", "aria-hidden": "true" }), h("strong", { id: "me" }, this.me), h("span", { class: "org" }, ` · ${this.org}`)),
          h(
            "form",
            { id: "search", role: "search", onsubmit: (e: Event) => this.onSearch(e) },
            h("input", { id: "search-input", type: "search", placeholder: "Search (Ctrl+K)", "aria-label": "Search messages" }),
          ),
          h("h2", {}, "Channels", h("button", { type: "button", class: "ghost small", "aria-label": "New channel", onclick: () => void this.newChannel() }, "+")),
          h("ul", { id: "channels", class: "list" }),
          h("h2", {}, "Direct messages", h("button", { type: "button", class: "ghost small", "aria-label": "New direct message", onclick: () => void this.newDirect() }, "+")),
          h("ul", { id: "directs", class: "list" }),
          h(
            "div",
            { class: "side-links" },
            h("button", { type: "button", class: "ghost", onclick: () => void this.showBookmarks() }, "🔖 Bookmarks"),
            h("div", { id: "inbox", "data-slot": "notifications" }), // the inbox mounts here
            h("button", { type: "button", class: "ghost", onclick: () => this.onSignOut() }, "Sign out"),
          ),
        ),
        h(
          "main",
          { id: "main", "aria-label": "Conversation" },
          h(
            "header",
            { id: "channel-header" },
            h("h1", { id: "channel-name" }, "…"),
            h("span", { id: "channel-topic" }),
            h("span", { class: "spacer" }),
            call,
            h("button", { type: "button", class: "ghost", "aria-label": "Pinned messages", onclick: () => void this.showPins() }, "📌 Pins"),
          ),
          h("div", { id: "messages", role: "log", "aria-live": "polite", "aria-label": "Messages", tabindex: "0" }),
          h("div", { id: "typing", "aria-live": "polite" }),
          this.composer("composer", (text) => this.send(text), true),
        ),
        h("aside", { id: "panel", "aria-label": "Side panel", hidden: true }),
      ),
    );
    this.inbox.mount($("#inbox"));
    $("#messages").addEventListener("scroll", () => void this.maybeLoadOlder());
    document.addEventListener("keydown", (e) => this.onKey(e));
    setInterval(() => this.renderTyping(), 1000);
  }

  private composer(id: string, onSend: (text: string) => Promise<void>, withFiles: boolean): HTMLElement {
    const input = h("textarea", { id: `${id}-input`, rows: "2", "aria-label": "Message", placeholder: "Write a message — **bold**, _italic_, `code`, ``` blocks" });
    const file = h("input", { type: "file", id: `${id}-file`, multiple: true, class: "visually-hidden", "aria-label": "Attach files" });
    const submit = async () => {
      const text = input.value;
      if (!text.trim() && !(withFiles && file.files?.length)) return;
      input.value = "";
      try {
        if (withFiles && file.files?.length) {
          await this.upload([...file.files], text);
          file.value = "";
        } else {
          await onSend(text);
        }
      } catch (err) {
        input.value = text;
        this.toast(err instanceof ParleyError ? err.message : String(err));
      }
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void submit();
      } else if (e.key === "ArrowUp" && input.value === "" && id === "composer") {
        const mine = [...(this.rooms.get(this.current ?? "")?.messages ?? [])].reverse().find((m) => m.author === this.me && !m.deleted);
        if (mine) {
          e.preventDefault();
          this.startEdit(mine);
        }
      }
    });
    input.addEventListener("input", () => {
      const ch = id === "composer" ? this.current : this.thread?.channel;
      if (ch) this.client.typing(ch);
    });
    return h(
      "form",
      { id, class: "composer", onsubmit: (e: Event) => (e.preventDefault(), void submit()) },
      input,
      withFiles ? h("label", { for: `${id}-file`, class: "button ghost", title: "Attach files" }, "📎", h("span", { class: "visually-hidden" }, "Attach")) : null,
      withFiles ? file : null,
      h("button", { type: "submit", "aria-label": "Send" }, "Send"),
    );
  }

  // --- the client's events ---------------------------------------------------------------

  private bindClient(): void {
    const c = this.client;
    c.on("state", ({ state }) => this.renderBanner(state));
    c.on("channel", (ev) => void this.onChannelEvent(ev));
    c.on("joined", () => void this.refreshChannels());
    c.on("typing", () => this.renderTyping());
    c.on("receipt", (r) => {
      const room = this.rooms.get(r.channel);
      if (!room) return;
      if (r.user_id === this.me) {
        room.ch.read_seq = Math.max(room.ch.read_seq, r.seq);
        room.ch.unread = 0;
        room.mentions = 0;
        this.renderChannels();
      } else {
        room.receipts.set(r.user_id, Math.max(room.receipts.get(r.user_id) ?? 0, r.seq));
        if (r.channel === this.current) this.renderMessages();
      }
    });
    c.on("presence", (p) => {
      for (const u of p.users) this.presence.set(u.user_id, u.status);
      this.renderChannels();
      this.renderMessages();
    });
    c.on("event", (ev) => {
      if (ev.event === "link_preview" && ev.channel) {
        this.previews.set(String(ev.data.message_id), (ev.data.previews as unknown as Preview[]) ?? []);
        if (ev.channel === this.current) this.renderMessages();
        if (this.thread) this.renderThread();
      }
    });
  }

  private async onChannelEvent(ev: ChannelEvent): Promise<void> {
    let room = this.rooms.get(ev.channel);
    if (room === undefined) {
      await this.refreshChannels();
      room = this.rooms.get(ev.channel);
      if (room === undefined) return;
    }
    room.ch.last_seq = Math.max(room.ch.last_seq, ev.seq);
    const d = ev.data as JsonObject;
    switch (ev.event) {
      case "message_posted": {
        const m = { ...(d as unknown as View), seq: ev.seq, channel: ev.channel };
        if (Array.isArray(d.attachments)) this.attachments.set(m.id, d.attachments as unknown as FileInfo[]);
        const inThread = typeof m.thread_root === "string" && m.thread_root;
        if (inThread) {
          const root = room.messages.find((x) => x.id === m.thread_root);
          if (root) {
            root.thread = root.thread ?? { reply_count: 0, last_reply_at: null, participants: [] };
            root.thread.reply_count += 1;
            root.thread.last_reply_at = m.created_at;
          }
          if (this.thread && this.thread.root.id === m.thread_root) {
            this.thread.replies.push(m);
            this.renderThread();
          }
        }
        if (!inThread || m.also_in_channel) {
          if (room.loaded) room.messages.push(m);
          if (m.author !== this.me) {
            const viewing = ev.channel === this.current && !document.hidden;
            if (viewing) void this.markRead(room);
            else {
              room.ch.unread += 1;
              if (mentions(m.text, this.me)) room.mentions += 1;
            }
          }
        }
        room.ch.last_message = m;
        break;
      }
      case "member_added":
      case "member_removed":
      case "channel_updated":
        if (d.user_id === this.me || ev.event === "channel_updated") await this.refreshChannels();
        break;
      default: {
        const mid = String(d.message_id ?? d.id ?? "");
        if (mid) await this.refreshMessage(room, mid);
      }
    }
    this.renderChannels();
    if (ev.channel === this.current) this.renderMessages();
  }

  /** Fetch one message as the timeline shows it (after an edit, reaction, pin...). */
  private async refreshMessage(room: Room, mid: string): Promise<void> {
    let view: View;
    try {
      view = await this.rest.get<View>(`/v1/channels/${room.ch.id}/messages/${mid}/view`);
    } catch {
      return;
    }
    const i = room.messages.findIndex((m) => m.id === mid);
    if (i >= 0) room.messages[i] = view;
    if (this.thread) {
      if (this.thread.root.id === mid) this.thread.root = view;
      const j = this.thread.replies.findIndex((m) => m.id === mid);
      if (j >= 0) this.thread.replies[j] = view;
      this.renderThread();
    }
  }

  private async refreshChannels(): Promise<void> {
    const channels = await this.rest.allChannels();
    const ids = new Set(channels.map((c) => c.id));
    for (const ch of channels) {
      const room = this.rooms.get(ch.id);
      if (room) room.ch = { ...ch, unread: room.ch.unread, last_seq: Math.max(ch.last_seq, room.ch.last_seq) };
      else this.rooms.set(ch.id, this.room(ch));
    }
    for (const id of [...this.rooms.keys()]) if (!ids.has(id)) this.rooms.delete(id);
    this.renderChannels();
  }

  // --- channels ------------------------------------------------------------------------

  private dmPeer(ch: Channel): string {
    const known = this.peers.get(ch.id);
    if (known) return known;
    if (ch.name) return ch.name.split(",").map((s) => s.trim()).find((s) => s !== this.me) ?? ch.name;
    return ch.created_by === this.me ? "(direct)" : ch.created_by;
  }

  private label(ch: Channel): string {
    return ch.kind === "direct" ? this.dmPeer(ch) : `#${ch.name}`;
  }

  private renderChannels(): void {
    const lists = { channels: $("#channels"), directs: $("#directs") };
    clear(lists.channels);
    clear(lists.directs);
    const rooms = [...this.rooms.values()].sort((a, b) => this.label(a.ch).localeCompare(this.label(b.ch)));
    for (const room of rooms) {
      const ch = room.ch;
      const peer = ch.kind === "direct" ? this.dmPeer(ch) : null;
      const status = peer ? this.presence.get(peer) ?? "offline" : null;
      const unread = ch.id === this.current ? 0 : ch.unread;
      const item = h(
        "li",
        {},
        h(
          "button",
          {
            type: "button",
            class: `channel${ch.id === this.current ? " active" : ""}${unread ? " unread" : ""}`,
            "data-channel": ch.id,
            "aria-current": ch.id === this.current ? "page" : null,
            "aria-label": `${this.label(ch)}${unread ? `, ${unread} unread` : ""}${room.mentions ? `, ${room.mentions} mentions` : ""}${status ? `, ${status}` : ""}`,
            onclick: () => void this.open(ch.id),
          },
          status ? h("span", { class: `dot ${status}`, "aria-hidden": "true" }) : null,
          h("span", { class: "name" }, this.label(ch)),
          room.mentions && ch.id !== this.current ? h("span", { class: "badge mention-badge", "aria-hidden": "true" }, `@${room.mentions}`) : null,
          unread ? h("span", { class: "badge", "aria-hidden": "true" }, String(unread)) : null,
        ),
      );
      (ch.kind === "direct" ? lists.directs : lists.channels).append(item);
    }
  }

  async open(channel: string): Promise<void> {
    const room = this.rooms.get(channel);
    if (!room) return;
    this.current = channel;
    this.editing = null;
    $("#channel-name").textContent = this.label(room.ch);
    $("#channel-topic").textContent = room.ch.topic ?? "";
    ($("#composer-input") as HTMLTextAreaElement).setAttribute("aria-label", `Message ${this.label(room.ch)}`);
    if (!room.loaded) {
      await this.loadOlder(room);
      room.loaded = true;
      try {
        const r = await this.rest.get<{ items: { user_id: string; read_seq: number }[] }>(`/v1/channels/${channel}/receipts`);
        for (const x of r.items) if (x.user_id !== this.me) room.receipts.set(x.user_id, x.read_seq);
      } catch {
        // ticks are a hint
      }
    }
    this.renderChannels();
    this.renderMessages(true);
    await this.markRead(room);
    void this.loadMembers(room);
  }

  private async markRead(room: Room): Promise<void> {
    if (room.ch.last_seq > room.ch.read_seq) {
      room.ch.read_seq = room.ch.last_seq;
      this.client.read(room.ch.id, room.ch.last_seq).catch(() => undefined);
    }
    room.ch.unread = 0;
    room.mentions = 0;
    this.renderChannels();
  }

  // --- messages ------------------------------------------------------------------------

  private async loadOlder(room: Room): Promise<boolean> {
    const before = room.loaded ? room.nextBefore : room.ch.last_seq + 1;
    if (before === null) return false;
    const page = await this.rest.get<{ items: View[]; next_before: number | null }>(`/v1/channels/${room.ch.id}/timeline`, { before, limit: 50 });
    const known = new Set(room.messages.map((m) => m.id));
    room.messages.unshift(...page.items.filter((m) => !known.has(m.id)).reverse());
    room.nextBefore = page.next_before;
    return page.items.length > 0;
  }

  private async maybeLoadOlder(): Promise<void> {
    const list = $("#messages");
    const room = this.rooms.get(this.current ?? "");
    if (!room || this.loadingOlder || list.scrollTop > 80 || room.nextBefore === null) return;
    this.loadingOlder = true;
    const fromBottom = list.scrollHeight - list.scrollTop;
    try {
      if (await this.loadOlder(room)) {
        this.renderMessages();
        list.scrollTop = list.scrollHeight - fromBottom;
      }
    } finally {
      this.loadingOlder = false;
    }
  }

  private renderMessages(toBottom = false): void {
    const room = this.rooms.get(this.current ?? "");
    const list = $("#messages");
    if (!room) return;
    const atBottom = toBottom || list.scrollHeight - list.scrollTop - list.clientHeight < 40;
    const editingNow = document.activeElement?.getAttribute("aria-label") === "Edit message";
    const focused = document.activeElement?.closest?.("[data-id]")?.getAttribute("data-id");
    clear(list);
    if (room.nextBefore === null && room.loaded) list.append(h("p", { class: "start" }, `This is the start of ${this.label(room.ch)}.`));
    for (const m of room.messages) list.append(this.messageEl(room, m, false));
    if (atBottom) list.scrollTop = list.scrollHeight;
    if (editingNow) list.querySelector<HTMLElement>("textarea[aria-label='Edit message']")?.focus();
    else if (focused) list.querySelector<HTMLElement>(`[data-id="${focused}"]`)?.focus();
  }

  private ticks(room: Room, m: View): Child {
    if (m.author !== this.me) return null;
    const read = [...room.receipts.values()].some((s) => s >= m.seq);
    return h("span", { class: `ticks${read ? " read" : ""}`, title: read ? "Read" : "Sent", "aria-label": read ? "read" : "sent" }, read ? "✓✓" : "✓");
  }

  private messageEl(room: Room, m: View, inThread: boolean): HTMLElement {
    const mine = m.author === this.me;
    const status = this.presence.get(m.author);
    const body = m.deleted
      ? [h("p", { class: "deleted" }, "This message was deleted.")]
      : m.collapsed
        ? [h("p", { class: "deleted" }, "Message from a blocked user.")]
        : this.editing === m.id
          ? [this.editForm(room, m)]
          : render(m.text, this.me);
    const actions = m.deleted
      ? null
      : h(
          "div",
          { class: "actions", role: "toolbar", "aria-label": "Message actions" },
          ...QUICK_REACTIONS.map((e) => h("button", { type: "button", class: "ghost small", "aria-label": `React ${e}`, onclick: () => void this.toggleReaction(room, m, e) }, e)),
          inThread ? null : h("button", { type: "button", class: "ghost small", "aria-label": "Reply in thread", onclick: () => void this.openThread(room.ch.id, m) }, "💬"),
          h("button", { type: "button", class: "ghost small", "aria-label": m.pinned ? "Unpin" : "Pin", onclick: () => void this.togglePin(room, m) }, "📌"),
          h("button", { type: "button", class: "ghost small", "aria-label": "Bookmark", onclick: () => void this.bookmark(room, m) }, "🔖"),
          h("button", { type: "button", class: "ghost small", "aria-label": "Share", onclick: () => void this.share(room, m) }, "↪"),
          mine ? h("button", { type: "button", class: "ghost small", "aria-label": "Edit", onclick: () => this.startEdit(m) }, "✎") : null,
          mine || room.ch.role === "owner" || room.ch.role === "admin"
            ? h("button", { type: "button", class: "ghost small", "aria-label": "Delete", onclick: () => void this.remove(room, m) }, "🗑")
            : null,
        );
    const shared = m.shared
      ? h(
          "blockquote",
          { class: "shared" },
          h(
            "div",
            { class: "meta" },
            "Shared from ",
            m.shared.channel_id && this.rooms.has(m.shared.channel_id)
              ? h("a", { href: `#${m.shared.channel_id}/${m.shared.message_id}`, onclick: (e: Event) => (e.preventDefault(), void this.jump(m.shared?.channel_id ?? "", m.shared?.message_id ?? "")) }, this.label(this.rooms.get(m.shared.channel_id)!.ch))
              : "another channel",
            m.shared.author ? ` · ${m.shared.author}` : "",
          ),
          ...(m.shared.text ? render(m.shared.text, this.me) : []),
        )
      : null;
    const files = m.deleted ? [] : m.attachments ?? this.attachments.get(m.id) ?? [];
    if (!this.previews.has(m.id) && !m.deleted && /https?:\/\//.test(m.text)) this.loadPreviews(room, m);
    const previews = this.previews.get(m.id) ?? [];
    return h(
      "article",
      { class: `message${mine ? " mine" : ""}${m.pinned ? " pinned" : ""}`, "data-id": m.id, "data-seq": m.seq, tabindex: "0", "aria-label": `${m.author} at ${time(m.created_at)}` },
      h(
        "header",
        {},
        h("span", { class: `dot ${status ?? "offline"}`, "aria-hidden": "true" }),
        h("strong", { class: "author" }, m.author),
        h("time", { datetime: m.created_at }, time(m.created_at)),
        m.edited_at && !m.deleted ? h("span", { class: "edited" }, "(edited)") : null,
        m.pinned ? h("span", { class: "pin", "aria-label": "pinned" }, "📌") : null,
        this.ticks(room, m),
      ),
      h("div", { class: "body" }, ...body),
      shared,
      files.length ? h("div", { class: "files" }, ...files.map((f) => this.fileEl(f))) : null,
      previews.length
        ? h(
            "div",
            { class: "previews" },
            ...previews.map((p) =>
              h(
                "a",
                { class: "preview", href: p.url, target: "_blank", rel: "noopener noreferrer nofollow" },
                p.image ? h("img", { src: p.image, alt: "", loading: "lazy" }) : null,
                h("strong", {}, p.title ?? p.url),
                p.description ? h("span", {}, p.description) : null,
              ),
            ),
          )
        : null,
      m.reactions?.length
        ? h(
            "div",
            { class: "reactions" },
            ...m.reactions.map((r) =>
              h(
                "button",
                { type: "button", class: `reaction${r.me ? " me" : ""}`, "aria-pressed": r.me ? "true" : "false", "aria-label": `${r.emoji} ${r.count}`, onclick: () => void this.toggleReaction(room, m, r.emoji) },
                `${r.emoji} ${r.count}`,
              ),
            ),
          )
        : null,
      !inThread && m.thread?.reply_count
        ? h("button", { type: "button", class: "thread-link ghost", onclick: () => void this.openThread(room.ch.id, m) }, `${m.thread.reply_count} ${m.thread.reply_count === 1 ? "reply" : "replies"}`)
        : null,
      actions,
    );
  }

  /** Link previews of a message from history (live ones come as `link_preview` events). */
  private loadPreviews(room: Room, m: View): void {
    this.previews.set(m.id, []);
    this.rest
      .get<{ previews: Preview[] }>(`/v1/channels/${room.ch.id}/messages/${m.id}/previews`)
      .then((r) => {
        if (!r.previews.length) return;
        this.previews.set(m.id, r.previews);
        if (room.ch.id === this.current) this.renderMessages();
      })
      .catch(() => undefined);
  }

  private fileEl(f: FileInfo): HTMLElement {
    const isImage = f.content_type.startsWith("image/");
    const el = isImage
      ? h("img", { class: "thumb", alt: f.name, width: f.width ?? null, height: f.height ?? null })
      : h("a", { class: "file", href: "#", download: f.name }, `📄 ${f.name} (${Math.ceil(f.size / 1024)} KiB)`);
    const cached = this.links.get(f.id);
    const set = (url: string) => (isImage ? el.setAttribute("src", url) : el.setAttribute("href", url));
    if (cached) set(cached);
    else
      this.rest
        .post<{ url: string }>(`/v1/files/${f.id}/links`, { ttl: 3600 })
        .then((r) => {
          const url = new URL(r.url, location.origin).toString();
          this.links.set(f.id, url);
          set(url);
        })
        .catch(() => undefined);
    return h("figure", { class: "attachment" }, el, isImage ? h("figcaption", {}, f.name) : null);
  }

  private editForm(room: Room, m: View): HTMLElement {
    const input = h("textarea", { "aria-label": "Edit message", rows: "2" });
    input.value = this.editDraft ?? m.text;
    input.addEventListener("input", () => (this.editDraft = input.value));
    const save = async () => {
      this.editing = null;
      this.editDraft = null;
      if (input.value.trim() && input.value !== m.text) await this.client.edit(room.ch.id, m.id, input.value).catch((e) => this.toast(String(e)));
      this.renderMessages();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" && !e.shiftKey) {
        e.preventDefault();
        void save();
      } else if (e.key === "Escape") {
        e.stopPropagation();
        this.editing = null;
        this.editDraft = null;
        this.renderMessages();
      }
    });
    setTimeout(() => input.focus(), 0);
    return h("form", { class: "edit", onsubmit: (e: Event) => (e.preventDefault(), void save()) }, input, h("button", { type: "submit" }, "Save"));
  }

  private startEdit(m: View): void {
    this.editing = m.id;
    this.editDraft = null;
    this.renderMessages();
  }

  // --- actions -------------------------------------------------------------------------

  private async send(text: string): Promise<void> {
    if (!this.current) return;
    const sent = this.client.post(this.current, text);
    this.renderBanner(this.client.state); // counts what waits for the connection
    await sent;
  }

  private async upload(files: File[], text: string): Promise<void> {
    const channel = this.current;
    if (!channel) return;
    const form = new FormData();
    for (const f of files) form.append("file", f, f.name);
    const up = await this.rest.request<{ files: FileInfo[] }>("POST", `/v1/channels/${channel}/files`, { body: form, idempotencyKey: crypto.randomUUID() });
    await this.rest.post(`/v1/channels/${channel}/file-messages`, { text, files: up.files.map((f) => f.id) });
  }

  private async toggleReaction(room: Room, m: View, emoji: string): Promise<void> {
    const mine = m.reactions?.find((r) => r.emoji === emoji)?.me ?? false;
    await this.client.react(room.ch.id, m.id, emoji, mine).catch((e) => this.toast(String(e)));
  }

  private async togglePin(room: Room, m: View): Promise<void> {
    await this.rest.request(m.pinned ? "DELETE" : "PUT", `/v1/channels/${room.ch.id}/pins/${m.id}`).catch((e) => this.toast(String(e)));
  }

  private async bookmark(room: Room, m: View): Promise<void> {
    await this.rest.post("/v1/bookmarks", { channel: room.ch.id, message_id: m.id }).then(
      () => this.toast("Bookmarked"),
      (e) => this.toast(String(e)),
    );
  }

  private async remove(room: Room, m: View): Promise<void> {
    if (!confirm("Delete this message?")) return;
    await this.client.deleteMessage(room.ch.id, m.id).catch((e) => this.toast(String(e)));
  }

  private async share(room: Room, m: View): Promise<void> {
    const targets = [...this.rooms.values()].filter((r) => r.ch.id !== room.ch.id);
    const panel = this.panel(
      "Share message",
      h("p", {}, "Share to:"),
      h(
        "ul",
        { class: "list" },
        ...targets.map((t) =>
          h(
            "li",
            {},
            h(
              "button",
              {
                type: "button",
                class: "channel",
                onclick: async () => {
                  await this.rest.post(`/v1/channels/${room.ch.id}/messages/${m.id}/share`, { channel: t.ch.id });
                  this.closePanel();
                  await this.open(t.ch.id);
                },
              },
              this.label(t.ch),
            ),
          ),
        ),
      ),
    );
    panel.querySelector<HTMLElement>("button.channel")?.focus();
  }

  private async jump(channel: string, mid: string): Promise<void> {
    await this.open(channel);
    const room = this.rooms.get(channel);
    for (let i = 0; room && i < 20 && !room.messages.some((m) => m.id === mid) && room.nextBefore !== null; i++) await this.loadOlder(room);
    this.renderMessages();
    const el = document.querySelector<HTMLElement>(`#messages [data-id="${mid}"]`);
    if (el) {
      el.classList.add("highlight");
      el.scrollIntoView({ block: "center" });
      el.focus();
    }
  }

  private async startCall(): Promise<void> {
    const template = this.config.meeting_url_template;
    if (!template || !this.current) return;
    const room = crypto.randomUUID().replace(/-/g, "").slice(0, 16);
    const url = template.replace("{room}", room);
    await this.client.post(this.current, `📞 ${this.me} started a call: ${url}`);
    window.open(url, "_blank", "noopener");
  }

  private async newChannel(): Promise<void> {
    const name = prompt("Channel name")?.trim();
    if (!name) return;
    const members = (prompt("Members (comma-separated user ids)") ?? "").split(",").map((s) => s.trim()).filter(Boolean);
    const ch = await this.rest.createChannel({ kind: "group", name, members });
    this.rooms.set(ch.id, this.room(ch));
    this.client.seqs.seed(ch.id, 0);
    await this.open(ch.id);
  }

  private async newDirect(): Promise<void> {
    const user = prompt("Direct message with (user id)")?.trim();
    if (!user) return;
    try {
      const ch = await this.rest.createChannel({ kind: "direct", name: [this.me, user].sort().join(", "), members: [user] });
      this.rooms.set(ch.id, this.room(ch));
      this.client.seqs.seed(ch.id, 0);
      await this.open(ch.id);
    } catch (err) {
      if (!(err instanceof ParleyError && err.code === "conflict")) throw err;
      await this.refreshChannels();
      const existing = [...this.rooms.values()].find((r) => r.ch.kind === "direct" && this.dmPeer(r.ch) === user);
      if (existing) await this.open(existing.ch.id);
    }
  }

  // --- threads and panels --------------------------------------------------------------

  private async openThread(channel: string, root: View): Promise<void> {
    const t = await this.rest.get<{ root: View; replies: View[] }>(`/v1/channels/${channel}/threads/${root.id}`, { limit: 200 });
    this.thread = { channel, root: t.root, replies: t.replies };
    this.renderThread();
    document.querySelector<HTMLElement>("#thread-input")?.focus();
  }

  private renderThread(): void {
    const t = this.thread;
    if (!t) return;
    const room = this.rooms.get(t.channel);
    if (!room) return;
    const focused = document.activeElement?.id === "thread-input";
    const draft = (document.querySelector("#thread-input") as HTMLTextAreaElement | null)?.value ?? "";
    this.panel(
      "Thread",
      h("div", { class: "thread-root" }, this.messageEl(room, t.root, true)),
      h("div", { id: "replies", role: "log", "aria-label": "Replies" }, ...t.replies.map((r) => this.messageEl(room, r, true))),
      this.composer("thread", (text) => this.client.reply(t.channel, t.root.id, text).then(() => undefined), false),
    );
    const input = document.querySelector("#thread-input") as HTMLTextAreaElement | null;
    if (input) {
      input.value = draft;
      input.setAttribute("aria-label", "Reply in thread");
      if (focused) input.focus();
    }
  }

  private panel(title: string, ...children: Child[]): HTMLElement {
    const panel = $("#panel");
    clear(panel);
    panel.hidden = false;
    panel.append(
      h("header", {}, h("h2", {}, title), h("button", { type: "button", class: "ghost", "aria-label": "Close panel", onclick: () => this.closePanel() }, "✕")),
      h("div", { class: "panel-body" }, ...children),
    );
    return panel;
  }

  private closePanel(): void {
    this.thread = null;
    const panel = $("#panel");
    panel.hidden = true;
    clear(panel);
    ($("#composer-input") as HTMLTextAreaElement).focus();
  }

  private resultList(items: { message: Message; snippet?: string }[]): HTMLElement {
    return h(
      "ul",
      { class: "results" },
      ...items.map((r) => {
        const room = this.rooms.get(r.message.channel);
        return h(
          "li",
          {},
          h(
            "button",
            { type: "button", class: "result", onclick: () => void this.jump(r.message.channel, r.message.id) },
            h("span", { class: "meta" }, `${room ? this.label(room.ch) : r.message.channel} · ${r.message.author} · ${time(r.message.created_at)}`),
            h("span", { class: "snippet" }, r.snippet ?? r.message.text),
          ),
        );
      }),
    );
  }

  private async onSearch(e: Event): Promise<void> {
    e.preventDefault();
    const q = ($("#search-input") as HTMLInputElement).value.trim();
    if (!q) return;
    try {
      const res = await this.rest.get<{ items: { message: Message; snippet: string }[] }>("/v1/search", { q, limit: 50 });
      this.panel(`Search: ${q}`, res.items.length ? this.resultList(res.items) : h("p", {}, "No results."));
    } catch (err) {
      this.panel(`Search: ${q}`, h("p", { role: "alert" }, err instanceof ParleyError ? err.message : String(err)));
    }
  }

  private async showPins(): Promise<void> {
    if (!this.current) return;
    const res = await this.rest.get<{ items: Message[] }>(`/v1/channels/${this.current}/pins`);
    this.panel("Pinned", res.items.length ? this.resultList(res.items.map((m) => ({ message: m }))) : h("p", {}, "Nothing pinned yet."));
  }

  private async showBookmarks(): Promise<void> {
    const res = await this.rest.get<{ items: { message?: Message; channel?: string; message_id?: string }[] }>("/v1/bookmarks");
    const items = res.items.filter((b) => b.message).map((b) => ({ message: b.message as Message }));
    this.panel("Bookmarks", items.length ? this.resultList(items) : h("p", {}, "No bookmarks yet."));
  }

  // --- banner, typing, keys ------------------------------------------------------------

  private renderBanner(state: string): void {
    const banner = $("#banner");
    if (state === "open") {
      banner.hidden = true;
      banner.textContent = "";
      document.body.classList.remove("offline");
    } else if (state === "reconnecting" || state === "connecting") {
      banner.hidden = false;
      const queued = this.client.queued;
      banner.textContent = `Reconnecting…${queued ? ` ${queued} message${queued === 1 ? "" : "s"} will be sent when back.` : ""}`;
      document.body.classList.add("offline");
    } else if (state === "closed") {
      banner.hidden = false;
      banner.textContent = "Disconnected. Sign in again.";
    }
  }

  private renderTyping(): void {
    const el = document.querySelector("#typing");
    if (!el) return;
    const who = this.current ? this.client.typingIn(this.current) : [];
    el.textContent = who.length === 0 ? "" : who.length === 1 ? `${who[0]} is typing…` : `${who.join(", ")} are typing…`;
  }

  private onKey(e: KeyboardEvent): void {
    if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === "k") {
      e.preventDefault();
      $("#search-input").focus();
    } else if (e.key === "Escape" && !$("#panel").hidden) {
      this.closePanel();
    } else if (e.altKey && (e.key === "ArrowUp" || e.key === "ArrowDown")) {
      e.preventDefault();
      const ids = [...document.querySelectorAll<HTMLElement>("#sidebar [data-channel]")].map((b) => b.dataset.channel ?? "");
      const i = ids.indexOf(this.current ?? "");
      const next = ids[(i + (e.key === "ArrowUp" ? -1 : 1) + ids.length) % ids.length];
      if (next) void this.open(next);
    } else if ((e.key === "ArrowUp" || e.key === "ArrowDown") && (document.activeElement as HTMLElement | null)?.classList.contains("message")) {
      e.preventDefault();
      const el = document.activeElement as HTMLElement;
      const sib = (e.key === "ArrowUp" ? el.previousElementSibling : el.nextElementSibling) as HTMLElement | null;
      if (sib?.classList.contains("message")) sib.focus();
    }
  }

  private toast(text: string): void {
    const t = h("div", { class: "toast", role: "alert" }, text);
    document.body.append(t);
    setTimeout(() => t.remove(), 4000);
  }
}
