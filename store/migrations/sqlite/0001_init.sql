-- Parley schema v1 (SQLite). Instants are INTEGER microseconds since the Unix epoch, UTC.
-- Every table carries org: every query is tenant-scoped.

CREATE TABLE channels (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    topic TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    member_count INTEGER NOT NULL DEFAULT 0,
    last_seq INTEGER NOT NULL DEFAULT 0,
    last_activity_us INTEGER NOT NULL,
    -- direct channels only: JSON array of the sorted pair; one direct channel per pair
    direct_key TEXT,
    PRIMARY KEY (org, id)
);
CREATE UNIQUE INDEX channels_direct_key ON channels (org, direct_key);

CREATE TABLE members (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    role TEXT NOT NULL,
    joined_at_us INTEGER NOT NULL,
    read_seq INTEGER NOT NULL DEFAULT 0,
    read_at_us INTEGER,
    PRIMARY KEY (org, channel_id, user_id),
    FOREIGN KEY (org, channel_id) REFERENCES channels (org, id) ON DELETE CASCADE
);
CREATE INDEX members_by_user ON members (org, user_id);
CREATE INDEX members_by_joined ON members (org, channel_id, joined_at_us, user_id);

CREATE TABLE messages (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    edited_at_us INTEGER,
    deleted BOOLEAN NOT NULL DEFAULT FALSE,
    idempotency_key TEXT,
    PRIMARY KEY (org, channel_id, seq),
    FOREIGN KEY (org, channel_id) REFERENCES channels (org, id) ON DELETE CASCADE
);
CREATE UNIQUE INDEX messages_by_id ON messages (id);
CREATE UNIQUE INDEX messages_idempotency ON messages (org, channel_id, author, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- The channel log: every event that took a seq, in the shape the broker publishes.
CREATE TABLE channel_events (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    event TEXT NOT NULL,
    data TEXT NOT NULL,
    ts_us INTEGER NOT NULL,
    actor TEXT NOT NULL,
    PRIMARY KEY (org, channel_id, seq),
    FOREIGN KEY (org, channel_id) REFERENCES channels (org, id) ON DELETE CASCADE
);

CREATE TABLE profiles (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    display_name TEXT,
    avatar_url TEXT,
    updated_at_us INTEGER,
    PRIMARY KEY (org, user_id)
);
