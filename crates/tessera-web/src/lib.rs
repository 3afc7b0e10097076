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
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

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
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            csrf::origin_guard,
        ))
        .layer(axum::middleware::from_fn(metrics::track))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn(api_no_store))
        .layer(axum::middleware::from_fn(run_to_completion))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::security_headers,
        ))
        .with_state(state)
}

/// Runs every request that may change something in a task of its own, so
/// it finishes even when its client goes away. Hyper drops a request's
/// future wherever it is when the connection closes; a change made of
/// several steps (check a code, hash a recovery key, commit) must not stop
/// half way because the client stopped waiting, and must not depend on how
/// fast the machine is. Each change still commits in one transaction (see
/// `tessera_core::store::Effects`), which is what a crash needs; this is
/// what a disconnect needs. Reads are left cancellable: stopping them
/// early loses nothing.
async fn run_to_completion(req: Request, next: Next) -> Response {
    use axum::http::Method;
    use tracing::Instrument;
    if matches!(
        *req.method(),
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE
    ) {
        return next.run(req).await;
    }
    match tokio::spawn(next.run(req).in_current_span()).await {
        Ok(res) => res,
        Err(e) => {
            // A panic in a handler: the task is gone, the client gets a
            // plain 500 and the cause goes to the log.
            tracing::error!(error = %e, "request task failed");
            error::internal_error()
        }
    }
}

/// API answers carry tokens, account data and error details meant for one
/// caller: no cache on the way may keep them. Outermost, so rejections by
/// the layers inside and unknown `/api/` paths get it too.
async fn api_no_store(req: Request, next: Next) -> Response {
    let api = req.uri().path().starts_with("/api/");
    let mut res = next.run(req).await;
    if api {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// The metrics listener's application: `GET /metrics` and nothing else.
pub fn metrics_app(state: AppState) -> Router {
    api::ops::metrics_router()
        .fallback(|| async { StatusCode::NOT_FOUND })
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers::security_headers,
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
