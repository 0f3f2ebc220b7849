-- Parley schema v4 (SQLite): redaction reaches the channel log (docs/conversation.md).
-- Same behaviour as the PostgreSQL migration.

-- The message a log event is about (message_posted, message_edited), so that an edit or a
-- delete can rewrite every earlier event of the message.
ALTER TABLE channel_events ADD COLUMN message_id TEXT;
UPDATE channel_events SET message_id = json_extract(data, '$.id')
    WHERE event IN ('message_posted', 'message_edited');
CREATE INDEX channel_events_message ON channel_events (org, message_id)
    WHERE message_id IS NOT NULL;

-- The message a share links to, so that deleting it redacts the shares' snapshots.
ALTER TABLE message_meta ADD COLUMN shared_message_id TEXT;
UPDATE message_meta SET shared_message_id = json_extract(shared, '$.message_id')
    WHERE shared IS NOT NULL;
CREATE INDEX message_meta_shared ON message_meta (org, shared_message_id)
    WHERE shared_message_id IS NOT NULL;

-- What earlier versions left in the log: every event of an edited message carries its
-- current text, every event of a deleted one none.
UPDATE channel_events SET data = json_set(data,
        '$.text', (SELECT m.text FROM messages m WHERE m.org = channel_events.org
                   AND m.id = channel_events.message_id),
        '$.deleted', json((SELECT CASE WHEN m.deleted THEN 'true' ELSE 'false' END
                   FROM messages m WHERE m.org = channel_events.org
                   AND m.id = channel_events.message_id)))
    WHERE message_id IS NOT NULL AND EXISTS (SELECT 1 FROM messages m
        WHERE m.org = channel_events.org AND m.id = channel_events.message_id
        AND (m.deleted OR m.edited_at_us IS NOT NULL));
UPDATE channel_events SET data = json_set(data, '$.shared', json('null'))
    WHERE json_extract(data, '$.shared') IS NOT NULL AND EXISTS (SELECT 1 FROM messages m
        WHERE m.org = channel_events.org AND m.id = channel_events.message_id AND m.deleted);
UPDATE channel_events SET data = json_set(data, '$.attachments', json('[]'))
    WHERE json_extract(data, '$.attachments') IS NOT NULL AND EXISTS (SELECT 1 FROM messages m
        WHERE m.org = channel_events.org AND m.id = channel_events.message_id AND m.deleted);
