-- Parley schema v3 (PostgreSQL): full-text search, attachments, link previews.
-- See docs/search.md and docs/files.md. Same behaviour as the SQLite migration.

-- Names of the message's attachments, space-separated: searched with the text.
ALTER TABLE messages ADD COLUMN files_text TEXT NOT NULL DEFAULT '';

-- A generated tsvector and its GIN index: edits and deletes of messages.text update it
-- with the row, so writers elsewhere never touch it. Words are runs of letters and digits
-- plus combining accents U+0300-U+036F (everything else is a separator), lower-cased, no
-- stemming: the 'simple' configuration over the text with the rest blanked tokenizes like
-- SQLite's unicode61 (store/search.py splits queries the same way).
ALTER TABLE messages ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', regexp_replace(text, E'[^[:alnum:]\\u0300-\\u036f]+', ' ', 'g')), 'A')
    || setweight(
        to_tsvector('simple', regexp_replace(files_text, E'[^[:alnum:]\\u0300-\\u036f]+', ' ', 'g')), 'B'
    )
) STORED;
CREATE INDEX messages_search ON messages USING GIN (search);

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
    size BIGINT NOT NULL,
    width INTEGER,
    height INTEGER,
    sha256 TEXT NOT NULL,
    blob_key TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
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
    fetched_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, message_id, url)
);
