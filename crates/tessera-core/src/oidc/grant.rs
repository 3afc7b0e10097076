//! Grants: what one authorization gave one client. A grant is born with an
//! authorization code (single use, 60 seconds), and its refresh tokens form
//! one family: each use of a refresh token replaces it, and any second use
//! of a code or of a replaced refresh token revokes the whole grant
//! (RFC 6749 §4.1.2, OAuth 2.0 Security BCP §4.14). Access tokens name
//! their grant, so revoking it ends them too.
//!
//! ```text
//!   authorize ─▶ code issued ─(token, first use)─▶ refresh₁ ─(refresh)─▶ refresh₂ ─▶ …
//!                    │                                 │
//!                    └─(second use)─▶ revoked ◀─(second use of a replaced token)
//!   the session ends / the account is deactivated ─▶ every token of the grant is dead
//! ```
//!
//! Codes and refresh tokens are random secrets, known to the store only by
//! their SHA-256.

use super::client::{OidcClientId, OidcScope};
use crate::clock::Timestamp;
use crate::ids::{AccountId, SessionId};
use crate::session::{Aal, AuthMethod};
use std::fmt;
use std::str::FromStr;

/// A grant's id: the `gid` claim of its access tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OidcGrantId(pub uuid::Uuid);

impl fmt::Display for OidcGrantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl FromStr for OidcGrantId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s).map(OidcGrantId)
    }
}

/// How long an authorization code may be redeemed.
pub const CODE_TTL_SECS: i64 = 60;
/// What every authorization code starts with.
pub const CODE_PREFIX: &str = "tac_";
/// What every refresh token starts with.
pub const REFRESH_PREFIX: &str = "trt_";

/// A grant as stored (never its code or refresh tokens).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OidcGrant {
    pub id: OidcGrantId,
    pub client_id: OidcClientId,
    pub account_id: AccountId,
    /// The session the user authorized from; every token of the grant
    /// dies with it. `None` for a client-credentials grant.
    pub session_id: Option<SessionId>,
    /// The redirect URI the code was sent to: the token request must name
    /// the same one.
    pub redirect_uri: String,
    pub scopes: Vec<OidcScope>,
    /// The relying party's `nonce`, echoed in the ID token.
    pub nonce: Option<String>,
    /// The PKCE S256 challenge (base64url of SHA-256 of the verifier).
    pub code_challenge: Option<String>,
    /// When the user last proved who they are, before the code was issued.
    pub auth_time: Timestamp,
    /// The session's assurance then.
    pub aal: Aal,
    /// The session's methods then.
    pub methods: Vec<AuthMethod>,
    pub created_at: Timestamp,
    pub code_expires_at: Timestamp,
    /// When the code was redeemed; a code is redeemed once.
    pub code_used_at: Option<Timestamp>,
    /// When the grant was revoked (code reuse, refresh reuse, revocation
    /// request); a revoked grant's tokens are all dead.
    pub revoked_at: Option<Timestamp>,
}

/// A refresh token as stored: its grant, and whether it was already
/// replaced by a newer one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshTokenRecord {
    pub grant: OidcGrant,
    /// When it was exchanged for its successor; using it again is reuse.
    pub used_at: Option<Timestamp>,
}
