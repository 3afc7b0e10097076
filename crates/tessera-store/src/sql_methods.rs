//! Second-step methods (security keys, passkeys, text messages), WebAuthn
//! ceremonies and texted codes, in SQL both backends accept.
//!
//! Every change to an account's methods runs in one transaction that
//! starts by writing the account's row: PostgreSQL then holds that row's
//! lock and SQLite its write lock until the commit, so the counts read
//! inside (is this the last method? the first?) cannot change underneath.

macro_rules! methods_store {
    ($store:ident, $db:ty) => {
        mod methods_impl {
            use super::$store;
            use crate::error::{corrupt, map_err};
            use async_trait::async_trait;
            use sqlx::Row;
            use tessera_core::clock::Timestamp;
            use tessera_core::ids::AccountId;
            use super::store_impl::apply_effects;
            use tessera_core::store::{
                CeremonyRecord, CeremonyStore, Effects, IfFirst, MethodStore, OtpRecord, OtpSend,
                OtpStore, OutgoingMessage, SendBudget, SendChannel, StoreError, WebauthnRecord,
            };
            use tessera_core::twostep::methods::{
                Addition, Inventory, KeySummary, MethodKind, Removal,
            };

            const LOCK_ACCOUNT: &str =
                "UPDATE accounts SET display_name = display_name WHERE id = $1";
            const COUNT_METHODS: &str = "SELECT \
                 (SELECT COUNT(*) FROM totp_credentials WHERE account_id = $1) + \
                 (SELECT COUNT(*) FROM webauthn_credentials WHERE account_id = $1) + \
                 (SELECT COUNT(*) FROM sms_phones WHERE account_id = $1)";
            const WEBAUTHN_COLS: &str = "id, account_id, kind, name, credential_id, credential, \
                 counter, created_at, last_used_at";

            fn webauthn_row(r: &<$db as sqlx::Database>::Row) -> Result<WebauthnRecord, StoreError> {
                let id: String = r.try_get(0).map_err(map_err)?;
                let account: String = r.try_get(1).map_err(map_err)?;
                let kind: String = r.try_get(2).map_err(map_err)?;
                Ok(WebauthnRecord {
                    id: id.parse().map_err(|e| corrupt("credential id", e))?,
                    account_id: account.parse().map_err(|e| corrupt("credential account", e))?,
                    kind: kind.parse().map_err(|e| corrupt("credential kind", e))?,
                    name: r.try_get(3).map_err(map_err)?,
                    credential_id: r.try_get(4).map_err(map_err)?,
                    credential: r.try_get(5).map_err(map_err)?,
                    counter: r.try_get(6).map_err(map_err)?,
                    created_at: Timestamp(r.try_get(7).map_err(map_err)?),
                    last_used_at: r.try_get::<Option<i64>, _>(8).map_err(map_err)?.map(Timestamp),
                })
            }

            /// Locks the account's row for the rest of the transaction;
            /// false if there is no such account.
            async fn lock_account(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
            ) -> Result<bool, StoreError> {
                let r = sqlx::query(LOCK_ACCOUNT)
                    .bind(id)
                    .execute(&mut **tx)
                    .await
                    .map_err(map_err)?;
                Ok(r.rows_affected() == 1)
            }

            async fn count_methods(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
            ) -> Result<i64, StoreError> {
                sqlx::query_scalar(COUNT_METHODS)
                    .bind(id)
                    .fetch_one(&mut **tx)
                    .await
                    .map_err(map_err)
            }

            /// Stores the recovery key of a first method.
            async fn insert_recovery_key(
                tx: &mut sqlx::Transaction<'_, $db>,
                id: &str,
                hash: &str,
                now: Timestamp,
            ) -> Result<(), StoreError> {
                sqlx::query(
                    "INSERT INTO recovery_keys (account_id, key_hash, created_at) VALUES ($1, $2, $3) \
                     ON CONFLICT (account_id) DO UPDATE SET key_hash = excluded.key_hash, \
                     created_at = excluded.created_at",
                )
                .bind(id)
                .bind(hash)
                .bind(now.millis())
                .execute(&mut **tx)
                .await
                .map_err(map_err)?;
                Ok(())
            }

            /// Deletes with `sql` unless that would remove the last method;
            /// `effects` go with a removal.
            async fn remove_one(
                store: &$store,
                account: AccountId,
                sql: &'static str,
                extra: Option<String>,
                effects: &Effects,
            ) -> Result<Removal, StoreError> {
                let r = remove_one_tx(store, account, sql, extra, effects).await;
                store.forget_effects(effects).await;
                r
            }

            async fn remove_one_tx(
                store: &$store,
                account: AccountId,
                sql: &'static str,
                extra: Option<String>,
                effects: &Effects,
            ) -> Result<Removal, StoreError> {
                let id = account.to_string();
                let mut tx = store.pool.begin().await.map_err(map_err)?;
                if !lock_account(&mut tx, &id).await? {
                    return Ok(Removal::NotFound);
                }
                let before = count_methods(&mut tx, &id).await?;
                let mut q = sqlx::query(sql).bind(&id);
                if let Some(x) = extra {
                    q = q.bind(x);
                }
                let gone = q.execute(&mut *tx).await.map_err(map_err)?.rows_affected();
                if gone == 0 {
                    return Ok(Removal::NotFound);
                }
                if before <= 1 {
                    tx.rollback().await.map_err(map_err)?;
                    return Ok(Removal::LastMethod);
                }
                apply_effects(&mut tx, effects).await?;
                tx.commit().await.map_err(map_err)?;
                Ok(Removal::Removed)
            }

            impl $store {
                async fn add_webauthn_tx(&self, rec: &WebauthnRecord, recovery_hash: Option<&str>, now: Timestamp, effects: &IfFirst) -> Result<Addition, StoreError> {
                    let id = rec.account_id.to_string();
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    if !lock_account(&mut tx, &id).await? {
                        return Err(StoreError::Conflict("no such account".into()));
                    }
                    let first = count_methods(&mut tx, &id).await? == 0;
                    if first && recovery_hash.is_none() {
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(Addition::NeedsRecoveryKey);
                    }
                    let inserted = sqlx::query(
                        "INSERT INTO webauthn_credentials (id, account_id, kind, name, credential_id, \
                         credential, counter, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
                         ON CONFLICT (credential_id) DO NOTHING",
                    )
                    .bind(rec.id.to_string())
                    .bind(&id)
                    .bind(rec.kind.as_str())
                    .bind(&rec.name)
                    .bind(&rec.credential_id)
                    .bind(&rec.credential)
                    .bind(rec.counter)
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    if inserted == 0 {
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(Addition::Duplicate);
                    }
                    if let (true, Some(hash)) = (first, recovery_hash) {
                        insert_recovery_key(&mut tx, &id, hash, now).await?;
                    }
                    apply_effects(&mut tx, effects.pick(first)).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Addition::Added { first })
                }
            }

            impl $store {
                async fn activate_sms_tx(&self, account: AccountId, phone: &str, recovery_hash: &str, now: Timestamp, effects: &Effects) -> Result<Addition, StoreError> {
                    let id = account.to_string();
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    if !lock_account(&mut tx, &id).await? {
                        return Err(StoreError::Conflict("no such account".into()));
                    }
                    if count_methods(&mut tx, &id).await? > 0 {
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(Addition::NotFirst);
                    }
                    let taken = sqlx::query("DELETE FROM sms_pending WHERE account_id = $1 AND phone = $2")
                        .bind(&id)
                        .bind(phone)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    if taken != 1 {
                        tx.rollback().await.map_err(map_err)?;
                        return Err(StoreError::Conflict("the pending phone number changed".into()));
                    }
                    sqlx::query("INSERT INTO sms_phones (account_id, phone, created_at) VALUES ($1, $2, $3)")
                        .bind(&id)
                        .bind(phone)
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    insert_recovery_key(&mut tx, &id, recovery_hash, now).await?;
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(Addition::Added { first: true })
                }
            }

            #[async_trait]
            impl MethodStore for $store {
                async fn inventory(&self, account: AccountId) -> Result<Inventory, StoreError> {
                    let rows = sqlx::query(
                        "SELECT 'totp', CAST(NULL AS TEXT), CAST(NULL AS TEXT), created_at, CAST(NULL AS BIGINT) \
                           FROM totp_credentials WHERE account_id = $1 \
                         UNION ALL SELECT 'sms', phone, CAST(NULL AS TEXT), created_at, CAST(NULL AS BIGINT) \
                           FROM sms_phones WHERE account_id = $1 \
                         UNION ALL SELECT kind, id, name, created_at, last_used_at \
                           FROM webauthn_credentials WHERE account_id = $1 \
                         UNION ALL SELECT 'last', last_method, CAST(NULL AS TEXT), CAST(0 AS BIGINT), CAST(NULL AS BIGINT) \
                           FROM second_step_prefs WHERE account_id = $1",
                    )
                    .bind(account.to_string())
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut inv = Inventory {
                        account: Some(account),
                        ..Inventory::default()
                    };
                    let mut keys = Vec::new();
                    for r in &rows {
                        let tag: String = r.try_get(0).map_err(map_err)?;
                        let a: Option<String> = r.try_get(1).map_err(map_err)?;
                        match tag.as_str() {
                            "totp" => inv.totp = true,
                            "sms" => inv.sms_phone = a,
                            // A method name written by an older or newer
                            // version is ignored rather than fatal.
                            "last" => inv.last_used = a.and_then(|m| m.parse().ok()),
                            kind => keys.push(KeySummary {
                                id: a
                                    .unwrap_or_default()
                                    .parse()
                                    .map_err(|e| corrupt("credential id", e))?,
                                kind: kind.parse().map_err(|e| corrupt("credential kind", e))?,
                                name: r.try_get::<Option<String>, _>(2).map_err(map_err)?.unwrap_or_default(),
                                created_at: Timestamp(r.try_get(3).map_err(map_err)?),
                                last_used_at: r.try_get::<Option<i64>, _>(4).map_err(map_err)?.map(Timestamp),
                            }),
                        }
                    }
                    keys.sort_by_key(|k| k.created_at);
                    inv.keys = keys;
                    Ok(inv)
                }

                async fn webauthn_of(&self, account: AccountId) -> Result<Vec<WebauthnRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {WEBAUTHN_COLS} FROM webauthn_credentials WHERE account_id = $1 ORDER BY created_at"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(account.to_string())
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(webauthn_row)
                        .collect()
                }

                async fn webauthn_by_credential_id(&self, credential_id: &[u8]) -> Result<Option<WebauthnRecord>, StoreError> {
                    let sql = format!("SELECT {WEBAUTHN_COLS} FROM webauthn_credentials WHERE credential_id = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(credential_id)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .as_ref()
                        .map(webauthn_row)
                        .transpose()
                }

                async fn add_webauthn_with(&self, rec: &WebauthnRecord, recovery_hash: Option<&str>, now: Timestamp, effects: &IfFirst) -> Result<Addition, StoreError> {
                    let r = self.add_webauthn_tx(rec, recovery_hash, now, effects).await;
                    self.forget_effects(&effects.first).await;
                    self.forget_effects(&effects.otherwise).await;
                    r
                }

                async fn rename_webauthn(&self, account: AccountId, id: uuid::Uuid, name: &str) -> Result<bool, StoreError> {
                    let r = sqlx::query("UPDATE webauthn_credentials SET name = $3 WHERE account_id = $1 AND id = $2")
                        .bind(account.to_string())
                        .bind(id.to_string())
                        .bind(name)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn record_webauthn_use(&self, id: uuid::Uuid, old_counter: i64, new_counter: i64, credential: &str, now: Timestamp) -> Result<bool, StoreError> {
                    let r = sqlx::query(
                        "UPDATE webauthn_credentials SET counter = $3, credential = $4, last_used_at = $5 \
                         WHERE id = $1 AND counter = $2",
                    )
                    .bind(id.to_string())
                    .bind(old_counter)
                    .bind(new_counter)
                    .bind(credential)
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn remove_webauthn_with(&self, account: AccountId, id: uuid::Uuid, effects: &Effects) -> Result<Removal, StoreError> {
                    remove_one(
                        self,
                        account,
                        "DELETE FROM webauthn_credentials WHERE account_id = $1 AND id = $2",
                        Some(id.to_string()),
                        effects,
                    )
                    .await
                }

                async fn remove_totp_with(&self, account: AccountId, effects: &Effects) -> Result<Removal, StoreError> {
                    remove_one(self, account, "DELETE FROM totp_credentials WHERE account_id = $1", None, effects).await
                }

                async fn remove_sms_with(&self, account: AccountId, effects: &Effects) -> Result<Removal, StoreError> {
                    remove_one(self, account, "DELETE FROM sms_phones WHERE account_id = $1", None, effects).await
                }

                async fn set_pending_phone(&self, account: AccountId, phone: &str, now: Timestamp) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO sms_pending (account_id, phone, created_at) VALUES ($1, $2, $3) \
                         ON CONFLICT (account_id) DO UPDATE SET phone = excluded.phone, created_at = excluded.created_at",
                    )
                    .bind(account.to_string())
                    .bind(phone)
                    .bind(now.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn pending_phone(&self, account: AccountId) -> Result<Option<(String, Timestamp)>, StoreError> {
                    let row = sqlx::query("SELECT phone, created_at FROM sms_pending WHERE account_id = $1")
                        .bind(account.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| -> Result<(String, Timestamp), StoreError> {
                        Ok((r.try_get(0).map_err(map_err)?, Timestamp(r.try_get(1).map_err(map_err)?)))
                    })
                    .transpose()
                }

                async fn activate_sms_with(&self, account: AccountId, phone: &str, recovery_hash: &str, now: Timestamp, effects: &Effects) -> Result<Addition, StoreError> {
                    let r = self.activate_sms_tx(account, phone, recovery_hash, now, effects).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn set_last_method(&self, account: AccountId, kind: MethodKind) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO second_step_prefs (account_id, last_method) VALUES ($1, $2) \
                         ON CONFLICT (account_id) DO UPDATE SET last_method = excluded.last_method",
                    )
                    .bind(account.to_string())
                    .bind(kind.as_str())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }
            }

            #[async_trait]
            impl CeremonyStore for $store {
                async fn put_ceremony(&self, key: &str, c: &CeremonyRecord) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    // Abandoned ceremonies are swept as new ones arrive, so
                    // the table stays as small as the live ones.
                    sqlx::query("DELETE FROM webauthn_ceremonies WHERE expires_at < $1")
                        .bind(c.expires_at.millis() - 3_600_000)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO webauthn_ceremonies (key, account_id, purpose, state, expires_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET \
                         account_id = excluded.account_id, purpose = excluded.purpose, \
                         state = excluded.state, expires_at = excluded.expires_at",
                    )
                    .bind(key)
                    .bind(c.account_id.map(|a| a.to_string()))
                    .bind(&c.purpose)
                    .bind(&c.state)
                    .bind(c.expires_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn take_ceremony(&self, key: &str) -> Result<Option<CeremonyRecord>, StoreError> {
                    let row = sqlx::query(
                        "DELETE FROM webauthn_ceremonies WHERE key = $1 \
                         RETURNING account_id, purpose, state, expires_at",
                    )
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    row.map(|r| -> Result<CeremonyRecord, StoreError> {
                        let account: Option<String> = r.try_get(0).map_err(map_err)?;
                        Ok(CeremonyRecord {
                            account_id: account
                                .map(|a| a.parse::<AccountId>())
                                .transpose()
                                .map_err(|e| corrupt("ceremony account", e))?,
                            purpose: r.try_get(1).map_err(map_err)?,
                            state: r.try_get(2).map_err(map_err)?,
                            expires_at: Timestamp(r.try_get(3).map_err(map_err)?),
                        })
                    })
                    .transpose()
                }
            }

            #[async_trait]
            impl OtpStore for $store {
                async fn put_otp_and_send(
                    &self,
                    key: &str,
                    otp: &OtpRecord,
                    cooldown_cutoff: Timestamp,
                    budget: SendBudget,
                    message: &OutgoingMessage,
                ) -> Result<OtpSend, StoreError> {
                    let account = otp.account_id.to_string();
                    let now = otp.sent_at.millis();
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    // Replaces the code unless the one before is too recent;
                    // the WHERE on the conflict branch decides in one
                    // statement, whatever races with it.
                    let stored = sqlx::query(
                        "INSERT INTO otp_codes (key, account_id, code_mac, sent_at, expires_at) \
                         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (key) DO UPDATE SET \
                         account_id = excluded.account_id, code_mac = excluded.code_mac, \
                         sent_at = excluded.sent_at, expires_at = excluded.expires_at \
                         WHERE otp_codes.sent_at <= $6",
                    )
                    .bind(key)
                    .bind(&account)
                    .bind(&otp.code_mac)
                    .bind(now)
                    .bind(otp.expires_at.millis())
                    .bind(cooldown_cutoff.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    if stored == 0 {
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(OtpSend::CoolingDown);
                    }
                    // One more message in the account's window, or a new
                    // window once the old one is over; refused when it is
                    // full. Texts and mail count in tables of their own.
                    let table = match budget.channel {
                        SendChannel::Text => "sms_send_budget",
                        SendChannel::Mail => "mail_send_budget",
                    };
                    let counted = sqlx::query(sqlx::AssertSqlSafe(format!(
                        "INSERT INTO {table} (account_id, window_start, sent) VALUES ($1, $2, 1) \
                         ON CONFLICT (account_id) DO UPDATE SET \
                           sent = CASE WHEN {table}.window_start <= $3 THEN 1 \
                                       ELSE {table}.sent + 1 END, \
                           window_start = CASE WHEN {table}.window_start <= $3 THEN $2 \
                                               ELSE {table}.window_start END \
                         WHERE {table}.window_start <= $3 OR {table}.sent < $4"
                    )))
                    .bind(&account)
                    .bind(now)
                    .bind(now - budget.window_ms)
                    .bind(budget.max)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?
                    .rows_affected();
                    if counted == 0 {
                        let start: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                            "SELECT window_start FROM {table} WHERE account_id = $1"
                        )))
                        .bind(&account)
                        .fetch_one(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        tx.rollback().await.map_err(map_err)?;
                        return Ok(OtpSend::OverBudget {
                            until: Timestamp(start + budget.window_ms),
                        });
                    }
                    sqlx::query(
                        "INSERT INTO outbox (channel, recipient, subject, body, created_at, next_attempt_at) \
                         VALUES ($1, $2, $3, $4, $5, $5)",
                    )
                    .bind(&message.channel)
                    .bind(&message.recipient)
                    .bind(&message.subject)
                    .bind(&message.body)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(OtpSend::Sent)
                }

                async fn consume_otp(&self, key: &str, code_mac: &[u8], now: Timestamp) -> Result<bool, StoreError> {
                    let r = sqlx::query("DELETE FROM otp_codes WHERE key = $1 AND code_mac = $2 AND expires_at > $3")
                        .bind(key)
                        .bind(code_mac)
                        .bind(now.millis())
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(r.rows_affected() == 1)
                }

                async fn otp_sent_at(&self, key: &str) -> Result<Option<Timestamp>, StoreError> {
                    let v: Option<i64> = sqlx::query_scalar("SELECT sent_at FROM otp_codes WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(v.map(Timestamp))
                }
            }
        }
    };
}

pub(crate) use methods_store;
