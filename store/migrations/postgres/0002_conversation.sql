-- Parley schema v2 (PostgreSQL): conversation features (threads, mentions, reactions, pins,
-- bookmarks, edit history, shares, teams, tasks). See docs/conversation.md.
-- No foreign keys to channels/messages: those tables are truncated alone by test suites,
-- and channels and messages are never deleted (a deleted message is a tombstone).

-- One row per message posted through the conversation layer (replies, shares).
CREATE TABLE message_meta (
    org TEXT NOT NULL,
    message_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    thread_root TEXT,
    also_in_channel BOOLEAN NOT NULL DEFAULT FALSE,
    shared TEXT,
    PRIMARY KEY (org, message_id)
);
CREATE INDEX message_meta_thread ON message_meta (org, thread_root, seq);

CREATE TABLE message_versions (
    org TEXT NOT NULL,
    message_id TEXT NOT NULL,
    version INTEGER NOT NULL,
    text TEXT NOT NULL,
    written_at_us BIGINT NOT NULL,
    replaced_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, message_id, version)
);

CREATE TABLE reactions (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    emoji TEXT NOT NULL,
    user_id TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, message_id, emoji, user_id)
);

CREATE TABLE pins (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    pinned_by TEXT NOT NULL,
    pinned_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, channel_id, message_id)
);

CREATE TABLE bookmarks (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    note TEXT,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, user_id, message_id)
);
CREATE INDEX bookmarks_by_time ON bookmarks (org, user_id, created_at_us);

CREATE TABLE thread_reads (
    org TEXT NOT NULL,
    root_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    read_seq BIGINT NOT NULL,
    PRIMARY KEY (org, root_id, user_id)
);

CREATE TABLE mentions (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    user_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    PRIMARY KEY (org, channel_id, user_id, seq)
);

CREATE TABLE teams (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    name TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE UNIQUE INDEX teams_by_name ON teams (org, name);

CREATE TABLE team_members (
    org TEXT NOT NULL,
    team_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    added_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, team_id, user_id)
);

CREATE TABLE tasks (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT NOT NULL,
    message_seq BIGINT NOT NULL,
    title TEXT NOT NULL,
    assignee TEXT,
    due_at_us BIGINT,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    completed_at_us BIGINT,
    completed_by TEXT,
    PRIMARY KEY (org, id)
);
