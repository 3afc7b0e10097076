//! API tokens and service accounts, in SQL both backends accept.
//!
//! A token is looked up by the SHA-256 of its secret through the same
//! who-am-I cache as sessions: a lookup takes its ticket before the read,
//! and revocation evicts (here and, on PostgreSQL, on every node by
//! `NOTIFY`) after its statement, so it wins at once. Conversion of a
//! person's account to a service account is one transaction that first
//! writes every active human sysadmin's row, so the "last sysadmin" count
//! read inside it cannot change underneath (PostgreSQL holds those rows'
//! locks, SQLite its write lock).

macro_rules! tokens_store {
    ($store:ident, $db:ty) => {
        mod tokens_impl {
            use super::$store;
            use super::store_impl::{account_at, apply_effects};
            use crate::touches::Touch;
            use crate::cache::Fill;
            use crate::error::{corrupt, map_err};
            use crate::sql_impl::{ACCOUNT_COLS, ACCOUNT_COL_COUNT};
            use async_trait::async_trait;
            use sqlx::Row;
            use std::sync::LazyLock;
            use tessera_core::account::Account;
            use tessera_core::apitoken::{ApiToken, ApiTokenId, scopes_from_text, scopes_to_text};
            use tessera_core::clock::Timestamp;
            use tessera_core::ids::AccountId;
            use tessera_core::store::{ApiTokenStore, Conversion, Effects, StoreError};

            type DbRow = <$db as sqlx::Database>::Row;

            const TOKEN_COLS: &str = "t.id, t.account_id, t.label, t.scopes, t.created_by, \
                 t.created_at, t.expires_at, t.last_used_at, t.last_used_ip";

            fn token_at(r: &DbRow, base: usize) -> Result<ApiToken, StoreError> {
                let id: String = r.try_get(base).map_err(map_err)?;
                let account: String = r.try_get(base + 1).map_err(map_err)?;
                let scopes: String = r.try_get(base + 3).map_err(map_err)?;
                let by: Option<String> = r.try_get(base + 4).map_err(map_err)?;
                Ok(ApiToken {
                    id: id.parse().map_err(|e| corrupt("token id", e))?,
                    account_id: account.parse().map_err(|e| corrupt("token account", e))?,
                    label: r.try_get(base + 2).map_err(map_err)?,
                    scopes: scopes_from_text(&scopes),
                    created_by: by
                        .map(|b| b.parse().map_err(|e| corrupt("token creator", e)))
                        .transpose()?,
                    created_at: Timestamp(r.try_get(base + 5).map_err(map_err)?),
                    expires_at: Timestamp(r.try_get(base + 6).map_err(map_err)?),
                    last_used_at: r
                        .try_get::<Option<i64>, _>(base + 7)
                        .map_err(map_err)?
                        .map(Timestamp),
                    last_used_ip: r.try_get(base + 8).map_err(map_err)?,
                })
            }

            /// What a conversion removes besides the password: everything
            /// that lets a person sign in or proves a second step.
            const CONVERSION_DELETES: &[&str] = &[
                "DELETE FROM sessions WHERE account_id = $1",
                "DELETE FROM signin_flows WHERE account_id = $1",
                "DELETE FROM totp_credentials WHERE account_id = $1",
                "DELETE FROM totp_pending WHERE account_id = $1",
                "DELETE FROM recovery_keys WHERE account_id = $1",
                "DELETE FROM webauthn_credentials WHERE account_id = $1",
                "DELETE FROM webauthn_ceremonies WHERE account_id = $1",
                "DELETE FROM sms_phones WHERE account_id = $1",
                "DELETE FROM sms_pending WHERE account_id = $1",
                "DELETE FROM otp_codes WHERE account_id = $1",
                "DELETE FROM sms_send_budget WHERE account_id = $1",
                "DELETE FROM mail_send_budget WHERE account_id = $1",
                "DELETE FROM second_step_prefs WHERE account_id = $1",
                "DELETE FROM known_devices WHERE account_id = $1",
            ];

            impl $store {
                pub(crate) async fn forget_token(&self, id: ApiTokenId) {
                    self.cache.evict_token(id);
                    self.broadcast(&format!("t:{id}")).await;
                }
            }

            #[async_trait]
            impl ApiTokenStore for $store {
                async fn insert_api_token_with(
                    &self,
                    t: &ApiToken,
                    token_hash: &[u8],
                    effects: &Effects,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO api_tokens (id, token_hash, account_id, label, scopes, \
                         created_by, created_at, expires_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                    )
                    .bind(t.id.to_string())
                    .bind(token_hash)
                    .bind(t.account_id.to_string())
                    .bind(&t.label)
                    .bind(scopes_to_text(&t.scopes))
                    .bind(t.created_by.map(|a| a.to_string()))
                    .bind(t.created_at.millis())
                    .bind(t.expires_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn api_token_by_hash(
                    &self,
                    token_hash: &[u8],
                ) -> Result<Option<(ApiToken, Account)>, StoreError> {
                    if let Some(hit) = self.cache.get_token(token_hash) {
                        return Ok(Some(hit));
                    }
                    let _fill = match self.cache.token_fill(token_hash).await {
                        Fill::Cached(hit) => return Ok(Some(hit)),
                        Fill::Read(leading) => leading,
                    };
                    // Before the read: a revocation that commits after it
                    // bumps the generation, and the fill below is refused.
                    let ticket = self.cache.ticket();
                    // Formatted once: this runs on every miss.
                    static SQL: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {ACCOUNT_COLS}, {TOKEN_COLS} FROM api_tokens t \
                             JOIN accounts a ON a.id = t.account_id WHERE t.token_hash = $1"
                        )
                    });
                    let row = sqlx::query(SQL.as_str())
                        .bind(token_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some(r) = row else { return Ok(None) };
                    let account = account_at(&r, 0)?;
                    let token = token_at(&r, ACCOUNT_COL_COUNT)?;
                    self.cache.put_token(ticket, token_hash, &token, &account);
                    Ok(Some((token, account)))
                }

                async fn touch_api_token(
                    &self,
                    id: ApiTokenId,
                    now: Timestamp,
                    ip: Option<&str>,
                    cutoff: Timestamp,
                ) -> Result<bool, StoreError> {
                    // This node's copy first, so the requests racing this one
                    // do not each write too (see `SessionCache::touch_token`).
                    self.cache.touch_token(id, now, ip, cutoff);
                    // Committed with the other touches due now (see `touches`).
                    let touch = Touch::Token { id, at: now, ip: ip.map(str::to_owned), cutoff };
                    self.touches.touch(touch).await
                }

                async fn api_token_by_id(
                    &self,
                    id: ApiTokenId,
                ) -> Result<Option<ApiToken>, StoreError> {
                    let sql = format!("SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.id = $1");
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| token_at(&r, 0)).transpose()
                }

                async fn api_tokens_of(&self, account: AccountId) -> Result<Vec<ApiToken>, StoreError> {
                    let sql = format!(
                        "SELECT {TOKEN_COLS} FROM api_tokens t WHERE t.account_id = $1 \
                         ORDER BY t.created_at DESC, t.id"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(account.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter().map(|r| token_at(r, 0)).collect()
                }

                async fn delete_api_token_with(
                    &self,
                    id: ApiTokenId,
                    account: Option<AccountId>,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let n = sqlx::query(
                            "DELETE FROM api_tokens WHERE id = $1 AND ($2 = '' OR account_id = $2)",
                        )
                        .bind(id.to_string())
                        .bind(account.map(|a| a.to_string()).unwrap_or_default())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                        if n != 1 {
                            return Ok(false);
                        }
                        apply_effects(&mut tx, effects).await?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(true)
                    }
                    .await;
                    self.forget_token(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn delete_api_tokens_of(&self, account: AccountId) -> Result<u64, StoreError> {
                    let r = sqlx::query("DELETE FROM api_tokens WHERE account_id = $1")
                        .bind(account.to_string())
                        .execute(&self.pool)
                        .await;
                    self.forget_account(account).await;
                    Ok(r.map_err(map_err)?.rows_affected())
                }

                async fn list_service_accounts(&self) -> Result<Vec<(Account, String)>, StoreError> {
                    let sql = format!(
                        "SELECT {ACCOUNT_COLS}, a.description FROM accounts a \
                         WHERE a.kind = 'service' ORDER BY a.display_name, a.email"
                    );
                    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?;
                    rows.iter()
                        .map(|r| {
                            let d: Option<String> =
                                r.try_get(ACCOUNT_COL_COUNT).map_err(map_err)?;
                            Ok((account_at(r, 0)?, d.unwrap_or_default()))
                        })
                        .collect()
                }

                async fn service_description(&self, id: AccountId) -> Result<Option<String>, StoreError> {
                    let d: Option<Option<String>> = sqlx::query_scalar(
                        "SELECT description FROM accounts WHERE id = $1 AND kind = 'service'",
                    )
                    .bind(id.to_string())
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(d.map(Option::unwrap_or_default))
                }

                async fn update_service_account_with(
                    &self,
                    id: AccountId,
                    name: Option<&str>,
                    description: Option<&str>,
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let n = sqlx::query(
                            "UPDATE accounts SET display_name = COALESCE($1, display_name), \
                             description = COALESCE($2, description), updated_at = $3 \
                             WHERE id = $4 AND kind = 'service'",
                        )
                        .bind(name)
                        .bind(description)
                        .bind(now.millis())
                        .bind(id.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                        if n != 1 {
                            return Ok(false);
                        }
                        apply_effects(&mut tx, effects).await?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(true)
                    }
                    .await;
                    self.forget_account(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn insert_service_account(
                    &self,
                    a: &Account,
                    description: &str,
                    effects: &Effects,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO accounts (id, email, display_name, kind, role, active, \
                         password_hash, created_at, updated_at, description) \
                         VALUES ($1, $2, $3, 'service', $4, $5, NULL, $6, $6, $7)",
                    )
                    .bind(a.id.to_string())
                    .bind(a.email.as_str())
                    .bind(&a.display_name)
                    .bind(a.role.as_str())
                    .bind(a.active)
                    .bind(a.created_at.millis())
                    .bind(description)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn delete_service_account_with(&self, id: AccountId, effects: &Effects) -> Result<bool, StoreError> {
                    let r = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        // Effects first: they may count the tokens that go
                        // with the account (ON DELETE CASCADE otherwise).
                        let n = sqlx::query("UPDATE accounts SET updated_at = updated_at WHERE id = $1 AND kind = 'service'")
                            .bind(id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?
                            .rows_affected();
                        if n != 1 {
                            return Ok(false);
                        }
                        apply_effects(&mut tx, effects).await?;
                        sqlx::query("DELETE FROM accounts WHERE id = $1 AND kind = 'service'")
                            .bind(id.to_string())
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(true)
                    }
                    .await;
                    self.forget_account(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn convert_to_service_with(
                    &self,
                    id: AccountId,
                    description: &str,
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<Conversion, StoreError> {
                    let outcome = self.convert_in_tx(id, description, now, effects).await;
                    self.forget_account(id).await;
                    self.forget_effects(effects).await;
                    outcome
                }
            }

            impl $store {
                async fn convert_in_tx(
                    &self,
                    id: AccountId,
                    description: &str,
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<Conversion, StoreError> {
                    let id = id.to_string();
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    // Every sysadmin who can sign in, locked first and in
                    // one statement: parallel conversions of the last two
                    // wait for each other and the second sees the first.
                    sqlx::query(
                        "UPDATE accounts SET updated_at = updated_at \
                         WHERE role = 'sysadmin' AND kind = 'human' AND active",
                    )
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let row = sqlx::query(
                        "SELECT kind, role, active FROM accounts WHERE id = $1",
                    )
                    .bind(&id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let Some(row) = row else {
                        return Ok(Conversion::NotFound);
                    };
                    let kind: String = row.try_get(0).map_err(map_err)?;
                    let role: String = row.try_get(1).map_err(map_err)?;
                    let active: bool = row.try_get(2).map_err(map_err)?;
                    if kind == "service" {
                        return Ok(Conversion::AlreadyService);
                    }
                    if role == "sysadmin" && active {
                        let others: i64 = sqlx::query_scalar(
                            "SELECT COUNT(*) FROM accounts WHERE role = 'sysadmin' \
                             AND kind = 'human' AND active AND id <> $1",
                        )
                        .bind(&id)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if others == 0 {
                            return Ok(Conversion::LastSysadmin);
                        }
                    }
                    sqlx::query(
                        "UPDATE accounts SET kind = 'service', password_hash = NULL, \
                         break_glass_hash = NULL, break_glass_expires_at = NULL, \
                         description = $1, updated_at = $2 WHERE id = $3",
                    )
                    .bind(description)
                    .bind(now.millis())
                    .bind(&id)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    for sql in CONVERSION_DELETES {
                        sqlx::query(*sql)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Conversion::Converted)
                }
            }
        }
    };
}

pub(crate) use tokens_store;
