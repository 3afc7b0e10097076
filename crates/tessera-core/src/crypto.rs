//! Secrets at rest: XChaCha20-Poly1305 under one key kept outside the
//! database (a file in the data dir, or an environment variable).
//!
//! Each value is sealed with a fresh random 192-bit nonce and the row's
//! identity as associated data, so a ciphertext copied to another row does
//! not decrypt. Layout: `version (1) || nonce (24) || ciphertext+tag`.

use crate::secrets::SecretSource;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use hmac::Mac;
use std::fmt;

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
pub const KEY_LEN: usize = 32;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CryptoError {
    #[error("the key must be {KEY_LEN} bytes")]
    KeyLength,
    #[error("sealed value is malformed")]
    Malformed,
    #[error("sealed value does not decrypt with this key")]
    WrongKey,
}

pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// Key for [`SecretBox::mac`], derived from the sealing key so that
    /// one key file protects both.
    mac_key: [u8; 32],
}

impl fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretBox(<key>)")
    }
}

impl SecretBox {
    pub fn new(key: &[u8]) -> Result<Self, CryptoError> {
        let cipher = XChaCha20Poly1305::new_from_slice(key).map_err(|_| CryptoError::KeyLength)?;
        let mut mac = HmacSha256::new_from_slice(key).map_err(|_| CryptoError::KeyLength)?;
        mac.update(b"tessera mac key v1");
        let mac_key: [u8; 32] = mac.finalize().into_bytes().into();
        Ok(SecretBox { cipher, mac_key })
    }

    /// A keyed hash (HMAC-SHA-256) of `data`. Short codes (six digits) are
    /// stored this way: a plain hash of a code is reversed by trying all a
    /// million, a keyed one needs the key, which is not in the database.
    pub fn mac(&self, data: &[u8]) -> Vec<u8> {
        // HMAC accepts keys of any length.
        let Ok(mut mac) = HmacSha256::new_from_slice(&self.mac_key) else {
            return Vec::new();
        };
        mac.update(data);
        mac.finalize().into_bytes().to_vec()
    }

    pub fn seal(&self, secrets: &dyn SecretSource, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        secrets.fill(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            // Encryption only fails for messages beyond 256 GiB.
            .unwrap_or_default();
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        out
    }

    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Vec<u8>, CryptoError> {
        if sealed.len() < 1 + NONCE_LEN + 16 || sealed[0] != VERSION {
            return Err(CryptoError::Malformed);
        }
        let nonce: [u8; NONCE_LEN] = sealed[1..1 + NONCE_LEN]
            .try_into()
            .map_err(|_| CryptoError::Malformed)?;
        self.cipher
            .decrypt(
                &XNonce::from(nonce),
                Payload {
                    msg: &sealed[1 + NONCE_LEN..],
                    aad,
                },
            )
            .map_err(|_| CryptoError::WrongKey)
    }
}

/// What is sealed in the database at first start so that a later start can
/// prove it holds the same key before it touches any user's secret.
pub const CANARY_PLAINTEXT: &[u8] = b"tessera key check v1";
pub const CANARY_AAD: &[u8] = b"key_check";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    #[test]
    fn seals_and_opens_with_row_binding() {
        let b = SecretBox::new(&[7u8; 32]).unwrap();
        let s = b.seal(&OsSecrets, b"JBSWY3DPEHPK3PXP", b"account-1");
        assert_eq!(b.open(&s, b"account-1").unwrap(), b"JBSWY3DPEHPK3PXP");
        assert_eq!(b.open(&s, b"account-2"), Err(CryptoError::WrongKey));
        let other = SecretBox::new(&[8u8; 32]).unwrap();
        assert_eq!(other.open(&s, b"account-1"), Err(CryptoError::WrongKey));
        assert_eq!(b.open(&s[..10], b"account-1"), Err(CryptoError::Malformed));
        // Fresh nonces: the same secret never seals to the same bytes.
        assert_ne!(s, b.seal(&OsSecrets, b"JBSWY3DPEHPK3PXP", b"account-1"));
        assert_eq!(b.mac(b"123456").len(), 32);
        assert_eq!(b.mac(b"123456"), b.mac(b"123456"));
        assert_ne!(b.mac(b"123456"), other.mac(b"123456"));
        assert_eq!(
            SecretBox::new(&[1u8; 16]).unwrap_err(),
            CryptoError::KeyLength
        );
    }
}
