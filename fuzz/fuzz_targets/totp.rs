//! Authenticator-app input: the code a person types (TOTP, texted or
//! mailed codes, recovery keys), and the `otpauth://` URI and base32 seed
//! the server hands to authenticator apps, which must parse back to what
//! was meant.
//!
//! Input: lines of text. 1: a typed code; 2: the issuer (configuration);
//! 3: the account name (an email address); 4: the time in seconds
//! since 1970;
//! 5: the seed's bytes (fewer than 16 bytes: the RFC 6238 test seed).
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::Timestamp;
use tessera_core::twostep::totp::{self, TotpSecret};
use tessera_core::twostep::{otp, recovery};

const RFC_SEED: &[u8] = b"12345678901234567890";

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut lines = text.split('\n');
    let code = lines.next().unwrap_or("");
    let issuer = lines.next().unwrap_or("Tessera");
    let account = lines.next().unwrap_or("ann@example.com");
    let now = lines
        .next()
        .and_then(|t| t.trim().parse::<i64>().ok())
        .unwrap_or(1_234_567_890)
        // The clock reads no earlier than 1970 and no later than the year
        // 36,000; outside that the step arithmetic is not defined.
        .clamp(0, 1 << 40);
    let seed = lines.next().map(str::as_bytes).filter(|s| s.len() >= 16);
    let secret = TotpSecret::from_bytes(seed.unwrap_or(RFC_SEED).to_vec());

    typed_codes(code);

    // A code is accepted only for a step within one of now, and only if
    // it is that step's code.
    let at = Timestamp(now.saturating_mul(1000));
    if let Some(step) = secret.matching_step(code, at) {
        assert!((step - totp::step_of(at)).abs() <= 1, "step {step} too far");
        let expected = secret.code_at(Timestamp(step * 30 * 1000)).unwrap();
        assert_eq!(code.trim().replace(' ', ""), expected);
    }

    // The seed as typed by hand decodes to the seed.
    let b32 = secret.base32();
    let decoded = totp_rs::Secret::try_from_base32(&b32).expect("our base32 decodes");
    assert_eq!(decoded.as_bytes(), secret.as_bytes());

    // The URI an app scans gives the app this seed, issuer and account.
    if let Ok(uri) = secret.otpauth_uri(issuer, account) {
        let app = totp_rs::Totp::from_url(&uri)
            .unwrap_or_else(|e| panic!("an app cannot read {uri:?}: {e}"));
        assert_eq!(app.secret().as_bytes(), secret.as_bytes(), "{uri}");
        assert_eq!(app.digits(), totp::DIGITS);
        assert_eq!(app.step(), totp::STEP_SECS);
        assert_eq!(app.account_name(), account.replace(':', " "), "{uri}");
        assert_eq!(app.issuer(), Some(issuer.replace(':', " ").as_str()), "{uri}");
        let _ = totp::qr_svg(&uri);
    }
});

/// Texted and mailed codes and recovery keys, as people type them: what
/// normalises is canonical and stays so.
fn typed_codes(input: &str) {
    if let Some(c) = otp::normalize(input) {
        assert!(c.len() == 6 && c.bytes().all(|b| b.is_ascii_digit()), "{c:?}");
        assert_eq!(otp::normalize(&c).as_deref(), Some(c.as_str()));
    }
    if let Some(k) = recovery::normalize(input) {
        assert_eq!(k.len(), 39, "{k:?}");
        assert_eq!(recovery::normalize(&k).as_deref(), Some(k.as_str()));
    }
}
