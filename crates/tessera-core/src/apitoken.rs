//! API tokens: secrets for scripts, shown once and stored as SHA-256.
//!
//! A token reads `tsr_<43 random base62 characters><6 checksum characters>`:
//!
//! - the prefix lets secret scanners recognise a leaked token;
//! - the random part carries 43 × log2(62) ≈ 256 bits;
//! - the checksum is CRC-32 of the random part, in base62. It is not a
//!   defence (anyone can compute it); it lets a scanner tell a real token
//!   from look-alike text, and lets the server reject a mistyped or
//!   truncated token without reading the database.
//!
//! Only the token's SHA-256 is stored: it is random enough that a slow
//! hash adds nothing, and a database leak yields no usable token.

use crate::clock::Timestamp;
use crate::ids::AccountId;
use crate::secrets::SecretSource;
use std::fmt;

/// What every token starts with.
pub const PREFIX: &str = "tsr_";
/// Base62 characters of randomness: 43 of them hold 256 bits.
pub const RANDOM_CHARS: usize = 43;
/// Base62 characters of the CRC-32 checksum (62^6 > 2^32).
pub const CHECKSUM_CHARS: usize = 6;
/// The whole token's length.
pub const TOKEN_LEN: usize = PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;
/// Longest and shortest life a token may be given, in days (the range
/// Atlassian uses for its API tokens).
pub const MAX_DAYS: u32 = 365;
pub const MIN_DAYS: u32 = 1;
/// Last-used time and address are written at most this often per token,
/// so using a token costs no write on most requests.
pub const TOUCH_INTERVAL_SECS: i64 = 60;

const BASE62: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// The public id of an API token (listing and revoking; never the secret).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ApiTokenId(pub uuid::Uuid);

impl fmt::Display for ApiTokenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl std::str::FromStr for ApiTokenId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(ApiTokenId)
    }
}

/// A token as stored (without its hash).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiToken {
    pub id: ApiTokenId,
    pub account_id: AccountId,
    pub label: String,
    pub scopes: Vec<String>,
    /// Who made it: the owner, or an admin for a service account; `None`
    /// for the host operator.
    pub created_by: Option<AccountId>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub last_used_ip: Option<String>,
}

impl ApiToken {
    pub fn is_live(&self, now: Timestamp) -> bool {
        now < self.expires_at
    }

    /// Whether the last use is stale enough to be worth a write.
    pub fn needs_touch(&self, now: Timestamp) -> bool {
        self.last_used_at
            .is_none_or(|t| now.millis() - t.millis() >= TOUCH_INTERVAL_SECS * 1000)
    }
}

/// What a request authenticated by a token knows of it (who-am-I shows it;
/// relying products enforce the scopes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenGrant {
    pub id: ApiTokenId,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: Timestamp,
}

/// Scopes as stored: space-separated.
pub fn scopes_to_text(scopes: &[String]) -> String {
    scopes.join(" ")
}

pub fn scopes_from_text(text: &str) -> Vec<String> {
    text.split(' ')
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

/// A fresh token: 43 base62 characters drawn without bias, then their
/// checksum.
pub fn generate(secrets: &dyn SecretSource) -> String {
    let mut out = String::with_capacity(TOKEN_LEN);
    out.push_str(PREFIX);
    let mut buf = [0u8; 64];
    while out.len() < PREFIX.len() + RANDOM_CHARS {
        secrets.fill(&mut buf);
        // 248 = 4 × 62: bytes at or above it would favour the first
        // characters, so they are drawn again.
        for b in buf.iter().filter(|b| **b < 248) {
            if out.len() == PREFIX.len() + RANDOM_CHARS {
                break;
            }
            out.push(char::from(BASE62[usize::from(*b % 62)]));
        }
    }
    let sum = checksum(&out.as_bytes()[PREFIX.len()..]);
    out.push_str(&sum);
    out
}

/// Whether `text` has a token's shape (prefix), right or wrong: such a
/// value is never treated as a password.
pub fn looks_like_token(text: &str) -> bool {
    text.starts_with(PREFIX)
}

/// Whether `token` is well formed with a correct checksum. Decided
/// without the database: a mistyped token costs nothing.
pub fn well_formed(token: &str) -> bool {
    let b = token.as_bytes();
    if b.len() != TOKEN_LEN || !token.starts_with(PREFIX) {
        return false;
    }
    let body = &b[PREFIX.len()..];
    if !body.iter().all(u8::is_ascii_alphanumeric) {
        return false;
    }
    let (random, sum) = body.split_at(RANDOM_CHARS);
    // Public data, but compared without branching on content anyway.
    crate::secrets::ct_eq(checksum(random).as_bytes(), sum)
}

/// CRC-32 (IEEE) of `data` as 6 base62 characters, most significant first.
fn checksum(data: &[u8]) -> String {
    let mut n = u64::from(crc32fast::hash(data));
    let mut digits = [b'0'; CHECKSUM_CHARS];
    for d in digits.iter_mut().rev() {
        *d = BASE62[(n % 62) as usize];
        n /= 62;
    }
    digits.iter().map(|d| char::from(*d)).collect()
}

/// The rules for a new token, from configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenPolicy {
    /// The scopes a token may carry (`api_tokens.scopes`).
    pub scopes: Vec<String>,
}

impl Default for TokenPolicy {
    fn default() -> Self {
        TokenPolicy {
            scopes: vec!["read".into(), "write".into()],
        }
    }
}

/// What a client asks for; unset fields take their defaults.
#[derive(Debug, Clone, Default)]
pub struct TokenRequest {
    pub label: String,
    pub expires_in_days: Option<i64>,
    /// `None`: every configured scope.
    pub scopes: Option<Vec<String>>,
}

