-- Accounts, sessions and the audit log. Timestamps are Unix milliseconds.
CREATE TABLE accounts (
    id                      TEXT PRIMARY KEY,
    email                   TEXT NOT NULL UNIQUE,
    display_name            TEXT NOT NULL,
    kind                    TEXT NOT NULL CHECK (kind IN ('human', 'service')),
    role                    TEXT NOT NULL CHECK (role IN ('member', 'org-admin', 'sysadmin')),
    active                  BOOLEAN NOT NULL DEFAULT TRUE,
    password_hash           TEXT,
    break_glass_hash        TEXT,
    break_glass_expires_at  BIGINT,
    created_at              BIGINT NOT NULL,
    updated_at              BIGINT NOT NULL
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    client        TEXT NOT NULL,
    aal           TEXT NOT NULL,
    methods       TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    verified_at   BIGINT NOT NULL,
    last_seen_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    ip            TEXT,
    device        TEXT NOT NULL
);
CREATE INDEX sessions_by_account ON sessions (account_id);
CREATE INDEX sessions_by_expiry ON sessions (expires_at);

CREATE TABLE audit_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    at          BIGINT NOT NULL,
    kind        TEXT NOT NULL,
    actor_id    TEXT,
    subject_id  TEXT,
    ip          TEXT,
    detail      TEXT NOT NULL
);
CREATE INDEX audit_by_subject ON audit_events (subject_id, id);
CREATE INDEX audit_by_kind ON audit_events (kind, id);
