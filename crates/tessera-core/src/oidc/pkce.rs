//! PKCE (RFC 7636) with the S256 method only: `plain` would hand the
//! verifier to anyone who sees the authorization request.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::{Digest, Sha256};

/// What the relying party must send as `code_challenge_method`.
pub const S256: &str = "S256";

/// Whether `s` has the shape RFC 7636 §4.1 gives verifiers: 43 to 128
/// characters of `[A-Za-z0-9-._~]`.
pub fn is_verifier(s: &str) -> bool {
    (43..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

/// Whether `s` has the shape of an S256 challenge: base64url (no padding)
/// of a SHA-256, 43 characters.
pub fn is_s256_challenge(s: &str) -> bool {
    s.len() == 43
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_'))
}

/// The S256 challenge of a verifier.
pub fn challenge_of(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Whether `verifier` answers `challenge`, compared in constant time.
pub fn verifies(challenge: &str, verifier: &str) -> bool {
    is_verifier(verifier)
        && crate::secrets::ct_eq(challenge_of(verifier).as_bytes(), challenge.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rfc_7636_example_verifies() {
        // RFC 7636 Appendix B.
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        let challenge = "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM";
        assert_eq!(challenge_of(verifier), challenge);
        assert!(verifies(challenge, verifier));
        assert!(is_s256_challenge(challenge));
        assert!(!verifies(
            challenge,
            "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"
        ));
        // Too short to be a verifier, even if it hashed right.
        assert!(!verifies(&challenge_of("short"), "short"));
        assert!(!is_verifier(
            "has space in it and is long enough to count as a verifier"
        ));
    }
}
