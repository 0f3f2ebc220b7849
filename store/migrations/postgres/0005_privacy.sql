-- Parley schema v5 (postgres): privacy controls (docs/privacy.md): blocks, account deletion,
-- retention. Same behaviour as the other dialect's migration.

-- Who blocked whom in an org. Private to the blocker: never shown to anyone else.
CREATE TABLE blocks (
    org TEXT NOT NULL,
    blocker TEXT NOT NULL,
    blocked TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, blocker, blocked)
);
CREATE INDEX blocks_by_blocked ON blocks (org, blocked);

-- Deleted accounts: their tokens are refused from deleted_at_us on. completed_at_us is
-- set once everything of the account is erased (a deletion interrupted by a crash is
-- finished by the accounts background task).
CREATE TABLE deleted_accounts (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    actor TEXT NOT NULL,
    deleted_at_us BIGINT NOT NULL,
    completed_at_us BIGINT,
    PRIMARY KEY (org, user_id)
);

-- Retention periods: channel_id '' is the org's period; a channel's own applies when
-- shorter (docs/privacy.md).
CREATE TABLE retention (
    org TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    seconds BIGINT NOT NULL,
    actor TEXT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, channel_id)
);

-- An author's messages (account deletion, export) and a channel's messages by age
-- (retention), live ones only.
CREATE INDEX messages_by_author ON messages (org, author, seq) WHERE deleted = FALSE;
CREATE INDEX messages_by_age ON messages (org, channel_id, created_at_us) WHERE deleted = FALSE;
CREATE INDEX attachments_by_uploader ON attachments (org, uploader);
CREATE INDEX reactions_by_user ON reactions (org, user_id);
