-- Every index is a page write in every sign-in's commit; keep only those
-- that a query needs.
-- The session sweep filters on expires_at OR last_seen_at, which no single
-- index serves.
DROP INDEX IF EXISTS sessions_by_expiry;
-- Audit queries by kind are rare admin reads; they can afford a scan of
-- the newest events, sign-ins cannot afford the extra write.
DROP INDEX IF EXISTS audit_by_kind;
