//! The backoff counters behind second steps and the password throttle, in
//! SQL both backends accept; instantiated per backend like
//! [`crate::sql_impl`].
//!
//! The store only counts and records. How many slots a key has and how
//! long a block lasts are core's (`tessera_core::twostep::backoff`); the
//! claim applies the slot rule core passes in, inside one statement, so
//! parallel claims on any node never exceed it.

/// Releases a held slot (a lease that ran out holds nothing anyway).
pub(crate) const RELEASE: &str = "pending = CASE WHEN pending > 0 THEN pending - 1 ELSE 0 END";

/// A correct guess: release `$1`'s slot and forget its failures, and those
/// of `$2` if it has any (an empty `$2` names no key).
pub(crate) const SUCCESS: &str = "UPDATE limiter SET failures = 0, block_ms = 0, blocked_until = 0, \
     pending = CASE WHEN key <> $1 THEN pending WHEN pending > 0 THEN pending - 1 ELSE 0 END \
     WHERE key = $1 OR (key = $2 AND (failures > 0 OR blocked_until > 0))";

/// Uses authenticator step `$2` of account `$1`, if it is newer than the
/// last one used and a slot could be claimed on backoff key `$3` at `$4`
/// (the rule of `limiter_claim`: not blocked, fewer failures than the
/// ceiling `$6`, a slot free under the tolerance `$5`). A key never
/// counted is clear. No slot is held: the check and its outcome commit
/// together.
pub(crate) const USE_TOTP_STEP_IF_CLEAR: &str = "UPDATE totp_credentials SET last_step = $2 \
     WHERE account_id = $1 AND last_step < $2 \
       AND NOT EXISTS (SELECT 1 FROM limiter l WHERE l.key = $3 AND NOT ( \
         l.blocked_until <= $4 \
         AND l.failures < $6 \
         AND (CASE WHEN l.lease_until > $4 THEN l.pending ELSE 0 END) < \
             (CASE WHEN $5 + 1 - l.failures > 1 THEN $5 + 1 - l.failures ELSE 1 END)))";

/// Clears one key's run of failures; touches nothing without one, so a
/// sign-in that clears an untroubled key writes no row.
pub(crate) const CLEAR: &str = "UPDATE limiter SET failures = 0, block_ms = 0, blocked_until = 0 \
     WHERE key = $1 AND (failures > 0 OR blocked_until > 0)";

