-- Parley schema v3 (SQLite): full-text search, attachments, link previews.
-- See docs/search.md and docs/files.md. Same behaviour as the PostgreSQL migration.

-- Names of the message's attachments, space-separated: searched with the text.
ALTER TABLE messages ADD COLUMN files_text TEXT NOT NULL DEFAULT '';

-- FTS5 index over messages (external content: the text lives in messages only); words are
-- runs of letters and digits, case-folded, accents kept (as on PostgreSQL). The
-- triggers keep it in step with every insert, edit (text or files_text) and delete, so
-- writers elsewhere never touch it.
CREATE VIRTUAL TABLE messages_fts USING fts5(
    text, files_text, content='messages', content_rowid='rowid',
    tokenize='unicode61 remove_diacritics 0'
);
INSERT INTO messages_fts (messages_fts) VALUES ('rebuild');

CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts (rowid, text, files_text)
    VALUES (new.rowid, new.text, new.files_text);
END;

CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, files_text)
    VALUES ('delete', old.rowid, old.text, old.files_text);
END;

CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, files_text ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, files_text)
    VALUES ('delete', old.rowid, old.text, old.files_text);
    INSERT INTO messages_fts (rowid, text, files_text)
    VALUES (new.rowid, new.text, new.files_text);
END;

-- An uploaded file: the bytes are in the blob store under blob_key. message_id is NULL
-- until a message carries it. Only members of channel_id may download it.
CREATE TABLE attachments (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    uploader TEXT NOT NULL,
    message_id TEXT,
    name TEXT NOT NULL,
    content_type TEXT NOT NULL,
    size INTEGER NOT NULL,
    width INTEGER,
    height INTEGER,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    created_at_us INTEGER NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX attachments_by_message ON attachments (org, message_id);

-- Link previews fetched for a message's URLs (allow-listed hosts only).
CREATE TABLE link_previews (
    org TEXT NOT NULL,
    message_id TEXT NOT NULL,
    url TEXT NOT NULL,
    title TEXT,
    description TEXT,
    image TEXT,
    fetched_at_us INTEGER NOT NULL,
    PRIMARY KEY (org, message_id, url)
);
