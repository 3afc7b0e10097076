//! [`WebhookSms`]: sends each message as one JSON `POST` to a configured
//! URL, for SMS gateways with an HTTP API or a relay in front of one.
//!
//! Over `https://` the server is verified against the operating system's
//! trust store (`SSL_CERT_FILE`/`SSL_CERT_DIR` are honoured), with rustls
//! and the ring crypto provider: no OpenSSL. Redirects are not followed.

use crate::provider::{DeliveryError, SmsMessage, SmsProvider, classify_status};
use crate::template::BodyTemplate;
use async_trait::async_trait;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{CONTENT_TYPE, HeaderName, HeaderValue, USER_AGENT};
use hyper::{Method, Request, Uri};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::fmt;
use std::time::Duration;

/// A setting that cannot work; the message is one line, naming the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// A header sent with every request, typically `Authorization: Bearer …`.
/// Its value is kept out of `Debug`.
#[derive(Clone)]
pub struct AuthHeader {
    name: HeaderName,
    value: HeaderValue,
}

impl AuthHeader {
    /// Parses `"Name: value"`.
    pub fn parse(line: &str) -> Result<Self, ConfigError> {
        let bad = |why: &str| ConfigError(format!("sms.webhook_auth_header: {why}"));
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| bad("expected \"Name: value\", e.g. \"Authorization: Bearer …\""))?;
        let name = HeaderName::from_bytes(name.trim().as_bytes())
            .map_err(|_| bad("the header name is not valid"))?;
        let mut value = HeaderValue::from_str(value.trim())
            .map_err(|_| bad("the header value is not valid"))?;
        if value.is_empty() {
            return Err(bad("the header value is empty"));
        }
        value.set_sensitive(true);
        Ok(AuthHeader { name, value })
    }

    pub fn name(&self) -> &str {
        self.name.as_str()
    }
}

impl fmt::Debug for AuthHeader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: <redacted>", self.name)
    }
}

/// Everything [`WebhookSms`] needs, checked.
#[derive(Clone)]
pub struct WebhookConfig {
    url: Uri,
    auth: Option<AuthHeader>,
    template: BodyTemplate,
    timeout: Duration,
}

impl WebhookConfig {
    /// Checks the settings: an absolute `http://` or `https://` URL without
    /// credentials in it, an optional `"Name: value"` header, an optional
    /// JSON body template (default [`crate::DEFAULT_TEMPLATE`]).
    pub fn parse(
        url: &str,
        auth_header: Option<&str>,
        body_template: Option<&str>,
    ) -> Result<Self, ConfigError> {
        let bad_url = |why: &str| ConfigError(format!("sms.webhook_url {url:?}: {why}"));
        let uri: Uri = url.parse().map_err(|_| bad_url("not a URL"))?;
        match uri.scheme_str() {
            Some("http" | "https") => {}
            _ => return Err(bad_url("must start with http:// or https://")),
        }
        let authority = uri.authority().ok_or_else(|| bad_url("has no host"))?;
        if authority.as_str().contains('@') {
            return Err(bad_url(
                "must not hold credentials; use sms.webhook_auth_header",
            ));
        }
        if authority.host().is_empty() {
            return Err(bad_url("has no host"));
        }
        let auth = auth_header.map(AuthHeader::parse).transpose()?;
        let template = match body_template {
            Some(t) => {
                BodyTemplate::parse(t).map_err(|e| ConfigError(format!("sms.webhook_body: {e}")))?
            }
            None => BodyTemplate::default(),
        };
        Ok(WebhookConfig {
            url: uri,
            auth,
            template,
            timeout: Duration::from_secs(10),
        })
    }

    /// How long one request may take, connection included (default 10 s).
    /// Keep it well below the worker's lease.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The URL without its query, which may hold a key: for logs.
    pub fn display_url(&self) -> String {
        let scheme = self.url.scheme_str().unwrap_or("http");
        let authority = self.url.authority().map(|a| a.as_str()).unwrap_or("");
        format!("{scheme}://{authority}{}", self.url.path())
    }
}

impl fmt::Debug for WebhookConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookConfig")
            .field("url", &self.display_url())
            .field("auth", &self.auth)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// Sends text messages as JSON `POST`s; see the module documentation.
pub struct WebhookSms {
    config: WebhookConfig,
    client: Client<HttpsConnector<HttpConnector>, Full<Bytes>>,
}

/// Answers are read up to this size and then dropped; only the status counts.
const MAX_ANSWER_BYTES: usize = 64 * 1024;

