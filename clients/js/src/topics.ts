/** Topic patterns (docs/protocol.md, Topics): `*` one segment, `>` one or more trailing. */

/** Whether some topic matches both patterns. */
export function intersects(a: string, b: string): boolean {
  return inter(a.split("."), 0, b.split("."), 0);
}

function inter(a: string[], i: number, b: string[], j: number): boolean {
  if (i === a.length && j === b.length) return true;
  if (i < a.length && a[i] === ">") return j < b.length;
  if (j < b.length && b[j] === ">") return i < a.length;
  if (i === a.length || j === b.length) return false;
  if (a[i] === "*" || b[j] === "*" || a[i] === b[j]) return inter(a, i + 1, b, j + 1);
  return false;
}

/** Whether every topic matching `inner` also matches `outer`. */
export function covers(outer: string, inner: string): boolean {
  const o = outer.split(".");
  const n = inner.split(".");
  for (let i = 0; i < o.length; i++) {
    const seg = o[i];
    if (seg === ">") return n.length > i;
    const s = n[i];
    if (s === undefined || s === ">") return false;
    if (seg !== "*" && seg !== s) return false;
  }
  return o.length === n.length;
}

/** Every topic a channel's log events are published on. */
export function channelTopics(org: string, channel = "*"): string {
  return `events.${org}.conversations.conversation.*.${channel}`;
}

/** Whether `topic` matches `pattern`. */
export function matches(pattern: string, topic: string): boolean {
  return covers(pattern, topic);
}
