//! Accounts: people and automations, their roles and state.

use crate::clock::Timestamp;
use crate::email::Email;
use crate::ids::AccountId;
use std::fmt;
use std::str::FromStr;

/// What an account stands for. Service accounts never have a password.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountKind {
    Human,
    Service,
}

/// What an account may administer. Ordered: each role includes the ones
/// before it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub enum Role {
    #[serde(rename = "member")]
    Member,
    #[serde(rename = "org-admin")]
    OrgAdmin,
    #[serde(rename = "sysadmin")]
    Sysadmin,
}

macro_rules! text_enum {
    ($ty:ty { $($variant:path => $text:literal),+ $(,)? }) => {
        impl $ty {
            /// Every value's text, in declaration order.
            pub const NAMES: &'static [&'static str] = &[$($text),+];

            pub fn as_str(self) -> &'static str {
                match self { $($variant => $text),+ }
            }
        }
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
        impl FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($variant),)+
                    // Not the value given: a refusal is shown and logged,
                    // and a value in the wrong field can be a secret.
                    _ => Err(format!(
                        "unknown value; expected one of: {}",
                        [$($text),+].join(", ")
                    )),
                }
            }
        }
    };
}
pub(crate) use text_enum;

text_enum!(AccountKind { AccountKind::Human => "human", AccountKind::Service => "service" });
text_enum!(Role { Role::Member => "member", Role::OrgAdmin => "org-admin", Role::Sysadmin => "sysadmin" });

impl Role {
    /// Roles held by an account of this role, for the `roles` list clients see.
    pub fn implied(self) -> Vec<Role> {
        [Role::Member, Role::OrgAdmin, Role::Sysadmin]
            .into_iter()
            .filter(|r| *r <= self)
            .collect()
    }
}

/// An account as stored.
#[derive(Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub email: Email,
    pub display_name: String,
    pub kind: AccountKind,
    pub role: Role,
    pub active: bool,
    /// PHC string; `None` for service accounts and accounts without one yet.
    pub password_hash: Option<String>,
    pub created_at: Timestamp,
}

impl fmt::Debug for Account {
    // The password hash stays out of logs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Account")
            .field("id", &self.id)
            .field("email", &self.email)
            .field("kind", &self.kind)
            .field("role", &self.role)
            .field("active", &self.active)
            .finish_non_exhaustive()
    }
}

/// A display name: 1 to 100 characters, no control characters.
pub fn validate_display_name(raw: &str) -> Result<String, &'static str> {
    let name = raw.trim();
    if name.chars().count() > 100 {
        return Err("display name is longer than 100 characters");
    }
    if name.chars().any(char::is_control) {
        return Err("display name must not contain control characters");
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_parse_and_imply() {
        assert_eq!("org-admin".parse::<Role>().unwrap(), Role::OrgAdmin);
        assert!("admin".parse::<Role>().unwrap_err().contains("sysadmin"));
        assert_eq!(
            Role::Sysadmin.implied(),
            vec![Role::Member, Role::OrgAdmin, Role::Sysadmin]
        );
        assert_eq!(Role::Member.implied(), vec![Role::Member]);
    }

    #[test]
    fn display_names() {
        assert_eq!(validate_display_name("  Ann ").unwrap(), "Ann");
        assert!(validate_display_name(&"x".repeat(101)).is_err());
        assert!(validate_display_name("a\u{7}b").is_err());
    }
}
