//! The restricted strings of the API, each documented by exactly the rule
//! the domain applies, so a client (or a fuzzer) that follows the document
//! is accepted, and one that does not is refused.
//!
//! These types exist for the document only (`#[schema(value_type = …)]`);
//! the handlers keep taking `String` and let the domain parse it. Names,
//! labels and descriptions are trimmed before their length is counted, so
//! their patterns allow surrounding white space and count what is inside.
//! The character classes are spelled out rather than `\s`, whose meaning
//! differs between regex dialects: `WS` is what Rust's `str::trim` removes,
//! `CTRL` what `char::is_control` refuses.
//!
//! What depends on this server's configuration (password lengths, token
//! scopes) is written into the document at start by [`ConfigInOpenApi`].

use std::borrow::Cow;
use utoipa::openapi::schema::{Object, ObjectBuilder, Schema, SchemaFormat, Type};
use utoipa::openapi::{KnownFormat, RefOr};
use utoipa::{PartialSchema, ToSchema};

/// Unicode White_Space: what `str::trim` removes.
const WS: &str = r"\t\n\x0B\x0C\r \x85\xA0\u1680\u2000-\u200A\u2028\u2029\u202F\u205F\u3000";
/// The `Cc` category: what `char::is_control` is true for.
const CTRL: &str = r"\x00-\x1F\x7F-\x9F";
/// `CTRL` without the line feed (descriptions may have several lines).
const CTRL_BUT_LF: &str = r"\x00-\x09\x0B-\x1F\x7F-\x9F";

/// A pattern for text that, once trimmed, has `min..=max` characters
/// (`min` is 0 or 1) and none in `ctrl`.
fn trimmed_text(min: usize, max: usize, ctrl: &str) -> String {
    let edge = format!("[^{WS}{ctrl}]");
    let inner = format!("(?:{edge}(?:[^{ctrl}]{{0,{}}}{edge})?)", max - 2);
    let inner = if min == 0 { format!("{inner}?") } else { inner };
    format!("^[{WS}]*{inner}[{WS}]*$")
}

fn string(description: &str) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
}

macro_rules! field {
    ($(#[$doc:meta])* $name:ident => $schema:expr) => {
        $(#[$doc])*
        #[allow(dead_code)]
        pub struct $name;

        impl PartialSchema for $name {
            fn schema() -> RefOr<Schema> {
                let o: Object = $schema;
                RefOr::T(Schema::Object(o))
            }
        }

        impl ToSchema for $name {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($name))
            }
        }
    };
}

field!(
    /// An email address, as accounts are created with.
    EmailAddress => string(
        "An email address: at most 254 characters, one `@`, a domain of \
         dot-separated labels. Compared case-insensitively.",
    )
    .format(Some(SchemaFormat::KnownFormat(KnownFormat::Email)))
    .max_length(Some(254))
    .build()
);

field!(
    /// A person's display name.
    DisplayName => string(
        "At most 100 characters once surrounding space is trimmed; no control characters.",
    )
    .pattern(Some(trimmed_text(0, 100, CTRL)))
    .build()
);

field!(
    /// A service account's name.
    ServiceAccountName => string(
        "1 to 100 characters once surrounding space is trimmed; no control characters.",
    )
    .pattern(Some(trimmed_text(1, 100, CTRL)))
    .build()
);

field!(
    /// An organization's name.
    OrgName => string(
        "1 to 100 characters once surrounding space is trimmed; no control \
         characters; unique.",
    )
    .pattern(Some(trimmed_text(1, 100, CTRL)))
    .build()
);

field!(
    /// What an API token is for.
    TokenLabel => string(
        "What the token is for: 1 to 100 characters once surrounding space \
         is trimmed; no control characters.",
    )
    .pattern(Some(trimmed_text(1, 100, CTRL)))
    .build()
);

field!(
    /// A security key's or passkey's name.
    KeyName => string(
        "A name to tell keys apart, e.g. \"Blue YubiKey\": 1 to 64 characters \
         once surrounding space is trimmed; no control characters.",
    )
    .pattern(Some(trimmed_text(1, 64, CTRL)))
    .build()
);

field!(
    /// What a service account is for.
    Description => string(
        "At most 500 characters once surrounding space is trimmed; line \
         breaks allowed, no other control characters.",
    )
    .pattern(Some(trimmed_text(0, 500, CTRL_BUT_LF)))
    .build()
);

field!(
    /// A phone number for text messages.
    PhoneNumber => string(
        "In international (E.164) form: `+`, a country code that does not \
         start with 0, 7 to 15 digits in all; spaces, dots, dashes and \
         parentheses between them are ignored (`+44 7700 900123`).",
    )
    .pattern(Some(format!(
        r"^[{WS}]*\+[ .()-]*[1-9](?:[ .()-]*[0-9]){{6,14}}[ .()-]*[{WS}]*$"
    )))
    .build()
);

