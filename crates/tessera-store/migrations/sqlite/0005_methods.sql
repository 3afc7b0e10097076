-- More second-step methods: security keys and passkeys (WebAuthn), text
-- messages, the WebAuthn ceremonies and texted codes waiting for their
-- answer, and the method each account used last.
CREATE TABLE webauthn_credentials (
    id             TEXT PRIMARY KEY,
    account_id     TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    kind           TEXT NOT NULL,
    name           TEXT NOT NULL,
    credential_id  BLOB NOT NULL UNIQUE,
    credential     TEXT NOT NULL,
    counter        BIGINT NOT NULL,
    created_at     BIGINT NOT NULL,
    last_used_at   BIGINT
);
CREATE INDEX webauthn_by_account ON webauthn_credentials (account_id);

CREATE TABLE sms_phones (
    account_id  TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE sms_pending (
    account_id  TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    phone       TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

CREATE TABLE second_step_prefs (
    account_id   TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    last_method  TEXT NOT NULL
);

CREATE TABLE webauthn_ceremonies (
    key         TEXT PRIMARY KEY,
    account_id  TEXT REFERENCES accounts (id) ON DELETE CASCADE,
    purpose     TEXT NOT NULL,
    state       TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
CREATE INDEX webauthn_ceremonies_expiry ON webauthn_ceremonies (expires_at);

-- How many texts an account was sent in the current window, so a password
-- holder cannot make the server text without end (cost, harassment).
CREATE TABLE sms_send_budget (
    account_id    TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    window_start  BIGINT NOT NULL,
    sent          BIGINT NOT NULL
);

CREATE TABLE otp_codes (
    key         TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    code_mac    BLOB NOT NULL,
    sent_at     BIGINT NOT NULL,
    expires_at  BIGINT NOT NULL
);
