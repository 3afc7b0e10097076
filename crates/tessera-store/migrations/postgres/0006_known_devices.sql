-- Devices that signed in to an account. A client that sends back its
-- device token gets its own password-guessing budget (see the core's
-- password::throttle). Only the token's SHA-256 is stored; the primary
-- key is the only index, so a sign-in adds one entry.
CREATE TABLE known_devices (
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash  BYTEA NOT NULL,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL,
    PRIMARY KEY (account_id, token_hash)
);
