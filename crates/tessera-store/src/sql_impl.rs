//! The Store traits, written once in SQL that SQLite and PostgreSQL both
//! accept, and instantiated per backend by [`sql_store!`].
//!
//! Placeholders are `$n` (both backends accept them), timestamps are BIGINT
//! milliseconds, ids are TEXT. Rows are read by column position, in the
//! order of the `*_COLS` lists, so the hot path allocates no column names.

use tessera_core::account::Account;
use tessera_core::session::Session;

pub(crate) const ACCOUNT_COLS: &str =
    "a.id, a.email, a.display_name, a.kind, a.role, a.active, a.password_hash, a.created_at";
pub(crate) const ACCOUNT_COL_COUNT: usize = 8;
pub(crate) const SESSION_COLS: &str = "s.id, s.account_id, s.client, s.aal, s.methods, \
     s.created_at, s.verified_at, s.last_seen_at, s.expires_at, s.ip, s.device, s.restricted";

/// Raw column values of an account, before domain validation.
pub(crate) struct AccountRow {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub kind: String,
    pub role: String,
    pub active: bool,
    pub password_hash: Option<String>,
    pub created_at: i64,
}

impl AccountRow {
    pub fn into_account(self) -> Result<Account, tessera_core::store::StoreError> {
        use crate::error::corrupt;
        use tessera_core::clock::Timestamp;
        use tessera_core::email::Email;
        Ok(Account {
            id: self.id.parse().map_err(|e| corrupt("account id", e))?,
            email: Email::parse(&self.email).map_err(|e| corrupt("account email", e))?,
            display_name: self.display_name,
            kind: self.kind.parse().map_err(|e| corrupt("account kind", e))?,
            role: self.role.parse().map_err(|e| corrupt("account role", e))?,
            active: self.active,
            password_hash: self.password_hash,
            created_at: Timestamp(self.created_at),
        })
    }
}

pub(crate) struct SessionRow {
    pub id: String,
    pub account_id: String,
    pub client: String,
    pub aal: String,
    pub methods: String,
    pub created_at: i64,
    pub verified_at: i64,
    pub last_seen_at: i64,
    pub expires_at: i64,
    pub ip: Option<String>,
    pub device: String,
    pub restricted: bool,
}

impl SessionRow {
    pub fn into_session(self) -> Result<Session, tessera_core::store::StoreError> {
        use crate::error::corrupt;
        use tessera_core::clock::Timestamp;
        Ok(Session {
            id: self.id.parse().map_err(|e| corrupt("session id", e))?,
            account_id: self
                .account_id
                .parse()
                .map_err(|e| corrupt("session account", e))?,
            client: self
                .client
                .parse()
                .map_err(|e| corrupt("session client", e))?,
            aal: self.aal.parse().map_err(|e| corrupt("session aal", e))?,
            methods: tessera_core::session::methods_from_text(&self.methods),
            created_at: Timestamp(self.created_at),
            verified_at: Timestamp(self.verified_at),
            last_seen_at: Timestamp(self.last_seen_at),
            expires_at: Timestamp(self.expires_at),
            ip: self.ip,
            device: self.device,
            restricted: self.restricted,
        })
    }
}

