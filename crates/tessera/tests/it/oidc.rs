//! The OpenID Connect provider's foundation over real HTTP, on SQLite and
//! on two PostgreSQL nodes sharing one database (requests alternate), with
//! a clock the test moves: discovery; a JWKS that `jsonwebtoken` parses
//! and verifies the server's own signatures with; keys sealed at rest,
//! rotated on schedule and kept published until their tokens expire; and
//! client registration by sysadmins only, with every refusal a clear 400
//! and secrets kept as hashes.

use crate::crash_db::Db;
use crate::guard_rails::{Nodes, bearer, one_account};
use crate::support::*;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, JwkSet};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};
use tessera_core::account::Role;
use tessera_core::oidc::keys::SigningAlg;

macro_rules! both_backends {
    ($sqlite:ident, $postgres:ident, $body:ident) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $body(Nodes::sqlite(one_account()).await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            let Some(n) = Nodes::postgres(one_account()).await else {
                return;
            };
            $body(n).await;
        }
    };
}

#[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
struct Claims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
}

async fn get(n: &Nodes, node: usize, path: &str) -> (u16, reqwest::header::HeaderMap, Value) {
    let r = n
        .http
        .get(n.nodes[node % n.nodes.len()].url(path))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let headers = r.headers().clone();
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

async fn jwks(n: &Nodes, node: usize) -> JwkSet {
    let (status, headers, body) = get(n, node, "/oauth2/jwks").await;
    assert_eq!(status, 200, "{body}");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
    serde_json::from_value(body).unwrap()
}

fn kids(set: &JwkSet) -> Vec<String> {
    let mut k: Vec<String> = set
        .keys
        .iter()
        .map(|k| k.common.key_id.clone().unwrap())
        .collect();
    k.sort();
    k
}

/// A token signed by the server's active key for `alg`, checked against
/// the published set the way a relying party would: by its `kid`.
async fn sign_and_verify(n: &Nodes, alg: SigningAlg, set: &JwkSet) -> (String, String) {
    let claims = Claims {
        iss: n.core().config.public_url.clone(),
        sub: "account-1".into(),
        aud: "client-1".into(),
        exp: n.now() + 600,
    };
    let token = n.core().sign_jwt(alg, &claims).await.unwrap();
    let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
    assert!(
        verify(&token, set, n.now()).is_some(),
        "{alg} token does not verify"
    );
    (token, kid)
}

/// The claims of `token` if a key of `set` verifies it at `now`.
fn verify(token: &str, set: &JwkSet, now: i64) -> Option<Claims> {
    let header = jsonwebtoken::decode_header(token).unwrap();
    let jwk = set.find(header.kid.as_deref()?)?;
    let mut v = Validation::new(header.alg);
    v.set_audience(&["client-1"]);
    // The harness clock is years ahead of the real one: check `exp`
    // against it by hand.
    v.validate_exp = false;
    let data =
        jsonwebtoken::decode::<Claims>(token, &DecodingKey::from_jwk(jwk).unwrap(), &v).ok()?;
    (data.claims.exp > now).then_some(data.claims)
}

async fn discovery_and_jwks_publish_the_signing_keys(n: Nodes) {
    // Discovery: every endpoint under the issuer, the public URL.
    let (status, headers, d) = get(&n, 0, "/.well-known/openid-configuration").await;
    assert_eq!(status, 200, "{d}");
    assert!(
        headers["cache-control"]
            .to_str()
            .unwrap()
            .contains("max-age")
    );
    let issuer = n.core().config.public_url.clone();
    assert_eq!(d["issuer"], issuer);
    for (field, path) in [
        ("authorization_endpoint", "/oauth2/authorize"),
        ("token_endpoint", "/oauth2/token"),
        ("userinfo_endpoint", "/oauth2/userinfo"),
        ("jwks_uri", "/oauth2/jwks"),
        ("revocation_endpoint", "/oauth2/revoke"),
        ("introspection_endpoint", "/oauth2/introspect"),
        ("end_session_endpoint", "/oauth2/logout"),
    ] {
        assert_eq!(d[field], format!("{issuer}{path}"), "{field}");
    }
    assert_eq!(d["code_challenge_methods_supported"], json!(["S256"]));
    assert_eq!(d["response_types_supported"], json!(["code"]));
    assert_eq!(
        d["id_token_signing_alg_values_supported"],
        json!(["ES256", "EdDSA"])
    );
    assert_eq!(
        d["scopes_supported"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(
        d["acr_values_supported"],
        json!(["urn:tessera:acr:aal1", "urn:tessera:acr:aal2"])
    );
    for claim in [
        "sub",
        "auth_time",
        "acr",
        "amr",
        "sid",
        "email",
        "email_verified",
        "name",
    ] {
        assert!(
            d["claims_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(claim)),
            "{claim}"
        );
    }
    for grant in ["authorization_code", "refresh_token", "client_credentials"] {
        assert!(
            d["grant_types_supported"]
                .as_array()
                .unwrap()
                .contains(&json!(grant))
        );
    }

    // The first reads, on every node at once, make one key per algorithm.
    let (a, b, c) = tokio::join!(jwks(&n, 0), jwks(&n, 1), jwks(&n, 0));
    let set = jwks(&n, 1).await;
    assert_eq!(set.keys.len(), 2, "{:?}", kids(&set));
    assert_eq!(
        (kids(&a), kids(&b), kids(&c)),
        (kids(&set), kids(&set), kids(&set))
    );
    let es = set
        .keys
        .iter()
        .find(|k| k.common.key_algorithm.map(|a| a.to_string()) == Some("ES256".into()))
        .unwrap();
    match &es.algorithm {
        AlgorithmParameters::EllipticCurve(p) => {
            assert_eq!(p.curve, EllipticCurve::P256);
            let b64 = |s: &str| {
                base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, s)
                    .unwrap()
            };
            assert_eq!((b64(&p.x).len(), b64(&p.y).len()), (32, 32));
        }
        other => panic!("ES256 key is {other:?}"),
    }
    // The kid is the key's RFC 7638 thumbprint.
    assert_eq!(
        es.common.key_id.as_deref().unwrap(),
        es.thumbprint(jsonwebtoken::jwk::ThumbprintHash::SHA256)
            .unwrap()
    );
    // Signatures by the server verify with the published keys (a point
    // off the curve, or a wrong key, would not), and a tampered token
    // does not.
    let (token, kid) = sign_and_verify(&n, SigningAlg::Es256, &set).await;
    assert_eq!(&kid, es.common.key_id.as_ref().unwrap());
    sign_and_verify(&n, SigningAlg::EdDsa, &set).await;
    let mut forged: Vec<&str> = token.split('.').collect();
    let other = n
        .core()
        .sign_jwt(
            SigningAlg::Es256,
            &json!({"iss": "x", "sub": "admin", "aud": "client-1", "exp": n.now() + 600}),
        )
        .await
        .unwrap();
    forged[1] = other.split('.').nth(1).unwrap();
    assert!(verify(&forged.join("."), &set, n.now()).is_none());
    let mut hs256 = jsonwebtoken::Header::new(Algorithm::HS256);
    hs256.kid = Some(kid.clone());
    let claims = verify(&token, &set, n.now()).unwrap();
    let hs = jsonwebtoken::encode(
        &hs256,
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    assert!(
        verify(&hs, &set, n.now()).is_none(),
        "an HS256 token under an EC kid"
    );

    // At rest: the private half is sealed (it opens with the server's key
    // under the key's own name only) and is the key the JWK publishes.
    let db = Db::at(&n.db).await;
    let hex = if n.db.starts_with("postgres") {
        "encode(sealed_private, 'hex')"
    } else {
        "lower(hex(sealed_private))"
    };
    let rows = db
        .rows(&format!(
            "SELECT kid, alg, public_jwk, {hex} FROM oidc_signing_keys WHERE alg = 'ES256'"
        ))
        .await;
    assert_eq!(rows.len(), 1);
    assert!(
        !rows[0][2].contains("\"d\""),
        "no private part in the public JWK"
    );
    let sealed = hex_decode(&rows[0][3]);
    assert_eq!(sealed[0], 1, "sealed, format version 1");
    let boxed = tessera_core::crypto::SecretBox::new(&[9u8; 32]).unwrap();
    let aad = tessera_core::oidc::keys::sealing_aad(&rows[0][0]);
    assert!(boxed.open(&sealed, b"oidc_signing_key:another").is_err());
    assert!(
        tessera_core::crypto::SecretBox::new(&[8u8; 32])
            .unwrap()
            .open(&sealed, &aad)
            .is_err()
    );
    let der = boxed.open(&sealed, &aad).unwrap();
    assert!(!sealed.windows(der.len()).any(|w| w == der.as_slice()));
    let mut h = jsonwebtoken::Header::new(Algorithm::ES256);
    h.kid = Some(kid);
    let by_row =
        jsonwebtoken::encode(&h, &claims, &jsonwebtoken::EncodingKey::from_ec_der(&der)).unwrap();
    assert_eq!(verify(&by_row, &set, n.now()), Some(claims));
}

both_backends!(
    discovery_and_jwks_publish_the_signing_keys_sqlite,
    discovery_and_jwks_publish_the_signing_keys_postgres,
    discovery_and_jwks_publish_the_signing_keys
);

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

async fn keys_rotate_on_schedule_and_stay_published_until_their_tokens_expire(n: Nodes) {
    let cfg = n.core().config.oidc.clone();
    let first = jwks(&n, 0).await;
    // Just before the rotation period ends: the same keys, which sign.
    n.clock.advance_secs(cfg.key_rotation_secs - 1);
    assert_eq!(kids(&jwks(&n, 1).await), kids(&first));
    let (old_token, old_kid) = sign_and_verify(&n, SigningAlg::Es256, &first).await;
    // At its end: new keys, and the old ones still published.
    n.clock.advance_secs(1);
    let rotated = jwks(&n, 0).await;
    assert_eq!(rotated.keys.len(), 4, "{:?}", kids(&rotated));
    assert!(kids(&first).iter().all(|k| kids(&rotated).contains(k)));
    assert_eq!(
        kids(&jwks(&n, 1).await),
        kids(&rotated),
        "one rotation for all nodes"
    );
    let (_, new_kid) = sign_and_verify(&n, SigningAlg::Es256, &rotated).await;
    assert_ne!(new_kid, old_kid, "the new key signs");
    // A token signed just before the rotation lives `longest_token_secs`
    // at most; its key is published that long after its retirement.
    let before = n.now();
    assert!(verify(&old_token, &rotated, before).is_some());
    n.clock.advance_secs(cfg.longest_token_secs() - 1);
    assert_eq!(jwks(&n, 1).await.keys.len(), 4);
    n.clock.advance_secs(1);
    let later = jwks(&n, 0).await;
    assert_eq!(later.keys.len(), 2, "{:?}", kids(&later));
    assert!(!kids(&later).contains(&old_kid));
    assert!(
        verify(&old_token, &later, before).is_none(),
        "its key is gone"
    );
    let db = Db::at(&n.db).await;
    assert_eq!(
        db.count("SELECT COUNT(*) FROM oidc_signing_keys").await,
        2,
        "expired keys deleted"
    );
    let audit = db
        .rows("SELECT detail FROM audit_events WHERE kind = 'oidc.keys_rotated'")
        .await;
    assert_eq!(audit.len(), 2, "{audit:?}");
    assert!(
        audit.iter().all(|r| r[0].contains("\"schedule\"")),
        "{audit:?}"
    );
}

both_backends!(
    keys_rotate_on_schedule_and_stay_published_until_their_tokens_expire_sqlite,
    keys_rotate_on_schedule_and_stay_published_until_their_tokens_expire_postgres,
    keys_rotate_on_schedule_and_stay_published_until_their_tokens_expire
);

const CLIENTS: &str = "/api/v1/admin/oidc-clients";

fn grafana() -> Value {
    json!({
        "name": "Grafana",
        "redirect_uris": ["https://grafana.example.com/login/generic_oauth", "http://127.0.0.1:3000/cb"],
        "post_logout_redirect_uris": ["https://grafana.example.com/"],
        "first_party": true,
        "scopes": ["openid", "email", "profile", "offline_access"],
    })
}

async fn sysadmin(n: &Nodes) -> String {
    n.user("oidc-admin@example.com", Role::Sysadmin).await;
    n.token("oidc-admin@example.com").await
}

async fn clients_are_registered_updated_and_deleted_with_hashed_secrets(n: Nodes) {
    let admin = bearer(&sysadmin(&n).await);
    let (status, c) = n.send("POST", CLIENTS, &admin, Some(grafana())).await;
    assert_eq!(status, 201, "{c}");
    let id = c["client_id"].as_str().unwrap().to_string();
    let secret = c["client_secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("tcs_") && secret.len() == 47, "{secret}");
    assert_eq!(c["public"], false);
    assert_eq!(c["first_party"], true);
    assert_eq!(
        c["scopes"],
        json!(["openid", "profile", "email", "offline_access"])
    );
    assert_eq!(c["redirect_uris"], grafana()["redirect_uris"]);

    let (status, p) = n
        .send(
            "POST",
            CLIENTS,
            &admin,
            Some(json!({"name": "CLI", "public": true, "redirect_uris": ["http://localhost:8400/cb"]})),
        )
        .await;
    assert_eq!(status, 201, "{p}");
    assert!(
        p.get("client_secret").is_none(),
        "a public client has no secret: {p}"
    );
    assert_eq!(
        p["scopes"],
        json!(["openid", "profile", "email"]),
        "default scopes"
    );
    assert_eq!(p["post_logout_redirect_uris"], json!([]));
    let public_id = p["client_id"].as_str().unwrap().to_string();

    // The secret is stored as its SHA-256 only, never in clear.
    let db = Db::at(&n.db).await;
    let hex = if n.db.starts_with("postgres") {
        "encode(secret_hash, 'hex')"
    } else {
        "lower(hex(secret_hash))"
    };
    let row = |id: String| {
        let db = db.clone();
        async move {
            db.rows(&format!(
                "SELECT id, name, redirect_uris, post_logout_redirect_uris, scopes, {hex} \
                 FROM oidc_clients WHERE id = '{id}'"
            ))
            .await
            .remove(0)
        }
    };
    let stored = row(id.clone()).await;
    assert!(
        stored.iter().all(|col| !col.contains(&secret[4..])),
        "{stored:?}"
    );
    let sha = |s: &str| hex_of(&tessera_core::secrets::token_hash(s));
    assert_eq!(stored[5], sha(&secret));
    assert_eq!(
        row(public_id.clone()).await[5],
        "",
        "no secret for a public client"
    );

    // Listed and read without secrets.
    let (status, list) = n.send("GET", CLIENTS, &admin, None).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = list["clients"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["CLI", "Grafana"]);
    assert!(!list.to_string().contains("secret"), "{list}");
    let (status, one) = n
        .send("GET", &format!("{CLIENTS}/{id}"), &admin, None)
        .await;
    assert_eq!((status, &one["name"]), (200, &json!("Grafana")));
    assert!(one.get("client_secret").is_none());

    // Updated: only the fields given; the kind is fixed.
    let (status, u) = n
        .send(
            "PATCH",
            &format!("{CLIENTS}/{id}"),
            &admin,
            Some(json!({"name": "Grafana (prod)", "redirect_uris": ["https://grafana.example.com/cb"], "first_party": false})),
        )
        .await;
    assert_eq!(status, 200, "{u}");
    assert_eq!(u["name"], "Grafana (prod)");
    assert_eq!(
        u["redirect_uris"],
        json!(["https://grafana.example.com/cb"])
    );
    assert_eq!(u["first_party"], false);
    assert_eq!(u["scopes"], c["scopes"], "unchanged");
    assert_eq!(
        u["post_logout_redirect_uris"],
        c["post_logout_redirect_uris"]
    );
    let (status, e) = n
        .send(
            "PATCH",
            &format!("{CLIENTS}/{id}"),
            &admin,
            Some(json!({"public": true})),
        )
        .await;
    assert_eq!(status, 400, "{e}");

    // A new secret replaces the old one at once.
    let (status, r) = n
        .send(
            "POST",
            &format!("{CLIENTS}/{id}/rotate-secret"),
            &admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(status, 200, "{r}");
    let new_secret = r["client_secret"].as_str().unwrap();
    assert_ne!(new_secret, secret);
    assert_eq!(row(id.clone()).await[5], sha(new_secret));
    let (status, e) = n
        .send(
            "POST",
            &format!("{CLIENTS}/{public_id}/rotate-secret"),
            &admin,
            Some(json!({})),
        )
        .await;
    assert_eq!(
        (status, e["detail"].as_str()),
        (409, Some("A public client has no secret; it uses PKCE."))
    );

    // Deleted.
    let (status, _) = n
        .send("DELETE", &format!("{CLIENTS}/{id}"), &admin, None)
        .await;
    assert_eq!(status, 204);
    for (method, path) in [
        ("GET", format!("{CLIENTS}/{id}")),
        ("DELETE", format!("{CLIENTS}/{id}")),
        ("PATCH", format!("{CLIENTS}/{id}")),
        ("POST", format!("{CLIENTS}/{id}/rotate-secret")),
    ] {
        let (status, e) = n.send(method, &path, &admin, Some(json!({}))).await;
        assert_eq!(status, 404, "{method} {path}: {e}");
    }
    let (status, e) = n
        .send("GET", &format!("{CLIENTS}/not-an-id"), &admin, None)
        .await;
    assert_eq!(
        (status, e["detail"].as_str()),
        (400, Some("That is not a client id."))
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM oidc_clients").await, 1);

    // Every change is audited, with the client named and no secret.
    let audit = db
        .rows("SELECT kind, detail FROM audit_events WHERE kind LIKE 'oidc_client.%' ORDER BY id")
        .await;
    let kinds: Vec<&str> = audit.iter().map(|r| r[0].as_str()).collect();
    assert_eq!(
        kinds,
        [
            "oidc_client.created",
            "oidc_client.created",
            "oidc_client.updated",
            "oidc_client.secret_rotated",
            "oidc_client.deleted"
        ]
    );
    assert!(audit[0][1].contains(&id) && audit[0][1].contains("Grafana"));
    assert!(audit.iter().all(|r| !r[1].contains("tcs_")), "{audit:?}");
}

both_backends!(
    clients_are_registered_updated_and_deleted_with_hashed_secrets_sqlite,
    clients_are_registered_updated_and_deleted_with_hashed_secrets_postgres,
    clients_are_registered_updated_and_deleted_with_hashed_secrets
);

fn hex_of(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every rule of registration, each refused with a 400 problem document
/// that says which field and why; nothing is stored.
async fn bad_clients_are_refused_with_clear_problems(n: Nodes) {
    let admin = bearer(&sysadmin(&n).await);
    let with = |field: &str, value: Value| {
        let mut b = grafana();
        b[field] = value;
        b
    };
    let cases = [
        (
            with("redirect_uris", json!(["http://app.example.com/cb"])),
            "redirect_uris: must use https",
        ),
        (
            with("redirect_uris", json!(["https://*.example.com/cb"])),
            "redirect_uris: wildcards are not allowed",
        ),
        (
            with("redirect_uris", json!(["https://app.example.com/cb*"])),
            "redirect_uris: wildcards are not allowed",
        ),
        (
            with("redirect_uris", json!(["https://app.example.com/cb#top"])),
            "redirect_uris: must not have a fragment",
        ),
        (
            with("redirect_uris", json!(["/cb"])),
            "redirect_uris: is not an absolute URI",
        ),
        (
            with("redirect_uris", json!(["javascript:alert(1)"])),
            "redirect_uris: must be an https URI",
        ),
        (
            with("redirect_uris", json!(["https://u:p@app.example.com/cb"])),
            "redirect_uris: must not carry credentials",
        ),
        (
            with("redirect_uris", json!(["http://127.0.0.1.example.com/cb"])),
            "redirect_uris: must use https",
        ),
        (
            with("redirect_uris", json!([])),
            "redirect_uris: at least one is required",
        ),
        (
            with(
                "redirect_uris",
                json!(["https://a.example/cb", "https://a.example/cb"]),
            ),
            "redirect_uris: https://a.example/cb is listed twice",
        ),
        (
            with("post_logout_redirect_uris", json!(["http://evil.example/"])),
            "post_logout_redirect_uris: must use https",
        ),
        (
            with("scopes", json!(["openid", "admin"])),
            "scopes: \"admin\" is not a scope",
        ),
        (
            with("scopes", json!([])),
            "scopes: at least one is required",
        ),
        (with("name", json!("   ")), "name is required"),
        (
            with("name", json!("x".repeat(101))),
            "name is longer than 100 characters",
        ),
        (
            with("name", json!("a\u{0}b")),
            "name must not contain control characters",
        ),
        (with("client_secret", json!("mine")), "unknown field"),
    ];
    for (body, why) in cases {
        let r = n
            .http
            .post(n.node().url(CLIENTS))
            .header("authorization", &admin)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 400, "{body}");
        assert_eq!(r.headers()["content-type"], "application/problem+json");
        let p: Value = r.json().await.unwrap();
        assert!(p["detail"].as_str().unwrap().contains(why), "{why}: {p}");
    }
    let missing = json!({"name": "No URIs"});
    let (status, p) = n.send("POST", CLIENTS, &admin, Some(missing)).await;
    assert_eq!(status, 400, "{p}");
    assert!(
        p["detail"].as_str().unwrap().contains("redirect_uris"),
        "{p}"
    );
    // An update is held to the same rules, and changes nothing when refused.
    let (_, c) = n.send("POST", CLIENTS, &admin, Some(grafana())).await;
    let path = format!("{CLIENTS}/{}", c["client_id"].as_str().unwrap());
    for (body, why) in [
        (
            json!({"redirect_uris": ["http://app.example.com/cb"]}),
            "redirect_uris: must use https",
        ),
        (
            json!({"redirect_uris": []}),
            "redirect_uris: at least one is required",
        ),
        (
            json!({"scopes": ["root"]}),
            "scopes: \"root\" is not a scope",
        ),
        (json!({"name": ""}), "name is required"),
    ] {
        let (status, p) = n.send("PATCH", &path, &admin, Some(body.clone())).await;
        assert_eq!(status, 400, "{body}: {p}");
        assert!(p["detail"].as_str().unwrap().contains(why), "{why}: {p}");
    }
    let (_, now) = n.send("GET", &path, &admin, None).await;
    assert_eq!(now["redirect_uris"], grafana()["redirect_uris"]);
    let db = Db::at(&n.db).await;
    assert_eq!(db.count("SELECT COUNT(*) FROM oidc_clients").await, 1);
}

both_backends!(
    bad_clients_are_refused_with_clear_problems_sqlite,
    bad_clients_are_refused_with_clear_problems_postgres,
    bad_clients_are_refused_with_clear_problems
);

/// Members and org-admins are refused every client route (403), callers
/// without credentials are told to sign in (401), and nothing is stored.
async fn only_sysadmins_manage_clients(n: Nodes) {
    let admin = bearer(&sysadmin(&n).await);
    let (_, c) = n.send("POST", CLIENTS, &admin, Some(grafana())).await;
    let one = format!("{CLIENTS}/{}", c["client_id"].as_str().unwrap());
    n.user("member@example.com", Role::Member).await;
    n.user("orgadmin@example.com", Role::OrgAdmin).await;
    let member = bearer(&n.token("member@example.com").await);
    let org_admin = bearer(&n.token("orgadmin@example.com").await);
    let routes = [
        ("POST", CLIENTS.to_string()),
        ("GET", CLIENTS.to_string()),
        ("GET", one.clone()),
        ("PATCH", one.clone()),
        ("DELETE", one.clone()),
        ("POST", format!("{one}/rotate-secret")),
    ];
    for (method, path) in &routes {
        for who in [&member, &org_admin] {
            let (status, p) = n.send(method, path, who, Some(grafana())).await;
            assert_eq!(status, 403, "{method} {path}: {p}");
        }
        let (status, p) = n.send(method, path, "", Some(grafana())).await;
        assert_eq!(status, 401, "{method} {path}: {p}");
    }
    let db = Db::at(&n.db).await;
    assert_eq!(db.count("SELECT COUNT(*) FROM oidc_clients").await, 1);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM audit_events WHERE kind LIKE 'oidc_client.%'")
            .await,
        1
    );
    // Discovery and the JWKS need no credentials at all.
    assert_eq!(get(&n, 0, "/.well-known/openid-configuration").await.0, 200);
    assert_eq!(get(&n, 1, "/oauth2/jwks").await.0, 200);
}

both_backends!(
    only_sysadmins_manage_clients_sqlite,
    only_sysadmins_manage_clients_postgres,
    only_sysadmins_manage_clients
);

/// The command line: `oidc-key rotate` replaces the keys of a running
/// server (the old ones stay published), and `oidc-client` registers,
/// lists, gives a new secret and deletes.
#[tokio::test]
async fn the_cli_rotates_keys_and_manages_clients() {
    let s = Server::start();
    let http = client();
    let set = |http: reqwest::Client, url: String| async move {
        let set: JwkSet = http.get(url).send().await.unwrap().json().await.unwrap();
        kids(&set)
    };
    let before = set(http.clone(), s.url("/oauth2/jwks")).await;
    assert_eq!(before.len(), 2);
    let ok = |args: &[&str]| {
        let out = s.cli(args, None);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let rotated = ok(&["admin", "oidc-key", "rotate"]);
    let after = set(http.clone(), s.url("/oauth2/jwks")).await;
    assert_eq!(after.len(), 4, "{after:?}");
    assert!(
        before.iter().all(|k| after.contains(k)),
        "old keys still published"
    );
    for kid in after.iter().filter(|k| !before.contains(k)) {
        assert!(rotated.contains(kid.as_str()), "{rotated}");
    }
    let listed = ok(&["admin", "oidc-key", "list"]);
    assert_eq!(
        listed.lines().filter(|l| l.contains("active")).count(),
        2,
        "{listed}"
    );
    assert_eq!(
        listed.lines().filter(|l| l.contains("retired")).count(),
        2,
        "{listed}"
    );

    let out = ok(&[
        "admin",
        "oidc-client",
        "create",
        "--name",
        "Wiki",
        "--redirect-uri",
        "https://wiki.example.com/cb",
        "--scope",
        "openid",
        "--scope",
        "email",
    ]);
    let field = |out: &str, name: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name} ")))
            .unwrap()
            .to_string()
    };
    let id = field(&out, "client_id");
    let secret = field(&out, "client_secret");
    assert!(secret.starts_with("tcs_"), "{out}");
    let listed = ok(&["admin", "oidc-client", "list", "--json"]);
    let c: Value = serde_json::from_str(listed.lines().next().unwrap()).unwrap();
    assert_eq!(c["client_id"], id);
    assert_eq!(c["scopes"], json!(["openid", "email"]));
    assert!(!listed.contains(&secret));
    let new = field(
        &ok(&["admin", "oidc-client", "rotate-secret", "--id", &id]),
        "client_secret",
    );
    assert!(new.starts_with("tcs_") && new != secret);
    let bad = s.cli(
        &[
            "admin",
            "oidc-client",
            "create",
            "--name",
            "Bad",
            "--redirect-uri",
            "http://wiki.example.com/cb",
        ],
        None,
    );
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("must use https"));
    ok(&["admin", "oidc-client", "delete", "--id", &id]);
    assert_eq!(ok(&["admin", "oidc-client", "list"]).trim(), "");
}