impl WebhookSms {
    /// Builds the client. For an `https://` URL this loads the system's
    /// trusted certificates and fails if there are none.
    pub fn new(config: WebhookConfig) -> Result<Self, ConfigError> {
        let provider = rustls::crypto::ring::default_provider();
        let builder = hyper_rustls::HttpsConnectorBuilder::new();
        let builder = if config.url.scheme_str() == Some("https") {
            builder
                .with_provider_and_native_roots(provider)
                .map_err(|e| {
                    ConfigError(format!(
                        "sms.webhook_url: cannot load the system's trusted certificates: {e}"
                    ))
                })?
        } else {
            // Plain http: TLS is never used, so no trust store is needed.
            let tls = rustls::ClientConfig::builder_with_provider(provider.into())
                .with_safe_default_protocol_versions()
                .map_err(|e| ConfigError(format!("TLS: {e}")))?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            builder.with_tls_config(tls)
        };
        let connector = builder.https_or_http().enable_http1().build();
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(connector);
        Ok(WebhookSms { config, client })
    }

    pub fn config(&self) -> &WebhookConfig {
        &self.config
    }

    fn request(&self, msg: &SmsMessage) -> Result<Request<Full<Bytes>>, DeliveryError> {
        let body = serde_json::to_vec(&self.config.template.render(msg))
            .map_err(|e| DeliveryError::Permanent(format!("cannot encode the body: {e}")))?;
        let key = HeaderValue::from_str(&msg.idempotency_key).map_err(|_| {
            DeliveryError::Permanent("idempotency key is not a header value".into())
        })?;
        let mut req = Request::builder()
            .method(Method::POST)
            .uri(self.config.url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(USER_AGENT, concat!("tessera/", env!("CARGO_PKG_VERSION")))
            .header("idempotency-key", key);
        if let Some(a) = &self.config.auth {
            req = req.header(a.name.clone(), a.value.clone());
        }
        req.body(Full::new(Bytes::from(body)))
            .map_err(|e| DeliveryError::Permanent(format!("cannot build the request: {e}")))
    }
}

impl fmt::Debug for WebhookSms {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookSms")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl SmsProvider for WebhookSms {
    async fn send(&self, msg: &SmsMessage) -> Result<(), DeliveryError> {
        let req = self.request(msg)?;
        let exchange = async {
            let resp = self
                .client
                .request(req)
                .await
                .map_err(|e| DeliveryError::Retryable(error_chain(&e)))?;
            let status = resp.status().as_u16();
            // Read (a bounded part of) the answer so the connection can be
            // reused; its content is ignored and never logged.
            let _ = Limited::new(resp.into_body(), MAX_ANSWER_BYTES)
                .collect()
                .await;
            classify_status(status)
        };
        match tokio::time::timeout(self.config.timeout, exchange).await {
            Ok(result) => result,
            Err(_) => Err(DeliveryError::Retryable(format!(
                "no answer within {} s",
                self.config.timeout.as_secs_f32()
            ))),
        }
    }
}

/// An error and its causes on one line (hyper's top-level message alone
/// says little, e.g. "client error (Connect)").
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_redacts_settings() {
        let c = WebhookConfig::parse(
            "https://sms.example.com/v1/send?api_key=s3cret",
            Some("Authorization: Bearer abc123"),
            None,
        )
        .unwrap();
        let d = format!("{c:?}");
        assert!(!d.contains("abc123"), "{d}");
        assert!(!d.contains("s3cret"), "{d}");
        assert!(d.contains("authorization"), "{d}");
        assert_eq!(c.display_url(), "https://sms.example.com/v1/send");
    }

    #[test]
    fn refuses_bad_settings_with_one_line() {
        for (url, auth, body, needle) in [
            ("ftp://x.example/", None, None, "http://"),
            ("not a url", None, None, "sms.webhook_url"),
            ("/relative", None, None, "sms.webhook_url"),
            ("https://u:p@x.example/", None, None, "credentials"),
            (
                "https://x.example/",
                Some("no colon"),
                None,
                "sms.webhook_auth_header",
            ),
            ("https://x.example/", Some("Bad Name: v"), None, "name"),
            ("https://x.example/", Some("X-Key:   "), None, "empty"),
            ("https://x.example/", None, Some("{to}"), "sms.webhook_body"),
            (
                "https://x.example/",
                None,
                Some(r#"{"a":"{to}"}"#),
                "{text}",
            ),
        ] {
            let e = WebhookConfig::parse(url, auth, body).unwrap_err().0;
            assert!(e.contains(needle), "{url} {auth:?} {body:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }
}
