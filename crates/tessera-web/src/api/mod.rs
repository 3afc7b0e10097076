//! The JSON API under `/api/v1`, described by the OpenAPI document that
//! utoipa builds from these handlers.

mod admin;
mod dto;
pub(crate) mod fields;
mod invitations;
mod me;
mod methods;
mod new_user;
mod oauth2;
mod oidc;
mod oidc_clients;
mod oidc_dto;
pub mod ops;
mod org_dto;
mod org_test;
mod orgs;
mod per_method;
mod service_accounts;
mod sessions;
mod signin;
mod token_dto;
mod tokens;
mod twostep;

/// Request bodies and their parsers, for [`crate::fuzzing`].
pub(crate) mod fuzzing {
    pub use super::dto::{
        ChangePasswordBody, ClientKindDto, CodeBody, CredentialBody, PasskeySigninFinish,
        PasskeySigninStart, PasswordBody, PhoneBody, RecoveryKeyBody, RenameBody, SetRoleBody,
        SigninBody, SignupBody, StartKeyBody, UnenrollBody,
    };
    pub use super::new_user::CreateUserBody;
    pub use super::oidc_dto::{CreateOidcClientBody, UpdateOidcClientBody};
    pub use super::signin::{SecondStepRequest, parse_challenge, second_step_request};
    pub use super::token_dto::{
        CreateServiceAccountBody, CreateTokenBody, UpdateServiceAccountBody,
    };
}

use crate::state::AppState;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Tessera API",
        description = "Account security: sign-in, sessions, and administration. \
                       Errors are RFC 9457 problem documents.",
        license(name = "Apache-2.0")
    ),
    components(schemas(
        crate::error::Problem,
        fields::AuditKindName,
        new_user::NewPerson,
        new_user::NewServiceAccount
    )),
    modifiers(&BearerAuth),
    tags(
        (name = "signin", description = "Signing in and signing up"),
        (name = "sessions", description = "Who am I, and the caller's own sessions"),
        (name = "me", description = "The caller's own account"),
        (name = "admin", description = "Instance administration (sysadmin)"),
        (name = "oidc", description = "The OpenID Connect provider: discovery, signing keys, tokens, userinfo, introspection and revocation"),
        (name = "organizations", description = "Organizations: domains, members, invitations, enforced two-step verification, the external user policy and its test policy, and the export of external users (org-admins of the organization, and sysadmins)")
    )
)]
struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{
            ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme,
        };
        let c = openapi.components.get_or_insert_with(Default::default);
        c.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        c.add_security_scheme(
            "cookie",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new("tessera_session"))),
        );
    }
}

pub fn router() -> OpenApiRouter<AppState> {
    use axum::routing::post;
    let doc = ApiDoc::openapi().merge_from(per_method::PerMethodDoc::openapi());
    OpenApiRouter::with_openapi(doc)
        .routes(routes!(signin::sign_in))
        .routes(routes!(signin::sign_up))
        // Documented per method by `per_method`.
        .route(
            "/api/v1/signin/{flow_id}/{method}",
            post(signin::continue_sign_in),
        )
        .routes(routes!(signin::resend_email_code))
        .routes(routes!(signin::passkey_start))
        .routes(routes!(signin::passkey_finish))
        .routes(routes!(methods::start_security_key))
        .routes(routes!(methods::start_passkey))
        .routes(routes!(methods::finish_key))
        .routes(routes!(methods::rename_key, methods::remove_key))
        .routes(routes!(methods::start_sms, methods::remove_sms))
        .routes(routes!(methods::resend_sms))
        .routes(routes!(methods::confirm_sms))
        .route("/api/v1/step-up/{method}", post(twostep::step_up))
        .routes(routes!(twostep::send_step_up_email_code))
        .routes(routes!(twostep::status, twostep::disable))
        .routes(routes!(twostep::start_totp, methods::remove_totp))
        .routes(routes!(twostep::confirm_totp))
        .routes(routes!(twostep::new_recovery_key))
        .routes(routes!(admin::unenroll))
        .routes(routes!(sessions::who_am_i, sessions::sign_out))
        .routes(routes!(
            sessions::list_sessions,
            sessions::end_other_sessions
        ))
        .routes(routes!(sessions::end_session))
        .routes(routes!(me::change_password))
        .routes(routes!(admin::list_users, admin::create_user))
        .routes(routes!(admin::get_user))
        .routes(routes!(admin::set_role))
        .routes(routes!(admin::deactivate))
        .routes(routes!(admin::clear_throttle))
        .routes(routes!(admin::audit))
        .routes(routes!(tokens::create_my_token, tokens::list_my_tokens))
        .routes(routes!(tokens::revoke_my_token))
        .routes(routes!(tokens::user_tokens))
        .routes(routes!(tokens::revoke_token))
        .routes(routes!(service_accounts::create, service_accounts::list))
        .routes(routes!(
            service_accounts::get,
            service_accounts::update,
            service_accounts::delete
        ))
        .routes(routes!(service_accounts::create_token))
        .routes(routes!(service_accounts::convert))
        .routes(routes!(orgs::list, orgs::create))
        .routes(routes!(orgs::get))
        .routes(routes!(orgs::list_domains, orgs::claim_domain))
        .routes(routes!(orgs::verify_domain))
        .routes(routes!(orgs::remove_domain))
        .routes(routes!(orgs::list_members, orgs::add_member))
        .routes(routes!(orgs::set_member_role, orgs::remove_member))
        .routes(routes!(orgs::list_invitations, orgs::invite))
        .routes(routes!(orgs::withdraw_invitation))
        .routes(routes!(orgs::get_two_step, orgs::set_two_step))
        .routes(routes!(
            orgs::get_external_policy,
            orgs::set_external_policy
        ))
        .routes(routes!(orgs::reset_preview, orgs::reset_sessions))
        .routes(routes!(
            org_test::get_test_policy,
            org_test::set_test_policy
        ))
        .routes(routes!(org_test::add_test_member))
        .routes(routes!(org_test::remove_test_member))
        .routes(routes!(org_test::roll_out))
        .routes(routes!(
            org_test::test_reset_preview,
            org_test::test_reset_sessions
        ))
        .routes(routes!(org_test::export_external_users))
        .routes(routes!(invitations::show))
        .routes(routes!(invitations::accept))
        .routes(routes!(invitations::signup))
        .routes(routes!(oidc::discovery))
        .routes(routes!(oidc::jwks))
        .routes(routes!(oidc_clients::create, oidc_clients::list))
        .routes(routes!(
            oidc_clients::get,
            oidc_clients::update,
            oidc_clients::delete
        ))
        .routes(routes!(oidc_clients::rotate_secret))
        .routes(routes!(oauth2::token))
        .routes(routes!(oauth2::userinfo, oauth2::userinfo_post))
        .routes(routes!(oauth2::introspect))
        .routes(routes!(oauth2::revoke))
}

pub use oauth2::PATHS as OAUTH2_PATHS;
