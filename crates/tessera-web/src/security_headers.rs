//! Security headers on every answer, pages, API, assets and errors alike.
//!
//! - `Content-Security-Policy`: scripts only from our own `/assets` (the
//!   pages have no inline script or event handler, so no `'unsafe-inline'`
//!   and no nonce), no plugins, no `<base>`, forms only to ourselves, and
//!   `frame-ancestors 'none'` so no other site can frame a sign-in or
//!   security page (clickjacking). API answers are data, never a
//!   document: they get `default-src 'none'`. The Swagger page at
//!   `/api/docs` styles itself inline, so it alone may use inline styles
//!   (still no inline script).
//! - `X-Frame-Options: DENY`, the same as `frame-ancestors` for browsers
//!   that predate CSP 2.
//! - `X-Content-Type-Options: nosniff`: an answer is only ever what its
//!   `Content-Type` says.
//! - `Referrer-Policy: same-origin`: URLs of this server (a flow id, a
//!   page of the admin) never travel to another site. Not `no-referrer`:
//!   under it browsers send `Origin: null` with our own form posts, which
//!   the CSRF guard would then refuse.
//! - `Strict-Transport-Security` when the server is reached over https,
//!   which it knows from its configured `public_url` (the same setting
//!   that makes cookies `Secure` and `__Host-`, and that WebAuthn keys are
//!   bound to). TLS usually ends at a proxy, so the scheme of the
//!   connection itself says nothing, and `X-Forwarded-Proto` would be one
//!   more header to trust; browsers ignore the header on plain http anyway.

use crate::state::AppState;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

/// Pages: our own scripts, styles and images (the QR code is inline SVG
/// markup, not an image), fetches to ourselves (WebAuthn ceremonies),
/// forms posted to ourselves. (Browsers check the redirects after a form
/// post against `form-action` too, so the OpenID Connect pages hand the
/// browser back to a relying party with a page that moves on by itself,
/// not a redirect: see `pages::oauth2`.)
pub const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; \
     frame-ancestors 'none'; base-uri 'none'";

/// API answers and anything that is not a page: nothing may run.
pub const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'";

/// The Swagger page: as pages, plus inline styles, which it sets from its
/// script; scripts stay `'self'` only.
pub const DOCS_CSP: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; \
     form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/// Two years, the value HSTS preload lists ask for. Subdomains are left
/// alone: they may be other services of the deployment, served otherwise.
pub const HSTS: &str = "max-age=63072000";

/// Whether `public_url` is https, so answers carry HSTS.
pub fn serves_https(public_url: &str) -> bool {
    public_url
        .get(..8)
        .is_some_and(|s| s.eq_ignore_ascii_case("https://"))
}

/// The policy for an answer to `path`.
pub fn csp_for(path: &str) -> &'static str {
    if path == "/api/docs" || path.starts_with("/api/docs/") {
        DOCS_CSP
    } else if path.starts_with("/api/") {
        API_CSP
    } else {
        PAGE_CSP
    }
}

/// The headers as a layer of their own, for the metrics listener (the
/// main application sets them in `envelope`).
pub async fn alone(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let csp = csp_for(req.uri().path());
    let mut res = next.run(req).await;
    set(res.headers_mut(), csp, serves_https(&state.web.public_url));
    res
}

/// Puts the headers on an answer.
pub fn set(h: &mut HeaderMap, csp: &'static str, https: bool) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(csp),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
    if https {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static(HSTS),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_is_read_from_the_public_url() {
        assert!(serves_https("https://id.example.com"));
        assert!(serves_https("HTTPS://id.example.com/"));
        assert!(!serves_https("http://id.example.com"));
        assert!(!serves_https("http://localhost:8080"));
        assert!(!serves_https(""));
    }

    #[test]
    fn no_policy_lets_inline_script_run() {
        for csp in [PAGE_CSP, API_CSP, DOCS_CSP] {
            let script = csp
                .split(';')
                .map(str::trim)
                .find(|d| d.starts_with("script-src"))
                .unwrap_or("default-src 'none'");
            assert!(!script.contains("unsafe"), "{csp}");
            assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        }
    }

    #[test]
    fn hsts_only_over_https() {
        let mut h = HeaderMap::new();
        set(&mut h, PAGE_CSP, false);
        assert!(!h.contains_key(header::STRICT_TRANSPORT_SECURITY));
        set(&mut h, PAGE_CSP, true);
        assert_eq!(h[header::STRICT_TRANSPORT_SECURITY], HSTS);
        assert_eq!(h[header::X_CONTENT_TYPE_OPTIONS], "nosniff");
    }
}
