//! An organization's test policy and the export of its external users, in
//! SQL both backends accept.
//!
//! The test policy's limit is a count, which no constraint can hold under
//! parallel inserts, so every write to the member list first updates the
//! organization's row: PostgreSQL then runs those transactions one after
//! the other (the row lock), and each counts what the previous committed;
//! SQLite has one writer at a time anyway.
//!
//! The export reads one page at a time by keyset (`account_id > last`),
//! along the `org_members` primary key, so each page costs the same however
//! deep into 100,000 users it is.

macro_rules! org_test_store {
    ($store:ident, $db:ty) => {
        mod org_test_impl {
            use super::$store;
            use super::orgs_impl::{SESSION_COLS_BARE, managed_by, policy_at};
            use super::store_impl::{account_at, session_at};
            use crate::error::{corrupt, map_err};
            use crate::sql_impl::ACCOUNT_COLS;
            use async_trait::async_trait;
            use sqlx::Row;
            use std::collections::HashMap;
            use tessera_core::account::Account;
            use tessera_core::clock::Timestamp;
            use tessera_core::ids::{AccountId, OrganizationId};
            use tessera_core::org::{AppliedPolicy, ExternalPolicy};
            use tessera_core::org_export::ExternalUserRow;
            use tessera_core::session::Session;
            use tessera_core::store::{OrgTestStore, StoreError, TestMemberAdded};
            use tessera_core::twostep::methods::MethodKind;

            /// Whether `$2` is an external user of organization `$1`.
            fn is_external() -> String {
                format!(
                    "EXISTS (SELECT 1 FROM org_members m JOIN accounts a ON a.id = m.account_id \
                     WHERE m.org_id = $1 AND m.account_id = $2 AND NOT {})",
                    managed_by("m.org_id")
                )
            }

            /// The test policy's members that are external users of `$1`.
            fn test_external() -> String {
                format!(
                    "SELECT t.account_id FROM org_test_members t JOIN accounts a ON a.id = t.account_id \
                     WHERE t.org_id = $1 AND NOT {}",
                    managed_by("t.org_id")
                )
            }

            /// Locks the organization's row until the transaction ends
            /// (a write that changes nothing); false if there is none.
            async fn lock_org(
                tx: &mut sqlx::Transaction<'_, $db>,
                org: OrganizationId,
            ) -> Result<bool, StoreError> {
                let r = sqlx::query(
                    "UPDATE organizations SET test_email_code = test_email_code WHERE id = $1",
                )
                .bind(org.to_string())
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            const EXT_COLS: &str = "ext_email_code, ext_frequency_minutes, ext_api_token_access";

            #[async_trait]
            impl OrgTestStore for $store {
                async fn test_members(&self, org: OrganizationId) -> Result<Vec<Account>, StoreError> {
                    let sql = format!(
                        "SELECT {ACCOUNT_COLS} FROM accounts a JOIN org_test_members t \
                         ON t.account_id = a.id WHERE t.org_id = $1 ORDER BY a.email"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| account_at(r, 0)).collect()
                }

                async fn set_test_policy(
                    &self,
                    org: OrganizationId,
                    p: &ExternalPolicy,
                    members: Option<&[AccountId]>,
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let outcome = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let updated = sqlx::query(
                            "UPDATE organizations SET test_email_code = $2, test_frequency_minutes = $3, \
                             test_api_token_access = $4 WHERE id = $1",
                        )
                        .bind(org.to_string())
                        .bind(p.email_code)
                        .bind(p.frequency_minutes.map(i64::from))
                        .bind(p.api_token_access)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if updated.rows_affected() != 1 {
                            return Ok(false);
                        }
                        let Some(members) = members else {
                            tx.commit().await.map_err(map_err)?;
                            return Ok(true);
                        };
                        sqlx::query("DELETE FROM org_test_members WHERE org_id = $1")
                            .bind(org.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        let insert = format!(
                            "INSERT INTO org_test_members (org_id, account_id, added_at) \
                             SELECT $1, $2, $3 WHERE {}",
                            is_external()
                        );
                        for a in members {
                            let r = sqlx::query(sqlx::AssertSqlSafe(insert.clone()))
                                .bind(org.to_string())
                                .bind(a.to_string())
                                .bind(now.millis())
                                .execute(&mut *tx)
                                .await
                                .map_err(map_err)?;
                            if r.rows_affected() != 1 {
                                // Dropping the transaction rolls it back.
                                return Ok(false);
                            }
                        }
                        tx.commit().await.map_err(map_err)?;
                        Ok(true)
                    }
                    .await;
                    self.forget_all().await;
                    outcome
                }

                async fn add_test_member(
                    &self,
                    org: OrganizationId,
                    account: AccountId,
                    limit: usize,
                    now: Timestamp,
                ) -> Result<TestMemberAdded, StoreError> {
                    let outcome = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        if !lock_org(&mut tx, org).await? {
                            return Ok(TestMemberAdded::NotExternal);
                        }
                        let limit = i64::try_from(limit).map_err(|e| corrupt("limit", e))?;
                        // Counted after the lock: sees every addition committed before.
                        let sql = format!(
                            "INSERT INTO org_test_members (org_id, account_id, added_at) \
                             SELECT $1, $2, $3 WHERE {} \
                             AND (SELECT COUNT(*) FROM org_test_members c WHERE c.org_id = $1) < $4 \
                             ON CONFLICT (org_id, account_id) DO NOTHING",
                            is_external()
                        );
                        let r = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(org.to_string())
                            .bind(account.to_string())
                            .bind(now.millis())
                            .bind(limit)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if r.rows_affected() == 1 {
                            tx.commit().await.map_err(map_err)?;
                            return Ok(TestMemberAdded::Added);
                        }
                        // Why not: told apart inside the same transaction.
                        let sql = format!(
                            "SELECT EXISTS (SELECT 1 FROM org_test_members WHERE org_id = $1 AND account_id = $2), {}",
                            is_external()
                        );
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(org.to_string())
                            .bind(account.to_string())
                            .fetch_one(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        let (already, external): (bool, bool) = (
                            row.try_get(0).map_err(map_err)?,
                            row.try_get(1).map_err(map_err)?,
                        );
                        Ok(if already {
                            TestMemberAdded::AlreadyMember
                        } else if !external {
                            TestMemberAdded::NotExternal
                        } else {
                            TestMemberAdded::Full
                        })
                    }
                    .await;
                    self.forget_account(account).await;
                    outcome
                }

                async fn remove_test_member(
                    &self,
                    org: OrganizationId,
                    account: AccountId,
                ) -> Result<bool, StoreError> {
                    let r = sqlx::query("DELETE FROM org_test_members WHERE org_id = $1 AND account_id = $2")
                        .bind(org.to_string())
                        .bind(account.to_string())
                        .execute(&self.pool)
                        .await;
                    self.forget_account(account).await;
                    Ok(r.map_err(map_err)?.rows_affected() == 1)
                }

                async fn roll_out_test_policy(
                    &self,
                    org: OrganizationId,
                ) -> Result<Option<(ExternalPolicy, ExternalPolicy)>, StoreError> {
                    let outcome = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        if !lock_org(&mut tx, org).await? {
                            return Ok(None);
                        }
                        let before = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "SELECT {EXT_COLS} FROM organizations WHERE id = $1"
                        )))
                        .bind(org.to_string())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        let after = sqlx::query(sqlx::AssertSqlSafe(format!(
                            "UPDATE organizations SET ext_email_code = test_email_code, \
                             ext_frequency_minutes = test_frequency_minutes, \
                             ext_api_token_access = test_api_token_access WHERE id = $1 RETURNING {EXT_COLS}"
                        )))
                        .bind(org.to_string())
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        let changed = (policy_at(&before, 0)?, policy_at(&after, 0)?);
                        tx.commit().await.map_err(map_err)?;
                        Ok(Some(changed))
                    }
                    .await;
                    self.forget_all().await;
                    outcome
                }

                async fn test_web_sessions(&self, org: OrganizationId) -> Result<Vec<Session>, StoreError> {
                    let sql = format!(
                        "SELECT {SESSION_COLS_BARE} FROM sessions WHERE client = 'web' AND account_id IN ({})",
                        test_external()
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| session_at(r, 0)).collect()
                }

                async fn reset_test_web_sessions(
                    &self,
                    org: OrganizationId,
                ) -> Result<Vec<Session>, StoreError> {
                    let sql = format!(
                        "DELETE FROM sessions WHERE client = 'web' AND account_id IN ({}) \
                         RETURNING {SESSION_COLS_BARE}",
                        test_external()
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await;
                    // Every node drops what it cached, ended sessions included.
                    self.forget_all().await;
                    rows.map_err(map_err)?.iter().map(|r| session_at(r, 0)).collect()
                }

                async fn count_external_users(&self, org: OrganizationId) -> Result<u64, StoreError> {
                    let sql = format!(
                        "SELECT COUNT(*) FROM org_members m JOIN accounts a ON a.id = m.account_id \
                         WHERE m.org_id = $1 AND NOT {}",
                        managed_by("m.org_id")
                    );
                    let n: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    u64::try_from(n).map_err(|e| corrupt("count", e))
                }

                async fn external_users_page(
                    &self,
                    org: OrganizationId,
                    after: Option<AccountId>,
                    limit: u32,
                    now: Timestamp,
                ) -> Result<Vec<ExternalUserRow>, StoreError> {
                    let sql = format!(
                        "SELECT a.id, a.email, a.display_name, \
                         (SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.account_id = a.id), \
                         (SELECT MAX(k.last_used_at) FROM api_tokens k WHERE k.account_id = a.id), \
                         (SELECT MAX(e.at) FROM audit_events e WHERE e.subject_id = a.id \
                          AND e.kind = 'signin.succeeded'), \
                         EXISTS (SELECT 1 FROM totp_credentials c WHERE c.account_id = a.id), \
                         EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.account_id = a.id \
                                 AND w.kind = 'security_key'), \
                         EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.account_id = a.id \
                                 AND w.kind = 'passkey'), \
                         EXISTS (SELECT 1 FROM sms_phones p WHERE p.account_id = a.id), \
                         (SELECT COUNT(*) FROM api_tokens k WHERE k.account_id = a.id AND k.expires_at > $3), \
                         EXISTS (SELECT 1 FROM org_test_members t WHERE t.org_id = m.org_id \
                                 AND t.account_id = m.account_id) \
                         FROM org_members m JOIN accounts a ON a.id = m.account_id \
                         WHERE m.org_id = $1 AND m.account_id > $2 AND NOT {} \
                         ORDER BY m.account_id LIMIT $4",
                        managed_by("m.org_id")
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .bind(after.map(|a| a.to_string()).unwrap_or_default())
                        .bind(now.millis())
                        .bind(i64::from(limit))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let mut page = Vec::with_capacity(rows.len());
                    for r in &rows {
                        let id: String = r.try_get(0).map_err(map_err)?;
                        let last_active = [3, 4, 5]
                            .into_iter()
                            .map(|i| r.try_get::<Option<i64>, _>(i).map_err(map_err))
                            .collect::<Result<Vec<_>, _>>()?
                            .into_iter()
                            .flatten()
                            .max()
                            .map(Timestamp);
                        let mut methods = Vec::new();
                        for (i, kind) in [
                            (6, MethodKind::Totp),
                            (7, MethodKind::SecurityKey),
                            (8, MethodKind::Passkey),
                            (9, MethodKind::Sms),
                        ] {
                            if r.try_get::<bool, _>(i).map_err(map_err)? {
                                methods.push(kind);
                            }
                        }
                        let tokens: i64 = r.try_get(10).map_err(map_err)?;
                        page.push(ExternalUserRow {
                            account_id: id.parse().map_err(|e| corrupt("account id", e))?,
                            email: r.try_get(1).map_err(map_err)?,
                            display_name: r.try_get(2).map_err(map_err)?,
                            organizations: Vec::new(),
                            last_active,
                            methods,
                            api_tokens: u64::try_from(tokens).map_err(|e| corrupt("count", e))?,
                            policy: if r.try_get::<bool, _>(11).map_err(map_err)? {
                                AppliedPolicy::Test
                            } else {
                                AppliedPolicy::External
                            },
                        });
                    }
                    let (Some(first), Some(last)) = (page.first(), page.last()) else {
                        return Ok(page);
                    };
                    // The page's organizations, in one query over the same
                    // id range: explicit memberships and managing domains.
                    // Driven from the range of `org_members` (an index
                    // range); an `IN (…)` over it let SQLite scan every
                    // account per page once a domain was verified.
                    let in_page = "p.org_id = $1 AND p.account_id >= $2 AND p.account_id <= $3";
                    let sql = format!(
                        "SELECT p.account_id, o.name FROM org_members p \
                         JOIN org_members x ON x.account_id = p.account_id \
                         JOIN organizations o ON o.id = x.org_id WHERE {in_page} \
                         UNION SELECT p.account_id, o.name FROM org_members p \
                         JOIN accounts a ON a.id = p.account_id \
                         JOIN org_domains d ON d.verified_at IS NOT NULL AND a.kind = 'human' \
                         AND a.email LIKE ('%@' || d.domain) \
                         JOIN organizations o ON o.id = d.org_id WHERE {in_page}"
                    );
                    let names = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .bind(first.account_id.to_string())
                        .bind(last.account_id.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let mut by_account: HashMap<String, Vec<String>> = HashMap::new();
                    for r in &names {
                        by_account
                            .entry(r.try_get(0).map_err(map_err)?)
                            .or_default()
                            .push(r.try_get(1).map_err(map_err)?);
                    }
                    for row in &mut page {
                        if let Some(mut orgs) = by_account.remove(&row.account_id.to_string()) {
                            orgs.sort();
                            orgs.dedup();
                            row.organizations = orgs;
                        }
                    }
                    Ok(page)
                }
            }
        }
    };
}

pub(crate) use org_test_store;
