//! Signing keys: one ES256 (P-256) key, which every client can check, and
//! one EdDSA (Ed25519) key for clients that ask for it. Each is generated
//! by aws-lc-rs, described as a JWK by `jsonwebtoken`, named by its JWK
//! thumbprint (RFC 7638), and kept with its private half sealed under the
//! server's secret key, bound to its name.
//!
//! ```text
//!   generated ─▶ active ─(rotation)─▶ retired ─(retired_at + longest token life)─▶ deleted
//!                signs, published      published, signs nothing
//! ```
//!
//! Rotation replaces both keys together, when the active ones are older
//! than `key_rotation_secs` (checked lazily, whenever the keys are read) or
//! when an operator asks. A retired key stays in the JWKS until every token
//! it can have signed has expired, so no relying party ever meets a valid
//! token it cannot check. [`plan`] decides; the store only records.

use super::OidcConfig;
use crate::account::text_enum;
use crate::clock::Timestamp;
use crate::crypto::SecretBox;
use crate::error::CoreError;
use crate::secrets::SecretSource;
use jsonwebtoken::jwk::{Jwk, PublicKeyUse, ThumbprintHash};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use std::fmt;
use std::str::FromStr;

/// A signature algorithm the provider signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SigningAlg {
    Es256,
    EdDsa,
}

text_enum!(SigningAlg {
    SigningAlg::Es256 => "ES256",
    SigningAlg::EdDsa => "EdDSA",
});

impl SigningAlg {
    /// Every algorithm with a key of its own; ES256 first, the default.
    pub const ALL: [SigningAlg; 2] = [SigningAlg::Es256, SigningAlg::EdDsa];

    pub fn jwt(self) -> Algorithm {
        match self {
            SigningAlg::Es256 => Algorithm::ES256,
            SigningAlg::EdDsa => Algorithm::EdDSA,
        }
    }
}

/// A signing key as stored: its public JWK in clear (it is published), its
/// private half (PKCS#8) sealed.
#[derive(Clone, PartialEq, Eq)]
pub struct SigningKeyRecord {
    /// The JWK thumbprint (SHA-256, base64url): the `kid` of what it signs.
    pub kid: String,
    pub alg: SigningAlg,
    /// The public key as a JWK (JSON), `kid`, `use` and `alg` included.
    pub public_jwk: String,
    pub sealed_private: Vec<u8>,
    pub created_at: Timestamp,
    /// When it stopped signing; `None` while it is the active key.
    pub retired_at: Option<Timestamp>,
}

impl fmt::Debug for SigningKeyRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKeyRecord")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("retired_at", &self.retired_at)
            .finish_non_exhaustive()
    }
}

/// What the private half is sealed with as associated data: a sealed key
/// copied to another row does not open.
pub fn sealing_aad(kid: &str) -> Vec<u8> {
    format!("oidc_signing_key:{kid}").into_bytes()
}

fn internal(what: &str, e: impl fmt::Display) -> CoreError {
    CoreError::Internal(format!("{what}: {e}"))
}

/// A fresh key for `alg`, sealed. Key material comes from aws-lc's own
/// CSPRNG: a key is never drawn from a seeded test source.
pub fn generate(
    alg: SigningAlg,
    secret_box: &SecretBox,
    secrets: &dyn SecretSource,
    now: Timestamp,
) -> Result<SigningKeyRecord, CoreError> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair};
    let (pkcs8, encoding) = match alg {
        SigningAlg::Es256 => {
            let doc = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|e| internal("P-256 key generation", e))?;
            let der = doc.as_ref().to_vec();
            let key = EncodingKey::from_ec_der(&der);
            (der, key)
        }
        SigningAlg::EdDsa => {
            let doc = Ed25519KeyPair::generate()
                .and_then(|k| k.to_pkcs8v1())
                .map_err(|e| internal("Ed25519 key generation", e))?;
            let der = doc.as_ref().to_vec();
            let key = EncodingKey::from_ed_der(&der);
            (der, key)
        }
    };
    let mut jwk =
        Jwk::from_encoding_key(&encoding, alg.jwt()).map_err(|e| internal("public JWK", e))?;
    let kid = jwk
        .thumbprint(ThumbprintHash::SHA256)
        .map_err(|e| internal("JWK thumbprint", e))?;
    jwk.common.key_id = Some(kid.clone());
    jwk.common.public_key_use = Some(PublicKeyUse::Signature);
    let public_jwk = serde_json::to_string(&jwk).map_err(|e| internal("public JWK", e))?;
    let sealed_private = secret_box.seal(secrets, &pkcs8, &sealing_aad(&kid));
    Ok(SigningKeyRecord {
        kid,
        alg,
        public_jwk,
        sealed_private,
        created_at: now,
        retired_at: None,
    })
}

