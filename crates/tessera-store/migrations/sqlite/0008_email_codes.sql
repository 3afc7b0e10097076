-- Emailed one-time codes (sign-in from an unknown device, step-up) live in
-- otp_codes beside texted ones; mail has its own send budget, so a code
-- mail does not use up the account's texts, nor texts its mail.
CREATE TABLE mail_send_budget (
    account_id    TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    window_start  BIGINT NOT NULL,
    sent          BIGINT NOT NULL
);
