/** Topic patterns (docs/protocol.md, Topics): `*` one segment, `>` one or more trailing. */
/** Whether some topic matches both patterns. */
export declare function intersects(a: string, b: string): boolean;
/** Whether every topic matching `inner` also matches `outer`. */
export declare function covers(outer: string, inner: string): boolean;
/** Every topic a channel's log events are published on. */
export declare function channelTopics(org: string, channel?: string): string;
/** Whether `topic` matches `pattern`. */
export declare function matches(pattern: string, topic: string): boolean;
