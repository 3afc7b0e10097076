-- Devices that signed in to an account. A client that sends back its
-- device token gets its own password-guessing budget (see the core's
-- password::throttle). Only the token's SHA-256 is stored.
CREATE TABLE known_devices (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    token_hash  BLOB NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX known_devices_by_account ON known_devices (account_id);
