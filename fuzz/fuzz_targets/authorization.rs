//! The `Authorization` header, as the access gate reads it: `Bearer` with
//! a session token or an API token (`tsr_…` with its checksum), `Basic`
//! with an email and a password or token. Then what core does with the
//! parts before any lookup.
#![no_main]

use axum::http::HeaderValue;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use libfuzzer_sys::fuzz_target;
use tessera_core::apitoken;
use tessera_core::email::Email;
use tessera_core::password::throttle::Budget;
use tessera_core::secrets::token_hash;
use tessera_web::fuzzing::{Authorization, Credentials, Via, authorization};

fuzz_target!(|data: &[u8]| {
    // The checksum alone, on any text.
    if let Ok(text) = std::str::from_utf8(data) {
        token(text);
    }
    let Ok(value) = HeaderValue::from_bytes(data) else {
        return;
    };
    match authorization(&value) {
        Authorization::Credentials(Credentials::Token { token: t, via }) => {
            assert_eq!(via, Via::Bearer);
            assert_eq!(t, t.trim());
            token(&t);
            let _ = token_hash(&t);
        }
        Authorization::Credentials(Credentials::Basic { email, password }) => {
            // What was sent is what was read: encoding the parts again
            // and parsing gives them back.
            let again = format!("Basic {}", STANDARD.encode(format!("{email}:{password}")));
            let again = HeaderValue::from_str(&again).expect("base64 is a header value");
            match authorization(&again) {
                Authorization::Credentials(Credentials::Basic { email: e, password: p }) => {
                    assert_eq!((e.as_str(), p.as_str()), (email.as_str(), password.as_str()));
                }
                other => panic!("re-encoded Basic read as {other:?}"),
            }
            assert!(!email.contains(':'));
            if apitoken::looks_like_token(&password) {
                token(&password);
            } else {
                let _ = Email::parse(&email);
                let _ = Budget::of(&email, None, Some("203.0.113.9"));
            }
        }
        Authorization::Unreadable | Authorization::OtherScheme => {}
    }
});

/// An API token's shape and checksum, decided without the database.
fn token(t: &str) {
    if apitoken::well_formed(t) {
        assert!(apitoken::looks_like_token(t));
        assert_eq!(t.len(), apitoken::TOKEN_LEN);
        assert!(t[apitoken::PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric()));
    }
}
