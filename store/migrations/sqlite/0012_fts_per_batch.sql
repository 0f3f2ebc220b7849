-- Parley schema v12 (SQLite): full-text indexing once per write batch, not per row.
-- A new message's rowid is noted in messages_fts_pending by its insert trigger; the writer
-- indexes every noted row with one INSERT ... SELECT just before the batch commits (in the
-- same transaction, so a reader never sees a message the index lacks) and empties the
-- table. FTS5 takes rows in bulk at a fraction of its per-row cost (docs/storage.md).
-- Edits and deletes of a row still pending touch only the pending note: the index gets the
-- row's final text at the flush.

CREATE TABLE messages_fts_pending (msg_rowid INTEGER PRIMARY KEY);

DROP TRIGGER messages_fts_insert;
CREATE TRIGGER messages_fts_insert AFTER INSERT ON messages BEGIN
    INSERT INTO messages_fts_pending (msg_rowid) VALUES (new.rowid);
END;

DROP TRIGGER messages_fts_delete;
CREATE TRIGGER messages_fts_delete AFTER DELETE ON messages BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, files_text)
    SELECT 'delete', old.rowid, old.text, old.files_text
    WHERE NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE msg_rowid = old.rowid);
    DELETE FROM messages_fts_pending WHERE msg_rowid = old.rowid;
END;

DROP TRIGGER messages_fts_update;
CREATE TRIGGER messages_fts_update AFTER UPDATE OF text, files_text ON messages
WHEN NOT EXISTS (SELECT 1 FROM messages_fts_pending WHERE msg_rowid = old.rowid) BEGIN
    INSERT INTO messages_fts (messages_fts, rowid, text, files_text)
    VALUES ('delete', old.rowid, old.text, old.files_text);
    INSERT INTO messages_fts (rowid, text, files_text)
    VALUES (new.rowid, new.text, new.files_text);
END;
