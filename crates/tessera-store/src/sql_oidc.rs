//! The OpenID Connect provider's signing keys and clients, in SQL both
//! backends accept.
//!
//! A rotation is one transaction: it retires the keys the caller saw as
//! active (each only if it still is) and inserts their successors, whose
//! partial unique index allows one active key per algorithm. Of two nodes
//! rotating at once, the second finds its keys retired or its insert
//! refused, and writes nothing.

macro_rules! oidc_store {
    ($store:ident, $db:ty) => {
        mod oidc_impl {
            use super::$store;
            use super::store_impl::{Bind, apply_effects};
            use crate::error::{corrupt, map_err};
            use async_trait::async_trait;
            use crate::cache::Fill;
            use sqlx::Row;
            use std::sync::LazyLock;
            use tessera_core::clock::Timestamp;
            use tessera_core::oidc::client::{
                OidcClient, OidcClientId, scopes_from_text, scopes_to_text,
            };
            use tessera_core::oidc::keys::SigningKeyRecord;
            use tessera_core::store::{Effects, OidcClientStore, SigningKeyStore, StoreError};

            type DbRow = <$db as sqlx::Database>::Row;

            const KEY_COLS: &str =
                "kid, alg, public_jwk, sealed_private, created_at, retired_at";

            fn key_of(r: &DbRow) -> Result<SigningKeyRecord, StoreError> {
                let alg: String = r.try_get(1).map_err(map_err)?;
                Ok(SigningKeyRecord {
                    kid: r.try_get(0).map_err(map_err)?,
                    alg: alg.parse().map_err(|e| corrupt("signing key alg", e))?,
                    public_jwk: r.try_get(2).map_err(map_err)?,
                    sealed_private: r.try_get(3).map_err(map_err)?,
                    created_at: Timestamp(r.try_get(4).map_err(map_err)?),
                    retired_at: r
                        .try_get::<Option<i64>, _>(5)
                        .map_err(map_err)?
                        .map(Timestamp),
                })
            }

            const CLIENT_COLS: &str = "id, name, redirect_uris, post_logout_redirect_uris, \
                 is_public, first_party, scopes, created_by, created_at, updated_at";
            /// How many columns [`CLIENT_COLS`] holds.
            const CLIENT_COL_COUNT: usize = 10;

            /// URIs as stored: space-separated (a URI never holds a space).
            fn uris_to_text(uris: &[String]) -> String {
                uris.join(" ")
            }

            fn uris_from_text(text: &str) -> Vec<String> {
                text.split(' ')
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            }

            fn client_of(r: &DbRow) -> Result<OidcClient, StoreError> {
                let id: String = r.try_get(0).map_err(map_err)?;
                let redirect: String = r.try_get(2).map_err(map_err)?;
                let logout: String = r.try_get(3).map_err(map_err)?;
                let scopes: String = r.try_get(6).map_err(map_err)?;
                let by: Option<String> = r.try_get(7).map_err(map_err)?;
                Ok(OidcClient {
                    id: id.parse().map_err(|e| corrupt("client id", e))?,
                    name: r.try_get(1).map_err(map_err)?,
                    redirect_uris: uris_from_text(&redirect),
                    post_logout_redirect_uris: uris_from_text(&logout),
                    public: r.try_get(4).map_err(map_err)?,
                    first_party: r.try_get(5).map_err(map_err)?,
                    scopes: scopes_from_text(&scopes).map_err(|e| corrupt("client scopes", e))?,
                    created_by: by
                        .map(|b| b.parse().map_err(|e| corrupt("client creator", e)))
                        .transpose()?,
                    created_at: Timestamp(r.try_get(8).map_err(map_err)?),
                    updated_at: Timestamp(r.try_get(9).map_err(map_err)?),
                })
            }

            #[async_trait]
            impl SigningKeyStore for $store {
                async fn signing_keys(&self) -> Result<Vec<SigningKeyRecord>, StoreError> {
                    let sql = format!(
                        "SELECT {KEY_COLS} FROM oidc_signing_keys ORDER BY created_at DESC, kid"
                    );
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(key_of)
                        .collect()
                }

                async fn rotate_signing_keys(
                    &self,
                    retire: &[String],
                    new: &[SigningKeyRecord],
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    for kid in retire {
                        let n = sqlx::query(
                            "UPDATE oidc_signing_keys SET retired_at = $1 \
                             WHERE kid = $2 AND retired_at IS NULL",
                        )
                        .bind(now.millis())
                        .bind(kid)
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err)?;
                        if n.rows_affected() != 1 {
                            // Retired by another rotation: dropping `tx`
                            // rolls this one back.
                            return Ok(false);
                        }
                    }
                    for k in new {
                        let inserted = sqlx::query(
                            "INSERT INTO oidc_signing_keys \
                             (kid, alg, public_jwk, sealed_private, created_at, retired_at) \
                             VALUES ($1, $2, $3, $4, $5, $6)",
                        )
                        .bind(&k.kid)
                        .bind(k.alg.as_str())
                        .bind(&k.public_jwk)
                        .bind(k.sealed_private.as_slice())
                        .bind(k.created_at.millis())
                        .bind(k.retired_at.map(Timestamp::millis))
                        .execute(&mut *tx)
                        .await
                        .map_err(map_err);
                        match inserted {
                            Ok(_) => {}
                            Err(StoreError::Conflict(_)) => return Ok(false),
                            Err(e) => return Err(e),
                        }
                    }
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(true)
                }

                async fn delete_signing_keys_retired_before(
                    &self,
                    cutoff: Timestamp,
                ) -> Result<u64, StoreError> {
                    let n = sqlx::query(
                        "DELETE FROM oidc_signing_keys \
                         WHERE retired_at IS NOT NULL AND retired_at <= $1",
                    )
                    .bind(cutoff.millis())
                    .execute(&self.pool)
                    .await
                    .map_err(map_err)?;
                    Ok(n.rows_affected())
                }
            }

            #[async_trait]
            impl OidcClientStore for $store {
                async fn insert_oidc_client_with(
                    &self,
                    c: &OidcClient,
                    secret_hash: Option<&[u8]>,
                    effects: &Effects,
                ) -> Result<(), StoreError> {
                    let mut tx = self.pool.begin().await.map_err(map_err)?;
                    sqlx::query(
                        "INSERT INTO oidc_clients (id, name, redirect_uris, \
                         post_logout_redirect_uris, is_public, first_party, scopes, \
                         secret_hash, created_by, created_at, updated_at) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    )
                    .bind(c.id.to_string())
                    .bind(&c.name)
                    .bind(uris_to_text(&c.redirect_uris))
                    .bind(uris_to_text(&c.post_logout_redirect_uris))
                    .bind(c.public)
                    .bind(c.first_party)
                    .bind(scopes_to_text(&c.scopes))
                    .bind(secret_hash)
                    .bind(c.created_by.map(|a| a.to_string()))
                    .bind(c.created_at.millis())
                    .bind(c.updated_at.millis())
                    .execute(&mut *tx)
                    .await
                    .map_err(map_err)?;
                    apply_effects(&mut tx, effects).await?;
                    tx.commit().await.map_err(map_err)?;
                    Ok(())
                }

                async fn oidc_client(
                    &self,
                    id: OidcClientId,
                ) -> Result<Option<OidcClient>, StoreError> {
                    let sql = format!("SELECT {CLIENT_COLS} FROM oidc_clients WHERE id = $1");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                        .as_ref()
                        .map(client_of)
                        .transpose()
                }

                async fn oidc_clients(&self) -> Result<Vec<OidcClient>, StoreError> {
                    let sql =
                        format!("SELECT {CLIENT_COLS} FROM oidc_clients ORDER BY name, id");
                    sqlx::query(sqlx::AssertSqlSafe(sql))
                        .fetch_all(&self.pool)
                        .await
                        .map_err(map_err)?
                        .iter()
                        .map(client_of)
                        .collect()
                }

                async fn update_oidc_client_with(
                    &self,
                    c: &OidcClient,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "UPDATE oidc_clients SET name = $1, redirect_uris = $2, \
                             post_logout_redirect_uris = $3, first_party = $4, scopes = $5, \
                             updated_at = $6 WHERE id = $7",
                            vec![
                                Bind::Text(c.name.clone()),
                                Bind::Text(uris_to_text(&c.redirect_uris)),
                                Bind::Text(uris_to_text(&c.post_logout_redirect_uris)),
                                Bind::Bool(c.first_party),
                                Bind::Text(scopes_to_text(&c.scopes)),
                                Bind::Int(c.updated_at.millis()),
                                Bind::Text(c.id.to_string()),
                            ],
                            effects,
                        )
                        .await;
                    // Even when it failed: an unacknowledged commit may
                    // still have happened.
                    self.forget_oidc_client(c.id).await;
                    r
                }

                async fn set_oidc_client_secret_with(
                    &self,
                    id: OidcClientId,
                    secret_hash: &[u8],
                    now: Timestamp,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "UPDATE oidc_clients SET secret_hash = $1, updated_at = $2 \
                             WHERE id = $3 AND is_public = FALSE",
                            vec![
                                Bind::Bytes(secret_hash.to_vec()),
                                Bind::Int(now.millis()),
                                Bind::Text(id.to_string()),
                            ],
                            effects,
                        )
                        .await;
                    self.forget_oidc_client(id).await;
                    r
                }

                async fn oidc_client_with_secret_hash(
                    &self,
                    id: OidcClientId,
                ) -> Result<Option<(OidcClient, Option<Vec<u8>>)>, StoreError> {
                    // Client authentication's one read, answered from the
                    // cache when it can be: a changed, re-keyed or removed
                    // client is evicted from it.
                    if let Some(hit) = self.cache.get_client(id) {
                        return Ok(Some(hit));
                    }
                    let _fill = match self.cache.client_fill(id).await {
                        Fill::Cached(hit) => return Ok(Some(hit)),
                        Fill::Read(leading) => leading,
                    };
                    let ticket = self.cache.ticket();
                    // Formatted once: this runs on every miss.
                    static SQL: LazyLock<String> = LazyLock::new(|| {
                        format!("SELECT {CLIENT_COLS}, secret_hash FROM oidc_clients WHERE id = $1")
                    });
                    let Some(r) = sqlx::query(SQL.as_str())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await
                        .map_err(map_err)?
                    else {
                        return Ok(None);
                    };
                    let hash: Option<Vec<u8>> = r.try_get(CLIENT_COL_COUNT).map_err(map_err)?;
                    let found = (client_of(&r)?, hash);
                    self.cache.put_client(ticket, &found);
                    Ok(Some(found))
                }

                async fn delete_oidc_client_with(
                    &self,
                    id: OidcClientId,
                    effects: &Effects,
                ) -> Result<bool, StoreError> {
                    let r = self
                        .update_with(
                            "DELETE FROM oidc_clients WHERE id = $1",
                            vec![Bind::Text(id.to_string())],
                            effects,
                        )
                        .await;
                    self.forget_oidc_client(id).await;
                    r
                }
            }
        }
    };
}

pub(crate) use oidc_store;
