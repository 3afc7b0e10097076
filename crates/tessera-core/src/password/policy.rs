//! What makes a password acceptable: NIST SP 800-63B style. Length counts,
//! composition rules do not, and the passwords attackers try first are
//! refused outright.

use std::collections::HashSet;
use std::sync::OnceLock;

/// The 30,000 most common passwords from real breaches (the list shipped with
/// zxcvbn, MIT licensed), one per line.
const COMMON_PASSWORDS: &str = include_str!("../../data/common-passwords.txt");

fn common_set() -> &'static HashSet<&'static str> {
    static SET: OnceLock<HashSet<&'static str>> = OnceLock::new();
    SET.get_or_init(|| COMMON_PASSWORDS.lines().filter(|l| !l.is_empty()).collect())
}

/// Whether `password` (case-insensitively) is on the bundled common list.
pub fn is_common_password(password: &str) -> bool {
    common_set().contains(password.to_lowercase().as_str())
}

/// Length limits for new passwords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PasswordPolicy {
    pub min_len: usize,
    pub max_len: usize,
}

impl Default for PasswordPolicy {
    fn default() -> Self {
        PasswordPolicy {
            min_len: 8,
            max_len: 128,
        }
    }
}

impl PasswordPolicy {
    /// Checks a new password. `context` holds words the password must not
    /// simply repeat (the email address, its local part, the display name).
    /// Errors are sentences meant for the person choosing the password.
    pub fn check(&self, password: &str, context: &[&str]) -> Result<(), String> {
        let len = password.chars().count();
        if len < self.min_len {
            return Err(format!(
                "Choose a password of at least {} characters.",
                self.min_len
            ));
        }
        if len > self.max_len {
            return Err(format!(
                "Choose a password of at most {} characters.",
                self.max_len
            ));
        }
        if password.chars().any(char::is_control) {
            return Err("Passwords cannot contain control characters.".into());
        }
        if is_common_password(password) {
            return Err(
                "That password is among the most common ones attackers try first; choose another."
                    .into(),
            );
        }
        let lower = password.to_lowercase();
        if context
            .iter()
            .any(|w| !w.is_empty() && lower == w.to_lowercase())
        {
            return Err("Choose a password that is not your email address or name.".into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_is_large_enough() {
        assert!(common_set().len() >= 10_000, "{}", common_set().len());
    }

    #[test]
    fn refuses_short_long_common_and_contextual() {
        let p = PasswordPolicy::default();
        assert!(p.check("short", &[]).unwrap_err().contains("at least 8"));
        assert!(p.check(&"x".repeat(129), &[]).is_err());
        assert!(p.check(&"xY3!".repeat(32), &[]).is_ok()); // exactly 128
        assert!(p.check("password", &[]).unwrap_err().contains("common"));
        assert!(p.check("Baseball1", &[]).is_ok() || is_common_password("baseball1"));
        assert!(p.check("QWERTYUIOP", &[]).unwrap_err().contains("common"));
        assert!(
            p.check("ann@example.com", &["ann@example.com"])
                .unwrap_err()
                .contains("email")
        );
        assert!(p.check("correct horse battery staple", &[]).is_ok());
    }

    #[test]
    fn counts_characters_not_bytes() {
        let p = PasswordPolicy::default();
        // 8 characters, 16 bytes.
        assert!(p.check("ÄÖÜäöüßé", &[]).is_ok());
    }
}
