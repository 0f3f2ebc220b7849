/** The notifications inbox (docs/notifications.md): a bell with the unread count, a
 * panel listing the inbox newest first (cursor paging), mark read / mark all read. Every
 * change comes back on the user's topic `events.{org}.users.notification.{created|updated}.{me}`,
 * so reading on one tab (or device) updates the others. */

import { type EventFrame, type ParleyClient, ParleyError, type ParleyRest } from "../../js/src/index.js";
import { append, clear, h } from "./dom.js";

export interface Notification {
  id: string;
  type: string;
  priority: string;
  title: string;
  body: string;
  link: { channel?: string | null; message?: string | null; thread?: string | null; url?: string | null };
  actor: string | null;
  created_at: string;
  read_at: string | null;
  archived_at: string | null;
}

interface InboxPage {
  items: Notification[];
  next_cursor: string | null;
  unread: number;
}

interface Updated {
  state: "seen" | "read" | "archived";
  on: boolean;
  ids: string[];
  unread: number;
}

const PAGE = 20;
const when = (ts: string) => new Date(ts).toLocaleString([], { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });

export class Inbox {
  private unread = 0;
  private items: Notification[] = [];
  private cursor: string | null = null;
  private loaded = false;
  private open = false;
  private readonly bell: HTMLButtonElement;
  private readonly count: HTMLElement;
  private readonly panel: HTMLElement;

  constructor(
    private readonly rest: ParleyRest,
    private readonly client: ParleyClient,
    private readonly org: string,
    private readonly me: string,
    /** Open what a notification links to (a channel, a message). */
    private readonly go: (channel: string, message: string | null) => Promise<void>,
    private readonly toast: (text: string) => void,
  ) {
    this.count = h("span", { id: "inbox-count", class: "badge", "aria-hidden": "true", hidden: true });
    this.bell = h(
      "button",
      { id: "inbox-button", type: "button", class: "ghost", "aria-haspopup": "dialog", "aria-expanded": "false", "aria-controls": "inbox-panel", onclick: () => void this.toggle() },
      "🔔 Notifications ",
      this.count,
    );
    this.panel = h("section", { id: "inbox-panel", role: "dialog", "aria-label": "Notifications", hidden: true });
    this.panel.addEventListener("keydown", (e) => {
      if (e.key === "Escape") {
        e.stopPropagation();
        this.close();
      }
    });
    this.renderBell();
  }

  get topic(): string {
    return `events.${this.org}.users.notification.*.${this.me}`;
  }

  mount(slot: HTMLElement): void {
    clear(slot);
    slot.append(this.bell, this.panel);
  }

  /** The count now, then live: subscribe to my notification topic; after a reconnect the
   * count (and the open list) are read again, since pushes while away are not replayed. */
  async start(): Promise<void> {
    this.client.on("event", (ev) => this.onEvent(ev));
    this.client.on("hello", () => void this.refresh());
    await this.client.subscribe(this.topic);
    await this.refresh();
  }

  private async refresh(): Promise<void> {
    try {
      const r = await this.rest.get<{ unread: number }>("/v1/notifications/unread-count");
      this.setUnread(r.unread);
      if (this.loaded) await this.loadFirst();
    } catch {
      // the badge is a hint; the next push or reconnect tries again
    }
  }

  private onEvent(ev: EventFrame): void {
    const prefix = `events.${this.org}.users.notification.`;
    if (!ev.topic.startsWith(prefix) || !ev.topic.endsWith(`.${this.me}`)) return;
    const kind = ev.topic.slice(prefix.length, -(this.me.length + 1));
    if (kind === "created") {
      const n = ev.data as unknown as Notification;
      if (this.items.some((x) => x.id === n.id)) return;
      if (this.loaded) this.items.unshift(n);
      if (!n.read_at && !n.archived_at) this.setUnread(this.unread + 1);
      this.renderList();
    } else if (kind === "updated") {
      const u = ev.data as unknown as Updated;
      const ids = new Set(u.ids);
      const now = ev.ts || new Date().toISOString();
      if (u.state === "archived" && u.on) this.items = this.items.filter((x) => !ids.has(x.id));
      else if (u.state === "read")
        for (const x of this.items) if (ids.has(x.id)) x.read_at = u.on ? x.read_at ?? now : null;
      this.setUnread(u.unread);
      this.renderList();
    }
  }

  private setUnread(n: number): void {
    this.unread = Math.max(0, n);
    this.renderBell();
  }

  private renderBell(): void {
    this.count.textContent = String(this.unread);
    this.count.hidden = this.unread === 0;
    this.bell.setAttribute("aria-label", `Notifications, ${this.unread} unread`);
    this.bell.classList.toggle("unread", this.unread > 0);
  }

