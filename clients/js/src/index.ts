/** Parley's JavaScript SDK: `ParleyClient` (WebSocket, reconnect, resume) and
 * `ParleyRest` (the REST API). See docs/clients.md. */

export { ParleyClient, MAX_SINCE_CHANNELS, MAX_SINCE_ENTRIES, type ClientOptions } from "./client.js";
export { ParleyRest, newKey, type Channel, type Message, type Page, type RestOptions, type RequestOptions } from "./rest.js";
export { ParleyError } from "./errors.js";
export { Backoff, BACKOFF_FLOOR_MS, CloseCode, closeAction, type BackoffOptions } from "./codes.js";
export { SeqTracker, type Gap, type Accepted } from "./seqs.js";
export { TokenSource, tokenExpiry, type TokenProvider } from "./token.js";
export { Emitter, type Listener } from "./emitter.js";
export { covers, intersects, matches, channelTopics } from "./topics.js";
export type * from "./types.js";
