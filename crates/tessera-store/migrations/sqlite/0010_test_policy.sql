-- The test policy of each organization: the external user policy's three
-- settings, applied instead of it to a few chosen external users (at most
-- 5: the number is tessera-core's; the store decides parallel additions
-- by locking the organization's row before it counts).
ALTER TABLE organizations ADD COLUMN test_email_code BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE organizations ADD COLUMN test_frequency_minutes BIGINT;
ALTER TABLE organizations ADD COLUMN test_api_token_access BOOLEAN NOT NULL DEFAULT TRUE;

-- A test member is an explicit member: ending the membership ends this.
CREATE TABLE org_test_members (
    org_id      TEXT NOT NULL,
    account_id  TEXT NOT NULL,
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, account_id),
    FOREIGN KEY (org_id, account_id) REFERENCES org_members (org_id, account_id) ON DELETE CASCADE
);
CREATE INDEX org_test_members_by_account ON org_test_members (account_id);