/// A request that passed the rules.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckedRequest {
    pub label: String,
    pub days: u32,
    pub scopes: Vec<String>,
}

/// A scope name: 1 to 64 of `a-z 0-9 : . _ -` (config check).
pub fn valid_scope_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b":._-".contains(&b))
}

impl TokenPolicy {
    /// Checks a request, or says what is wrong in words for the client.
    pub fn check(&self, req: &TokenRequest) -> Result<CheckedRequest, String> {
        let label = req.label.trim();
        if label.is_empty() {
            return Err("label is required: say what the token is for".into());
        }
        if label.chars().count() > 100 {
            return Err("label is longer than 100 characters".into());
        }
        if label.chars().any(char::is_control) {
            return Err("label must not contain control characters".into());
        }
        let days = req.expires_in_days.unwrap_or(i64::from(MAX_DAYS));
        if !(i64::from(MIN_DAYS)..=i64::from(MAX_DAYS)).contains(&days) {
            return Err(format!(
                "expires_in_days must be between {MIN_DAYS} and {MAX_DAYS}"
            ));
        }
        let scopes = match &req.scopes {
            None => self.scopes.clone(),
            Some(asked) => {
                let mut out: Vec<String> = Vec::new();
                for (n, s) in asked.iter().enumerate() {
                    if !self.scopes.contains(s) {
                        // Its place, not its text: a refusal is shown and
                        // logged, and a token pasted here is a secret.
                        return Err(format!(
                            "unknown scope (item {} of scopes); this server offers: {}",
                            n + 1,
                            self.scopes.join(", ")
                        ));
                    }
                    if !out.contains(s) {
                        out.push(s.clone());
                    }
                }
                if out.is_empty() {
                    return Err("scopes must name at least one scope".into());
                }
                out
            }
        };
        Ok(CheckedRequest {
            label: label.to_string(),
            days: days as u32,
            scopes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::OsSecrets;

    #[test]
    fn tokens_are_prefixed_long_random_and_checksummed() {
        let a = generate(&OsSecrets);
        let b = generate(&OsSecrets);
        assert_ne!(a, b);
        assert_eq!(a.len(), TOKEN_LEN);
        assert!(a.starts_with("tsr_"));
        assert!(well_formed(&a) && well_formed(&b));
        // ≥ 256 bits: 43 characters of an alphabet of 62.
        assert!(RANDOM_CHARS as f64 * 62f64.log2() >= 256.0);
    }

    #[test]
    fn any_typo_breaks_the_checksum() {
        let t = generate(&OsSecrets);
        for i in PREFIX.len()..t.len() {
            let mut bytes = t.clone().into_bytes();
            bytes[i] = if bytes[i] == b'x' { b'y' } else { b'x' };
            let typo = String::from_utf8(bytes).unwrap();
            assert!(!well_formed(&typo), "typo at {i} accepted");
        }
        assert!(!well_formed(&t[..t.len() - 1]));
        assert!(!well_formed(&format!("{t}0")));
        assert!(!well_formed(&t.replace("tsr_", "tsx_")));
        assert!(!well_formed("tsr_"));
        assert!(!well_formed("correct horse battery staple"));
    }

    #[test]
    fn the_checksum_is_the_standard_crc32_in_base62() {
        // 0xCBF43926, the CRC-32/ISO-HDLC check value of "123456789",
        // written in base62 (worked out apart from this code).
        assert_eq!(checksum(b"123456789"), "3jZRME");
        assert_eq!(checksum(b"").len(), CHECKSUM_CHARS);
    }

    #[test]
    fn requests_are_checked() {
        let p = TokenPolicy::default();
        let ok = p
            .check(&TokenRequest {
                label: " ci ".into(),
                ..Default::default()
            })
            .unwrap();
        assert_eq!(ok.label, "ci");
        assert_eq!(ok.days, 365);
        assert_eq!(ok.scopes, vec!["read", "write"]);
        for days in [0, 366, -1] {
            let e = p
                .check(&TokenRequest {
                    label: "x".into(),
                    expires_in_days: Some(days),
                    scopes: None,
                })
                .unwrap_err();
            assert!(e.contains("between 1 and 365"), "{e}");
        }
        let e = p
            .check(&TokenRequest {
                label: "x".into(),
                expires_in_days: Some(1),
                scopes: Some(vec!["admin".into()]),
            })
            .unwrap_err();
        // Named by place, not echoed: a refusal is logged and shown.
        assert!(
            !e.contains("admin") && e.contains("item 1") && e.contains("read, write"),
            "{e}"
        );
        assert!(p.check(&TokenRequest::default()).is_err());
        let one = p
            .check(&TokenRequest {
                label: "x".into(),
                expires_in_days: Some(1),
                scopes: Some(vec!["read".into(), "read".into()]),
            })
            .unwrap();
        assert_eq!(one.scopes, vec!["read"]);
    }

    #[test]
    fn last_use_is_written_once_a_minute() {
        let t = ApiToken {
            id: ApiTokenId(uuid::Uuid::nil()),
            account_id: AccountId(uuid::Uuid::nil()),
            label: String::new(),
            scopes: vec![],
            created_by: None,
            created_at: Timestamp(0),
            expires_at: Timestamp(1_000_000),
            last_used_at: Some(Timestamp(1000)),
            last_used_ip: None,
        };
        assert!(!t.needs_touch(Timestamp(60_999)));
        assert!(t.needs_touch(Timestamp(61_000)));
        assert!(t.is_live(Timestamp(999_999)) && !t.is_live(Timestamp(1_000_000)));
        assert_eq!(scopes_from_text(&scopes_to_text(&t.scopes)), t.scopes);
    }
}