macro_rules! sql_store {
    ($store:ident, $db:ty, $backend:literal) => {
        mod store_impl {
            use super::$store;
            use crate::cache::Fill;
            use crate::touches::Touch;
            use crate::error::map_err;
            use crate::sql_impl::{
                ACCOUNT_COLS, ACCOUNT_COL_COUNT, AccountRow, SESSION_COLS, SessionRow,
            };
            use async_trait::async_trait;
            use sqlx::{QueryBuilder, Row};
            use tessera_core::account::{Account, Role};
            use tessera_core::audit::{AuditEvent, AuditFilter, NewAuditEvent};
            use tessera_core::clock::Timestamp;
            use tessera_core::email::Email;
            use tessera_core::ids::{AccountId, SessionId};
            use tessera_core::session::{Aal, AuthMethod, Session, methods_to_text};
            use tessera_core::store::{
                AccountStore, AuditStore, DeviceStore, Effects, NewSession, SessionExtras, SessionStart,
                SessionStore, Stale, Store, StoreError,
            };

            type DbRow = <$db as sqlx::Database>::Row;

            pub(crate) fn account_at(row: &DbRow, base: usize) -> Result<Account, StoreError> {
                AccountRow {
                    id: row.try_get(base).map_err(map_err)?,
                    email: row.try_get(base + 1).map_err(map_err)?,
                    display_name: row.try_get(base + 2).map_err(map_err)?,
                    kind: row.try_get(base + 3).map_err(map_err)?,
                    role: row.try_get(base + 4).map_err(map_err)?,
                    active: row.try_get(base + 5).map_err(map_err)?,
                    password_hash: row.try_get(base + 6).map_err(map_err)?,
                    created_at: row.try_get(base + 7).map_err(map_err)?,
                }
                .into_account()
            }

            pub(crate) fn session_at(row: &DbRow, base: usize) -> Result<Session, StoreError> {
                SessionRow {
                    id: row.try_get(base).map_err(map_err)?,
                    account_id: row.try_get(base + 1).map_err(map_err)?,
                    client: row.try_get(base + 2).map_err(map_err)?,
                    aal: row.try_get(base + 3).map_err(map_err)?,
                    methods: row.try_get(base + 4).map_err(map_err)?,
                    created_at: row.try_get(base + 5).map_err(map_err)?,
                    verified_at: row.try_get(base + 6).map_err(map_err)?,
                    last_seen_at: row.try_get(base + 7).map_err(map_err)?,
                    expires_at: row.try_get(base + 8).map_err(map_err)?,
                    ip: row.try_get(base + 9).map_err(map_err)?,
                    device: row.try_get(base + 10).map_err(map_err)?,
                    restricted: row.try_get(base + 11).map_err(map_err)?,
                }
                .into_session()
            }

            fn audit_at(row: &DbRow) -> Result<AuditEvent, StoreError> {
                let parse_id = |v: Option<String>| -> Result<Option<AccountId>, StoreError> {
                    v.map(|s| s.parse().map_err(|e| crate::error::corrupt("audit id", e)))
                        .transpose()
                };
                Ok(AuditEvent {
                    id: row.try_get(0).map_err(map_err)?,
                    at: Timestamp(row.try_get(1).map_err(map_err)?),
                    kind: row.try_get(2).map_err(map_err)?,
                    actor: parse_id(row.try_get(3).map_err(map_err)?)?,
                    subject: parse_id(row.try_get(4).map_err(map_err)?)?,
                    ip: row.try_get(5).map_err(map_err)?,
                    detail: row.try_get(6).map_err(map_err)?,
                })
            }

            /// The one INSERT of a session row, shared by every writer.
            fn session_insert(
                n: &NewSession,
            ) -> sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments> {
                let s = &n.session;
                sqlx::query(
                    "INSERT INTO sessions (id, token_hash, account_id, client, aal, methods, \
                     created_at, verified_at, last_seen_at, expires_at, ip, device, restricted) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                )
                .bind(s.id.to_string())
                .bind(n.token_hash.as_slice())
                .bind(s.account_id.to_string())
                .bind(s.client.as_str())
                .bind(s.aal.as_str())
                .bind(methods_to_text(&s.methods))
                .bind(s.created_at.millis())
                .bind(s.verified_at.millis())
                .bind(s.last_seen_at.millis())
                .bind(s.expires_at.millis())
                .bind(s.ip.clone())
                .bind(s.device.clone())
                .bind(s.restricted)
            }

            /// The one UPDATE that re-issues a session, shared by every writer.
            const ROTATE_SESSION: &str = "UPDATE sessions SET token_hash = $1, aal = $2, methods = $3, \
                 verified_at = $4, last_seen_at = $4, restricted = $6 WHERE id = $5";

            /// Audit records in one statement: one round trip.
            async fn insert_audit(
                tx: &mut sqlx::Transaction<'_, $db>,
                at: Timestamp,
                events: &[NewAuditEvent],
            ) -> Result<(), StoreError> {
                if events.is_empty() {
                    return Ok(());
                }
                let mut q: QueryBuilder<$db> = QueryBuilder::new(
                    "INSERT INTO audit_events (at, kind, actor_id, subject_id, ip, detail) ",
                );
                q.push_values(events, |mut b, e| {
                    b.push_bind(at.millis())
                        .push_bind(e.kind.as_str())
                        .push_bind(e.actor.map(|a| a.to_string()))
                        .push_bind(e.subject.map(|a| a.to_string()))
                        .push_bind(e.ip.clone())
                        .push_bind(e.detail.clone());
                });
                q.build().execute(&mut **tx).await.map_err(map_err)?;
                Ok(())
            }

            /// Messages for the outbox, due at once.
            pub(crate) async fn insert_mail(
                tx: &mut sqlx::Transaction<'_, $db>,
                at: Timestamp,
                mail: &[tessera_core::store::OutgoingMessage],
            ) -> Result<(), StoreError> {
                for m in mail {
                    sqlx::query(
                        "INSERT INTO outbox (channel, recipient, subject, body, created_at, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&m.channel)
                    .bind(&m.recipient)
                    .bind(&m.subject)
                    .bind(&m.body)
                    .bind(at.millis())
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                }
                Ok(())
            }

            /// Uses a recovery key up inside `tx`: [`Stale::RecoveryKey`]
            /// if a parallel use replaced it first.
            async fn use_recovery_key(
                tx: &mut sqlx::Transaction<'_, $db>,
                at: Timestamp,
                u: &tessera_core::store::RecoveryUse,
            ) -> Result<(), StoreError> {
                let r = sqlx::query(
                    "UPDATE recovery_keys SET key_hash = $3, created_at = $4 \
                     WHERE account_id = $1 AND key_hash = $2",
                )
                .bind(u.account.to_string())
                .bind(&u.old_hash)
                .bind(&u.new_hash)
                .bind(at.millis())
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                if r.rows_affected() != 1 {
                    return Err(StoreError::Stale(Stale::RecoveryKey));
                }
                Ok(())
            }

            /// The store's group commit of last-use touches (see `touches`).
            pub(crate) fn group_commit(pool: &sqlx::Pool<$db>) -> crate::touches::GroupCommit {
                let pool = pool.clone();
                crate::touches::GroupCommit::new(move |batch| write_touches(pool.clone(), batch))
            }

            /// Writes a batch of touches in one transaction: per touch,
            /// whether its row changed.
            async fn write_touches(
                pool: sqlx::Pool<$db>,
                touches: Vec<Touch>,
            ) -> crate::touches::Written {
                let mut tx = pool.begin().await.map_err(map_err)?;
                let mut changed = Vec::with_capacity(touches.len());
                for t in &touches {
                    let r = match t {
                        Touch::Session { id, at } => sqlx::query(
                            "UPDATE sessions SET last_seen_at = $1 WHERE id = $2 AND last_seen_at < $1",
                        )
                        .bind(at.millis())
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await,
                        Touch::Token { id, at, ip, cutoff } => sqlx::query(
                            "UPDATE api_tokens SET last_used_at = $1, last_used_ip = $2 \
                             WHERE id = $3 AND (last_used_at IS NULL OR last_used_at <= $4)",
                        )
                        .bind(at.millis())
                        .bind(ip.as_deref())
                        .bind(id.to_string())
                        .bind(cutoff.millis())
                        .execute(&mut *tx)
                        .await,
                    }
                    .map_err(map_err)?;
                    changed.push(r.rows_affected() == 1);
                }
                tx.commit().await.map_err(map_err)?;
                Ok(changed)
            }

            /// Writes a change's [`Effects`] inside its transaction, in the
            /// order documented there. A refusal returns before anything
            /// else is written; the caller drops `tx`, which rolls it back.
            pub(crate) async fn apply_effects(
                tx: &mut sqlx::Transaction<'_, $db>,
                e: &Effects,
            ) -> Result<tessera_core::store::Applied, StoreError> {
                if let Some(u) = &e.use_recovery_key {
                    use_recovery_key(tx, e.at, u).await?;
                }
                if let Some(r) = &e.rotate {
                    let n = sqlx::query(ROTATE_SESSION)
                        .bind(r.token_hash.as_slice())
                        .bind(r.aal.as_str())
                        .bind(methods_to_text(&r.methods))
                        .bind(r.verified_at.millis())
                        .bind(r.session.to_string())
                        .bind(r.restricted)
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    if n != 1 {
                        return Err(StoreError::Stale(Stale::Session));
                    }
                }
                let mut sessions_ended = None;
                if let Some((account, keep)) = &e.end_sessions {
                    let n = sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND id <> $2")
                        .bind(account.to_string())
                        .bind(keep.map(|k| k.to_string()).unwrap_or_default())
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    sessions_ended = Some(n);
                }
                let mut tokens_revoked = None;
                if let Some(account) = &e.revoke_tokens {
                    let n = sqlx::query("DELETE FROM api_tokens WHERE account_id = $1")
                        .bind(account.to_string())
                        .execute(&mut **tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    tokens_revoked = Some(n);
                }
                if let Some((account, kind)) = &e.last_method {
                    sqlx::query(
                        "INSERT INTO second_step_prefs (account_id, last_method) VALUES ($1, $2) \
                         ON CONFLICT (account_id) DO UPDATE SET last_method = excluded.last_method",
                    )
                    .bind(account.to_string())
                    .bind(kind.as_str())
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                }
                if e.count_in_audit {
                    let counted: Vec<NewAuditEvent> = e
                        .audit
                        .iter()
                        .map(|a| a.with_counts(sessions_ended, tokens_revoked))
                        .collect();
                    insert_audit(tx, e.at, &counted).await?;
                } else {
                    insert_audit(tx, e.at, &e.audit).await?;
                }
                insert_mail(tx, e.at, &e.mail).await?;
                Ok(tessera_core::store::Applied {
                    sessions_ended: sessions_ended.unwrap_or(0),
                    tokens_revoked: tokens_revoked.unwrap_or(0),
                })
            }

            /// The one INSERT of an account row.
            pub(crate) fn account_insert(
                a: &Account,
            ) -> sqlx::query::Query<'_, $db, <$db as sqlx::Database>::Arguments> {
                sqlx::query(
                    "INSERT INTO accounts (id, email, display_name, kind, role, active, \
                     password_hash, created_at, updated_at) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                )
                .bind(a.id.to_string())
                .bind(a.email.as_str())
                .bind(&a.display_name)
                .bind(a.kind.as_str())
                .bind(a.role.as_str())
                .bind(a.active)
                .bind(a.password_hash.as_deref())
                .bind(a.created_at.millis())
            }

            fn account_select(where_clause: &str) -> String {
                format!("SELECT {ACCOUNT_COLS} FROM accounts a {where_clause}")
            }

            /// Evictions, here and on every other node. Writers call them
            /// after their statement even when it failed: a write whose
            /// commit was not acknowledged may still have committed.
            impl $store {
                pub(crate) async fn forget_account(&self, id: AccountId) {
                    self.cache.evict_account(id);
                    self.broadcast(&format!("a:{id}")).await;
                }

                pub(crate) async fn forget_session(&self, id: SessionId) {
                    self.cache.evict_session(id);
                    self.broadcast(&format!("s:{id}")).await;
                }

                pub(crate) async fn forget_oidc_grant(&self, id: tessera_core::oidc::grant::OidcGrantId) {
                    self.cache.evict_grant(id);
                    self.broadcast(&format!("g:{id}")).await;
                }

                pub(crate) async fn forget_oidc_client(&self, id: tessera_core::oidc::client::OidcClientId) {
                    self.cache.evict_client(id);
                    self.broadcast(&format!("c:{id}")).await;
                }

                pub(crate) async fn forget_all(&self) {
                    self.cache.clear();
                    self.broadcast("*").await;
                }

                /// The evictions a change's effects call for.
                pub(crate) async fn forget_effects(&self, e: &Effects) {
                    if let Some(r) = &e.rotate {
                        self.forget_session(r.session).await;
                    }
                    if let Some((a, _)) = e.end_sessions {
                        self.forget_account(a).await;
                    }
                    if let Some(a) = e.revoke_tokens
                        && e.end_sessions.map(|(b, _)| b) != Some(a)
                    {
                        self.forget_account(a).await;
                    }
                }

                /// Runs `sql` (bound to `$1.. = binds`) as the change of a
                /// transaction whose effects follow when it touched a row:
                /// false, and nothing written, when it touched none.
                pub(crate) async fn update_with(
                    &self,
                    sql: &'static str,
                    binds: Vec<Bind>,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    let mut q = sqlx::query(sql);
                    for b in binds {
                        q = match b {
                            Bind::Text(t) => q.bind(t),
                            Bind::Int(i) => q.bind(i),
                            Bind::Bool(v) => q.bind(v),
                            Bind::Bytes(v) => q.bind(v),
                        };
                    }
                    let n = q.execute(&mut *tx).await.map_err(map_err)?.rows_affected();
                    if n != 1 {
                        return Ok(false);
                    }
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }
            }

            /// A value bound to [`update_with`]'s statement.
            pub(crate) enum Bind {
                Text(String),
                Int(i64),
                Bool(bool),
                Bytes(Vec<u8>),
            }

            #[async_trait]
            impl AccountStore for $store {
                async fn insert_account_with(&self, a: &Account, effects: &Effects) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO accounts (id, email, display_name, kind, role, active, \
                         password_hash, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                    )
                    .bind(a.id.to_string())
                    .bind(a.email.as_str())
                    .bind(&a.display_name)
                    .bind(a.kind.as_str())
                    .bind(a.role.as_str())
                    .bind(a.active)
                    .bind(a.password_hash.as_deref())
                    .bind(a.created_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn insert_accounts(&self, accounts: &[Account]) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    for a in accounts {
                        sqlx::query(
                            "INSERT INTO accounts (id, email, display_name, kind, role, active, \
                             password_hash, created_at, updated_at) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8)",
                        )
                        .bind(a.id.to_string())
                        .bind(a.email.as_str())
                        .bind(&a.display_name)
                        .bind(a.kind.as_str())
                        .bind(a.role.as_str())
                        .bind(a.active)
                        .bind(a.password_hash.as_deref())
                        .bind(a.created_at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn account_by_id(&self, id: AccountId) -> Result<Option<Account>, StoreError> {
                    let sql = account_select("WHERE a.id = $1");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| account_at(&r, 0)).transpose()
                }

                async fn account_by_email(&self, email: &Email) -> Result<Option<Account>, StoreError> {
                    let sql = account_select("WHERE a.email = $1");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(email.as_str())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| account_at(&r, 0)).transpose()
                }

                async fn list_accounts(&self, offset: u32, limit: u32) -> Result<Vec<Account>, StoreError> {
                    let sql = account_select("ORDER BY a.email LIMIT $1 OFFSET $2");
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(i64::from(limit))
                        .bind(i64::from(offset))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| account_at(r, 0)).collect()
                }

                async fn count_accounts(&self) -> Result<u64, StoreError> {
                    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM accounts")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(n.max(0) as u64)
                }

                async fn set_password_hash_with(&self, id: AccountId, hash: &str, now: Timestamp, effects: &Effects) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "UPDATE accounts SET password_hash = $1, updated_at = $2 WHERE id = $3",
                            vec![Bind::Text(hash.into()), Bind::Int(now.millis()), Bind::Text(id.to_string())],
                            effects,
                        )
                        .await;
                    self.forget_account(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn replace_password_hash(&self, id: AccountId, old: &str, new: &str, now: Timestamp) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE accounts SET password_hash = $1, updated_at = $2 \
                         WHERE id = $3 AND password_hash = $4",
                    )
                    .bind(new)
                    .bind(now.millis())
                    .bind(id.to_string())
                    .bind(old)
                    .execute(&self.pool)
                    .await;
                    self.forget_account(id).await;
                    let r = r.map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn set_role_with(&self, id: AccountId, role: Role, now: Timestamp, effects: &Effects) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "UPDATE accounts SET role = $1, updated_at = $2 WHERE id = $3",
                            vec![Bind::Text(role.as_str().into()), Bind::Int(now.millis()), Bind::Text(id.to_string())],
                            effects,
                        )
                        .await;
                    self.forget_account(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn set_active_with(&self, id: AccountId, active: bool, now: Timestamp, effects: &Effects) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "UPDATE accounts SET active = $1, updated_at = $2 WHERE id = $3",
                            vec![Bind::Bool(active), Bind::Int(now.millis()), Bind::Text(id.to_string())],
                            effects,
                        )
                        .await;
                    self.forget_account(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn set_break_glass_with(&self, id: AccountId, hash: &str, expires_at: Timestamp, effects: &Effects) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "UPDATE accounts SET break_glass_hash = $1, break_glass_expires_at = $2 WHERE id = $3",
                            vec![Bind::Text(hash.into()), Bind::Int(expires_at.millis()), Bind::Text(id.to_string())],
                            effects,
                        )
                        .await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn break_glass(&self, id: AccountId, now: Timestamp) -> Result<Option<String>, StoreError> {
                    let v: Option<Option<String>> = sqlx::query_scalar(
                        "SELECT break_glass_hash FROM accounts \
                         WHERE id = $1 AND break_glass_expires_at > $2",
                    )
                    .bind(id.to_string())
                    .bind(now.millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(v.flatten())
                }

                async fn consume_break_glass(&self, id: AccountId, hash: &str) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE accounts SET break_glass_hash = NULL, break_glass_expires_at = NULL \
                         WHERE id = $1 AND break_glass_hash = $2",
                    )
                    .bind(id.to_string())
                    .bind(hash)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }
            }

            #[async_trait]
            impl DeviceStore for $store {
                async fn account_for_signin(
                    &self,
                    email: &Email,
                    device_hash: Option<&[u8]>,
                    now: Timestamp,
                ) -> Result<(Option<Account>, bool), StoreError> {
                    // One read for both: the device joins only if it is the
                    // account's own and still live.
                    let sql = format!(
                        "SELECT {ACCOUNT_COLS}, d.expires_at FROM accounts a \
                         LEFT JOIN known_devices d ON d.account_id = a.id AND d.token_hash = $2 AND d.expires_at > $3 \
                         WHERE a.email = $1"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(email.as_str())
                        .bind(device_hash.unwrap_or(&[]))
                        .bind(now.millis())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some(r) = row else { return Ok((None, false)) };
                    let account = account_at(&r, 0)?;
                    let device: Option<i64> = r.try_get(ACCOUNT_COL_COUNT).map_err(map_err)?;
                    Ok((Some(account), device.is_some()))
                }

                async fn known_device(
                    &self,
                    account: AccountId,
                    device_hash: &[u8],
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let found: Option<i64> = sqlx::query_scalar(
                        "SELECT expires_at FROM known_devices WHERE account_id = $1 AND token_hash = $2 AND expires_at > $3",
                    )
                    .bind(account.to_string())
                    .bind(device_hash)
                    .bind(now.millis())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(found.is_some())
                }
            }

            #[async_trait]
            impl SessionStore for $store {
                async fn insert_session(&self, new: &NewSession) -> Result<(), StoreError> {
                    session_insert(new).execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn create_session_with_audit(
                    &self,
                    new: &NewSession,
                    events: &[NewAuditEvent],
                    extras: &SessionExtras<'_>,
                ) -> Result<SessionStart, StoreError> {
                    let s = &new.session;
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    if let Some(flow) = extras.spend_flow {
                        let spent = sqlx::query("DELETE FROM signin_flows WHERE id_hash = $1")
                            .bind(flow)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if spent.rows_affected() != 1 {
                            tx.rollback().await.map_err(map_err)?;
                            return Ok(SessionStart::FlowSpent);
                        }
                    }
                    if let Some(totp) = &extras.totp {
                        let used = sqlx::query(crate::sql_throttle::USE_TOTP_STEP_IF_CLEAR)
                            .bind(s.account_id.to_string())
                            .bind(totp.step)
                            .bind(totp.backoff_key)
                            .bind(totp.now.millis())
                            .bind(i64::from(totp.rule.tolerated))
                            .bind(totp.rule.ceiling.map_or(i64::MAX, i64::from))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        if used.rows_affected() != 1 {
                            tx.rollback().await.map_err(map_err)?;
                            return Ok(SessionStart::TotpRefused);
                        }
                        if totp.clear_failures {
                            sqlx::query(crate::sql_throttle::CLEAR)
                                .bind(totp.backoff_key)
                                .execute(&mut *tx)
                                .await
                                .map_err(map_err)?;
                        }
                    }
                    if let Some(u) = extras.use_recovery_key {
                        use_recovery_key(&mut tx, s.created_at, u).await?;
                    }
                    session_insert(new).execute(&mut *tx).await.map_err(map_err)?;
                    insert_audit(&mut tx, s.created_at, events).await?;
                    insert_mail(&mut tx, s.created_at, extras.mail).await?;
                    if let Some((claimed, also)) = extras.throttle_success {
                        sqlx::query(crate::sql_throttle::SUCCESS)
                            .bind(claimed)
                            .bind(also.unwrap_or(""))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    if let Some(d) = extras.new_device {
                        sqlx::query(
                            "INSERT INTO known_devices (account_id, token_hash, created_at, expires_at) \
                             VALUES ($1, $2, $3, $4)",
                        )
                        .bind(d.account_id.to_string())
                        .bind(d.token_hash.as_slice())
                        .bind(d.created_at.millis())
                        .bind(d.expires_at.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    if let Some(m) = extras.last_method {
                        sqlx::query(
                            "INSERT INTO second_step_prefs (account_id, last_method) VALUES ($1, $2) \
                             ON CONFLICT (account_id) DO UPDATE SET last_method = excluded.last_method",
                        )
                        .bind(s.account_id.to_string())
                        .bind(m.as_str())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(SessionStart::Started)
                }

                async fn insert_sessions(&self, new: &[NewSession]) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    for n in new {
                        session_insert(n).execute(&mut *tx).await.map_err(map_err)?;
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn session_by_token(&self, token_hash: &[u8]) -> Result<Option<(Session, Account)>, StoreError> {
                    if let Some(hit) = self.cache.get(token_hash) {
                        return Ok(Some(hit));
                    }
                    let _fill = match self.cache.session_fill(token_hash).await {
                        Fill::Cached(hit) => return Ok(Some(hit)),
                        Fill::Read(leading) => leading,
                    };
                    // Before the read: a revocation that commits after it
                    // bumps the generation, and the fill below is refused.
                    let ticket = self.cache.ticket();
                    const SQL: &str = const_format_join();
                    let row = sqlx::query(SQL)
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    match row {
                        None => Ok(None),
                        Some(r) => {
                            let (session, account) = (session_at(&r, ACCOUNT_COL_COUNT)?, account_at(&r, 0)?);
                            self.cache.put(ticket, token_hash, &session, &account);
                            Ok(Some((session, account)))
                        }
                    }
                }

                async fn touch_session(&self, id: SessionId, now: Timestamp) -> Result<(), StoreError> {
                    // This node's copy first, so the requests racing this one
                    // do not each write too. Should the write fail, the copy
                    // is ahead by at most the cache's TTL; the row decides
                    // after that.
                    self.cache.touch_session(id, now);
                    // Committed with the other touches due now (see `touches`).
                    self.touches.touch(Touch::Session { id, at: now }).await?;
                    Ok(())
                }

                async fn rotate_session(
                    &self,
                    id: SessionId,
                    new_token_hash: &[u8],
                    aal: Aal,
                    methods: &[AuthMethod],
                    verified_at: Timestamp,
                    restricted: bool,
                ) -> Result<bool, StoreError> {
                    let r = sqlx::query(ROTATE_SESSION)
                    .bind(new_token_hash)
                    .bind(aal.as_str())
                    .bind(methods_to_text(methods))
                    .bind(verified_at.millis())
                    .bind(id.to_string())
                    .bind(restricted)
                    .execute(&self.pool)
                    .await;
                    self.forget_session(id).await;
                    let r = r.map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn sessions_of(&self, account: AccountId) -> Result<Vec<Session>, StoreError> {
                    let sql = format!(
                        "SELECT {SESSION_COLS} FROM sessions s WHERE s.account_id = $1 \
                         ORDER BY s.created_at DESC, s.id"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(account.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| session_at(r, 0)).collect()
                }

                async fn delete_session(&self, account: AccountId, id: SessionId) -> Result<bool, StoreError> {
                    let r = sqlx::query("DELETE FROM sessions WHERE id = $1 AND account_id = $2")
                        .bind(id.to_string())
                        .bind(account.to_string())
                        .execute(&self.pool)
                        .await;
                    self.forget_session(id).await;
                    let r = r.map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn delete_sessions_except(&self, account: AccountId, keep: Option<SessionId>) -> Result<u64, StoreError> {
                    let keep = keep.map(|k| k.to_string()).unwrap_or_default();
                    let r = sqlx::query("DELETE FROM sessions WHERE account_id = $1 AND id <> $2")
                        .bind(account.to_string())
                        .bind(keep)
                        .execute(&self.pool)
                        .await;
                    self.forget_account(account).await;
                    let r = r.map_err(map_err)?;
                    Ok(r.rows_affected())
                }

                async fn sweep_sessions(&self, now: Timestamp, idle_cutoff: Timestamp) -> Result<u64, StoreError> {
                    let r = sqlx::query("DELETE FROM sessions WHERE expires_at <= $1 OR last_seen_at <= $2")
                        .bind(now.millis())
                        .bind(idle_cutoff.millis())
                        .execute(&self.pool)
                        .await;
                    // Expired device tokens go with them, and so do all but
                    // each account's newest: clients that never send their
                    // token back (scripts) would otherwise pile rows up. Here
                    // rather than at sign-in, off the hot path.
                    if let Err(e) = sqlx::query(
                        "DELETE FROM known_devices WHERE expires_at <= $1 OR (account_id, token_hash) IN \
                         (SELECT account_id, token_hash FROM (SELECT account_id, token_hash, ROW_NUMBER() OVER \
                            (PARTITION BY account_id ORDER BY created_at DESC, token_hash) AS newest \
                          FROM known_devices) ranked WHERE newest > $2)",
                    )
                    .bind(now.millis())
                    .bind(tessera_core::store::DEVICES_PER_ACCOUNT)
                    .execute(&self.pool)
                    .await
                    {
                        tracing::warn!(error = %e, "could not sweep devices");
                    }
                    self.forget_all().await;
                    let r = r.map_err(map_err)?;
                    Ok(r.rows_affected())
                }
            }

            /// The who-am-I query: account columns first, then session columns.
            const fn const_format_join() -> &'static str {
                "SELECT a.id, a.email, a.display_name, a.kind, a.role, a.active, a.password_hash, \
                 a.created_at, s.id, s.account_id, s.client, s.aal, s.methods, s.created_at, \
                 s.verified_at, s.last_seen_at, s.expires_at, s.ip, s.device, s.restricted \
                 FROM sessions s JOIN accounts a ON a.id = s.account_id WHERE s.token_hash = $1"
            }

            #[async_trait]
            impl AuditStore for $store {
                async fn append_audit(&self, at: Timestamp, e: &NewAuditEvent) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO audit_events (at, kind, actor_id, subject_id, ip, detail) \
                         VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(at.millis())
                    .bind(e.kind.as_str())
                    .bind(e.actor.map(|a| a.to_string()))
                    .bind(e.subject.map(|a| a.to_string()))
                    .bind(e.ip.as_deref())
                    .bind(&e.detail)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn list_audit(&self, f: &AuditFilter) -> Result<Vec<AuditEvent>, StoreError> {
                    let mut q: QueryBuilder<$db> = QueryBuilder::new(
                        "SELECT id, at, kind, actor_id, subject_id, ip, detail FROM audit_events WHERE 1 = 1",
                    );
                    if let Some(k) = f.kind {
                        q.push(" AND kind = ").push_bind(k.as_str());
                    }
                    if let Some(a) = f.actor {
                        q.push(" AND actor_id = ").push_bind(a.to_string());
                    }
                    if let Some(s) = f.subject {
                        q.push(" AND subject_id = ").push_bind(s.to_string());
                    }
                    if let Some(t) = f.since {
                        q.push(" AND at >= ").push_bind(t.millis());
                    }
                    if let Some(t) = f.until {
                        q.push(" AND at < ").push_bind(t.millis());
                    }
                    if let Some(b) = f.before_id {
                        q.push(" AND id < ").push_bind(b);
                    }
                    q.push(" ORDER BY id DESC LIMIT ").push_bind(i64::from(f.limit.max(1)));
                    let rows = q.build().fetch_all(&self.pool).await.map_err(map_err)?;
                    rows.iter().map(audit_at).collect()
                }
            }

            #[async_trait]
            impl Store for $store {
                fn backend(&self) -> &'static str {
                    $backend
                }

                async fn ping(&self) -> Result<(), StoreError> {
                    sqlx::query("SELECT 1").execute(&self.pool).await.map_err(map_err)?;
                    Ok(())
                }

                async fn apply(&self, effects: &Effects) -> Result<tessera_core::store::Applied, StoreError> {
                    let r = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let applied = apply_effects(&mut tx, effects).await?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(applied)
                    }
                    .await;
                    self.forget_effects(effects).await;
                    r
                }

                fn pool_state(&self) -> (u32, u32) {
                    (self.pool.size(), u32::try_from(self.pool.num_idle()).unwrap_or(u32::MAX))
                }
            }
        }
    };
}

pub(crate) use sql_store;
