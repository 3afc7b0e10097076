//! Two-step verification, flows, outbox and key check, in SQL both
//! backends accept; instantiated per backend like [`crate::sql_impl`].
//!
//! Every race is settled inside one statement or one transaction here: a
//! step is consumed by `UPDATE … WHERE last_step < $step`, a recovery key by
//! `UPDATE … WHERE key_hash = $old`, an outbox message by an `UPDATE … RETURNING` that
//! leases it, and its outcome by `UPDATE … WHERE attempts = $attempt`.

macro_rules! twostep_store {
    // `$skip_locked` ends the outbox claim's row selection: PostgreSQL's
    // `FOR UPDATE SKIP LOCKED`, so parallel claimers pass each other by;
    // empty on SQLite, where writers are serialised anyway.
    ($store:ident, $db:ty, $skip_locked:literal) => {
        mod twostep_impl {
            use super::$store;
            use crate::error::map_err;
            use async_trait::async_trait;
            use super::store_impl::{account_at, apply_effects};
            use crate::sql_impl::ACCOUNT_COLS;
            use sqlx::Row;
            use tessera_core::account::Account;
            use tessera_core::clock::Timestamp;
            use tessera_core::ids::AccountId;
            use tessera_core::store::{
                Effects, FlowContext, FlowRecord, FlowStore, IfFirst, KeyCheckStore, OutboxMessage,
                OutboxStore, StoreError, TotpRecord, TwoStepStore, OUTBOX_NEVER,
            };
            use tessera_core::twostep::methods::Addition;

            const OUTBOX_COLUMNS: &str =
                "id, channel, recipient, subject, body, created_at, attempts, next_attempt_at, delivered_at, last_error";

            /// A flow from the first seven columns of a row.
            fn flow_at(r: &<$db as sqlx::Database>::Row) -> Result<FlowRecord, StoreError> {
                let corrupt = |what: &str, e: String| StoreError::Corrupt(format!("flow {what}: {e}"));
                let account: String = r.try_get(1).map_err(map_err)?;
                let client: String = r.try_get(2).map_err(map_err)?;
                let method: String = r.try_get(4).map_err(map_err)?;
                Ok(FlowRecord {
                    id_hash: r.try_get(0).map_err(map_err)?,
                    account_id: account.parse().map_err(|e: uuid::Error| corrupt("account", e.to_string()))?,
                    client: client.parse().map_err(|e| corrupt("client", e))?,
                    binding: r.try_get(3).map_err(map_err)?,
                    first_method: method.parse().map_err(|e| corrupt("method", e))?,
                    created_at: Timestamp(r.try_get(5).map_err(map_err)?),
                    expires_at: Timestamp(r.try_get(6).map_err(map_err)?),
                })
            }

            fn outbox_row(r: &<$db as sqlx::Database>::Row) -> Result<OutboxMessage, StoreError> {
                let attempts: i64 = r.try_get(6).map_err(map_err)?;
                let delivered: Option<i64> = r.try_get(8).map_err(map_err)?;
                Ok(OutboxMessage {
                    id: r.try_get(0).map_err(map_err)?,
                    channel: r.try_get(1).map_err(map_err)?,
                    recipient: r.try_get(2).map_err(map_err)?,
                    subject: r.try_get(3).map_err(map_err)?,
                    body: r.try_get(4).map_err(map_err)?,
                    created_at: Timestamp(r.try_get(5).map_err(map_err)?),
                    attempts: i32::try_from(attempts)
                        .map_err(|_| StoreError::Corrupt(format!("outbox attempts {attempts}")))?,
                    next_attempt_at: Timestamp(r.try_get(7).map_err(map_err)?),
                    delivered_at: delivered.map(Timestamp),
                    last_error: r.try_get(9).map_err(map_err)?,
                })
            }

            impl $store {
                async fn activate_totp_tx(
                    &self,
                    account: AccountId,
                    sealed: &[u8],
                    step: i64,
                    recovery_hash: Option<&str>,
                    now: Timestamp,
                    effects: &IfFirst,
                ) -> Result<Addition, StoreError> {
                    let id = account.to_string();
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    // Lock the account's row like every method change (see
                    // sql_methods): whether this is the first method, and so
                    // brings the recovery key, is decided under the lock.
                    sqlx::query("UPDATE accounts SET display_name = display_name WHERE id = $1")
                        .bind(&id)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    let methods_before: i64 = sqlx::query_scalar(
                        "SELECT (SELECT COUNT(*) FROM totp_credentials WHERE account_id = $1) + \
                         (SELECT COUNT(*) FROM webauthn_credentials WHERE account_id = $1) + \
                         (SELECT COUNT(*) FROM sms_phones WHERE account_id = $1)",
                    )
                    .bind(&id)
                    .fetch_one(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let taken = sqlx::query("DELETE FROM totp_pending WHERE account_id = $1 AND sealed_secret = $2")
                        .bind(&id)
                        .bind(sealed)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    if taken.rows_affected() != 1 {
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(Addition::PendingChanged);
                    }
                    let first = methods_before == 0;
                    if first && recovery_hash.is_none() {
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(Addition::NeedsRecoveryKey);
                    }
                    sqlx::query(
                        "INSERT INTO totp_credentials (account_id, sealed_secret, last_step, created_at) \
                         VALUES ($1, $2, $3, $4) ON CONFLICT (account_id) DO UPDATE SET \
                         sealed_secret = excluded.sealed_secret, last_step = excluded.last_step, \
                         created_at = excluded.created_at",
                    )
                    .bind(&id)
                    .bind(sealed)
                    .bind(step)
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    if let (Some(hash), true) = (recovery_hash, first) {
                        sqlx::query(
                            "INSERT INTO recovery_keys (account_id, key_hash, created_at) VALUES ($1, $2, $3) \
                             ON CONFLICT (account_id) DO UPDATE SET key_hash = excluded.key_hash, \
                             created_at = excluded.created_at",
                        )
                        .bind(&id)
                        .bind(hash)
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    }
                    apply_effects(&mut tx, effects.pick(first)).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Addition::Added { first })
                }
            }

            #[async_trait]
            impl TwoStepStore for $store {
                async fn totp_of(&self, account: AccountId) -> Result<Option<TotpRecord>, StoreError> {
                    let row = sqlx::query("SELECT sealed_secret, last_step FROM totp_credentials WHERE account_id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| -> Result<TotpRecord, StoreError> {
                        Ok(TotpRecord {
                            sealed_secret: r.try_get(0).map_err(map_err)?,
                            last_step: r.try_get(1).map_err(map_err)?,
                        })
                    })
                    .transpose()
                }

                async fn set_pending_totp(&self, account: AccountId, sealed: &[u8], now: Timestamp) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO totp_pending (account_id, sealed_secret, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (account_id) DO UPDATE SET sealed_secret = excluded.sealed_secret, \
                         created_at = excluded.created_at",
                    )
                    .bind(account.to_string())
                    .bind(sealed)
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn pending_totp(&self, account: AccountId) -> Result<Option<(Vec<u8>, Timestamp)>, StoreError> {
                    let row = sqlx::query("SELECT sealed_secret, created_at FROM totp_pending WHERE account_id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| -> Result<(Vec<u8>, Timestamp), StoreError> {
                        Ok((r.try_get(0).map_err(map_err)?, Timestamp(r.try_get(1).map_err(map_err)?)))
                    })
                    .transpose()
                }

                async fn activate_totp_with(
                    &self,
                    account: AccountId,
                    sealed: &[u8],
                    step: i64,
                    recovery_hash: Option<&str>,
                    now: Timestamp,
                    effects: &IfFirst,
                ) -> Result<Addition, StoreError> {
                    let r = self
                        .activate_totp_tx(account, sealed, step, recovery_hash, now, effects)
                        .await;
                    // Either set's evictions: which one applied is only
                    // known inside, and an extra eviction costs one read.
                    self.forget_effects(&effects.first).await;
                    self.forget_effects(&effects.otherwise).await;
                    r
                }

                async fn consume_totp_step(&self, account: AccountId, step: i64) -> Result<bool, StoreError> {
                    let r = sqlx::query("UPDATE totp_credentials SET last_step = $2 WHERE account_id = $1 AND last_step < $2")
                        .bind(account.to_string())
                        .bind(step)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn recovery_key_hash(&self, account: AccountId) -> Result<Option<String>, StoreError> {
                    sqlx::query_scalar("SELECT key_hash FROM recovery_keys WHERE account_id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)
                }

                async fn replace_recovery_key_with(
                    &self,
                    account: AccountId,
                    old: Option<&str>,
                    new_hash: &str,
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    let r = match old {
                        Some(old) => sqlx::query(
                            "UPDATE recovery_keys SET key_hash = $3, created_at = $4 \
                             WHERE account_id = $1 AND key_hash = $2",
                        )
                        .bind(account.to_string())
                        .bind(old)
                        .bind(new_hash)
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await,
                        None => sqlx::query(
                            "UPDATE recovery_keys SET key_hash = $2, created_at = $3 WHERE account_id = $1",
                        )
                        .bind(account.to_string())
                        .bind(new_hash)
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await,
                    }
                    .map_err(map_err)?;
                    if r.rows_affected() != 1 {
                        return Ok(false);
                    }
                    let applied = apply_effects(&mut tx, effects).await;
                    let committed = match applied {
                        Ok(_) => tx.commit().await.map_err(map_err),
                        Err(e) => Err(e),
                    };
                    self.forget_effects(effects).await;
                    committed.map(|()| true)
                }

                async fn disable_two_step_with(&self, account: AccountId, effects: &Effects) -> Result<bool, StoreError> {
                    let id = account.to_string();
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    // Every method counts: two-step verification was on if
                    // any of them existed.
                    let mut had = 0;
                    for sql in [
                        "DELETE FROM totp_credentials WHERE account_id = $1",
                        "DELETE FROM webauthn_credentials WHERE account_id = $1",
                        "DELETE FROM sms_phones WHERE account_id = $1",
                    ] {
                        had += sqlx::query(sql)
                            .bind(&id)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?
                            .rows_affected();
                    }
                    for sql in [
                        "DELETE FROM totp_pending WHERE account_id = $1",
                        "DELETE FROM recovery_keys WHERE account_id = $1",
                        "DELETE FROM sms_pending WHERE account_id = $1",
                        "DELETE FROM otp_codes WHERE account_id = $1",
                        "DELETE FROM second_step_prefs WHERE account_id = $1",
                    ] {
                        sqlx::query(sql).bind(&id).execute(&mut *tx).await.map_err(map_err)?;
                    }
                    // The effects report a change: only when there was one.
                    let applied = if had > 0 {
                        apply_effects(&mut tx, effects).await.map(|_| ())
                    } else {
                        Ok(())
                    };
                    let committed = match applied {
                        Ok(()) => tx.commit().await.map_err(map_err),
                        Err(e) => Err(e),
                    };
                    // Sessions verified with the removed methods must be
                    // looked up afresh.
                    self.forget_account(account).await;
                    self.forget_effects(effects).await;
                    committed?;
                    Ok(had > 0)
                }
            }

            #[async_trait]
            impl FlowStore for $store {
                async fn insert_flow(
                    &self,
                    f: &FlowRecord,
                    throttle_success: Option<(&str, Option<&str>)>,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    if let Some((claimed, also)) = throttle_success {
                        sqlx::query(crate::sql_throttle::SUCCESS)
                            .bind(claimed)
                            .bind(also.unwrap_or(""))
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?;
                    }
                    sqlx::query(
                        "INSERT INTO signin_flows (id_hash, account_id, client, binding, first_method, created_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7)",
                    )
                    .bind(f.id_hash.as_slice())
                    .bind(f.account_id.to_string())
                    .bind(f.client.as_str())
                    .bind(f.binding.as_slice())
                    .bind(f.first_method.as_str())
                    .bind(f.created_at.millis())
                    .bind(f.expires_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn flow_by_id_hash(
                    &self,
                    id_hash: &[u8],
                ) -> Result<Option<(FlowRecord, Account)>, StoreError> {
                    // One read for both: every step of a flow needs its account.
                    let sql = format!(
                        "SELECT f.id_hash, f.account_id, f.client, f.binding, f.first_method, f.created_at, \
                         f.expires_at, {ACCOUNT_COLS} \
                         FROM signin_flows f JOIN accounts a ON a.id = f.account_id WHERE f.id_hash = $1"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some(r) = row else { return Ok(None) };
                    Ok(Some((flow_at(&r)?, account_at(&r, 7)?)))
                }

                async fn flow_context(
                    &self,
                    id_hash: &[u8],
                    backoff_prefix: &str,
                ) -> Result<Option<FlowContext>, StoreError> {
                    let sql = format!(
                        "SELECT f.id_hash, f.account_id, f.client, f.binding, f.first_method, f.created_at, \
                         f.expires_at, t.sealed_secret, t.last_step, l.failures, l.blocked_until, {ACCOUNT_COLS} \
                         FROM signin_flows f JOIN accounts a ON a.id = f.account_id \
                         LEFT JOIN totp_credentials t ON t.account_id = f.account_id \
                         LEFT JOIN limiter l ON l.key = $2 || f.account_id \
                         WHERE f.id_hash = $1"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id_hash)
                        .bind(backoff_prefix)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some(r) = row else { return Ok(None) };
                    let flow = flow_at(&r)?;
                    let sealed: Option<Vec<u8>> = r.try_get(7).map_err(map_err)?;
                    let last_step: Option<i64> = r.try_get(8).map_err(map_err)?;
                    let failures: Option<i64> = r.try_get(9).map_err(map_err)?;
                    let blocked: Option<i64> = r.try_get(10).map_err(map_err)?;
                    Ok(Some(FlowContext {
                        flow,
                        account: account_at(&r, 11)?,
                        totp: sealed.zip(last_step).map(|(sealed_secret, last_step)| TotpRecord {
                            sealed_secret,
                            last_step,
                        }),
                        backoff: failures
                            .zip(blocked)
                            .map(|(f, b)| (f.clamp(0, i64::from(u32::MAX)) as u32, Timestamp(b))),
                    }))
                }

                async fn delete_flow(&self, id_hash: &[u8]) -> Result<bool, StoreError> {
                    let r = sqlx::query("DELETE FROM signin_flows WHERE id_hash = $1")
                        .bind(id_hash)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }
            }

            #[async_trait]
            impl OutboxStore for $store {
                async fn enqueue(&self, channel: &str, recipient: &str, subject: &str, body: &str, now: Timestamp) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO outbox (channel, recipient, subject, body, created_at, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(channel)
                    .bind(recipient)
                    .bind(subject)
                    .bind(body)
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn outbox_for(&self, recipient: &str) -> Result<Vec<OutboxMessage>, StoreError> {
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "SELECT {OUTBOX_COLUMNS} FROM outbox WHERE recipient = $1 ORDER BY id DESC"
                    )))
                    .bind(recipient)
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    rows.iter().map(outbox_row).collect()
                }

                async fn claim_due(&self, channel: &str, now: Timestamp, lease_ms: i64, limit: u32) -> Result<Vec<OutboxMessage>, StoreError> {
                    // One statement: the CTE picks (and on PostgreSQL
                    // locks, skipping rows another claimer holds) the oldest
                    // due messages, evaluated once (MATERIALIZED: an `IN
                    // (SELECT … LIMIT)` may be rescanned per row and claim
                    // more than `limit`); the UPDATE repeats the condition so
                    // a row claimed by someone else in between is left alone.
                    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "WITH picked AS MATERIALIZED (SELECT id AS picked_id FROM outbox \
                             WHERE channel = $1 AND delivered_at IS NULL AND next_attempt_at <= $2 \
                             ORDER BY next_attempt_at, id LIMIT $4 {}) \
                         UPDATE outbox SET attempts = attempts + 1, next_attempt_at = $2 + $3 \
                         FROM picked WHERE id = picked.picked_id \
                           AND delivered_at IS NULL AND next_attempt_at <= $2 \
                         RETURNING {OUTBOX_COLUMNS}",
                        $skip_locked
                    )))
                    .bind(channel)
                    .bind(now.millis())
                    .bind(lease_ms)
                    .bind(i64::from(limit))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut claimed = rows.iter().map(outbox_row).collect::<Result<Vec<_>, _>>()?;
                    claimed.sort_by_key(|m| m.id);
                    Ok(claimed)
                }

                async fn mark_delivered(&self, id: i64, attempt: i32, now: Timestamp) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE outbox SET delivered_at = $3, body = '', last_error = NULL \
                         WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL",
                    )
                    .bind(id)
                    .bind(i64::from(attempt))
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn mark_failed(&self, id: i64, attempt: i32, next_attempt_at: Timestamp, error: &str) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE outbox SET next_attempt_at = $3, last_error = $4 \
                         WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL",
                    )
                    .bind(id)
                    .bind(i64::from(attempt))
                    .bind(next_attempt_at.millis())
                    .bind(error)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn mark_abandoned(&self, id: i64, attempt: i32, error: &str) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE outbox SET next_attempt_at = $3, last_error = $4, body = '' \
                         WHERE id = $1 AND attempts = $2 AND delivered_at IS NULL",
                    )
                    .bind(id)
                    .bind(i64::from(attempt))
                    .bind(OUTBOX_NEVER.millis())
                    .bind(error)
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }
            }

            #[async_trait]
            impl KeyCheckStore for $store {
                async fn key_canary(&self) -> Result<Option<Vec<u8>>, StoreError> {
                    sqlx::query_scalar("SELECT canary FROM key_check WHERE id = 1")
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)
                }

                async fn init_key_canary(&self, sealed: &[u8]) -> Result<Vec<u8>, StoreError> {
                    sqlx::query("INSERT INTO key_check (id, canary) VALUES (1, $1) ON CONFLICT (id) DO NOTHING")
                        .bind(sealed)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    sqlx::query_scalar("SELECT canary FROM key_check WHERE id = 1")
                        .fetch_one(&self.pool)
                        .await
                        .map_err(map_err)
                }

                async fn has_sealed_secrets(&self) -> Result<bool, StoreError> {
                    let n: i64 = sqlx::query_scalar(
                        "SELECT (SELECT COUNT(*) FROM totp_credentials) + (SELECT COUNT(*) FROM totp_pending) \
                         + (SELECT COUNT(*) FROM oidc_signing_keys)",
                    )
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(n > 0)
                }
            }
        }
    };
}

pub(crate) use twostep_store;
