//! The OpenID Connect provider's grants and refresh token families, in SQL
//! both backends accept.
//!
//! Every race is decided by one conditional UPDATE inside the change's
//! transaction: a code is redeemed only `WHERE code_used_at IS NULL`, a
//! refresh token replaced only `WHERE used_at IS NULL`, a grant revoked
//! only `WHERE revoked_at IS NULL`. PostgreSQL makes the losers of a race
//! wait for the winner's row lock and re-check the condition; SQLite lets
//! one writer in at a time. Either way the loser touches no row and its
//! transaction, with whatever would have followed, is rolled back.

macro_rules! oidc_grants_store {
    ($store:ident, $db:ty) => {
        mod oidc_grants_impl {
            use super::$store;
            use super::store_impl::{account_at, apply_effects, session_at};
            use crate::error::{corrupt, map_err};
            use crate::sql_impl::{ACCOUNT_COL_COUNT, ACCOUNT_COLS, SESSION_COLS};
            use tessera_core::account::Account;
            use async_trait::async_trait;
            use crate::cache::Fill;
            use sqlx::Row;
            use std::sync::LazyLock;
            use tessera_core::clock::Timestamp;
            use tessera_core::oidc::client::{scopes_from_text, scopes_to_text};
            use tessera_core::oidc::grant::{OidcGrant, OidcGrantId, RefreshTokenRecord};
            use tessera_core::session::{Session, methods_from_text, methods_to_text};
            use tessera_core::store::{Effects, OidcGrantStore, StoreError};

            type DbRow = <$db as sqlx::Database>::Row;

            const GRANT_COLS: &str = "g.id, g.client_id, g.account_id, g.session_id, \
                 g.redirect_uri, g.scopes, g.nonce, g.code_challenge, g.auth_time, g.aal, \
                 g.methods, g.created_at, g.code_expires_at, g.code_used_at, g.revoked_at";
            /// How many columns [`GRANT_COLS`] holds: what follows them in a
            /// join starts here.
            const GRANT_COL_COUNT: usize = 15;

            fn millis(r: &DbRow, i: usize) -> Result<Timestamp, StoreError> {
                Ok(Timestamp(r.try_get(i).map_err(map_err)?))
            }

            fn maybe_millis(r: &DbRow, i: usize) -> Result<Option<Timestamp>, StoreError> {
                Ok(r.try_get::<Option<i64>, _>(i).map_err(map_err)?.map(Timestamp))
            }

            fn grant_of(r: &DbRow) -> Result<OidcGrant, StoreError> {
                let id: String = r.try_get(0).map_err(map_err)?;
                let client: String = r.try_get(1).map_err(map_err)?;
                let account: String = r.try_get(2).map_err(map_err)?;
                let session: Option<String> = r.try_get(3).map_err(map_err)?;
                let scopes: String = r.try_get(5).map_err(map_err)?;
                let aal: String = r.try_get(9).map_err(map_err)?;
                let methods: String = r.try_get(10).map_err(map_err)?;
                Ok(OidcGrant {
                    id: id.parse().map_err(|e| corrupt("grant id", e))?,
                    client_id: client.parse().map_err(|e| corrupt("grant client", e))?,
                    account_id: account.parse().map_err(|e| corrupt("grant account", e))?,
                    session_id: session
                        .map(|s| s.parse().map_err(|e| corrupt("grant session", e)))
                        .transpose()?,
                    redirect_uri: r.try_get(4).map_err(map_err)?,
                    scopes: scopes_from_text(&scopes).map_err(|e| corrupt("grant scopes", e))?,
                    nonce: r.try_get(6).map_err(map_err)?,
                    code_challenge: r.try_get(7).map_err(map_err)?,
                    auth_time: millis(r, 8)?,
                    aal: aal.parse().map_err(|e| corrupt("grant aal", e))?,
                    methods: methods_from_text(&methods),
                    created_at: millis(r, 11)?,
                    code_expires_at: millis(r, 12)?,
                    code_used_at: maybe_millis(r, 13)?,
                    revoked_at: maybe_millis(r, 14)?,
                })
            }

            #[async_trait]
            impl OidcGrantStore for $store {
                async fn insert_oidc_grant(
                    &self,
                    g: &OidcGrant,
                    code_hash: &[u8],
                ) -> Result<(), StoreError> {
                    sqlx::query(
                        "INSERT INTO oidc_grants (id, code_hash, client_id, account_id, \
                         session_id, redirect_uri, scopes, nonce, code_challenge, auth_time, \
                         aal, methods, created_at, code_expires_at, code_used_at, revoked_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, \
                         $14, $15, $16)",
                    )
                    .bind(g.id.to_string())
                    .bind(code_hash)
                    .bind(g.client_id.to_string())
                    .bind(g.account_id.to_string())
                    .bind(g.session_id.map(|s| s.to_string()))
                    .bind(&g.redirect_uri)
                    .bind(scopes_to_text(&g.scopes))
                    .bind(g.nonce.as_deref())
                    .bind(g.code_challenge.as_deref())
                    .bind(g.auth_time.millis())
                    .bind(g.aal.as_str())
                    .bind(methods_to_text(&g.methods))
                    .bind(g.created_at.millis())
                    .bind(g.code_expires_at.millis())
                    .bind(g.code_used_at.map(Timestamp::millis))
                    .bind(g.revoked_at.map(Timestamp::millis))
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(())
                }

                async fn oidc_grant_by_code(
                    &self,
                    code_hash: &[u8],
                ) -> Result<Option<OidcGrant>, StoreError> {
                    let sql = format!("SELECT {GRANT_COLS} FROM oidc_grants g WHERE g.code_hash = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(code_hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .as_ref()
                        .map(grant_of)
                        .transpose()
                }

                async fn oidc_grant_with_holder(
                    &self,
                    id: OidcGrantId,
                ) -> Result<Option<(OidcGrant, Option<Session>, Account)>, StoreError> {
                    // The hot path of userinfo and introspection: answered
                    // from the who-am-I cache when it can be (a revoked
                    // grant, an ended session and a changed account are
                    // evicted from it as session tokens are), otherwise one
                    // read instead of three. The session may be gone (LEFT
                    // JOIN).
                    if let Some(hit) = self.cache.get_grant(id) {
                        return Ok(Some(hit));
                    }
                    let _fill = match self.cache.grant_fill(id).await {
                        Fill::Cached(hit) => return Ok(Some(hit)),
                        Fill::Read(leading) => leading,
                    };
                    // Before the read: a revocation that commits after it
                    // refuses the fill below.
                    let ticket = self.cache.ticket();
                    // Formatted once: this runs on every miss.
                    static SQL: LazyLock<String> = LazyLock::new(|| {
                        format!(
                            "SELECT {GRANT_COLS}, {ACCOUNT_COLS}, {SESSION_COLS} FROM oidc_grants g \
                             JOIN accounts a ON a.id = g.account_id \
                             LEFT JOIN sessions s ON s.id = g.session_id WHERE g.id = $1"
                        )
                    });
                    let Some(r) = sqlx::query(SQL.as_str())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                    else {
                        return Ok(None);
                    };
                    let grant = grant_of(&r)?;
                    let account = account_at(&r, GRANT_COL_COUNT)?;
                    let session_base = GRANT_COL_COUNT + ACCOUNT_COL_COUNT;
                    let session = match r.try_get::<Option<String>, _>(session_base).map_err(map_err)? {
                        Some(_) => Some(session_at(&r, session_base)?),
                        None => None,
                    };
                    let holder = (grant, session, account);
                    self.cache.put_grant(ticket, &holder);
                    Ok(Some(holder))
                }

                async fn oidc_grant(&self, id: OidcGrantId) -> Result<Option<OidcGrant>, StoreError> {
                    let sql = format!("SELECT {GRANT_COLS} FROM oidc_grants g WHERE g.id = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .as_ref()
                        .map(grant_of)
                        .transpose()
                }

                async fn redeem_oidc_code_with(
                    &self,
                    grant: OidcGrantId,
                    refresh_hash: &[u8],
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let n = sqlx::query(
                            "UPDATE oidc_grants SET code_used_at = $1 \
                             WHERE id = $2 AND code_used_at IS NULL AND revoked_at IS NULL",
                        )
                        .bind(now.millis())
                        .bind(grant.to_string())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?
                        .rows_affected();
                        if n != 1 {
                            // Redeemed or revoked already: dropping `tx`
                            // rolls it back.
                            return Ok(false);
                        }
                        sqlx::query(
                            "INSERT INTO oidc_refresh_tokens (hash, grant_id, created_at, used_at) \
                             VALUES ($1, $2, $3, NULL)",
                        )
                        .bind(refresh_hash)
                        .bind(grant.to_string())
                        .bind(now.millis())
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        apply_effects(&mut tx, effects).await?;
                        tx.commit().await.map_err(map_err)?;
                        Ok(true)
                    }
                    .await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn oidc_refresh_token(
                    &self,
                    hash: &[u8],
                ) -> Result<Option<RefreshTokenRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {GRANT_COLS}, t.used_at FROM oidc_refresh_tokens t \
                         JOIN oidc_grants g ON g.id = t.grant_id WHERE t.hash = $1"
                    );
                    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(hash)
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?;
                    row.map(|r| {
                        Ok(RefreshTokenRecord {
                            grant: grant_of(&r)?,
                            used_at: maybe_millis(&r, GRANT_COL_COUNT)?,
                        })
                    })
                    .transpose()
                }

                async fn rotate_oidc_refresh_token(
                    &self,
                    old_hash: &[u8],
                    new_hash: &[u8],
                    now: Timestamp,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    let grant: Option<String> = sqlx::query_scalar(
                        "UPDATE oidc_refresh_tokens SET used_at = $1 \
                         WHERE hash = $2 AND used_at IS NULL \
                         AND grant_id IN (SELECT id FROM oidc_grants WHERE revoked_at IS NULL) \
                         RETURNING grant_id",
                    )
                    .bind(now.millis())
                    .bind(old_hash)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    let Some(grant) = grant else {
                        // Used already, unknown, or its grant revoked:
                        // dropping `tx` rolls it back.
                        return Ok(false);
                    };
                    sqlx::query(
                        "INSERT INTO oidc_refresh_tokens (hash, grant_id, created_at, used_at) \
                         VALUES ($1, $2, $3, NULL)",
                    )
                    .bind(new_hash)
                    .bind(grant)
                    .bind(now.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn revoke_oidc_grant_with(
                    &self,
                    id: OidcGrantId,
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = async {
                        let mut tx = self.pool.begin().await.map_err(map_err)?;
                        let n = sqlx::query(
                            "UPDATE oidc_grants SET revoked_at = $1 \
                             WHERE id = $2 AND revoked_at IS NULL",
                        )
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
                    self.forget_oidc_grant(id).await;
                    self.forget_effects(effects).await;
                    r
                }

                async fn sweep_oidc_grants(&self, cutoff: Timestamp) -> Result<u64, StoreError> {
                    // Refresh tokens follow by ON DELETE CASCADE (SQLite
                    // connections are opened with foreign keys on).
                    let n = sqlx::query(
                        "DELETE FROM oidc_grants \
                         WHERE (code_used_at IS NULL AND created_at < $1) \
                         OR (revoked_at IS NOT NULL AND revoked_at < $1) \
                         OR (session_id IS NOT NULL AND created_at < $1 \
                             AND NOT EXISTS (SELECT 1 FROM sessions s WHERE s.id = oidc_grants.session_id))",
                    )
                    .bind(cutoff.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(n.rows_affected())
                }
            }
        }
    };
}

pub(crate) use oidc_grants_store;
