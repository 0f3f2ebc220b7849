// The sans-IO parts of the SDK: close-code actions, backoff, seq tracking, topic patterns.
import assert from "node:assert/strict";
import { test } from "node:test";
import { Backoff, CloseCode, SeqTracker, closeAction, covers, intersects, tokenExpiry } from "../dist/parley.js";

test("close codes map to actions as docs/protocol.md says", () => {
  assert.equal(closeAction(CloseCode.GOING_AWAY), "reconnect");
  assert.equal(closeAction(1006), "reconnect");
  assert.equal(closeAction(CloseCode.SLOW_CONSUMER), "reconnect");
  assert.equal(closeAction(CloseCode.TOKEN_EXPIRED), "refresh");
  assert.equal(closeAction(CloseCode.POLICY_VIOLATION), "stop");
  assert.equal(closeAction(CloseCode.INTERNAL_ERROR), "backoff");
  assert.equal(closeAction(CloseCode.TRY_AGAIN_LATER), "backoff");
  assert.equal(closeAction(CloseCode.SERVER_OVERLOAD), "backoff");
  assert.equal(closeAction(CloseCode.CONNECTION_LIMIT), "stop");
  assert.equal(closeAction(CloseCode.UNSUPPORTED_DATA), "stop");
  assert.equal(closeAction(4123), "backoff");
  assert.equal(closeAction(4777), "stop");
});

test("backoff doubles with jitter, is capped, and resets", () => {
  const low = new Backoff({ base: 100, max: 1000, random: () => 0 });
  assert.deepEqual([1, 2, 3, 4, 5].map(() => low.next("reconnect")), [50, 100, 200, 400, 500]);
  const high = new Backoff({ base: 100, max: 1000, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3].map(() => high.next("reconnect")), [100, 200, 400]);
  high.reset();
  assert.equal(high.next("reconnect"), 100);
  const over = new Backoff({ base: 100, floor: 800, max: 1000, random: () => 0.999999 });
  assert.deepEqual([1, 2, 3, 4].map(() => over.next("backoff")), [800, 800, 800, 800]);
  assert.equal(new Backoff({ base: 4000, max: 30000, random: () => 0.999999 }).next("backoff"), 5000);
});

const ev = (channel, seq) => ({ type: "event", topic: "t", data: {}, ts: "", channel, seq, event: "message_posted" });

test("seq tracker drops duplicates, holds events past a gap, and releases them in order", () => {
  const t = new SeqTracker();
  t.seed("a", 10);
  assert.deepEqual(t.accept(ev("a", 10)).deliver, []); // seen
  assert.deepEqual(t.accept(ev("a", 11)).deliver.map((e) => e.seq), [11]);
  const held = t.accept(ev("a", 14));
  assert.deepEqual(held.deliver, []);
  assert.deepEqual(held.gap, { channel: "a", from: 12, to: 13 });
  assert.equal(t.accept(ev("a", 15)).gap, null); // the same gap, reported once
  assert.deepEqual(t.gaps(), [{ channel: "a", from: 12, to: 13 }]);
  assert.deepEqual(t.accept(ev("a", 12)).deliver.map((e) => e.seq), [12]);
  assert.deepEqual(t.accept(ev("a", 13)).deliver.map((e) => e.seq), [13, 14, 15]);
  assert.deepEqual(t.gaps(), []);
  assert.equal(t.lastSeq("a"), 15);
  // An untracked channel starts at its first event.
  assert.deepEqual(t.accept(ev("b", 7)).deliver.map((e) => e.seq), [7]);
});

test("seq tracker skips seqs that never come", () => {
  const t = new SeqTracker();
  t.seed("a", 1);
  t.accept(ev("a", 4));
  t.accept(ev("a", 6));
  assert.deepEqual(t.skipTo("a", 3).map((e) => e.seq), [4]);
  assert.deepEqual(t.skipTo("a", 5).map((e) => e.seq), [6]);
  assert.equal(t.lastSeq("a"), 6);
  t.accept(ev("a", 9));
  assert.deepEqual(t.skipTo("a", 9, new Set([9])), []); // delivered another way
  assert.equal(t.lastSeq("a"), 9);
});

test("topic patterns: covers and intersects", () => {
  const all = "events.acme.conversations.conversation.*.*";
  assert.ok(covers("events.acme.>", all));
  assert.ok(covers("events.acme.conversations.>", all));
  assert.ok(!covers("events.acme.conversations.conversation.message_posted.*", all));
  assert.ok(intersects("events.acme.conversations.conversation.message_posted.*", all));
  assert.ok(!intersects("events.acme.tasks.>", all));
  assert.ok(covers("events.*.x", "events.acme.x"));
  assert.ok(!covers("events.acme.>", "events.acme"));
});

test("token expiry is read from the JWT payload", () => {
  const body = Buffer.from(JSON.stringify({ exp: 1234 })).toString("base64url");
  assert.equal(tokenExpiry(`h.${body}.s`), 1234);
  assert.equal(tokenExpiry("nonsense"), null);
});
