//! Cookie names and attributes. On https (and any non-localhost host) the
//! names carry the `__Host-` prefix, which makes the browser insist on
//! `Secure`, `Path=/` and no `Domain`: a sibling subdomain cannot plant them.

use crate::state::WebConfig;
use axum_extra::extract::cookie::{Cookie, SameSite};

pub const SESSION: &str = "tessera_session";
pub const CSRF: &str = "tessera_csrf";
/// The sign-in flow waiting for a second step (web pages only).
pub const FLOW: &str = "tessera_flow";
/// Where to land after signing in: an invitation page the visitor opened
/// before they had a session (a local path, checked by `pages::landing`).
pub const RETURN: &str = "tessera_return";
/// The device token that makes this browser a known device.
pub const DEVICE: &str = "tessera_device";
/// How long a browser keeps its device token (the server's own expiry is
/// `ThrottlePolicy::device_ttl_secs`).
const DEVICE_MAX_AGE_DAYS: i64 = 365;

pub fn name(web: &WebConfig, base: &'static str) -> String {
    if web.secure_cookies() {
        format!("__Host-{base}")
    } else {
        base.to_string()
    }
}

/// A session or CSRF cookie with our attributes.
pub fn build(web: &WebConfig, base: &'static str, value: String) -> Cookie<'static> {
    let mut c = Cookie::new(name(web, base), value);
    c.set_path("/");
    c.set_http_only(true);
    c.set_same_site(SameSite::Lax);
    c.set_secure(web.secure_cookies());
    c
}

/// A cookie that tells the browser to forget `base`.
pub fn removal(web: &WebConfig, base: &'static str) -> Cookie<'static> {
    let mut c = build(web, base, String::new());
    c.make_removal();
    c
}

/// The long-lived device-token cookie.
pub fn device(web: &WebConfig, token: String) -> Cookie<'static> {
    let mut c = build(web, DEVICE, token);
    c.set_max_age(cookie::time::Duration::days(DEVICE_MAX_AGE_DAYS));
    c
}
