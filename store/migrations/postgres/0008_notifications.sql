-- Parley schema: notifications (docs/notifications.md). Same on both dialects.
-- No foreign keys, as in the other conversation tables.

-- One row per notification per recipient; its delivery steps each keep a state.
-- push_state / email_state: none (not asked), pending, sending (email: claimed by a
-- digest), sent, skipped (read first, muted, do-not-disturb, no address), failed.
CREATE TABLE notifications (
    id TEXT NOT NULL PRIMARY KEY,
    org TEXT NOT NULL,
    recipient TEXT NOT NULL,
    type TEXT NOT NULL,
    priority TEXT NOT NULL,
    title TEXT NOT NULL,
    body TEXT NOT NULL,
    link TEXT NOT NULL,
    channel_id TEXT,
    actor TEXT,
    source TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    seen_at_us BIGINT,
    read_at_us BIGINT,
    archived_at_us BIGINT,
    push_state TEXT NOT NULL,
    email_state TEXT NOT NULL,
    email_due_us BIGINT,
    -- A notice's key (a reminder, a task due: docs/automation.md): stored once per
    -- recipient, however often its job runs. NULL for every other source.
    dedupe_key TEXT
);
CREATE INDEX notifications_inbox ON notifications (org, recipient, id);
CREATE UNIQUE INDEX notifications_dedupe ON notifications (org, recipient, dedupe_key)
    WHERE dedupe_key IS NOT NULL;
CREATE INDEX notifications_unread ON notifications (org, recipient) WHERE read_at_us IS NULL;
CREATE INDEX notifications_email_due ON notifications (email_due_us)
    WHERE email_state = 'pending';

-- Notifications asked for with a send_at in the future: fanned out when due.
-- state: scheduled, sent, cancelled.
CREATE TABLE scheduled_notifications (
    id TEXT NOT NULL PRIMARY KEY,
    org TEXT NOT NULL,
    created_by TEXT NOT NULL,
    request TEXT NOT NULL,
    send_at_us BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    sent_count INTEGER
);
CREATE INDEX scheduled_notifications_due ON scheduled_notifications (send_at_us)
    WHERE state = 'scheduled';

-- Rules over platform events (topic pattern, conditions, recipients, templates).
CREATE TABLE notification_rules (
    id TEXT NOT NULL PRIMARY KEY,
    org TEXT NOT NULL,
    name TEXT NOT NULL,
    spec TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    match_count BIGINT NOT NULL DEFAULT 0,
    error_count BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    last_error_at_us BIGINT
);
CREATE INDEX notification_rules_org ON notification_rules (org, id);

-- A user's preferences (level, delivery per type, do-not-disturb, as JSON).
CREATE TABLE notification_prefs (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    level TEXT NOT NULL,
    prefs TEXT NOT NULL,
    email_unsubscribed BOOLEAN NOT NULL DEFAULT FALSE,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, user_id)
);

-- Per channel: all, mentions or mute (a missing row is "default").
CREATE TABLE notification_channel_prefs (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    level TEXT NOT NULL,
    PRIMARY KEY (org, user_id, channel_id)
);
CREATE INDEX notification_channel_prefs_channel ON notification_channel_prefs (org, channel_id);

-- Words that count as a mention of the user (lower case).
CREATE TABLE notification_keywords (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    keyword TEXT NOT NULL,
    PRIMARY KEY (org, user_id, keyword)
);

-- Threads a user follows (started or replied to) or unfollowed.
CREATE TABLE thread_follows (
    org TEXT NOT NULL,
    root_id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    following BOOLEAN NOT NULL,
    PRIMARY KEY (org, root_id, user_id)
);

-- Web Push subscriptions (RFC 8030), one per browser or device.
CREATE TABLE push_subscriptions (
    id TEXT NOT NULL PRIMARY KEY,
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    p256dh TEXT NOT NULL,
    auth TEXT NOT NULL,
    created_at_us BIGINT NOT NULL
);
CREATE UNIQUE INDEX push_subscriptions_endpoint ON push_subscriptions (org, user_id, endpoint);

-- The email claim of the last token a user presented (when the profile has none).
CREATE TABLE user_emails (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    email TEXT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, user_id)
);
