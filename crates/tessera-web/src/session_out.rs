//! Handing a new or rotated session to its client: the one place that
//! decides between a cookie and a token in the answer's body, for the
//! API and the pages alike.

use crate::access::Via;
use crate::cookies;
use crate::state::WebConfig;
use axum_extra::extract::CookieJar;
use tessera_core::service::IssuedSession;
use tessera_core::session::ClientKind;

/// What goes back to the client besides the answer itself.
#[must_use]
pub struct HandedOver {
    /// Carries the session (and device) cookies for cookie clients.
    pub jar: CookieJar,
    /// The session token for the body (clients that hold a bearer token).
    pub session_token: Option<String>,
    /// A new device token for the body (clients that hold a bearer token).
    pub device_token: Option<String>,
}

/// Gives `issued` to a client that holds its session `via` a cookie (the
/// session cookie, and the device cookie when a device token was issued)
/// or as a bearer token (both tokens for the body).
pub fn hand_over(web: &WebConfig, jar: CookieJar, via: Via, issued: IssuedSession) -> HandedOver {
    match via {
        Via::Cookie => {
            let mut jar = jar.add(cookies::build(web, cookies::SESSION, issued.token));
            if let Some(device) = issued.device_token {
                jar = jar.add(cookies::device(web, device));
            }
            HandedOver {
                jar,
                session_token: None,
                device_token: None,
            }
        }
        Via::Bearer | Via::Basic | Via::Token => HandedOver {
            jar,
            session_token: Some(issued.token),
            device_token: issued.device_token,
        },
    }
}

/// How a client signing in through the API will hold its session: web
/// clients in a cookie, mobile clients as a bearer token.
pub fn via_for(client: ClientKind) -> Via {
    match client {
        ClientKind::Web => Via::Cookie,
        ClientKind::Mobile => Via::Bearer,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tessera_core::clock::Timestamp;
    use tessera_core::ids::{AccountId, SessionId};
    use tessera_core::session::{Aal, Session};

    fn web() -> WebConfig {
        WebConfig {
            public_url: "https://id.example.com".into(),
            allowed_origins: vec![],
            body_limit_bytes: 1,
            trusted_proxies: vec![],
        }
    }

    fn issued(device: Option<&str>) -> IssuedSession {
        IssuedSession {
            token: "session-token".into(),
            session: Session {
                id: SessionId(uuid::Uuid::nil()),
                account_id: AccountId(uuid::Uuid::nil()),
                client: ClientKind::Web,
                aal: Aal::Aal1,
                methods: vec![],
                created_at: Timestamp(0),
                verified_at: Timestamp(0),
                last_seen_at: Timestamp(0),
                expires_at: Timestamp(1),
                ip: None,
                device: String::new(),
                restricted: false,
            },
            device_token: device.map(String::from),
        }
    }

    #[test]
    fn cookie_clients_get_cookies_and_nothing_in_the_body() {
        let out = hand_over(&web(), CookieJar::new(), Via::Cookie, issued(Some("dev")));
        assert_eq!(out.session_token, None);
        assert_eq!(out.device_token, None);
        let session = out.jar.get("__Host-tessera_session").map(|c| c.value());
        assert_eq!(session, Some("session-token"));
        let device = out.jar.get("__Host-tessera_device").map(|c| c.value());
        assert_eq!(device, Some("dev"));

        let out = hand_over(&web(), CookieJar::new(), Via::Cookie, issued(None));
        assert!(out.jar.get("__Host-tessera_device").is_none());
    }

    #[test]
    fn bearer_clients_get_tokens_in_the_body_and_no_cookie() {
        for via in [Via::Bearer, Via::Basic] {
            let out = hand_over(&web(), CookieJar::new(), via, issued(Some("dev")));
            assert_eq!(out.session_token.as_deref(), Some("session-token"));
            assert_eq!(out.device_token.as_deref(), Some("dev"));
            assert_eq!(out.jar.iter().count(), 0);
        }
    }

    #[test]
    fn web_sign_ins_use_cookies_and_mobile_ones_bearer_tokens() {
        assert_eq!(via_for(ClientKind::Web), Via::Cookie);
        assert_eq!(via_for(ClientKind::Mobile), Via::Bearer);
    }
}
