-- API tokens for scripts, and what service accounts need besides the
-- `kind` column they already have. Only a token's SHA-256 is stored; the
-- unique index on it is the who-am-I lookup. Revoking deletes the row
-- (the audit log keeps the record).
ALTER TABLE accounts ADD COLUMN description TEXT;

CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    token_hash    BLOB NOT NULL UNIQUE,
    account_id    TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    label         TEXT NOT NULL,
    scopes        TEXT NOT NULL,
    created_by    TEXT,
    created_at    BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    last_used_at  BIGINT,
    last_used_ip  TEXT
);
CREATE INDEX api_tokens_by_account ON api_tokens (account_id);