macro_rules! throttle_store {
    ($store:ident, $db:ty) => {
        mod throttle_impl {
            use super::$store;
            use crate::error::map_err;
            use crate::sql_throttle::{CLEAR, RELEASE, SUCCESS};
            use async_trait::async_trait;
            use sqlx::Row;
            use tessera_core::clock::Timestamp;
            use tessera_core::store::{Claim, LimiterStore, SlotRule, StoreError};

            /// Stands for "no guard": no key is empty.
            const NO_GUARD: &str = "";

            fn count(n: i64) -> u32 {
                n.clamp(0, i64::from(u32::MAX)) as u32
            }

            #[async_trait]
            impl LimiterStore for $store {
                async fn limiter_claim(
                    &self,
                    key: &str,
                    guard: Option<&str>,
                    now: Timestamp,
                    rule: SlotRule,
                ) -> Result<Claim, StoreError> {
                    // One statement: create the key with the first slot, or
                    // take a slot if it is neither blocked nor locked and a
                    // slot is free; nothing at all while the guard is
                    // blocked. Slots expire with their lease.
                    let ceiling = rule.ceiling.map_or(i64::MAX, i64::from);
                    let granted: Option<i64> = sqlx::query_scalar(
                        "INSERT INTO limiter (key, pending, lease_until) \
                         SELECT $1, 1, $2 + $4 \
                         WHERE NOT EXISTS (SELECT 1 FROM limiter g WHERE g.key = $6 AND g.blocked_until > $2) \
                         ON CONFLICT (key) DO UPDATE SET \
                           pending = (CASE WHEN limiter.lease_until > $2 THEN limiter.pending ELSE 0 END) + 1, \
                           lease_until = $2 + $4 \
                         WHERE limiter.blocked_until <= $2 \
                           AND limiter.failures < $5 \
                           AND (CASE WHEN limiter.lease_until > $2 THEN limiter.pending ELSE 0 END) < \
                               (CASE WHEN $3 + 1 - limiter.failures > 1 THEN $3 + 1 - limiter.failures ELSE 1 END) \
                         RETURNING pending",
                    )
                    .bind(key)
                    .bind(now.millis())
                    .bind(i64::from(rule.tolerated))
                    .bind(rule.lease_ms)
                    .bind(ceiling)
                    .bind(guard.unwrap_or(NO_GUARD))
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(map_err)?;
                    if granted.is_some() {
                        return Ok(Claim::Granted);
                    }
                    // Refused: say why (only on this cold path).
                    let rows = sqlx::query(
                        "SELECT key, failures, blocked_until FROM limiter WHERE key = $1 OR key = $2",
                    )
                    .bind(key)
                    .bind(guard.unwrap_or(NO_GUARD))
                    .fetch_all(&self.pool)
                    .await
                    .map_err(map_err)?;
                    let mut until = 0i64;
                    for r in &rows {
                        let k: String = r.try_get(0).map_err(map_err)?;
                        let failures: i64 = r.try_get(1).map_err(map_err)?;
                        let blocked: i64 = r.try_get(2).map_err(map_err)?;
                        if k == key && failures >= ceiling {
                            return Ok(Claim::Locked);
                        }
                        until = until.max(blocked);
                    }
                    Ok(if until > now.millis() {
                        Claim::BlockedUntil(Timestamp(until))
                    } else {
                        Claim::Busy
                    })
                }

                async fn limiter_release(&self, key: &str) -> Result<(), StoreError> {
                    let sql = format!("UPDATE limiter SET {RELEASE} WHERE key = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(key)
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn limiter_success(
                    &self,
                    key: &str,
                    also_clear: Option<&str>,
                ) -> Result<(), StoreError> {
                    sqlx::query(SUCCESS)
                        .bind(key)
                        .bind(also_clear.unwrap_or(NO_GUARD))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn limiter_count_failure(&self, key: &str) -> Result<u32, StoreError> {
                    let n: i64 = sqlx::query_scalar(
                        "INSERT INTO limiter (key, failures) VALUES ($1, 1) \
                         ON CONFLICT (key) DO UPDATE SET failures = limiter.failures + 1 \
                         RETURNING failures",
                    )
                    .bind(key)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(count(n))
                }

                async fn limiter_settle(
                    &self,
                    key: &str,
                    blocked_until: Option<Timestamp>,
                ) -> Result<(), StoreError> {
                    // A block only grows: of two racing failures, the
                    // longer block stands.
                    let sql = format!(
                        "UPDATE limiter SET {RELEASE}, \
                         blocked_until = CASE WHEN $2 > blocked_until THEN $2 ELSE blocked_until END \
                         WHERE key = $1"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(key)
                        .bind(blocked_until.map_or(0, |t| t.millis()))
                        .execute(&self.pool)
                        .await
                        .map_err(map_err)?;
                    Ok(())
                }

                async fn limiter_clear(
                    &self,
                    keys: &[String],
                    prefix: Option<&str>,
                ) -> Result<u64, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    let mut cleared = 0;
                    for key in keys {
                        cleared += sqlx::query(CLEAR)
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .map_err(map_err)?
                            .rows_affected();
                    }
                    if let Some(prefix) = prefix {
                        cleared += sqlx::query(
                            "UPDATE limiter SET failures = 0, block_ms = 0, blocked_until = 0 \
                             WHERE substr(key, 1, length($1)) = $1 AND (failures > 0 OR blocked_until > 0)",
                        )
                        .bind(prefix)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                    }
                    tx.commit().await.map_err(map_err)?;
                    Ok(cleared)
                }

                async fn limiter_state(
                    &self,
                    key: &str,
                ) -> Result<Option<(u32, Timestamp)>, StoreError> {
                    let row = sqlx::query("SELECT failures, blocked_until FROM limiter WHERE key = $1")
                        .bind(key)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    let Some(r) = row else { return Ok(None) };
                    let failures: i64 = r.try_get(0).map_err(map_err)?;
                    let until: i64 = r.try_get(1).map_err(map_err)?;
                    Ok(Some((count(failures), Timestamp(until))))
                }
            }
        }
    };
}

pub(crate) use throttle_store;
