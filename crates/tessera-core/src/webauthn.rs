//! The relying party for WebAuthn: which site keys are bound to (the RP
//! ID) and which origins may use them. Built once from configuration.

use webauthn_rs::prelude::{Url, Webauthn, WebauthnBuilder};

/// Where security keys and passkeys are valid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelyingParty {
    /// The domain keys are bound to, e.g. `id.example.com` or `localhost`.
    pub rp_id: String,
    /// The name authenticators show.
    pub rp_name: String,
    /// Origins pages are served from, e.g. `https://id.example.com`; the
    /// first is the primary one.
    pub origins: Vec<String>,
}

impl Default for RelyingParty {
    fn default() -> Self {
        RelyingParty {
            rp_id: "localhost".into(),
            rp_name: "Tessera".into(),
            origins: vec!["http://localhost:8080".into()],
        }
    }
}

impl RelyingParty {
    /// The webauthn-rs instance, or a message naming the bad setting.
    pub fn build(&self) -> Result<Webauthn, String> {
        let mut origins = self
            .origins
            .iter()
            .map(|o| Url::parse(o).map_err(|e| format!("webauthn origin {o:?} is not a URL: {e}")));
        let first = origins
            .next()
            .ok_or_else(|| "webauthn needs at least one origin".to_string())??;
        let mut b = WebauthnBuilder::new(&self.rp_id, &first)
            .map_err(|e| {
                format!(
                    "webauthn RP ID {:?} does not fit origin {first}: {e}",
                    self.rp_id
                )
            })?
            .rp_name(&self.rp_name);
        for o in origins {
            b = b.append_allowed_origin(&o?);
        }
        b.build().map_err(|e| format!("webauthn settings: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_and_refuses_mismatches() {
        assert!(RelyingParty::default().build().is_ok());
        let bad = RelyingParty {
            rp_id: "example.com".into(),
            origins: vec!["https://other.org".into()],
            ..Default::default()
        };
        assert!(bad.build().unwrap_err().contains("example.com"));
        let junk = RelyingParty {
            origins: vec!["not a url".into()],
            ..Default::default()
        };
        assert!(junk.build().is_err());
    }
}
