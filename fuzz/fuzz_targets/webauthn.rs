//! Security-key and passkey answers, as the browser sends them: the body
//! `{"credential": …}` is parsed by the server's own parse, then handed to
//! the webauthn-rs checks the server runs, against ceremonies started the
//! way the server starts them (relying party `localhost`, origin
//! `http://localhost:8080`, and one stored credential,
//! `fixtures/credential.json`).
//!
//! Each ceremony has a random challenge, which no input can know. So the
//! harness writes the ceremony's challenge into the answer's client data
//! (when it is a JSON object), and the fuzzer reaches the attestation,
//! authenticator data and signature checks behind the challenge check.
//! Seeds are real answers of a software authenticator.
#![no_main]

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use std::sync::LazyLock;
use tessera_core::service::fuzzing::parse_key_response;
use tessera_core::webauthn::RelyingParty;
use tessera_web::fuzzing::{CredentialBody, PasskeySigninFinish, json_object};
use webauthn_rs::prelude::*;

struct Ceremonies {
    wa: Webauthn,
    cred: Credential,
    passkey_reg: (String, PasskeyRegistration),
    key_reg: (String, SecurityKeyRegistration),
    key_auth: (String, SecurityKeyAuthentication),
    discoverable: (String, DiscoverableAuthentication),
}

/// The challenge in a ceremony's options.
fn challenge<T: serde::Serialize>(options: &T) -> String {
    let v = serde_json::to_value(options).expect("options serialise");
    v["publicKey"]["challenge"]
        .as_str()
        .expect("options carry a challenge")
        .to_string()
}

static CEREMONIES: LazyLock<Ceremonies> = LazyLock::new(|| {
    let wa = RelyingParty::default().build().expect("default relying party");
    let cred: Credential =
        serde_json::from_str(include_str!("../fixtures/credential.json")).expect("fixture");
    let user = uuid::Uuid::from_u128(7);
    let (o, passkey_reg) = wa
        .start_passkey_registration(user, "ann@example.com", "Ann", None)
        .expect("start");
    let passkey_reg = (challenge(&o), passkey_reg);
    let (o, key_reg) = wa
        .start_securitykey_registration(user, "ann@example.com", "Ann", None, None, None)
        .expect("start");
    let key_reg = (challenge(&o), key_reg);
    let (o, key_auth) = wa
        .start_securitykey_authentication(&[SecurityKey::from(cred.clone())])
        .expect("start");
    let key_auth = (challenge(&o), key_auth);
    let (o, discoverable) = wa.start_discoverable_authentication().expect("start");
    let discoverable = (challenge(&o), discoverable);
    Ceremonies {
        wa,
        cred,
        passkey_reg,
        key_reg,
        key_auth,
        discoverable,
    }
});

fuzz_target!(|data: &[u8]| {
    let c = &*CEREMONIES;
    // Key registration and second steps send `{credential}`; a passkey
    // sign-in sends `{ceremony_id, credential}`.
    let credential = match json_object::<CredentialBody>(data) {
        Ok(b) => b.credential,
        Err(_) => match json_object::<PasskeySigninFinish>(data) {
            Ok(b) => b.credential,
            Err(_) => return,
        },
    };

    let answering = |ch: &str| with_challenge(credential.clone(), ch);
    if let Ok(reg) = parse_key_response::<RegisterPublicKeyCredential>(answering(&c.passkey_reg.0))
    {
        let _ = c.wa.finish_passkey_registration(&reg, &c.passkey_reg.1);
    }
    if let Ok(reg) = parse_key_response::<RegisterPublicKeyCredential>(answering(&c.key_reg.0)) {
        let _ = c.wa.finish_securitykey_registration(&reg, &c.key_reg.1);
    }
    if let Ok(pkc) = parse_key_response::<PublicKeyCredential>(answering(&c.key_auth.0)) {
        let _ = pkc.get_credential_id();
        let _ = c.wa.finish_securitykey_authentication(&pkc, &c.key_auth.1);
    }
    if let Ok(pkc) = parse_key_response::<PublicKeyCredential>(answering(&c.discoverable.0)) {
        if c.wa.identify_discoverable_authentication(&pkc).is_ok() {
            let _ = c.wa.finish_discoverable_authentication_v2(
                &pkc,
                c.discoverable.1.clone(),
                &c.cred,
            );
        }
    }
});

/// `credential` with `challenge` written into its client data, if that
/// decodes to a JSON object; otherwise as it came.
fn with_challenge(mut credential: Value, challenge: &str) -> Value {
    let Some(cdj) = credential.pointer_mut("/response/clientDataJSON") else {
        return credential;
    };
    let Some(bytes) = cdj.as_str().and_then(|s| URL_SAFE_NO_PAD.decode(s).ok()) else {
        return credential;
    };
    let Ok(Value::Object(mut client_data)) = serde_json::from_slice::<Value>(&bytes) else {
        return credential;
    };
    client_data.insert("challenge".into(), Value::String(challenge.into()));
    let patched = serde_json::to_vec(&client_data).expect("a map serialises");
    *cdj = Value::String(URL_SAFE_NO_PAD.encode(patched));
    credential
}
