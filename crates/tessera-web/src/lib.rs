//! Tessera's HTTP layer: server-rendered pages, the JSON API under
//! `/api/v1` with its OpenAPI document, and operational endpoints.
//!
//! Handlers parse input, call one [`tessera_core::service::Core`] method and
//! map the result to a response. No business rule lives here.

mod access;
mod api;
mod assets;
mod client;
mod cookies;
mod csrf;
mod envelope;
mod error;
mod extract;
mod metrics;
mod openapi_errors;
mod pages;
mod redact;
mod security_headers;
mod session_out;
mod state;

pub use access::{Needs, ROUTES, needs_of_documented};

/// The parsers requests go through before any use case runs: request
/// bodies, the `Authorization` header, second-step bodies. Reachable for
/// the fuzz targets in `fuzz/`; not an API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::access::{Authorization, Credentials, Via, authorization};
    pub use crate::api::fuzzing::*;
    pub use crate::error::ApiError;
    pub use crate::extract::json_object;
}
pub use metrics::install_recorder;
pub use state::{AppState, WebConfig};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;

/// The whole application as one router, ready to serve.
pub fn app(state: AppState) -> Router {
    let body_limit = state.web.body_limit_bytes;
    let (api_router, mut openapi) = api::router().split_for_parts();
    // After the routes are in: the gate's part of the contract.
    utoipa::Modify::modify(&access::GateInOpenApi, &mut openapi);
    utoipa::Modify::modify(&openapi_errors::ErrorsInOpenApi, &mut openapi);
    utoipa::Modify::modify(
        &api::fields::ConfigInOpenApi {
            config: &state.core.config,
        },
        &mut openapi,
    );
    let docs = utoipa_swagger_ui::SwaggerUi::new("/api/docs").url("/api/openapi.json", openapi);
    // Every API route and page passes the access gate, which enforces
    // what the route table says each needs.
    let gated = Router::new()
        .merge(api_router)
        .merge(pages::router())
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            access::gate,
        ));
    Router::new()
        .merge(gated)
        .merge(assets::router())
        .merge(api::ops::router())
        .merge(docs)
        .fallback(error::not_found)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            envelope::around,
        ))
        .with_state(state)
}

/// The metrics listener's application: `GET /metrics` and nothing else.
/// Its answers get the security headers but are not counted themselves:
/// a scrape is not traffic, and counting it would make the request count
/// move on every look.
pub fn metrics_app(state: AppState) -> Router {
    api::ops::metrics_router()
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::alone,
        ))
        .with_state(state)
}

/// Serves the application on `listener` until `shutdown` completes, then
/// lets in-flight requests finish.
pub async fn run(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let app = app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown)
        .await
}

/// Serves [`metrics_app`] on `listener` until `shutdown` completes.
pub async fn run_metrics(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, metrics_app(state))
        .with_graceful_shutdown(shutdown)
        .await
}