impl SigningKeyRecord {
    pub fn is_active(&self) -> bool {
        self.retired_at.is_none()
    }

    /// Whether it belongs in the JWKS at `now`: active, or retired less
    /// than the longest token life ago.
    pub fn is_published(&self, now: Timestamp, config: &OidcConfig) -> bool {
        self.retired_at
            .is_none_or(|r| now < r.plus_secs(config.longest_token_secs()))
    }

    /// The public key as published.
    pub fn jwk(&self) -> Result<Jwk, CoreError> {
        serde_json::from_str(&self.public_jwk).map_err(|e| internal("stored JWK", e))
    }

    fn encoding_key(&self, secret_box: &SecretBox) -> Result<EncodingKey, CoreError> {
        let der = secret_box
            .open(&self.sealed_private, &sealing_aad(&self.kid))
            .map_err(|e| internal("sealed signing key", e))?;
        Ok(match self.alg {
            SigningAlg::Es256 => EncodingKey::from_ec_der(&der),
            SigningAlg::EdDsa => EncodingKey::from_ed_der(&der),
        })
    }

    /// A compact JWS of `claims` (a JWT) with this key's `kid`.
    pub fn sign<T: serde::Serialize>(
        &self,
        secret_box: &SecretBox,
        claims: &T,
    ) -> Result<String, CoreError> {
        self.sign_typed(secret_box, None, claims)
    }

    /// As [`sign`](Self::sign), with a `typ` header other than `JWT`
    /// (access tokens are `at+jwt`, RFC 9068 §2.1).
    pub fn sign_typed<T: serde::Serialize>(
        &self,
        secret_box: &SecretBox,
        typ: Option<&str>,
        claims: &T,
    ) -> Result<String, CoreError> {
        let mut header = Header::new(self.alg.jwt());
        if let Some(t) = typ {
            header.typ = Some(t.to_string());
        }
        header.kid = Some(self.kid.clone());
        jsonwebtoken::encode(&header, claims, &self.encoding_key(secret_box)?)
            .map_err(|e| internal("signing", e))
    }
}

/// What the keys need at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyPlan {
    /// New keys are due: an algorithm has no active key, or its key is
    /// older than the rotation period.
    pub rotate: bool,
    /// The active keys a rotation retires.
    pub active: Vec<String>,
    /// Retired keys no token can need any more exist: delete those
    /// retired at or before this.
    pub prune_before: Option<Timestamp>,
}

