//! Request and response bodies of API tokens and service accounts.

use serde::{Deserialize, Serialize};
use tessera_core::apitoken::{ApiToken, TokenGrant, TokenRequest};
use tessera_core::service::{IssuedToken, ServiceAccount};
use utoipa::ToSchema;

/// A new token.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateTokenBody {
    #[schema(value_type = super::fields::TokenLabel)]
    pub label: String,
    /// Days until it expires: 1 to 365; default 365.
    #[serde(default, deserialize_with = "crate::extract::optional_whole_number")]
    #[schema(minimum = 1, maximum = 365, default = 365)]
    pub expires_in_days: Option<i64>,
    /// Scopes from the server's `api_tokens.scopes` (default `read`,
    /// `write`); default: all of them. Unknown scopes are refused.
    #[serde(default)]
    #[schema(value_type = Option<Vec<super::fields::TokenScope>>, min_items = 1)]
    pub scopes: Option<Vec<String>>,
}

impl From<CreateTokenBody> for TokenRequest {
    fn from(b: CreateTokenBody) -> Self {
        TokenRequest {
            label: b.label,
            expires_in_days: b.expires_in_days,
            scopes: b.scopes,
        }
    }
}

/// A token just created. `token` is the secret, shown this once: only its
/// SHA-256 is kept.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedToken {
    pub id: String,
    /// `tsr_` followed by 49 characters; send it as `Authorization: Bearer
    /// tsr_…` or as the password of HTTP Basic with the account's email.
    pub token: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
}

impl From<&IssuedToken> for CreatedToken {
    fn from(t: &IssuedToken) -> Self {
        CreatedToken {
            id: t.record.id.to_string(),
            token: t.token.clone(),
            label: t.record.label.clone(),
            scopes: t.record.scopes.clone(),
            created_at: t.record.created_at.to_rfc3339(),
            expires_at: t.record.expires_at.to_rfc3339(),
        }
    }
}

/// A token as listed: never its secret.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenView {
    pub id: String,
    pub account_id: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub created_at: String,
    pub expires_at: String,
    /// Whether it has expired (it then gets 401 until it is removed).
    pub expired: bool,
    /// The last use, recorded at most once a minute.
    pub last_used_at: Option<String>,
    /// The client address of that use.
    pub last_used_ip: Option<String>,
}

impl TokenView {
    pub fn new(t: &ApiToken, now: tessera_core::clock::Timestamp) -> Self {
        TokenView {
            id: t.id.to_string(),
            account_id: t.account_id.to_string(),
            label: t.label.clone(),
            scopes: t.scopes.clone(),
            created_at: t.created_at.to_rfc3339(),
            expires_at: t.expires_at.to_rfc3339(),
            expired: !t.is_live(now),
            last_used_at: t.last_used_at.map(|x| x.to_rfc3339()),
            last_used_ip: t.last_used_ip.clone(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TokenList {
    pub tokens: Vec<TokenView>,
}

/// The token a request came with, in who-am-I.
#[derive(Debug, Serialize, ToSchema)]
pub struct TokenInfo {
    pub id: String,
    pub label: String,
    pub scopes: Vec<String>,
    pub expires_at: String,
}

impl From<&TokenGrant> for TokenInfo {
    fn from(t: &TokenGrant) -> Self {
        TokenInfo {
            id: t.id.to_string(),
            label: t.label.clone(),
            scopes: t.scopes.clone(),
            expires_at: t.expires_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateServiceAccountBody {
    #[schema(value_type = super::fields::ServiceAccountName)]
    pub name: String,
    /// What it is for.
    #[serde(default)]
    #[schema(value_type = super::fields::Description)]
    pub description: String,
    /// `member` (default), `org-admin` or `sysadmin`.
    #[serde(default)]
    #[schema(value_type = Option<super::dto::RoleName>)]
    pub role: Option<String>,
}

/// A rename and/or a new description; absent fields stay as they are.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdateServiceAccountBody {
    #[serde(default)]
    #[schema(value_type = Option<super::fields::ServiceAccountName>)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(value_type = Option<super::fields::Description>)]
    pub description: Option<String>,
}

/// A service account. Its address is under `service.invalid`, which can
/// never receive mail, unless it was a person's account converted.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub description: String,
    pub role: String,
    pub active: bool,
    pub created_at: String,
}

impl From<&ServiceAccount> for ServiceAccountView {
    fn from(s: &ServiceAccount) -> Self {
        ServiceAccountView {
            id: s.account.id.to_string(),
            email: s.account.email.to_string(),
            name: s.account.display_name.clone(),
            description: s.description.clone(),
            role: s.account.role.to_string(),
            active: s.account.active,
            created_at: s.account.created_at.to_rfc3339(),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceAccountList {
    pub service_accounts: Vec<ServiceAccountView>,
}
