-- Parley schema v6: idempotency keys of REST requests (docs/rest.md, Idempotency-Key).
-- Same on both dialects.

-- One row per (org, user, key): claimed when the first request with the key starts
-- (status NULL), completed with the response to replay. Rows expire after a day.
CREATE TABLE idempotency_keys (
    org TEXT NOT NULL,
    user_id TEXT NOT NULL,
    key TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    status INTEGER,
    content_type TEXT,
    body TEXT,
    created_at_us BIGINT NOT NULL,
    PRIMARY KEY (org, user_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at_us);
