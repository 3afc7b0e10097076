//! Access tokens whose signature already checked out. A token's signature
//! and claims never change, so once checked a token need not be checked
//! again until it expires: a resource server calling userinfo or
//! introspection on every request pays the ES256 verification once per
//! token, not once per call. What can change (its grant, session or
//! account) is still checked on every use, through the who-am-I cache
//! that every revocation evicts.
//!
//! A key leaves the JWKS only after every token it signed has expired
//! (see [`super::keys`]), so nothing remembered here outlives its key.

use super::claims::AccessTokenClaims;
use crate::clock::Timestamp;
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// How many tokens are remembered; past this, the memory starts over
/// (the next use of each checks its signature again).
pub const CAPACITY: usize = 50_000;

/// Checked access tokens by their SHA-256.
#[derive(Default)]
pub struct CheckedTokens {
    map: Mutex<HashMap<[u8; 32], Arc<AccessTokenClaims>>>,
}

fn key(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn live(claims: &AccessTokenClaims, now: Timestamp) -> bool {
    now.millis() < claims.exp.saturating_mul(1000)
}

impl CheckedTokens {
    /// The claims of `token` if it was checked before and has not expired
    /// at `now`.
    pub fn get(&self, token: &str, now: Timestamp) -> Option<Arc<AccessTokenClaims>> {
        let map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&key(token)).filter(|c| live(c, now)).cloned()
    }

    /// Remembers a token whose signature, type, issuer and expiry were
    /// just checked.
    pub fn put(&self, token: &str, claims: Arc<AccessTokenClaims>) {
        let mut map = self.map.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= CAPACITY {
            map.clear();
        }
        map.insert(key(token), claims);
    }

    pub fn len(&self) -> usize {
        self.map.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Arc<AccessTokenClaims> {
        Arc::new(AccessTokenClaims {
            iss: "https://id.example".into(),
            sub: "a".into(),
            aud: "c".into(),
            client_id: "c".into(),
            exp,
            iat: 0,
            jti: "j".into(),
            scope: "openid".into(),
            gid: Some("g".into()),
            tid: None,
            sid: None,
            auth_time: None,
            acr: None,
            amr: Vec::new(),
        })
    }

    #[test]
    fn a_checked_token_is_remembered_until_it_expires_and_only_itself() {
        let c = CheckedTokens::default();
        assert!(c.get("t1", Timestamp(0)).is_none());
        c.put("t1", claims(100));
        assert_eq!(c.get("t1", Timestamp(99_999)).unwrap().exp, 100);
        assert!(c.get("t1", Timestamp(100_000)).is_none(), "expired");
        assert!(c.get("t2", Timestamp(0)).is_none(), "another token");
        assert!(c.get("t1x", Timestamp(0)).is_none());
    }

    #[test]
    fn it_starts_over_when_full() {
        let c = CheckedTokens::default();
        for i in 0..CAPACITY {
            c.put(&format!("t{i}"), claims(100));
        }
        assert_eq!(c.len(), CAPACITY);
        c.put("one more", claims(100));
        assert_eq!(c.len(), 1);
        assert!(c.get("one more", Timestamp(0)).is_some());
        assert!(c.get("t0", Timestamp(0)).is_none());
    }
}
