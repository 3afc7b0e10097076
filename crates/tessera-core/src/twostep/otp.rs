//! One-time codes sent by text message or mail: 6 random digits, valid for 10
//! minutes, single use, and stored only as a keyed hash bound to what the
//! code is for, so a sign-in code cannot serve as a step-up code.

use crate::secrets::SecretSource;

/// How long a texted code stays valid.
pub const CODE_TTL_SECS: i64 = 600;
/// How soon another code may be requested for the same purpose.
pub const RESEND_COOLDOWN_SECS: i64 = 30;
/// How many texts one account may be sent per hour, all purposes together:
/// enough for a person who retries, not for someone who only holds the
/// password and wants to run up the bill or flood the phone.
pub const TEXTS_PER_HOUR: i64 = 10;
/// How many code mails one account may be sent per hour, all purposes
/// together, counted apart from texts: a password holder cannot flood the
/// mailbox, and mail does not use up the phone's budget.
pub const MAILS_PER_HOUR: i64 = 10;

/// What a code may be used for. It is part of the hashed input, and of the
/// key under which the code is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodePurpose {
    /// Confirming a phone number being added.
    Enroll,
    /// The second step of a sign-in flow.
    Signin,
    /// Verifying again before a security change.
    StepUp,
}

impl CodePurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            CodePurpose::Enroll => "enroll",
            CodePurpose::Signin => "signin",
            CodePurpose::StepUp => "step_up",
        }
    }
}

/// A fresh 6-digit code, uniform over 000000..=999999.
pub fn generate(secrets: &dyn SecretSource) -> String {
    // Rejection sampling keeps every code equally likely.
    loop {
        let mut b = [0u8; 4];
        secrets.fill(&mut b);
        let n = u32::from_be_bytes(b);
        if n < 4_294_000_000 {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

/// The canonical form of what a person typed: digits only, 6 of them.
pub fn normalize(input: &str) -> Option<String> {
    let digits: String = input
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect();
    (digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit())).then_some(digits)
}

/// What is hashed for a code: purpose, binding (flow or session) and code.
pub fn hash_input(purpose: CodePurpose, binding: &str, code: &str) -> Vec<u8> {
    let mut v = Vec::with_capacity(64);
    v.extend_from_slice(purpose.as_str().as_bytes());
    v.push(0);
    v.extend_from_slice(binding.as_bytes());
    v.push(0);
    v.extend_from_slice(code.as_bytes());
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let c = generate(&OsSecrets);
            assert_eq!(c.len(), 6);
            assert!(c.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn normalizes_typed_codes() {
        assert_eq!(normalize(" 123 456 ").as_deref(), Some("123456"));
        assert_eq!(normalize("123-456").as_deref(), Some("123456"));
        assert_eq!(normalize("12345"), None);
        assert_eq!(normalize("12345a"), None);
        assert_eq!(normalize("١٢٣٤٥٦"), None);
    }

    #[test]
    fn purpose_and_binding_change_the_hash_input() {
        let a = hash_input(CodePurpose::Signin, "f", "123456");
        assert_ne!(a, hash_input(CodePurpose::StepUp, "f", "123456"));
        assert_ne!(a, hash_input(CodePurpose::Signin, "g", "123456"));
    }
}
