//! Email addresses, normalised so that one mailbox is one account.

use std::fmt;

/// A syntactically plausible, normalised email address.
///
/// Normalisation trims surrounding space and lower-cases the whole address.
/// Strictly the local part is case-sensitive, but no real mail provider
/// treats `Ann@x` and `ann@x` as different people, and treating them as two
/// accounts invites impersonation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Email(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct EmailError(&'static str);

impl Email {
    pub const MAX_LEN: usize = 254;

    pub fn parse(raw: &str) -> Result<Email, EmailError> {
        let s = raw.trim().to_lowercase();
        if s.is_empty() {
            return Err(EmailError("email address is required"));
        }
        if s.len() > Self::MAX_LEN {
            return Err(EmailError("email address is longer than 254 characters"));
        }
        if s.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(EmailError("email address must not contain spaces"));
        }
        let Some((local, domain)) = s.rsplit_once('@') else {
            return Err(EmailError("email address must contain @"));
        };
        if local.is_empty() || local.len() > 64 || local.contains('@') {
            return Err(EmailError("email address has an invalid local part"));
        }
        let labels_ok = domain.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_alphanumeric() || c == '-')
        });
        if !labels_ok || !domain.contains('.') && domain != "localhost" {
            return Err(EmailError("email address has an invalid domain"));
        }
        Ok(Email(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn domain(&self) -> &str {
        self.0.rsplit_once('@').map(|(_, d)| d).unwrap_or("")
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_case_and_space() {
        let e = Email::parse("  Ann.Lee@Example.COM ").unwrap();
        assert_eq!(e.as_str(), "ann.lee@example.com");
        assert_eq!(e.domain(), "example.com");
    }

    #[test]
    fn rejects_junk() {
        for bad in [
            "",
            "ann",
            "@example.com",
            "ann@",
            "ann@example",
            "a b@example.com",
            "ann@-x.com",
            "ann@ex..com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
    }
}