/// Decides what `keys` need at `now`.
pub fn plan(keys: &[SigningKeyRecord], now: Timestamp, config: &OidcConfig) -> KeyPlan {
    let active: Vec<&SigningKeyRecord> = keys.iter().filter(|k| k.is_active()).collect();
    let rotate = SigningAlg::ALL.iter().any(|alg| {
        active
            .iter()
            .find(|k| k.alg == *alg)
            .is_none_or(|k| now >= k.created_at.plus_secs(config.key_rotation_secs))
    });
    let expired = keys.iter().any(|k| !k.is_published(now, config));
    KeyPlan {
        rotate,
        active: active.iter().map(|k| k.kid.clone()).collect(),
        prune_before: expired.then(|| now.plus_secs(-config.longest_token_secs())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;
    use jsonwebtoken::{DecodingKey, Validation};

    fn sealer() -> SecretBox {
        SecretBox::new(&[3u8; 32]).unwrap()
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct Claims {
        sub: String,
        exp: i64,
    }

    #[test]
    fn a_token_signed_with_a_key_verifies_with_its_published_jwk_only() {
        let b = sealer();
        for alg in SigningAlg::ALL {
            let k = generate(alg, &b, &OsSecrets, Timestamp(0)).unwrap();
            let jwk = k.jwk().unwrap();
            assert_eq!(jwk.common.key_id.as_deref(), Some(k.kid.as_str()));
            assert!(!k.public_jwk.contains("\"d\""), "no private part");
            let claims = Claims {
                sub: "a".into(),
                exp: 4_000_000_000,
            };
            let token = k.sign(&b, &claims).unwrap();
            let header = jsonwebtoken::decode_header(&token).unwrap();
            assert_eq!((header.alg, header.kid), (alg.jwt(), Some(k.kid.clone())));
            let v = Validation::new(alg.jwt());
            let got =
                jsonwebtoken::decode::<Claims>(&token, &DecodingKey::from_jwk(&jwk).unwrap(), &v)
                    .unwrap();
            assert_eq!(got.claims, claims);
            // Another key of the same kind does not verify it.
            let other = generate(alg, &b, &OsSecrets, Timestamp(0)).unwrap();
            assert_ne!(other.kid, k.kid);
            let wrong = DecodingKey::from_jwk(&other.jwk().unwrap()).unwrap();
            assert!(jsonwebtoken::decode::<Claims>(&token, &wrong, &v).is_err());
            // The private half opens under its own name only, and only
            // with the server's key.
            let mut moved = k.clone();
            moved.kid = other.kid.clone();
            assert!(moved.sign(&b, &claims).is_err());
            assert!(
                k.sign(&SecretBox::new(&[4u8; 32]).unwrap(), &claims)
                    .is_err()
            );
        }
    }

    fn key(alg: SigningAlg, created: i64, retired: Option<i64>) -> SigningKeyRecord {
        SigningKeyRecord {
            kid: format!("{alg}-{created}"),
            alg,
            public_jwk: "{}".into(),
            sealed_private: Vec::new(),
            created_at: Timestamp(created * 1000),
            retired_at: retired.map(|r| Timestamp(r * 1000)),
        }
    }

    #[test]
    fn keys_rotate_on_schedule_and_stay_published_until_their_tokens_expire() {
        let c = OidcConfig {
            key_rotation_secs: 1000,
            id_token_ttl_secs: 300,
            access_token_ttl_secs: 100,
        };
        let at = |s: i64| Timestamp(s * 1000);
        // Nothing yet: due.
        assert!(plan(&[], at(0), &c).rotate);
        let fresh = [
            key(SigningAlg::Es256, 0, None),
            key(SigningAlg::EdDsa, 0, None),
        ];
        assert_eq!(
            plan(&fresh, at(999), &c),
            KeyPlan {
                rotate: false,
                active: vec!["ES256-0".into(), "EdDSA-0".into()],
                prune_before: None
            }
        );
        assert!(plan(&fresh, at(1000), &c).rotate);
        // One algorithm missing is enough.
        assert!(plan(&fresh[..1], at(1), &c).rotate);
        // A retired key: published for the longest token life (300 s).
        let rotated = [
            key(SigningAlg::Es256, 1000, None),
            key(SigningAlg::EdDsa, 1000, None),
            key(SigningAlg::Es256, 0, Some(1000)),
        ];
        assert!(rotated[2].is_published(at(1299), &c));
        assert!(!rotated[2].is_published(at(1300), &c));
        assert_eq!(plan(&rotated, at(1299), &c).prune_before, None);
        assert_eq!(plan(&rotated, at(1300), &c).prune_before, Some(at(1000)));
        assert!(!plan(&rotated, at(1300), &c).rotate);
    }
}
