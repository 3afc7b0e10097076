//! What every handler can reach: the domain and the web settings.

use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;
use tessera_core::service::Core;

/// Settings of the HTTP layer.
#[derive(Debug, Clone)]
pub struct WebConfig {
    /// Scheme, host and port clients use to reach us, e.g.
    /// `https://id.example.com`. It decides cookie names and flags and is
    /// the origin that state-changing requests must come from.
    pub public_url: String,
    /// Extra origins allowed to send state-changing requests.
    pub allowed_origins: Vec<String>,
    pub body_limit_bytes: usize,
    /// Proxies whose `X-Forwarded-For` we believe; empty means the TCP peer
    /// is always the client. The rule is `client::client_ip`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
}

impl WebConfig {
    /// The origin (`scheme://host[:port]`) of `public_url`.
    pub fn origin(&self) -> &str {
        let url = self.public_url.trim_end_matches('/');
        match url.find("://") {
            Some(i) => match url[i + 3..].find('/') {
                Some(j) => &url[..i + 3 + j],
                None => url,
            },
            None => url,
        }
    }

    /// Cookies are `Secure` and `__Host-` prefixed, except on plain-http
    /// localhost where browsers would drop them.
    pub fn secure_cookies(&self) -> bool {
        let o = self.origin();
        if let Some(rest) = o.strip_prefix("http://") {
            let host = rest.rsplit_once(':').map(|(h, _)| h).unwrap_or(rest);
            !matches!(host, "localhost" | "127.0.0.1" | "[::1]")
        } else {
            true
        }
    }
}

/// Shared by all handlers; cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub core: Core,
    pub web: WebConfig,
    pub prometheus: PrometheusHandle,
}

impl AppState {
    pub fn new(core: Core, web: WebConfig, prometheus: PrometheusHandle) -> Self {
        AppState(Arc::new(Inner {
            core,
            web,
            prometheus,
        }))
    }
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(url: &str) -> WebConfig {
        WebConfig {
            public_url: url.into(),
            allowed_origins: vec![],
            body_limit_bytes: 1,
            trusted_proxies: vec![],
        }
    }

    #[test]
    fn origin_and_cookie_security() {
        assert_eq!(
            cfg("https://id.example.com/base/").origin(),
            "https://id.example.com"
        );
        assert!(cfg("https://id.example.com").secure_cookies());
        assert!(!cfg("http://localhost:8080").secure_cookies());
        assert!(!cfg("http://127.0.0.1:8080").secure_cookies());
        assert!(cfg("http://id.example.com").secure_cookies());
    }
}
