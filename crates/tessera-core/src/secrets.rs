//! Randomness as a parameter, and the small primitives built on it: opaque
//! tokens, their SHA-256 fingerprints, and constant-time comparison.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Where secret bytes come from. Production uses the OS; tests may use a
/// seeded source.
pub trait SecretSource: Send + Sync + 'static {
    fn fill(&self, buf: &mut [u8]);
}

/// The operating system's CSPRNG.
#[derive(Debug, Default, Clone, Copy)]
pub struct OsSecrets;

impl SecretSource for OsSecrets {
    fn fill(&self, buf: &mut [u8]) {
        // getrandom only fails when the OS has no entropy source at all;
        // continuing with zeroed bytes would be far worse than stopping.
        #[allow(clippy::panic)]
        if let Err(e) = getrandom::fill(buf) {
            panic!("operating system random source failed: {e}");
        }
    }
}

/// A token of `bytes` random bytes, URL-safe base64 without padding.
pub fn random_token(secrets: &dyn SecretSource, bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    secrets.fill(&mut buf);
    URL_SAFE_NO_PAD.encode(&buf)
}

/// A fresh v4 UUID drawn from the injected source.
pub fn random_uuid(secrets: &dyn SecretSource) -> uuid::Uuid {
    let mut b = [0u8; 16];
    secrets.fill(&mut b);
    uuid::Builder::from_random_bytes(b).into_uuid()
}

/// SHA-256 of a high-entropy token. Session ids and similar tokens are
/// stored only as this hash: they are random enough that a slow hash adds
/// nothing, and a database leak does not yield usable tokens.
pub fn token_hash(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

/// Constant-time equality for secrets of possibly different lengths.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_long_and_distinct() {
        let a = random_token(&OsSecrets, 32);
        let b = random_token(&OsSecrets, 32);
        assert_eq!(a.len(), 43);
        assert_ne!(a, b);
        assert_eq!(token_hash(&a).len(), 32);
        assert_ne!(token_hash(&a), token_hash(&b));
    }

    #[test]
    fn ct_eq_compares() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"abcd"));
    }
}
