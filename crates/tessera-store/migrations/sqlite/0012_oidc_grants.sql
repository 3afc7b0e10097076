-- What the OpenID Connect provider gave each client: grants, each born
-- with an authorization code, and the refresh tokens of each grant's
-- family. Codes and refresh tokens are kept as SHA-256 only.
--
-- A grant goes with its client or its account. Its session is only
-- named, not referenced: a session that ends must not take the grant's
-- row (and the record of its revocation) with it; whether the session
-- still lives is looked up when a token is used. Single use is decided by
-- one conditional UPDATE each (`code_used_at IS NULL`, `used_at IS
-- NULL`), so of two racing redemptions exactly one wins. Refresh tokens go
-- with their grant; the sweep deletes unredeemed and long-revoked grants.
CREATE TABLE oidc_grants (
    id               TEXT PRIMARY KEY,
    code_hash        BLOB NOT NULL UNIQUE,
    client_id        TEXT NOT NULL REFERENCES oidc_clients (id) ON DELETE CASCADE,
    account_id       TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    session_id       TEXT,
    redirect_uri     TEXT NOT NULL,
    scopes           TEXT NOT NULL,
    nonce            TEXT,
    code_challenge   TEXT,
    auth_time        BIGINT NOT NULL,
    aal              TEXT NOT NULL,
    methods          TEXT NOT NULL,
    created_at       BIGINT NOT NULL,
    code_expires_at  BIGINT NOT NULL,
    code_used_at     BIGINT,
    revoked_at       BIGINT
);
-- The cascades from a client or an account find their grants by these.
CREATE INDEX oidc_grants_by_client ON oidc_grants (client_id);
CREATE INDEX oidc_grants_by_account ON oidc_grants (account_id);

CREATE TABLE oidc_refresh_tokens (
    hash        BLOB PRIMARY KEY,
    grant_id    TEXT NOT NULL REFERENCES oidc_grants (id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX oidc_refresh_tokens_by_grant ON oidc_refresh_tokens (grant_id);
