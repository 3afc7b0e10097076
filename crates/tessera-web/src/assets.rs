//! Static assets, compiled into the binary.

use crate::state::AppState;
use axum::Router;
use axum::http::header;
use axum::response::IntoResponse;
use axum::routing::get;

const STYLE: &str = include_str!("../assets/style.css");
const RECOVERY_JS: &str = include_str!("../assets/recovery.js");
const WEBAUTHN_JS: &str = include_str!("../assets/webauthn.js");

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/assets/style.css", get(style))
        .route("/assets/recovery.js", get(recovery_js))
        .route("/assets/webauthn.js", get(webauthn_js))
}

async fn webauthn_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        WEBAUTHN_JS,
    )
}

async fn recovery_js() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        RECOVERY_JS,
    )
}

async fn style() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLE,
    )
}
