-- Parley: the node registry (docs/cluster.md). Same on both dialects.

-- One row per running node: it registers at start, beats every node_heartbeat seconds
-- and removes itself at a graceful stop. A node whose heartbeat is older than three
-- intervals is dead (killed); a live node with no bus on a database another live node
-- uses refuses to start. ``identity`` is where and how the node runs (host, data dir,
-- ports): a node restarted after a kill replaces its own earlier row.
CREATE TABLE nodes (
    node_id TEXT PRIMARY KEY,
    identity TEXT NOT NULL,
    host TEXT NOT NULL,
    bus INTEGER NOT NULL,
    started_at_us BIGINT NOT NULL,
    heartbeat_at_us BIGINT NOT NULL
);
