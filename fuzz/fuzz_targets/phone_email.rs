//! Phone numbers (E.164) and email addresses as people type them: what
//! parses is normalised, stays the same when parsed again, and fits the
//! limits; the throttle keys an unknown address exactly like a known one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use tessera_core::email::Email;
use tessera_core::password::throttle::{Budget, account_key};
use tessera_core::twostep::phone::{PhoneNumber, mask};

fuzz_target!(|data: &[u8]| {
    let Ok(input) = std::str::from_utf8(data) else {
        return;
    };

    if let Ok(p) = PhoneNumber::parse(input) {
        let s = p.as_str();
        assert!(s.starts_with('+') && !s.starts_with("+0"), "{s:?}");
        let digits = &s[1..];
        assert!(digits.bytes().all(|b| b.is_ascii_digit()), "{s:?}");
        assert!((7..=15).contains(&digits.len()), "{s:?}");
        assert_eq!(PhoneNumber::parse(s).as_ref(), Ok(&p));
        let masked = p.masked();
        assert_eq!(masked.chars().count(), s.len());
        assert!(masked.ends_with(&s[s.len() - 2..]));
        assert!(!format!("{p:?}").contains(&digits[..digits.len() - 2]) || digits.len() <= 2);
    }
    // Masking never fails, whatever is stored.
    let _ = mask(input);

    let key = account_key(input);
    match Email::parse(input) {
        Ok(e) => {
            let s = e.as_str();
            assert!(s.len() <= Email::MAX_LEN, "{s:?}");
            assert_eq!(s, s.to_lowercase());
            assert_eq!(Email::parse(s).as_ref(), Ok(&e));
            assert!(s.ends_with(&format!("@{}", e.domain())));
            assert_eq!(key, format!("pw:{s}"));
        }
        Err(_) => assert!(key.chars().count() <= 3 + Email::MAX_LEN),
    }
    let b = Budget::of(input, None, Some("203.0.113.9"));
    assert_eq!(b.claimed(), key);
});
