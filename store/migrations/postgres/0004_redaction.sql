-- Parley schema v4 (PostgreSQL): redaction reaches the channel log (docs/conversation.md).
-- Same behaviour as the SQLite migration.

-- The message a log event is about (message_posted, message_edited), so that an edit or a
-- delete can rewrite every earlier event of the message.
ALTER TABLE channel_events ADD COLUMN message_id TEXT;
UPDATE channel_events SET message_id = data->>'id'
    WHERE event IN ('message_posted', 'message_edited');
CREATE INDEX channel_events_message ON channel_events (org, message_id)
    WHERE message_id IS NOT NULL;

-- The message a share links to, so that deleting it redacts the shares' snapshots.
ALTER TABLE message_meta ADD COLUMN shared_message_id TEXT;
UPDATE message_meta SET shared_message_id = shared::jsonb->>'message_id'
    WHERE shared IS NOT NULL;
CREATE INDEX message_meta_shared ON message_meta (org, shared_message_id)
    WHERE shared_message_id IS NOT NULL;

-- What earlier versions left in the log: every event of an edited message carries its
-- current text, every event of a deleted one none.
UPDATE channel_events e SET data = jsonb_set(jsonb_set(e.data, '{text}', to_jsonb(m.text)),
        '{deleted}', to_jsonb(m.deleted))
    FROM messages m
    WHERE e.message_id IS NOT NULL AND m.org = e.org AND m.id = e.message_id
    AND (m.deleted OR m.edited_at_us IS NOT NULL);
UPDATE channel_events e SET data = jsonb_set(e.data, '{shared}', 'null'::jsonb)
    FROM messages m
    WHERE e.data ? 'shared' AND m.org = e.org AND m.id = e.message_id AND m.deleted;
UPDATE channel_events e SET data = jsonb_set(e.data, '{attachments}', '[]'::jsonb)
    FROM messages m
    WHERE e.data ? 'attachments' AND m.org = e.org AND m.id = e.message_id AND m.deleted;
