//! The error half of the OpenAPI contract, from what the extractors and the
//! error type really do, so no handler's annotations can forget it:
//!
//! - every error is served as `application/problem+json` (see
//!   [`crate::error::ApiError`]), so an error response documented as
//!   `application/json` is renamed;
//! - every operation with a JSON body can answer 400 (not JSON, not an
//!   object, a field that does not fit), 413 (over the body limit) and 415
//!   (no JSON content type), which [`crate::extract::ApiJson`] decides
//!   before the handler runs;
//! - the OAuth endpoints (`/oauth2/token`, `userinfo`, `introspect`,
//!   `revoke`) are left as annotated: their errors are OAuth's JSON;
//! - every operation can answer 503 while the database is unreachable
//!   (with `Retry-After`; see `ApiError`'s conversion of an unavailable
//!   store).

use utoipa::openapi::path::Operation;
use utoipa::openapi::{ContentBuilder, OpenApi, Ref, RefOr, ResponseBuilder};

const PROBLEM: &str = "application/problem+json";

pub struct ErrorsInOpenApi;

impl utoipa::Modify for ErrorsInOpenApi {
    fn modify(&self, openapi: &mut OpenApi) {
        for (path, item) in openapi.paths.paths.iter_mut() {
            // OAuth's endpoints answer OAuth errors (RFC 6749 §5.2), as
            // their own annotations document.
            if crate::api::OAUTH2_PATHS.contains(&path.as_str()) {
                continue;
            }
            for op in [
                &mut item.get,
                &mut item.post,
                &mut item.put,
                &mut item.patch,
                &mut item.delete,
            ]
            .into_iter()
            .flatten()
            {
                problems_are_problem_json(op);
                op.responses
                    .responses
                    .entry("503".to_string())
                    .or_insert_with(|| {
                        problem("The database is unreachable for now; try again after `Retry-After` seconds")
                    });
                if op.request_body.is_some() {
                    body_refusals(op);
                }
            }
        }
    }
}

fn problems_are_problem_json(op: &mut Operation) {
    for (status, response) in op.responses.responses.iter_mut() {
        let is_error = status.starts_with('4') || status.starts_with('5');
        if let (true, RefOr::T(r)) = (is_error, response)
            && let Some(content) = r.content.shift_remove("application/json")
        {
            r.content.entry(PROBLEM.to_string()).or_insert(content);
        }
    }
}

fn body_refusals(op: &mut Operation) {
    for (status, why) in [
        (
            "400",
            "The body is not JSON, not a JSON object, or a field does not fit",
        ),
        ("413", "The body is over the configured size limit"),
        ("415", "The body is not sent as application/json"),
    ] {
        op.responses
            .responses
            .entry(status.to_string())
            .or_insert_with(|| problem(why));
    }
}

fn problem(description: &str) -> RefOr<utoipa::openapi::response::Response> {
    ResponseBuilder::new()
        .description(description)
        .content(
            PROBLEM,
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
        .into()
}
