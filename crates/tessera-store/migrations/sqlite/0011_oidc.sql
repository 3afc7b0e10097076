-- The OpenID Connect provider: its signing keys and the relying
-- applications registered with it.
--
-- A key's private half is sealed with the server's secret key (bound to
-- its kid); its public JWK is stored in clear, as it is published. The
-- partial unique index allows one active key per algorithm, so two nodes
-- rotating at once cannot both succeed. Retired keys stay until every
-- token they signed has expired (tessera-core decides when).
CREATE TABLE oidc_signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    public_jwk      TEXT NOT NULL,
    sealed_private  BLOB NOT NULL,
    created_at      BIGINT NOT NULL,
    retired_at      BIGINT
);
CREATE UNIQUE INDEX oidc_signing_keys_one_active
    ON oidc_signing_keys (alg) WHERE retired_at IS NULL;

-- A confidential client's secret is kept as SHA-256 (like an API token);
-- a public client has none. URI lists and scopes are space-separated
-- (neither may contain a space).
CREATE TABLE oidc_clients (
    id                         TEXT PRIMARY KEY,
    name                       TEXT NOT NULL,
    redirect_uris              TEXT NOT NULL,
    post_logout_redirect_uris  TEXT NOT NULL,
    is_public                  BOOLEAN NOT NULL,
    first_party                BOOLEAN NOT NULL,
    scopes                     TEXT NOT NULL,
    secret_hash                BLOB,
    created_by                 TEXT,
    created_at                 BIGINT NOT NULL,
    updated_at                 BIGINT NOT NULL
);
