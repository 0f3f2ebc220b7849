// The SDK against a real `parley serve` on 127.0.0.1, including a restart mid-stream.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ParleyClient, ParleyRest } from "../dist/parley.js";
import { Server, token, until } from "./server.mjs";

const ALL = "events.acme.conversations.>";
const fast = { base: 50, max: 400 };
let server;
const clients = [];

function client(user, options = {}) {
  const c = new ParleyClient({ url: server.wsUrl, token: token(user), rest: server.httpUrl, backoff: fast, ...options });
  clients.push(c);
  return c;
}

/** Record every message_posted a client delivers, by channel. */
function record(c) {
  const seen = [];
  c.on("message", (e) => seen.push(e));
  return seen;
}

before(async () => {
  server = await new Server().start();
});

after(async () => {
  for (const c of clients) c.close();
  await server?.close();
});

test("posts reach every member once, in order; replies are matched by id", async () => {
  const ch = await server.call("alice", "POST", "/v1/channels", { kind: "group", name: "one", members: ["bob"] });
  const alice = client("alice");
  const bob = client("bob");
  const seen = record(bob);
  await Promise.all([alice.connect(), bob.connect()]);
  await Promise.all([alice.subscribe(ALL), bob.subscribe(ALL)]);
  const replies = await Promise.all(Array.from({ length: 20 }, (_, i) => alice.post(ch.id, `m${i}`)));
  assert.deepEqual(
    replies.map((r) => r.created),
    Array(20).fill(true),
  );
  const pings = await Promise.all(Array.from({ length: 10 }, () => alice.request("ping")));
  assert.equal(new Set(pings.map((p) => p.id)).size, 10);
  await until(() => seen.length === 20, 10000, "20 messages");
  assert.deepEqual(
    seen.map((e) => e.data.text),
    Array.from({ length: 20 }, (_, i) => `m${i}`),
  );
  const seqs = seen.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  await assert.rejects(alice.post("ch_nope", "x"), (err) => err.code === "not_found");
  await assert.rejects(alice.subscribe("events.other.>"), (err) => err.code === "forbidden");
  // Refused for good: not subscribed again after a reconnect.
  const early = client("alice");
  const refusedEarly = early.subscribe("events.other.>");
  await early.connect();
  await assert.rejects(refusedEarly, (err) => err.code === "forbidden");
  early.close();
  alice.close();
  bob.close();
});

test("a server restart mid-stream loses nothing and doubles nothing; offline posts go once", async () => {
  const ch = await server.call("alice", "POST", "/v1/channels", { kind: "group", name: "restart", members: ["bob"] });
  const rest = new ParleyRest({ baseUrl: server.httpUrl, token: token("alice") });
  const bob = client("bob");
  const seen = record(bob);
  const states = [];
  bob.on("state", ({ state }) => states.push(state));
  await bob.connect();
  await bob.subscribe(ALL);
  const N = 60;
  const post = async (i) => {
    const key = `restart-${i}`;
    for (;;) {
      try {
        return await rest.request("POST", `/v1/channels/${ch.id}/messages`, { body: { text: `r${i}`, idempotency_key: key } });
      } catch (err) {
        if (err.code !== "network" && err.code !== "unavailable") throw err;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
  };
  for (let i = 0; i < 30; i++) await post(i);
  await until(() => seen.length >= 10, 10000, "the stream to flow");
  await server.stop(); // bob sees 1001
  await until(() => bob.state === "reconnecting", 5000, "bob to notice");
  const offline = [bob.post(ch.id, "while down 1"), bob.post(ch.id, "while down 2")];
  assert.equal(bob.queued, 2);
  await server.start();
  for (let i = 30; i < N; i++) await post(i);
  const [o1, o2] = await Promise.all(offline);
  assert.ok(o1.seq < o2.seq);
  await until(() => seen.length === N + 2, 15000, `${N + 2} messages`);
  const texts = seen.map((e) => e.data.text);
  assert.deepEqual(new Set(texts).size, N + 2, "no duplicate");
  assert.deepEqual(
    texts.filter((t) => t.startsWith("r")),
    Array.from({ length: N }, (_, i) => `r${i}`),
  );
  const seqs = seen.map((e) => e.seq);
  assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
  // The channel holds each offline post once.
  const page = await rest.messages(ch.id, { limit: 200 });
  assert.equal(page.items.filter((m) => m.text.startsWith("while down")).length, 2);
  assert.ok(states.includes("reconnecting") && states.at(-1) === "open");
  // Nothing more arrives late.
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(seen.length, N + 2);
  bob.close();
});

test("a channel joined while offline is resumed after the reconnect", async () => {
  const bob = client("bob");
  const seen = record(bob);
  await bob.connect();
  await bob.subscribe(ALL);
  bob.disconnect(); // offline, keeping its positions
  const ch = await server.call("carol", "POST", "/v1/channels", { kind: "group", name: "new", members: ["bob"] });
  for (let i = 0; i < 3; i++) await server.call("carol", "POST", `/v1/channels/${ch.id}/messages`, { text: `n${i}` });
  const joined = [];
  bob.on("joined", (j) => joined.push(j));
  await bob.connect(); // resume_all finds the new channel
  assert.deepEqual(joined, [{ channel: ch.id, seq: 5 }]); // 2 joins + 3 posts, before the reply
  // Its history is over REST; live events follow from seq 6, once each.
  const history = await bob.rest.messages(ch.id, { before: 6 });
  assert.deepEqual(history.items.map((m) => m.text).reverse(), ["n0", "n1", "n2"]);
  await server.call("carol", "POST", `/v1/channels/${ch.id}/messages`, { text: "live" });
  await until(() => seen.some((e) => e.channel === ch.id), 10000, "the live message");
  assert.deepEqual(
    seen.filter((e) => e.channel === ch.id).map((e) => [e.seq, e.data.text]),
    [[6, "live"]],
  );
  bob.close();
});

test("a token callback is asked again before expiry, and after a 4002 close", async () => {
  let calls = 0;
  const provider = async () => {
    calls += 1;
    return token("dave", { ttl: 3 });
  };
  const dave = client("dave", { token: provider });
  const closes = [];
  dave.on("disconnect", (d) => closes.push(d));
  await dave.connect();
  const firstExpiry = dave.hello.expires_at;
  await until(() => dave.hello !== null && dave.hello.expires_at > firstExpiry, 8000, "a refresh");
  assert.equal(closes.length, 0, "refreshed in place, no reconnect");
  assert.ok(calls >= 2);
  dave.close();

  // With no margin the token runs out: the server closes with 4002, the SDK gets a fresh
  // token and reconnects at once.
  const erin = client("erin", { token: async () => token("erin", { ttl: 2 }), refreshMarginMs: -60000 });
  const erinCloses = [];
  erin.on("disconnect", (d) => erinCloses.push(d));
  await erin.connect();
  await until(() => erinCloses.length === 1, 8000, "the 4002 close");
  assert.deepEqual(
    [erinCloses[0].code, erinCloses[0].action, erinCloses[0].delay],
    [4002, "refresh", 0],
  );
  await erin.whenOpen();
  erin.close();
});

test("a refused token stops the client instead of retrying", async () => {
  const bad = client("mallory", { token: "not.a.token" });
  await assert.rejects(bad.connect(), (err) => err.code === "closed");
  assert.equal(bad.state, "closed");
});
