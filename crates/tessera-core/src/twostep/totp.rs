//! Authenticator-app codes: RFC 6238 with SHA-1, 6 digits, 30-second steps,
//! which is what every authenticator app speaks. The HOTP arithmetic comes
//! from the `totp-rs` crate; this module adds the rules around it.

use crate::clock::Timestamp;
use crate::secrets::SecretSource;
use std::fmt;
use totp_rs::{Algorithm, Builder, Secret, Totp};

pub const DIGITS: u8 = 6;
pub const STEP_SECS: u64 = 30;
/// Steps of clock skew tolerated either side of now.
pub const SKEW_STEPS: u16 = 1;
/// 160 bits, as RFC 4226 recommends.
pub const SECRET_BYTES: usize = 20;

/// A raw TOTP seed. Never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct TotpSecret(Vec<u8>);

impl fmt::Debug for TotpSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSecret(<redacted>)")
    }
}

impl TotpSecret {
    pub fn generate(secrets: &dyn SecretSource) -> Self {
        let mut b = vec![0u8; SECRET_BYTES];
        secrets.fill(&mut b);
        TotpSecret(b)
    }

    pub fn from_bytes(b: Vec<u8>) -> Self {
        TotpSecret(b)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base32 without padding, as authenticator apps expect it typed.
    pub fn base32(&self) -> String {
        Secret::new(self.0.clone().into_boxed_slice()).to_base32()
    }

    fn totp(&self, issuer: &str, account: &str) -> Result<Totp, String> {
        Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(DIGITS)
            .with_skew(SKEW_STEPS)
            .with_step_duration(STEP_SECS)
            .with_secret(Secret::new(self.0.clone().into_boxed_slice()))
            .with_issuer(Some(issuer.replace(':', " ")))
            .with_account_name(account.replace(':', " "))
            .build()
            .map_err(|e| e.to_string())
    }

    /// The `otpauth://totp/…` URI an authenticator app scans. Algorithm,
    /// digits and period are spelled out even though they are the
    /// defaults, because some apps guess wrong when they are missing.
    pub fn otpauth_uri(&self, issuer: &str, account: &str) -> Result<String, String> {
        let mut uri = self
            .totp(issuer, account)?
            .to_url()
            .map_err(|e| e.to_string())?;
        for (key, value) in [("algorithm", "SHA1"), ("digits", "6"), ("period", "30")] {
            if !uri.contains(&format!("{key}=")) {
                uri.push_str(&format!("&{key}={value}"));
            }
        }
        Ok(uri)
    }

    /// The code for the step containing `at` (for tests and tooling).
    pub fn code_at(&self, at: Timestamp) -> Result<String, String> {
        Ok(self
            .totp("x", "x")?
            .generate(at.seconds().max(0) as u64)
            .to_string())
    }

    /// The step whose code `code` is, within ±[`SKEW_STEPS`] of `now`.
    /// Candidates are compared in constant time by `totp-rs`' `Token`.
    /// Whether that step may still be used is for the store to decide.
    pub fn matching_step(&self, code: &str, now: Timestamp) -> Option<i64> {
        let code = code.trim().replace(' ', "");
        if code.len() != DIGITS as usize || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        let totp = self.totp("x", "x").ok()?;
        totp.check(&code, now.seconds().max(0) as u64)
            .map(|s| s as i64)
    }
}

/// The step number of a moment.
pub fn step_of(t: Timestamp) -> i64 {
    t.seconds().div_euclid(STEP_SECS as i64)
}

/// An SVG QR code of `data`, rendered here so no external service sees it.
pub fn qr_svg(data: &str) -> Result<String, String> {
    let code = qrcode::QrCode::new(data.as_bytes()).map_err(|e| e.to_string())?;
    Ok(code
        .render::<qrcode::render::svg::Color<'_>>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 Appendix B, SHA-1 rows (8-digit codes there; the last 6
    /// digits are the 6-digit codes, since truncation is modulo 10^digits).
    #[test]
    fn rfc6238_appendix_b_vectors() {
        let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        for (t, code8) in [
            (59_i64, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            let at = Timestamp(t * 1000);
            assert_eq!(secret.code_at(at).unwrap(), &code8[2..], "t={t}");
            assert_eq!(secret.matching_step(&code8[2..], at), Some(t / 30), "t={t}");
        }
    }

    #[test]
    fn accepts_one_step_of_skew_and_no_more() {
        let s = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
        let now = Timestamp(1_234_567_890_000);
        let prev = s.code_at(now.plus_secs(-30)).unwrap();
        let next = s.code_at(now.plus_secs(30)).unwrap();
        let far = s.code_at(now.plus_secs(90)).unwrap();
        assert_eq!(s.matching_step(&prev, now), Some(step_of(now) - 1));
        assert_eq!(s.matching_step(&next, now), Some(step_of(now) + 1));
        assert_eq!(s.matching_step(&far, now), None);
        assert_eq!(s.matching_step("12345", now), None);
        assert_eq!(s.matching_step("abcdef", now), None);
    }

    #[test]
    fn uri_and_qr() {
        let s = TotpSecret::generate(&crate::secrets::OsSecrets);
        assert_eq!(s.as_bytes().len(), 20);
        assert_eq!(s.base32().len(), 32);
        let uri = s.otpauth_uri("Tessera", "ann@example.com").unwrap();
        assert!(
            uri.starts_with("otpauth://totp/Tessera:ann%40example.com?"),
            "{uri}"
        );
        assert!(uri.contains(&format!("secret={}", s.base32())));
        assert!(uri.contains("issuer=Tessera"));
        for p in ["algorithm=SHA1", "digits=6", "period=30"] {
            assert!(uri.contains(p), "{p} missing: {uri}");
        }
        let svg = qr_svg(&uri).unwrap();
        assert!(svg.contains("<svg"));
    }
}
