//! Organizations, in SQL both backends accept.
//!
//! Whether an account is *managed* is not stored: it is whether its email
//! ends in `@` and a domain the organization verified, computed in each
//! query (`a.email LIKE '%@' || d.domain`; domains hold no `%` or `_`,
//! see `tessera_core::org::normalize_domain`). So verifying or dropping a
//! domain changes who is managed at once, with nothing to rewrite.
//!
//! Every write that can change an account's standing evicts it from the
//! who-am-I cache after its statement, here and on every other node: a
//! membership change evicts that account, a domain, 2SV or policy change
//! evicts everything.

macro_rules! orgs_store {
    ($store:ident, $db:ty) => {
        mod orgs_impl {
            use super::$store;
            use super::store_impl::{account_at, account_insert, session_at};
            use crate::error::{corrupt, map_err};
            use crate::sql_impl::{ACCOUNT_COLS, ACCOUNT_COL_COUNT};
            use async_trait::async_trait;
            use sqlx::Row;
            use tessera_core::account::{Account, AccountKind};
            use tessera_core::clock::Timestamp;
            use tessera_core::email::Email;
            use tessera_core::ids::{AccountId, InvitationId, OrganizationId};
            use tessera_core::org::{
                DomainClaim, DomainVerification, ExternalPolicy, Invitation, Member, MemberRole,
                Membership, OrgSettings, OrgStanding, Organization, VerifiedBy,
            };
            use tessera_core::session::Session;
            use tessera_core::store::{OrgStore, OutgoingMessage, StoreError};

            type DbRow = <$db as sqlx::Database>::Row;

            const ORG_COLS: &str = "o.id, o.name, o.created_at, o.two_step_required, \
                 o.ext_email_code, o.ext_frequency_minutes, o.ext_api_token_access, \
                 o.test_email_code, o.test_frequency_minutes, o.test_api_token_access";

            /// Whether account `a` is managed by organization `org_col`.
            pub(crate) fn managed_by(org_col: &str) -> String {
                format!(
                    "(a.kind = 'human' AND EXISTS (SELECT 1 FROM org_domains d WHERE d.org_id = {org_col} \
                     AND d.verified_at IS NOT NULL AND a.email LIKE ('%@' || d.domain)))"
                )
            }

            /// The accounts external to organization `$1` that its external
            /// user policy applies to: not those of its test policy.
            fn external_members() -> String {
                format!(
                    "SELECT m.account_id FROM org_members m JOIN accounts a ON a.id = m.account_id \
                     WHERE m.org_id = $1 AND NOT {} AND NOT EXISTS (SELECT 1 FROM org_test_members t \
                     WHERE t.org_id = m.org_id AND t.account_id = m.account_id)",
                    managed_by("m.org_id")
                )
            }

            pub(crate) const SESSION_COLS_BARE: &str = "id, account_id, client, aal, methods, created_at, \
                 verified_at, last_seen_at, expires_at, ip, device, restricted";

            pub(crate) fn policy_at(r: &DbRow, base: usize) -> Result<ExternalPolicy, StoreError> {
                let freq: Option<i64> = r.try_get(base + 1).map_err(map_err)?;
                Ok(ExternalPolicy {
                    email_code: r.try_get(base).map_err(map_err)?,
                    frequency_minutes: freq
                        .map(|f| u32::try_from(f).map_err(|e| corrupt("frequency", e)))
                        .transpose()?,
                    api_token_access: r.try_get(base + 2).map_err(map_err)?,
                })
            }

            fn org_id(raw: String) -> Result<OrganizationId, StoreError> {
                raw.parse().map_err(|e| corrupt("organization id", e))
            }

            fn settings_at(r: &DbRow) -> Result<OrgSettings, StoreError> {
                Ok(OrgSettings {
                    org: Organization {
                        id: org_id(r.try_get(0).map_err(map_err)?)?,
                        name: r.try_get(1).map_err(map_err)?,
                        created_at: Timestamp(r.try_get(2).map_err(map_err)?),
                    },
                    two_step_required: r.try_get(3).map_err(map_err)?,
                    external: policy_at(r, 4)?,
                    test: policy_at(r, 7)?,
                })
            }

            fn role_of(raw: Option<String>) -> Result<Option<MemberRole>, StoreError> {
                raw.map(|r| r.parse().map_err(|e| corrupt("member role", e)))
                    .transpose()
            }

            const INVITATION_COLS: &str =
                "i.id, i.org_id, i.email, i.role, i.invited_by, i.created_at, i.expires_at, i.accepted_at";

            fn invitation_at(r: &DbRow) -> Result<Invitation, StoreError> {
                let id: String = r.try_get(0).map_err(map_err)?;
                let email: String = r.try_get(2).map_err(map_err)?;
                let role: String = r.try_get(3).map_err(map_err)?;
                let by: Option<String> = r.try_get(4).map_err(map_err)?;
                Ok(Invitation {
                    id: id.parse().map_err(|e| corrupt("invitation id", e))?,
                    org: org_id(r.try_get(1).map_err(map_err)?)?,
                    email: Email::parse(&email).map_err(|e| corrupt("invitation email", e))?,
                    role: role.parse().map_err(|e| corrupt("invitation role", e))?,
                    invited_by: by
                        .map(|b| b.parse().map_err(|e| corrupt("inviter", e)))
                        .transpose()?,
                    created_at: Timestamp(r.try_get(5).map_err(map_err)?),
                    expires_at: Timestamp(r.try_get(6).map_err(map_err)?),
                    accepted_at: r
                        .try_get::<Option<i64>, _>(7)
                        .map_err(map_err)?
                        .map(Timestamp),
                })
            }

            fn outbox_insert(
                m: &OutgoingMessage,
                now: Timestamp,
            ) -> sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments> {
                sqlx::query(
                    "INSERT INTO outbox (channel, recipient, subject, body, created_at, next_attempt_at) \
                     VALUES ($1, $2, $3, $4, $5, $5)",
                )
                .bind(&m.channel)
                .bind(&m.recipient)
                .bind(&m.subject)
                .bind(&m.body)
                .bind(now.millis())
            }

            #[async_trait]
            impl OrgStore for $store {
                async fn insert_organization(&self, org: &Organization) -> Result<(), StoreError> {
                    sqlx::query("INSERT INTO organizations (id, name, created_at) VALUES ($1, $2, $3)")
                        .bind(org.id.to_string())
                        .bind(&org.name)
                        .bind(org.created_at.millis())
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn organizations(&self) -> Result<Vec<OrgSettings>, StoreError> {
                    let sql = format!("SELECT {ORG_COLS} FROM organizations o ORDER BY o.name");
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(settings_at).collect()
                }

                async fn organization(&self, id: OrganizationId) -> Result<Option<OrgSettings>, StoreError> {
                    let sql = format!("SELECT {ORG_COLS} FROM organizations o WHERE o.id = $1");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.as_ref().map(settings_at).transpose()
                }

                async fn org_standing(&self, account: &Account) -> Result<OrgStanding, StoreError> {
                    if let Some(hit) = self.cache.get_standing(account.id) {
                        return Ok(hit);
                    }
                    let ticket = self.cache.ticket();
                    // Only people are managed by a domain.
                    let domain = match account.kind {
                        AccountKind::Human => account.email.domain(),
                        AccountKind::Service => "",
                    };
                    let rows = sqlx::query(
                        "SELECT o.id, o.name, m.role, \
                         EXISTS (SELECT 1 FROM org_domains d WHERE d.org_id = o.id \
                                 AND d.verified_at IS NOT NULL AND d.domain = $2), \
                         o.two_step_required, \
                         EXISTS (SELECT 1 FROM org_two_step_exclusions x WHERE x.org_id = o.id \
                                 AND x.account_id = $1), \
                         o.ext_email_code, o.ext_frequency_minutes, o.ext_api_token_access, \
                         EXISTS (SELECT 1 FROM org_test_members t WHERE t.org_id = o.id \
                                 AND t.account_id = $1), \
                         o.test_email_code, o.test_frequency_minutes, o.test_api_token_access \
                         FROM organizations o \
                         LEFT JOIN org_members m ON m.org_id = o.id AND m.account_id = $1 \
                         WHERE m.account_id IS NOT NULL OR o.id IN (SELECT d.org_id FROM org_domains d \
                               WHERE d.verified_at IS NOT NULL AND d.domain = $2) \
                         ORDER BY o.name, o.id",
                    )
                    .bind(account.id.to_string())
                    .bind(domain)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let memberships = rows
                        .iter()
                        .map(|r| {
                            Ok(Membership {
                                org: org_id(r.try_get(0).map_err(map_err)?)?,
                                name: r.try_get(1).map_err(map_err)?,
                                role: role_of(r.try_get(2).map_err(map_err)?)?,
                                managed: r.try_get(3).map_err(map_err)?,
                                two_step_required: r.try_get(4).map_err(map_err)?,
                                excluded: r.try_get(5).map_err(map_err)?,
                                policy: policy_at(r, 6)?,
                                test_policy: if r.try_get(9).map_err(map_err)? {
                                    Some(policy_at(r, 10)?)
                                } else {
                                    None
                                },
                            })
                        })
                        .collect::<Result<Vec<_>, StoreError>>()?;
                    let standing = OrgStanding { memberships };
                    self.cache.put_standing(ticket, account.id, &standing);
                    Ok(standing)
                }

                async fn add_member(
                    &self,
                    org: OrganizationId,
                    account: AccountId,
                    role: MemberRole,
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "INSERT INTO org_members (org_id, account_id, role, added_at) VALUES ($1, $2, $3, $4) \
                         ON CONFLICT (org_id, account_id) DO NOTHING",
                    )
                    .bind(org.to_string())
                    .bind(account.to_string())
                    .bind(role.as_str())
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await;
                    self.forget_account(account).await;
                    Ok(r.map_err(map_err)?.rows_affected() == 1)
                }

                async fn set_member_role(
                    &self,
                    org: OrganizationId,
                    account: AccountId,
                    role: MemberRole,
                ) -> Result<bool, StoreError> {
                    let r = sqlx::query("UPDATE org_members SET role = $3 WHERE org_id = $1 AND account_id = $2")
                        .bind(org.to_string())
                        .bind(account.to_string())
                        .bind(role.as_str())
                        .execute(&self.pool)
                        .await;
                    self.forget_account(account).await;
                    Ok(r.map_err(map_err)?.rows_affected() == 1)
                }

                async fn remove_member(&self, org: OrganizationId, account: AccountId) -> Result<bool, StoreError> {
                    let outcome = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let r = sqlx::query("DELETE FROM org_members WHERE org_id = $1 AND account_id = $2")
                            .bind(org.to_string())
                            .bind(account.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        sqlx::query("DELETE FROM org_two_step_exclusions WHERE org_id = $1 AND account_id = $2")
                            .bind(org.to_string())
                            .bind(account.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(r.rows_affected() == 1)
                    }
                    .await;
                    self.forget_account(account).await;
                    outcome
                }

                async fn members(&self, org: OrganizationId) -> Result<Vec<Member>, StoreError> {
                    let managed = managed_by("$1");
                    let sql = format!(
                        "SELECT {ACCOUNT_COLS}, m.role, {managed} FROM accounts a \
                         LEFT JOIN org_members m ON m.account_id = a.id AND m.org_id = $1 \
                         WHERE m.account_id IS NOT NULL OR {managed} ORDER BY a.email"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            Ok(Member {
                                account: account_at(r, 0)?,
                                role: role_of(r.try_get(ACCOUNT_COL_COUNT).map_err(map_err)?)?,
                                managed: r.try_get(ACCOUNT_COL_COUNT + 1).map_err(map_err)?,
                            })
                        })
                        .collect()
                }

                async fn claim_domain(&self, c: &DomainClaim) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO org_domains (org_id, domain, token, created_at) VALUES ($1, $2, $3, $4)",
                    )
                    .bind(c.org.to_string())
                    .bind(&c.domain)
                    .bind(&c.token)
                    .bind(c.created_at.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn domains(&self, org: OrganizationId) -> Result<Vec<DomainClaim>, StoreError> {
                    let rows = sqlx::query(
                        "SELECT org_id, domain, token, created_at, verified_at, verified_by \
                         FROM org_domains WHERE org_id = $1 ORDER BY domain",
                    )
                    .bind(org.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            Ok(DomainClaim {
                                org: org_id(r.try_get(0).map_err(map_err)?)?,
                                domain: r.try_get(1).map_err(map_err)?,
                                token: r.try_get(2).map_err(map_err)?,
                                created_at: Timestamp(r.try_get(3).map_err(map_err)?),
                                verified_at: r
                                    .try_get::<Option<i64>, _>(4)
                                    .map_err(map_err)?
                                    .map(Timestamp),
                                verified_by: r.try_get(5).map_err(map_err)?,
                            })
                        })
                        .collect()
                }

                async fn verify_domain(
                    &self,
                    org: OrganizationId,
                    domain: &str,
                    by: VerifiedBy,
                    now: Timestamp,
                ) -> Result<DomainVerification, StoreError> {
                    let r = sqlx::query(
                        "UPDATE org_domains SET verified_at = $3, verified_by = $4 \
                         WHERE org_id = $1 AND domain = $2 AND verified_at IS NULL",
                    )
                    .bind(org.to_string())
                    .bind(domain)
                    .bind(now.millis())
                    .bind(by.as_str())
                    .execute(&self.pool)
                    .await;
                    self.forget_all().await;
                    match r {
                        Ok(done) if done.rows_affected() == 1 => Ok(DomainVerification::Verified),
                        // The partial unique index: another organization holds it.
                        Err(e) => match map_err(e) {
                            StoreError::Conflict(_) => Ok(DomainVerification::TakenByOther),
                            other => Err(other),
                        },
                        Ok(_) => {
                            let found: Option<Option<i64>> = sqlx::query_scalar(
                                "SELECT verified_at FROM org_domains WHERE org_id = $1 AND domain = $2",
                            )
                            .bind(org.to_string())
                            .bind(domain)
                            .fetch_optional(&self.pool)
                            .await
                            .map_err(map_err)?;
                            Ok(match found {
                                None => DomainVerification::NotClaimed,
                                Some(_) => DomainVerification::AlreadyVerified,
                            })
                        }
                    }
                }

                async fn remove_domain(&self, org: OrganizationId, domain: &str) -> Result<bool, StoreError> {
                    let r = sqlx::query("DELETE FROM org_domains WHERE org_id = $1 AND domain = $2")
                        .bind(org.to_string())
                        .bind(domain)
                        .execute(&self.pool)
                        .await;
                    self.forget_all().await;
                    Ok(r.map_err(map_err)?.rows_affected() == 1)
                }

                async fn insert_invitation(
                    &self,
                    inv: &Invitation,
                    token_hash: &[u8],
                    mail: &OutgoingMessage,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO org_invitations (id, org_id, email, role, token_hash, invited_by, \
                         created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(inv.id.to_string())
                    .bind(inv.org.to_string())
                    .bind(inv.email.as_str())
                    .bind(inv.role.as_str())
                    .bind(token_hash)
                    .bind(inv.invited_by.map(|a| a.to_string()))
                    .bind(inv.created_at.millis())
                    .bind(inv.expires_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    outbox_insert(mail, inv.created_at)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn invitations(&self, org: OrganizationId) -> Result<Vec<Invitation>, StoreError> {
                    let sql = format!(
                        "SELECT {INVITATION_COLS} FROM org_invitations i WHERE i.org_id = $1 \
                         ORDER BY i.created_at DESC, i.id"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(invitation_at).collect()
                }

                async fn delete_invitation(&self, org: OrganizationId, id: InvitationId) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "DELETE FROM org_invitations WHERE org_id = $1 AND id = $2 AND accepted_at IS NULL",
                    )
                    .bind(org.to_string())
                    .bind(id.to_string())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn invitation_by_token(
                    &self,
                    token_hash: &[u8],
                ) -> Result<Option<(Invitation, String)>, StoreError> {
                    let sql = format!(
                        "SELECT {INVITATION_COLS}, o.name FROM org_invitations i \
                         JOIN organizations o ON o.id = i.org_id WHERE i.token_hash = $1"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some(r) = row else { return Ok(None) };
                    Ok(Some((invitation_at(&r)?, r.try_get(8).map_err(map_err)?)))
                }

                async fn accept_invitation(
                    &self,
                    token_hash: &[u8],
                    account: AccountId,
                    new_account: Option<&Account>,
                    now: Timestamp,
                ) -> Result<Option<Invitation>, StoreError> {
                    let outcome = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let sql = format!(
                            "UPDATE org_invitations SET accepted_at = $2 \
                             WHERE token_hash = $1 AND accepted_at IS NULL AND expires_at > $2 \
                             RETURNING {}",
                            INVITATION_COLS.replace("i.", "")
                        );
                        let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                            .bind(token_hash)
                            .bind(now.millis())
                            .fetch_optional(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        let Some(row) = row else {
                            return Ok(None);
                        };
                        let inv = invitation_at(&row)?;
                        if let Some(a) = new_account {
                            account_insert(a).execute(&mut *tx).await.map_err(map_err)?;
                        }
                        // An existing membership keeps the higher role.
                        sqlx::query(
                            "INSERT INTO org_members (org_id, account_id, role, added_at) VALUES ($1, $2, $3, $4) \
                             ON CONFLICT (org_id, account_id) DO UPDATE SET role = CASE \
                             WHEN org_members.role = 'org-admin' THEN 'org-admin' ELSE excluded.role END",
                        )
                        .bind(inv.org.to_string())
                        .bind(account.to_string())
                        .bind(inv.role.as_str())
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(Some(inv))
                    }
                    .await;
                    self.forget_account(account).await;
                    outcome
                }

                async fn set_two_step_policy(
                    &self,
                    org: OrganizationId,
                    required: bool,
                    excluded: &[AccountId],
                    mails: &[OutgoingMessage],
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let outcome = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        // Turning it on is decided by this statement, so of
                        // parallel calls exactly one sends the mails.
                        let turned_on = if required {
                            sqlx::query(
                                "UPDATE organizations SET two_step_required = TRUE \
                                 WHERE id = $1 AND NOT two_step_required",
                            )
                            .bind(org.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?
                            .rows_affected()
                                == 1
                        } else {
                            sqlx::query("UPDATE organizations SET two_step_required = FALSE WHERE id = $1")
                                .bind(org.to_string())
                                .execute(&mut *tx)
                                .await
                                .map_err(map_err)?;
                            false
                        };
                        sqlx::query("DELETE FROM org_two_step_exclusions WHERE org_id = $1")
                            .bind(org.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        for a in excluded {
                            sqlx::query(
                                "INSERT INTO org_two_step_exclusions (org_id, account_id) VALUES ($1, $2) \
                                 ON CONFLICT (org_id, account_id) DO NOTHING",
                            )
                            .bind(org.to_string())
                            .bind(a.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        }
                        if turned_on {
                            for m in mails {
                                outbox_insert(m, now).execute(&mut *tx).await.map_err(map_err)?;
                            }
                        }
                        tx.commit().await.map_err(map_err)?;
                        Ok(turned_on)
                    }
                    .await;
                    self.forget_all().await;
                    outcome
                }

                async fn two_step_exclusions(&self, org: OrganizationId) -> Result<Vec<Account>, StoreError> {
                    let sql = format!(
                        "SELECT {ACCOUNT_COLS} FROM accounts a JOIN org_two_step_exclusions x \
                         ON x.account_id = a.id WHERE x.org_id = $1 ORDER BY a.email"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| account_at(r, 0)).collect()
                }

                async fn managed_without_two_step(&self, org: OrganizationId) -> Result<Vec<Account>, StoreError> {
                    let sql = format!(
                        "SELECT {ACCOUNT_COLS} FROM accounts a WHERE a.active AND {} \
                         AND NOT EXISTS (SELECT 1 FROM org_two_step_exclusions x WHERE x.org_id = $1 AND x.account_id = a.id) \
                         AND NOT EXISTS (SELECT 1 FROM totp_credentials t WHERE t.account_id = a.id) \
                         AND NOT EXISTS (SELECT 1 FROM webauthn_credentials w WHERE w.account_id = a.id) \
                         AND NOT EXISTS (SELECT 1 FROM sms_phones p WHERE p.account_id = a.id) \
                         ORDER BY a.email",
                        managed_by("$1")
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| account_at(r, 0)).collect()
                }

                async fn set_external_policy(
                    &self,
                    org: OrganizationId,
                    p: &ExternalPolicy,
                ) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE organizations SET ext_email_code = $2, ext_frequency_minutes = $3, \
                         ext_api_token_access = $4 WHERE id = $1",
                    )
                    .bind(org.to_string())
                    .bind(p.email_code)
                    .bind(p.frequency_minutes.map(i64::from))
                    .bind(p.api_token_access)
                    .execute(&self.pool)
                    .await;
                    self.forget_all().await;
                    Ok(r.map_err(map_err)?.rows_affected() == 1)
                }

                async fn external_web_sessions(&self, org: OrganizationId) -> Result<Vec<Session>, StoreError> {
                    let sql = format!(
                        "SELECT {SESSION_COLS_BARE} FROM sessions WHERE client = 'web' \
                         AND account_id IN ({})",
                        external_members()
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| session_at(r, 0)).collect()
                }

                async fn reset_external_web_sessions(&self, org: OrganizationId) -> Result<Vec<Session>, StoreError> {
                    let sql = format!(
                        "DELETE FROM sessions WHERE client = 'web' AND account_id IN ({}) \
                         RETURNING {SESSION_COLS_BARE}",
                        external_members()
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(org.to_string())
                        .fetch_all(&self.pool)
                        .await;
                    // Every node drops what it cached, ended sessions included.
                    self.forget_all().await;
                    rows.map_err(map_err)?.iter().map(|r| session_at(r, 0)).collect()
                }
            }
        }
    };
}

pub(crate) use orgs_store;