field!(
    /// A new password. Its lengths are this server's (`password.min_length`,
    /// `password.max_length`), written in by [`ConfigInOpenApi`].
    NewPassword => string(
        "A new password: the length this server asks for, no control \
         characters; passwords from the list of the most common ones, or \
         equal to the account's address or name, are refused too.",
    )
    .pattern(Some(format!("^[^{CTRL}]*$")))
    .min_length(Some(8))
    .max_length(Some(128))
    .build()
);

field!(
    /// A scope an API token may carry: one of this server's
    /// `api_tokens.scopes`, written in by [`ConfigInOpenApi`].
    TokenScope => string("One of the scopes this server offers (`api_tokens.scopes`).")
        .enum_values(Some(["read", "write"]))
        .build()
);

field!(
    /// An OpenID Connect client's name.
    OidcClientName => string(
        "What the application is called: 1 to 100 characters once \
         surrounding space is trimmed; no control characters.",
    )
    .pattern(Some(trimmed_text(1, 100, CTRL)))
    .build()
);

field!(
    /// A redirect URI of an OpenID Connect client.
    RedirectUri => string(
        "An absolute URI, registered exactly (the request must repeat it \
         byte for byte): `https`, or `http` only for 127.0.0.1, [::1] and \
         localhost; no wildcards, fragments or credentials; at most 2000 \
         characters. The pattern is a safe subset of what is accepted.",
    )
    .pattern(Some(redirect_uri_pattern()))
    .max_length(Some(tessera_core::oidc::client::MAX_URI_LEN))
    .build()
);

/// A subset of the redirect URIs core accepts that a fuzzer can draw
/// from: host names of lowercase labels (the last one starting with a
/// letter, so it is never read as an IP address, and no `--`, so never
/// punycode), a port of at most 4 digits, and path and query characters
/// that need no escaping.
fn redirect_uri_pattern() -> String {
    let label = "[a-z0-9]+(?:-[a-z0-9]+)*";
    let last = "[a-z][a-z0-9]*(?:-[a-z0-9]+)*";
    let port = "(?::[1-9][0-9]{0,3})?";
    let path = "(?:/[A-Za-z0-9._~!$&'()+,;=:@/-]*)?";
    let query = "(?:\\?[A-Za-z0-9._~!$&'()+,;=:@/?-]*)?";
    format!(
        "^(?:https://(?:{label}\\.)*{last}|http://(?:127\\.0\\.0\\.1|\\[::1\\]|localhost)){port}{path}{query}$"
    )
}

field!(
    /// A scope an OpenID Connect client may be allowed.
    OidcScopeName => string("A scope the provider offers.")
        .enum_values(Some(tessera_core::oidc::client::OidcScope::NAMES.iter().copied()))
        .build()
);

field!(
    /// An audit event's kind.
    AuditKindName => string("An audit event's kind.")
        .enum_values(Some(tessera_core::audit::AuditKind::NAMES.iter().copied()))
        .build()
);

/// Writes this server's settings into the document: the password lengths
/// and the token scopes it enforces.
pub struct ConfigInOpenApi<'a> {
    pub config: &'a tessera_core::service::CoreConfig,
}

impl utoipa::Modify for ConfigInOpenApi<'_> {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let Some(components) = openapi.components.as_mut() else {
            return;
        };
        let p = &self.config.password_policy;
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("NewPassword") {
            o.min_length = Some(p.min_len);
            o.max_length = Some(p.max_len);
            o.description = Some(format!(
                "A new password: {} to {} characters, no control characters; \
                 passwords from the list of the most common ones, or equal to \
                 the account's address or name, are refused too.",
                p.min_len, p.max_len
            ));
        }
        if let Some(RefOr::T(Schema::Object(o))) = components.schemas.get_mut("TokenScope") {
            o.enum_values = Some(
                self.config
                    .api_tokens
                    .scopes
                    .iter()
                    .map(|s| serde_json::Value::String(s.clone()))
                    .collect(),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trimmed_text_pattern_reads_as_intended() {
        assert_eq!(
            trimmed_text(1, 64, "C"),
            format!("^[{WS}]*(?:[^{WS}C](?:[^C]{{0,62}}[^{WS}C])?)[{WS}]*$")
        );
        assert!(trimmed_text(0, 100, "C").contains(")?[")); // may be empty
    }

    #[test]
    fn redirect_uri_pattern_is_anchored_and_escapes_its_dots() {
        let p = redirect_uri_pattern();
        assert!(p.starts_with("^(?:https://") && p.ends_with('$'), "{p}");
        assert!(p.contains(r"127\.0\.0\.1|\[::1\]|localhost"), "{p}");
    }
}
