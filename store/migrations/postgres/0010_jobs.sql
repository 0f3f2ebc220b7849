-- Parley: persisted jobs and what runs on them (docs/automation.md): scheduled messages,
-- reminders, outgoing webhooks and bots. Same on both dialects.

-- One row per job; (kind, job_key) is unique, so scheduling the same job twice is one job.
-- state: pending (waits for run_at) -> running (claimed by one node until claimed_until;
-- an expired lease makes it claimable again) -> done | failed | cancelled.
CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    job_key TEXT NOT NULL,
    org TEXT NOT NULL,
    run_at_us BIGINT NOT NULL,
    payload TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT,
    claimed_by TEXT,
    claimed_until_us BIGINT,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    UNIQUE (kind, job_key)
);
CREATE INDEX jobs_due ON jobs (run_at_us) WHERE state = 'pending';
CREATE INDEX jobs_leased ON jobs (claimed_until_us) WHERE state = 'running';
CREATE INDEX jobs_finished ON jobs (updated_at_us) WHERE state IN ('done', 'failed', 'cancelled');

-- "Send later": posted once at send_at through the post pipeline (job kind scheduled_message).
-- state: scheduled -> sent | cancelled | failed.
CREATE TABLE scheduled_messages (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    author TEXT NOT NULL,
    text TEXT NOT NULL,
    thread_root TEXT,
    send_at_us BIGINT NOT NULL,
    state TEXT NOT NULL,
    message_id TEXT,
    error TEXT,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX scheduled_messages_author ON scheduled_messages (org, author, send_at_us);

-- Reminders of one user: on a message (kind message) or of a task's due time (kind task).
-- state: pending -> fired | cancelled.
CREATE TABLE reminders (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    user_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    channel_id TEXT NOT NULL,
    message_id TEXT,
    task_id TEXT,
    note TEXT,
    remind_at_us BIGINT NOT NULL,
    state TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX reminders_user ON reminders (org, user_id, remind_at_us);

-- Outgoing webhooks of an org: events whose topic matches one of the patterns (JSON list)
-- are POSTed to url, signed with secret. Disabled after max consecutive failures.
CREATE TABLE webhooks (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    url TEXT NOT NULL,
    secret TEXT NOT NULL,
    patterns TEXT NOT NULL,
    enabled BOOLEAN NOT NULL,
    failures INTEGER NOT NULL DEFAULT 0,
    disabled_reason TEXT,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, id)
);

-- The delivery log: one row per event per webhook (bots' deliveries too, webhook_id = the
-- bot's user id with kind bot). state: pending -> delivered | failed.
CREATE TABLE webhook_deliveries (
    org TEXT NOT NULL,
    id TEXT NOT NULL,
    webhook_id TEXT NOT NULL,
    topic TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    status_code INTEGER,
    error TEXT,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, id)
);
CREATE INDEX webhook_deliveries_hook ON webhook_deliveries (org, webhook_id, created_at_us);

-- Bots: users with bot = true, their auto-respond setting and where to send what they answer.
CREATE TABLE bots (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    webhook_url TEXT NOT NULL,
    secret TEXT NOT NULL,
    auto_respond TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at_us BIGINT NOT NULL,
    updated_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, user_id)
);
