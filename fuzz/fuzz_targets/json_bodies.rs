//! Every JSON request body of the API, parsed as its route parses it (a
//! JSON object, or a 400 problem document), then put through the checks
//! its use case makes before it touches storage. A refusal must render as
//! a problem document; nothing may panic.
//!
//! Each input is tried as every body type, so a seed of one type also
//! explores the others.
#![no_main]

use axum::response::IntoResponse;
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde_json::Value;

use tessera_core::account::{AccountKind, Role};
use tessera_core::apitoken::{TokenPolicy, TokenRequest};
use tessera_core::email::Email;
use tessera_core::oidc::client as oidc;
use tessera_core::password::throttle::Budget;
use tessera_core::password::{Password, PasswordPolicy};
use tessera_core::secrets::{SecretSource, token_hash};
use tessera_core::service::fuzzing as core_checks;
use tessera_core::service::{NewAccountInput, SecondStepProof};
use tessera_core::twostep::methods::Challenge;
use tessera_core::twostep::phone::PhoneNumber;
use tessera_core::twostep::totp::TotpSecret;
use tessera_core::twostep::{otp, recovery};
use tessera_core::{CoreError, CoreError as E, Timestamp};
use tessera_web::fuzzing::*;
use webauthn_rs::prelude::{PublicKeyCredential, RegisterPublicKeyCredential};

fuzz_target!(|data: &[u8]| {
    body(data, |b: SigninBody| {
        let _ = Email::parse(&b.email);
        let _ = Budget::of(&b.email, None, Some("203.0.113.9"));
        let _ = b.password.chars().count();
        if let Some(t) = &b.device_token {
            let _ = token_hash(t);
        }
        Ok(())
    });
    body(data, |b: SignupBody| {
        new_account(b.email, b.display_name, AccountKind::Human, Role::Member, Some(b.password))
    });
    body(data, |b: ChangePasswordBody| {
        let _ = b.current_password;
        PasswordPolicy::default()
            .check(&b.new_password, &["ann@example.com", "ann", "Ann"])
            .map_err(E::Invalid)
    });
    body(data, |b: CreateUserBody| {
        let kind = match b.kind.as_deref() {
            None => AccountKind::Human,
            Some(k) => k.parse().map_err(E::Invalid)?,
        };
        let role = match b.role.as_deref() {
            None => Role::Member,
            Some(r) => r.parse().map_err(E::Invalid)?,
        };
        new_account(b.email, b.display_name, kind, role, b.password)
    });
    body(data, |b: SetRoleBody| b.role.parse::<Role>().map(drop).map_err(E::Invalid));
    body(data, |b: CodeBody| {
        code(&b.code);
        Ok(())
    });
    body(data, |b: RecoveryKeyBody| {
        let _ = recovery::normalize(&b.recovery_key);
        Ok(())
    });
    body(data, |b: PasswordBody| {
        let _ = b.password;
        Ok(())
    });
    body(data, |b: StartKeyBody| core_checks::key_name(&b.name).map(drop));
    body(data, |b: RenameBody| core_checks::key_name(&b.name).map(drop));
    body(data, |b: CredentialBody| {
        // Registration answers and assertions arrive in this body.
        let _ = core_checks::parse_key_response::<RegisterPublicKeyCredential>(b.credential.clone());
        core_checks::parse_key_response::<PublicKeyCredential>(b.credential).map(drop)
    });
    body(data, |b: PhoneBody| {
        PhoneNumber::parse(&b.phone).map(drop).map_err(|m| E::Invalid(m.into()))
    });
    body(data, |b: PasskeySigninStart| {
        let _ = b.client;
        Ok(())
    });
    body(data, |b: PasskeySigninFinish| {
        let _ = token_hash(&b.ceremony_id);
        core_checks::parse_key_response::<PublicKeyCredential>(b.credential).map(drop)
    });
    body(data, |b: UnenrollBody| {
        totp(&b.totp_code);
        Ok(())
    });
    body(data, |b: CreateTokenBody| {
        TokenPolicy::default()
            .check(&TokenRequest::from(b))
            .map(drop)
            .map_err(E::Invalid)
    });
    body(data, |b: CreateServiceAccountBody| {
        if let Some(r) = b.role.as_deref() {
            r.parse::<Role>().map_err(E::Invalid)?;
        }
        let name = core_checks::check_name(&b.name)?;
        core_checks::check_description(&b.description)?;
        // Its generated address is an address.
        let address = core_checks::service_address(&name, &FixedSecrets);
        let checked = NewAccountInput {
            email: address.clone(),
            display_name: name,
            kind: AccountKind::Service,
            role: Role::Member,
            password: None,
        }
        .check(&PasswordPolicy::default());
        assert!(checked.is_ok(), "{address:?}: {checked:?}");
        Ok(())
    });
    body(data, |b: UpdateServiceAccountBody| {
        if let Some(n) = &b.name {
            core_checks::check_name(n)?;
        }
        if let Some(d) = &b.description {
            core_checks::check_description(d)?;
        }
        Ok(())
    });
    // An OIDC client's registration and its changes, checked as core
    // checks them before storing: a refusal names the field.
    body(data, |b: CreateOidcClientBody| {
        oidc::check_name(&b.name)?;
        oidc::check_uris("redirect_uris", &b.redirect_uris, true)?;
        oidc::check_uris("post_logout_redirect_uris", &b.post_logout_redirect_uris, false)?;
        if let Some(scopes) = &b.scopes {
            oidc::check_scopes(scopes)?;
        }
        Ok(())
    });
    body(data, |b: UpdateOidcClientBody| {
        if let Some(n) = &b.name {
            oidc::check_name(n)?;
        }
        if let Some(u) = &b.redirect_uris {
            let kept = oidc::check_uris("redirect_uris", u, true)?;
            // Kept byte for byte: the authorization request repeats them.
            assert!(kept.iter().all(|k| u.contains(k)), "{u:?} -> {kept:?}");
        }
        if let Some(u) = &b.post_logout_redirect_uris {
            oidc::check_uris("post_logout_redirect_uris", u, false)?;
        }
        if let Some(scopes) = &b.scopes {
            oidc::check_scopes(scopes)?;
        }
        Ok(())
    });
    // The second step of a sign-in and a step-up take a free-form object
    // whose shape the method in the path decides.
    if let Ok(mut v) = json_object::<Value>(data) {
        if let Some(o) = v.as_object_mut() {
            o.remove("device_token");
        }
        for method in ["totp", "recovery_key", "webauthn", "sms", "email_code", "password"] {
            let Ok(challenge) = parse_challenge(method) else {
                // `password` is a step-up of its own.
                let _ = serde_json::from_value::<PasswordBody>(v.clone());
                continue;
            };
            match second_step_request(challenge, v.clone()) {
                Ok(SecondStepRequest::Proof(p)) => proof(challenge, p),
                Ok(_) => {}
                Err(e) => render(e),
            }
        }
    }
});

