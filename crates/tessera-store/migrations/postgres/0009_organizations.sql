-- Organizations: domains they verify (the accounts whose email is in one
-- are managed by them), explicit members, invitations, and the policies
-- they set: 2SV required for managed accounts (with exclusions) and the
-- external user policy. A fresh install has one organization.
CREATE TABLE organizations (
    id                    TEXT PRIMARY KEY,
    name                  TEXT NOT NULL UNIQUE,
    created_at            BIGINT NOT NULL,
    two_step_required     BOOLEAN NOT NULL DEFAULT FALSE,
    ext_email_code        BOOLEAN NOT NULL DEFAULT FALSE,
    ext_frequency_minutes BIGINT,
    ext_api_token_access  BOOLEAN NOT NULL DEFAULT TRUE
);

CREATE TABLE org_members (
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    role        TEXT NOT NULL CHECK (role IN ('member', 'org-admin')),
    added_at    BIGINT NOT NULL,
    PRIMARY KEY (org_id, account_id)
);
CREATE INDEX org_members_by_account ON org_members (account_id);

-- A claim per organization and domain; a domain is verified by at most one
-- organization (the partial unique index decides races).
CREATE TABLE org_domains (
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    domain       TEXT NOT NULL,
    token        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    verified_at  BIGINT,
    verified_by  TEXT,
    PRIMARY KEY (org_id, domain)
);
CREATE UNIQUE INDEX org_domains_verified ON org_domains (domain) WHERE verified_at IS NOT NULL;

CREATE TABLE org_two_step_exclusions (
    org_id      TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    PRIMARY KEY (org_id, account_id)
);

CREATE TABLE org_invitations (
    id           TEXT PRIMARY KEY,
    org_id       TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email        TEXT NOT NULL,
    role         TEXT NOT NULL CHECK (role IN ('member', 'org-admin')),
    token_hash   BYTEA NOT NULL UNIQUE,
    invited_by   TEXT,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    accepted_at  BIGINT
);
CREATE INDEX org_invitations_by_org ON org_invitations (org_id);

INSERT INTO organizations (id, name, created_at)
VALUES (gen_random_uuid()::text, 'Default organization',
        (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT);
