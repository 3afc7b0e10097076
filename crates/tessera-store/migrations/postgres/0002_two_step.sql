-- Two-step verification: authenticator apps, recovery keys, the backoff
-- limiter, sign-in flows waiting for a second step, the notification
-- outbox, and the key check for secrets at rest.
ALTER TABLE sessions ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE;

CREATE TABLE totp_credentials (
    account_id     TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed_secret  BYTEA NOT NULL,
    last_step      BIGINT NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE totp_pending (
    account_id     TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    sealed_secret  BYTEA NOT NULL,
    created_at     BIGINT NOT NULL
);

CREATE TABLE recovery_keys (
    account_id  TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    key_hash    TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE limiter (
    key            TEXT PRIMARY KEY,
    failures       BIGINT NOT NULL DEFAULT 0,
    pending        BIGINT NOT NULL DEFAULT 0,
    lease_until    BIGINT NOT NULL DEFAULT 0,
    block_ms       BIGINT NOT NULL DEFAULT 0,
    blocked_until  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE signin_flows (
    id_hash       BYTEA PRIMARY KEY,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client        TEXT NOT NULL,
    binding       BYTEA NOT NULL,
    first_method  TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL
);

CREATE TABLE outbox (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    channel          TEXT NOT NULL,
    recipient        TEXT NOT NULL,
    subject          TEXT NOT NULL,
    body             TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    attempts         BIGINT NOT NULL DEFAULT 0,
    next_attempt_at  BIGINT NOT NULL,
    delivered_at     BIGINT,
    last_error       TEXT
);
CREATE INDEX outbox_due ON outbox (delivered_at, next_attempt_at);
CREATE INDEX outbox_by_recipient ON outbox (recipient, id);

CREATE TABLE key_check (
    id      BIGINT PRIMARY KEY CHECK (id = 1),
    canary  BYTEA NOT NULL
);
