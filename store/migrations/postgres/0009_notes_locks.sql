-- Parley schema: notes (collaborative documents of a channel or a user, with versions)
-- and entity locks (advisory, org-scoped, with an expiry). See docs/notes-locks.md.
-- Same on both dialects.

-- A note belongs to a channel (channel_id) or to one user (owner); exactly one is set.
CREATE TABLE notes (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    channel_id TEXT,
    owner TEXT,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    version BIGINT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_by TEXT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX notes_channel ON notes (org, channel_id, updated_at_us);
CREATE INDEX notes_owner ON notes (org, owner, updated_at_us);

-- Every version of a note as written (version 1 is the creation); deleted with the note.
CREATE TABLE note_versions (
    org TEXT NOT NULL,
    note_id TEXT NOT NULL,
    version BIGINT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    author TEXT NOT NULL,
    at_us BIGINT NOT NULL,
    PRIMARY KEY (org, note_id, version)
);

-- One holder per (org, entity); a row whose expires_at_us has passed is free to take.
CREATE TABLE entity_locks (
    org TEXT NOT NULL,
    entity TEXT NOT NULL,
    holder TEXT NOT NULL,
    acquired_at_us BIGINT NOT NULL,
    expires_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, entity)
);
CREATE INDEX entity_locks_expiry ON entity_locks (expires_at_us);
CREATE INDEX entity_locks_holder ON entity_locks (org, holder);
