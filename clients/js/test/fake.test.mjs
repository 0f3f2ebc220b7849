// Reply timeouts and the offline queue against a scripted WebSocket (no server).
import assert from "node:assert/strict";
import { test } from "node:test";
import { ParleyClient } from "../dist/parley.js";

/** A WebSocket that says hello and answers only what `answer` returns. */
function fakeSocket(answer, sent) {
  return class {
    constructor() {
      setTimeout(() => {
        const hello = { type: "hello", session: "s", user: "u", org: "acme", roles: [], expires_at: 0, keepalive: { interval: 25, timeout: 10 }, limits: {}, ts: "" };
        this.onmessage?.({ data: JSON.stringify(hello) });
      }, 0);
    }
    send(text) {
      const cmd = JSON.parse(text);
      sent.push(cmd);
      const reply = answer(cmd, (frame) => this.onmessage?.({ data: JSON.stringify(frame) }));
      if (reply) setTimeout(() => this.onmessage?.({ data: JSON.stringify({ id: cmd.id, ...reply }) }), 0);
    }
    close() {}
  };
}

test("a reply that never comes times out; later replies still match", async () => {
  const sent = [];
  const ws = fakeSocket((cmd) => (cmd.op === "ping" ? null : { ok: true, echo: cmd.op }), sent);
  const c = new ParleyClient({ url: "ws://x/ws", token: "t", WebSocket: ws, replyTimeout: 50 });
  await c.connect();
  await assert.rejects(c.request("ping"), (err) => err.code === "timeout");
  const r = await c.request("other");
  assert.equal(r.echo, "other");
  c.close();
});

test("posts carry idempotency keys and keep their order", async () => {
  const sent = [];
  let seq = 0;
  const ws = fakeSocket((cmd) => ({ ok: true, seq: ++seq, message_id: `m${seq}`, created: true }), sent);
  const c = new ParleyClient({ url: "ws://x/ws", token: "t", WebSocket: ws });
  const p = [c.post("ch", "a"), c.post("ch", "b"), c.post("ch", "c")];
  assert.equal(c.queued, 3); // not connected yet
  await c.connect();
  const replies = await Promise.all(p);
  assert.deepEqual(replies.map((r) => r.seq), [1, 2, 3]);
  const posts = sent.filter((s) => s.op === "post");
  assert.deepEqual(posts.map((s) => s.text), ["a", "b", "c"]);
  assert.equal(new Set(posts.map((s) => s.idempotency_key)).size, 3);
  c.close();
});

const event = (seq, text) => ({
  type: "event", topic: "events.acme.conversations.conversation.message_posted.ch", channel: "ch",
  seq, event: "message_posted", data: { text }, ts: "",
});

test("a gap on a live connection is filled by subscribing again with since", async () => {
  const sent = [];
  const ws = fakeSocket((cmd, push) => {
    if (cmd.op !== "subscribe") return { ok: true };
    if (!cmd.since) {
      // The first subscribe: seq 1 arrives, then seq 3 (2 was lost).
      setTimeout(() => {
        push(event(1, "one"));
        push(event(3, "three"));
      }, 5);
      return { ok: true, topic: cmd.topic, recovery: { ch: { recovered: true, replayed: 0, replayed_to: 0 } } };
    }
    // The fill: replay after since.ch (2 and 3), then the reply.
    push(event(2, "two"));
    push(event(3, "three"));
    return { ok: true, topic: cmd.topic, recovery: { ch: { recovered: true, replayed: 2, replayed_to: 3 } } };
  }, sent);
  const c = new ParleyClient({ url: "ws://x/ws", token: "t", WebSocket: ws });
  const seen = [];
  const gaps = [];
  c.on("message", (e) => seen.push(e.data.text));
  c.on("gap", (g) => gaps.push(g));
  await c.connect();
  await c.subscribe("events.acme.conversations.>");
  for (let i = 0; i < 100 && seen.length < 3; i++) await new Promise((r) => setTimeout(r, 10));
  assert.deepEqual(seen, ["one", "two", "three"]);
  const subs = sent.filter((s) => s.op === "subscribe");
  assert.equal(subs[0].resume_all, true);
  assert.deepEqual(subs[1].since, { ch: 1 }); // the same pattern again, in place
  assert.equal(subs[1].topic, "events.acme.conversations.>");
  c.close();
});

test("more channels than one replay takes are asked for again", async () => {
  const sent = [];
  const ws = fakeSocket((cmd) => {
    if (cmd.op !== "subscribe") return { ok: true };
    if (cmd.resume_all) {
      return { ok: true, topic: cmd.topic, recovery: { a: { recovered: false, replayed: 5, replayed_to: 9 } }, more: ["b", "c"] };
    }
    const recovery = Object.fromEntries(Object.keys(cmd.since).map((k) => [k, { recovered: true, replayed: 0, replayed_to: 20 }]));
    return { ok: true, topic: cmd.topic, recovery };
  }, sent);
  const c = new ParleyClient({ url: "ws://x/ws", token: "t", WebSocket: ws });
  await c.connect();
  await c.subscribe("events.acme.conversations.>");
  const subs = sent.filter((s) => s.op === "subscribe");
  assert.equal(subs.length, 2);
  assert.deepEqual(subs[1].since, { a: 9, b: null, c: null });
  assert.deepEqual(Object.fromEntries(c.seqs.positions()), { a: 20, b: 20, c: 20 });
  c.close();
});