  private async toggle(): Promise<void> {
    if (this.open) return this.close();
    this.open = true;
    this.panel.hidden = false;
    this.bell.setAttribute("aria-expanded", "true");
    if (!this.loaded) await this.loadFirst();
    else this.renderList();
    (this.panel.querySelector<HTMLElement>(".inbox-item button") ?? this.panel.querySelector<HTMLElement>("button"))?.focus();
  }

  private close(): void {
    this.open = false;
    this.panel.hidden = true;
    this.bell.setAttribute("aria-expanded", "false");
    this.bell.focus();
  }

  private async loadFirst(): Promise<void> {
    const page = await this.rest.get<InboxPage>("/v1/notifications", { limit: PAGE });
    this.items = page.items;
    this.cursor = page.next_cursor;
    this.loaded = true;
    this.setUnread(page.unread);
    this.renderList();
  }

  private async loadMore(): Promise<void> {
    if (this.cursor === null) return;
    const page = await this.rest.get<InboxPage>("/v1/notifications", { limit: PAGE, cursor: this.cursor });
    const known = new Set(this.items.map((x) => x.id));
    this.items.push(...page.items.filter((x) => !known.has(x.id)));
    this.cursor = page.next_cursor;
    this.setUnread(page.unread);
    this.renderList();
    this.panel.querySelector<HTMLElement>(".inbox-item:last-child button")?.focus();
  }

  private async markRead(n: Notification): Promise<void> {
    if (n.read_at) return;
    try {
      await this.rest.post(`/v1/notifications/${encodeURIComponent(n.id)}/read`);
      // the `updated` push sets the count and the item, here and in every other tab
    } catch (err) {
      this.toast(err instanceof ParleyError ? err.message : String(err));
    }
  }

  private async markAllRead(): Promise<void> {
    const newest = this.items[0];
    if (!newest) return;
    try {
      const r = await this.rest.post<{ unread: number }>("/v1/notifications/mark", { state: "read", up_to: newest.id });
      this.setUnread(r.unread);
    } catch (err) {
      this.toast(err instanceof ParleyError ? err.message : String(err));
    }
  }

  private async follow(n: Notification): Promise<void> {
    await this.markRead(n);
    if (n.link.channel) {
      this.close();
      await this.go(n.link.channel, n.link.message ?? null);
    } else if (n.link.url) {
      window.open(n.link.url, "_blank", "noopener");
    }
  }

  private renderList(): void {
    if (!this.open) return;
    const active = document.activeElement;
    const inside = active !== null && this.panel.contains(active);
    const focusedId = active?.closest?.("[data-notification]")?.getAttribute("data-notification");
    clear(this.panel);
    append(this.panel, [
      h(
        "header",
        {},
        h("h2", { id: "inbox-title" }, "Notifications"),
        h("button", { type: "button", class: "ghost small", id: "inbox-mark-all", disabled: this.unread === 0, onclick: () => void this.markAllRead() }, "Mark all read"),
        h("button", { type: "button", class: "ghost small", id: "inbox-close", "aria-label": "Close notifications", onclick: () => this.close() }, "✕"),
      ),
      this.items.length
        ? h(
            "ul",
            { id: "inbox-list", class: "list", "aria-labelledby": "inbox-title" },
            ...this.items.map((n) =>
              h(
                "li",
                { class: `inbox-item${n.read_at ? "" : " unread"}`, "data-notification": n.id },
                h(
                  "button",
                  { type: "button", class: "inbox-open", "aria-label": `${n.read_at ? "" : "Unread: "}${n.title}${n.body ? `: ${n.body}` : ""}`, onclick: () => void this.follow(n) },
                  h("span", { class: "meta" }, `${n.type}${n.actor ? ` · ${n.actor}` : ""} · ${when(n.created_at)}`),
                  h("strong", {}, n.title),
                  n.body ? h("span", { class: "snippet" }, n.body) : null,
                ),
                n.read_at ? null : h("button", { type: "button", class: "ghost small inbox-read", "aria-label": `Mark read: ${n.title}`, onclick: () => void this.markRead(n) }, "✓"),
              ),
            ),
          )
        : h("p", { class: "hint" }, "No notifications."),
      this.cursor !== null ? h("button", { type: "button", class: "ghost", id: "inbox-more", onclick: () => void this.loadMore() }, "Load more") : null,
    ]);
    if (!inside) return;
    // Keep the focus where it was (the list is drawn again): the same item or button,
    // else the close button, so the keyboard never falls out of the panel.
    const again = focusedId
      ? this.panel.querySelector<HTMLElement>(`[data-notification="${focusedId}"] button`)
      : active?.id
        ? this.panel.querySelector<HTMLElement>(`#${active.id}:not([disabled])`)
        : null;
    (again ?? this.panel.querySelector<HTMLElement>("#inbox-close"))?.focus();
  }
}
