//! Checking a token the provider signed itself (introspection, userinfo,
//! `id_token_hint`): only the algorithms it signs with, only a key it
//! publishes, only its own issuer. `alg: none`, HMAC and every other
//! algorithm fail before any key is looked at, so a token cannot choose
//! how it is checked.
//!
//! Expiry is checked here against the injected clock, not by
//! `jsonwebtoken` against the system's.

use super::keys::{SigningAlg, SigningKeyRecord};
use crate::clock::Timestamp;
use jsonwebtoken::{DecodingKey, Validation};
use serde::de::DeserializeOwned;

/// Why a token was not accepted (for logs; callers answer the same way to
/// every cause).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    Malformed,
    Algorithm,
    UnknownKey,
    Signature,
    WrongType,
    Expired,
}

/// The claims every token checked here has.
#[derive(serde::Deserialize)]
struct Times {
    exp: i64,
}

/// A published key, ready to check signatures with (its JWK parsed once).
#[derive(Clone)]
pub struct VerifyingKey {
    pub kid: String,
    pub alg: SigningAlg,
    key: DecodingKey,
}

impl VerifyingKey {
    /// The keys of `records` that parse; a stored JWK that does not is
    /// left out (and every token naming it fails as an unknown key).
    pub fn of(records: &[SigningKeyRecord]) -> Vec<VerifyingKey> {
        records
            .iter()
            .filter_map(|r| {
                let jwk = r.jwk().ok()?;
                Some(VerifyingKey {
                    kid: r.kid.clone(),
                    alg: r.alg,
                    key: DecodingKey::from_jwk(&jwk).ok()?,
                })
            })
            .collect()
    }
}

/// Checks `token`'s signature against `keys` (the published ones), its
/// `typ` header against `typ` (`None`: a plain JWT), its issuer, and, unless
/// `allow_expired`, its expiry at `now`; returns its claims.
pub fn verify<T: DeserializeOwned>(
    token: &str,
    keys: &[VerifyingKey],
    issuer: &str,
    typ: Option<&str>,
    now: Timestamp,
    allow_expired: bool,
) -> Result<T, Rejected> {
    if token.len() > 8192 {
        return Err(Rejected::Malformed);
    }
    let header = jsonwebtoken::decode_header(token).map_err(|_| Rejected::Malformed)?;
    let alg = SigningAlg::ALL
        .into_iter()
        .find(|a| a.jwt() == header.alg)
        .ok_or(Rejected::Algorithm)?;
    let want_typ = typ.unwrap_or("JWT");
    if !header
        .typ
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(want_typ))
    {
        return Err(Rejected::WrongType);
    }
    let kid = header.kid.ok_or(Rejected::UnknownKey)?;
    let key = keys
        .iter()
        .find(|k| k.kid == kid && k.alg == alg)
        .ok_or(Rejected::UnknownKey)?;
    let decoding = &key.key;
    let mut validation = Validation::new(alg.jwt());
    validation.validate_exp = false;
    validation.validate_aud = false;
    validation.required_spec_claims = ["exp", "iss", "sub"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    validation.set_issuer(&[issuer]);
    let data = jsonwebtoken::decode::<serde_json::Value>(token, decoding, &validation)
        .map_err(|_| Rejected::Signature)?;
    let times: Times =
        serde_json::from_value(data.claims.clone()).map_err(|_| Rejected::Malformed)?;
    if !allow_expired && now.millis() >= times.exp.saturating_mul(1000) {
        return Err(Rejected::Expired);
    }
    serde_json::from_value(data.claims).map_err(|_| Rejected::Malformed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::SecretBox;
    use crate::oidc::keys::generate;
    use crate::secrets::OsSecrets;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    struct C {
        iss: String,
        sub: String,
        exp: i64,
    }

    #[test]
    fn only_our_keys_our_algorithms_and_our_issuer_pass() {
        let b = SecretBox::new(&[5u8; 32]).unwrap();
        let k = generate(SigningAlg::Es256, &b, &OsSecrets, Timestamp(0)).unwrap();
        let keys = VerifyingKey::of(std::slice::from_ref(&k));
        let c = C {
            iss: "https://id.example".into(),
            sub: "a".into(),
            exp: 100,
        };
        let at = k.sign_typed(&b, Some("at+jwt"), &c).unwrap();
        let now = Timestamp(99_000);
        assert_eq!(
            verify::<C>(&at, &keys, "https://id.example", Some("at+jwt"), now, false),
            Ok(c)
        );
        // Expiry by the injected clock.
        assert_eq!(
            verify::<C>(
                &at,
                &keys,
                "https://id.example",
                Some("at+jwt"),
                Timestamp(100_000),
                false
            ),
            Err(Rejected::Expired)
        );
        assert!(
            verify::<C>(
                &at,
                &keys,
                "https://id.example",
                Some("at+jwt"),
                Timestamp(100_000),
                true
            )
            .is_ok()
        );
        // An ID token is not an access token, nor the other way round.
        assert_eq!(
            verify::<C>(&at, &keys, "https://id.example", None, now, false),
            Err(Rejected::WrongType)
        );
        // Another issuer.
        assert_eq!(
            verify::<C>(&at, &keys, "https://other", Some("at+jwt"), now, false),
            Err(Rejected::Signature)
        );
        // A key we do not publish.
        assert_eq!(
            verify::<C>(&at, &[], "https://id.example", Some("at+jwt"), now, false),
            Err(Rejected::UnknownKey)
        );
        // alg none and HS256 with the same claims.
        let payload = at.split('.').nth(1).unwrap();
        let none_header = URL_SAFE_NO_PAD.encode(format!(
            r#"{{"alg":"none","typ":"at+jwt","kid":"{}"}}"#,
            k.kid
        ));
        let none = format!("{none_header}.{payload}.");
        assert!(matches!(
            verify::<C>(
                &none,
                &keys,
                "https://id.example",
                Some("at+jwt"),
                now,
                false
            ),
            Err(Rejected::Malformed | Rejected::Algorithm)
        ));
        let mut h = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        h.typ = Some("at+jwt".into());
        h.kid = Some(k.kid.clone());
        let hs = jsonwebtoken::encode(
            &h,
            &C {
                iss: "https://id.example".into(),
                sub: "a".into(),
                exp: 100,
            },
            &jsonwebtoken::EncodingKey::from_secret(k.public_jwk.as_bytes()),
        )
        .unwrap();
        assert_eq!(
            verify::<C>(&hs, &keys, "https://id.example", Some("at+jwt"), now, false),
            Err(Rejected::Algorithm)
        );
        // A changed payload breaks the signature.
        let mut parts: Vec<&str> = at.split('.').collect();
        let forged =
            URL_SAFE_NO_PAD.encode(r#"{"iss":"https://id.example","sub":"admin","exp":100}"#);
        parts[1] = &forged;
        assert_eq!(
            verify::<C>(
                &parts.join("."),
                &keys,
                "https://id.example",
                Some("at+jwt"),
                now,
                false
            ),
            Err(Rejected::Signature)
        );
    }
}