/// Parses `data` as the route would, then runs `check`; any refusal is
/// rendered as the API renders it.
fn body<T: DeserializeOwned>(data: &[u8], check: impl FnOnce(T) -> Result<(), CoreError>) {
    match json_object::<T>(data) {
        Ok(b) => {
            if let Err(e) = check(b) {
                render(ApiError::from(e));
            }
        }
        Err(e) => render(e),
    }
}

fn render(e: ApiError) {
    let r = e.into_response();
    assert!(r.status().is_client_error(), "{}", r.status());
}

fn new_account(
    email: String,
    display_name: String,
    kind: AccountKind,
    role: Role,
    password: Option<String>,
) -> Result<(), CoreError> {
    NewAccountInput {
        email,
        display_name,
        kind,
        role,
        password: password.map(Password::new),
    }
    .check(&PasswordPolicy::default())
    .map(drop)
}

/// What the use cases do with a second-step proof before any lookup.
fn proof(challenge: Challenge, p: SecondStepProof) {
    match p {
        SecondStepProof::Totp(c) => totp(&c),
        SecondStepProof::RecoveryKey(k) => {
            let _ = recovery::normalize(&k);
        }
        SecondStepProof::Webauthn(v) => {
            let _ = core_checks::parse_key_response::<PublicKeyCredential>(v);
        }
        SecondStepProof::Sms(c) | SecondStepProof::EmailCode(c) => code(&c),
    }
    let _ = challenge;
}

fn code(c: &str) {
    let _ = otp::normalize(c);
    totp(c);
}

fn totp(c: &str) {
    let secret = TotpSecret::from_bytes(b"12345678901234567890".to_vec());
    let _ = secret.matching_step(c, Timestamp(1_234_567_890_000));
}

/// Randomness fixed, so every run is the same.
struct FixedSecrets;

impl SecretSource for FixedSecrets {
    fn fill(&self, buf: &mut [u8]) {
        buf.fill(0xa5);
    }
}
