//! Prometheus metrics: requests and latencies per route, sign-in outcomes,
//! and the password-hash pool.

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use metrics::SharedString;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

/// Installs the process-wide recorder once and returns its handle; later
/// calls (several apps in one test process) get the same handle.
pub fn install_recorder() -> Result<PrometheusHandle, String> {
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .set_buckets_for_metric(
                    Matcher::Full("tessera_http_request_duration_seconds".into()),
                    &[
                        0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
                        5.0,
                    ],
                )
                .map_err(|e| e.to_string())?
                .install_recorder()
                .map_err(|e| e.to_string())
        })
        .clone()
}

/// One request being counted and timed, labelled by its route pattern
/// (never the raw path, which would explode the label set).
pub struct RequestTiming {
    method: &'static str,
    route: SharedString,
    start: Instant,
}

impl RequestTiming {
    pub fn start(req: &Request) -> Self {
        let route = match req.extensions().get::<MatchedPath>() {
            // Shared, so the two records below do not copy it again.
            Some(p) => SharedString::from(Arc::<str>::from(p.as_str())),
            None => SharedString::const_str("unmatched"),
        };
        RequestTiming {
            method: method_label(req.method()),
            route,
            start: Instant::now(),
        }
    }

    pub fn finish(self, res: &Response) {
        let status = status_label(res.status().as_u16());
        let secs = self.start.elapsed().as_secs_f64();
        let method = self.method;
        metrics::counter!("tessera_http_requests_total", "method" => method, "route" => self.route.clone(), "status" => status).increment(1);
        metrics::histogram!("tessera_http_request_duration_seconds", "method" => method, "route" => self.route).record(secs);
    }
}

/// Method labels without allocating on the hot path.
fn method_label(m: &axum::http::Method) -> &'static str {
    match *m {
        axum::http::Method::GET => "GET",
        axum::http::Method::POST => "POST",
        axum::http::Method::PUT => "PUT",
        axum::http::Method::DELETE => "DELETE",
        axum::http::Method::PATCH => "PATCH",
        axum::http::Method::HEAD => "HEAD",
        axum::http::Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}

// Common codes get their own label; the ranges after them catch the rest.
#[allow(clippy::match_overlapping_arm)]
fn status_label(code: u16) -> &'static str {
    match code {
        200 => "200",
        201 => "201",
        204 => "204",
        303 => "303",
        400 => "400",
        401 => "401",
        403 => "403",
        404 => "404",
        409 => "409",
        413 => "413",
        415 => "415",
        429 => "429",
        500 => "500",
        503 => "503",
        100..=199 => "1xx",
        200..=299 => "2xx",
        300..=399 => "3xx",
        400..=499 => "4xx",
        _ => "5xx",
    }
}

/// Records a sign-in outcome: `success`, `failure` or `overloaded`.
pub fn signin_outcome(outcome: &'static str) {
    metrics::counter!("tessera_signin_total", "outcome" => outcome).increment(1);
}
