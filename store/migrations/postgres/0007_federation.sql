-- Parley schema: federation bridges (docs/federation.md). Same on both dialects.

-- A channel linked by its org to one remote room: a Matrix room (id or alias) or an
-- XMPP MUC (JID). A remote room is linked to one channel at most, so no room ever
-- bridges two channels (or two orgs). ``relayed_seq`` is the outbox cursor: the last
-- channel-log seq relayed (or skipped) to the remote side; the log after it is what
-- is still to go, so nothing committed is lost across a restart.
CREATE TABLE federation_links (
    id TEXT PRIMARY KEY,
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    network TEXT NOT NULL,
    remote TEXT NOT NULL,
    room_id TEXT,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    relayed_seq BIGINT NOT NULL,
    dropped BIGINT NOT NULL DEFAULT 0,
    UNIQUE (org, channel_id, network)
);
CREATE UNIQUE INDEX federation_links_remote ON federation_links (network, remote);

-- Idempotency both ways: a remote event or stanza id and the Parley message it is.
-- ``direction`` 'in': the message came from the remote side (never relayed back);
-- 'out': Parley's message, relayed. ``kind`` 'message' or 'reaction' (then ``actor``
-- and ``emoji`` name the reaction, so that its redaction can be undone here).
CREATE TABLE federation_events (
    link_id TEXT NOT NULL,
    remote_id TEXT NOT NULL,
    org TEXT NOT NULL,
    message_id TEXT NOT NULL,
    direction TEXT NOT NULL,
    kind TEXT NOT NULL,
    actor TEXT,
    emoji TEXT,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (link_id, remote_id)
);
CREATE INDEX federation_events_message ON federation_events (org, message_id);

-- Remote participants of a linked channel, as Parley shows them.
CREATE TABLE federation_members (
    link_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    network TEXT NOT NULL,
    remote_user TEXT NOT NULL,
    display_name TEXT NOT NULL,
    origin TEXT NOT NULL,
    last_seen_us BIGINT NOT NULL,
    PRIMARY KEY (link_id, user_id)
);
CREATE INDEX federation_members_channel ON federation_members (org, channel_id);

-- Matrix application-service transactions already applied (homeservers redeliver).
CREATE TABLE federation_transactions (
    network TEXT NOT NULL,
    txn_id TEXT NOT NULL,
    received_at_us BIGINT NOT NULL,
    PRIMARY KEY (network, txn_id)
);
