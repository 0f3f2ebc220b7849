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
      const reply = answer(cmd);
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
