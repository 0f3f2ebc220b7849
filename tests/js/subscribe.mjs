// A third-party graphql-transport-ws client (the graphql-ws library) against Parley:
// node subscribe.mjs <ws url> <token> <channel id> <events wanted>
// Prints one JSON line per message: {"ready": true} once the subscription is live, then
// {"next": payload} per event, then {"done": true} after unsubscribing (complete).
import { createClient } from "graphql-ws";
import WebSocket from "ws";

const [url, token, channel, wanted] = process.argv.slice(2);
const client = createClient({
  url,
  webSocketImpl: WebSocket,
  connectionParams: { authorization: `Bearer ${token}` },
  lazy: true,
  retryAttempts: 0,
});
const print = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
let seen = 0;
const stop = client.subscribe(
  {
    query: "subscription($c: ID!) { channelEvents(channel: $c) { seq event data } }",
    variables: { c: channel },
  },
  {
    next: (value) => {
      print({ next: value });
      seen += 1;
      if (seen >= Number(wanted)) {
        stop(); // sends complete
        client.dispose().then(() => print({ done: true }));
      }
    },
    error: (err) => {
      print({ error: String(err?.message ?? err?.reason ?? err) });
      process.exit(1);
    },
    complete: () => {},
  },
);
// Messages are handled in order: once this query is answered the subscription is live.
const ready = client.iterate({ query: "{ me { userId } }" });
for await (const result of ready) {
  print({ ready: true, me: result.data.me.userId });
}
