//! The token endpoint under load: authorization codes exchanged for an
//! access token, an ID token and a refresh token (two ES256 signatures
//! and the grant's redemption commit each), against raw ES256 signatures
//! measured in this process in the same run.

use super::{Bench, client};
use crate::load::{closed_loop, median};
use crate::report::{Outcome, at_least};
use crate::seed;
use crate::seed::oidc::{OidcFixture, REDIRECT_URI};
use crate::sys::{LoadProbe, rss_kib};
use serde_json::json;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// Exchanges in flight.
const CONCURRENCY: usize = 16;
/// Grants seeded first, to time the store's commits (see [`pool_size`]).
const CALIBRATION_GRANTS: usize = 500;
/// Exchanges before measuring: the first one creates the signing keys.
const WARMUP: usize = 4;
/// How far the pool exceeds the highest exchange rate expected.
const MARGIN: f64 = 1.5;

/// Statuses of the load that are not HTTP answers (0 is a transport
/// error, as in [`crate::load`]).
pub const POOL_EMPTY: u16 = 1;
/// A 200 that lacked one of the three tokens.
pub const INCOMPLETE: u16 = 2;

/// Seeded codes, each handed out once: a code redeems once, and a second
/// use answers 400 (and revokes its grant), which would count as a
/// failure.
pub struct CodePool {
    codes: Vec<String>,
    next: AtomicUsize,
}

impl CodePool {
    pub fn new(codes: Vec<String>) -> CodePool {
        CodePool {
            codes,
            next: AtomicUsize::new(0),
        }
    }

    /// The next unused code; `None` once all are taken.
    pub fn take(&self) -> Option<&str> {
        self.codes
            .get(self.next.fetch_add(1, Ordering::Relaxed))
            .map(String::as_str)
    }

    pub fn taken(&self) -> usize {
        self.next.load(Ordering::Relaxed).min(self.codes.len())
    }

    pub fn len(&self) -> usize {
        self.codes.len()
    }
}

/// The seeded client as a relying party's backend calls the token
/// endpoint: HTTP Basic with its id and secret.
#[derive(Clone)]
pub struct RelyingParty {
    pub base: String,
    pub client_id: String,
    pub secret: String,
}

impl RelyingParty {
    pub fn new(base: &str, fixture: &OidcFixture) -> RelyingParty {
        RelyingParty {
            base: base.to_string(),
            client_id: fixture.client_id.to_string(),
            secret: fixture.client_secret.clone(),
        }
    }

    /// `reqwest` sends Basic credentials as they are; RFC 6749 §2.3.1
    /// wants them form-urlencoded first, which leaves a UUID and a
    /// base64url secret unchanged.
    pub fn post(&self, http: &reqwest::Client, path: &str) -> reqwest::RequestBuilder {
        http.post(format!("{}{path}", self.base))
            .basic_auth(&self.client_id, Some(&self.secret))
    }
}

/// The three tokens a code exchange must answer with.
#[derive(serde::Deserialize)]
pub struct Tokens {
    pub access_token: String,
    #[allow(dead_code)] // required: a 200 without it is a failure
    pub id_token: String,
    #[allow(dead_code)] // required: a 200 without it is a failure
    pub refresh_token: String,
}

/// Exchanges `code`; `Err` holds the status (or 0, or [`INCOMPLETE`]).
pub async fn exchange(
    http: &reqwest::Client,
    rp: &RelyingParty,
    code: &str,
) -> Result<Tokens, u16> {
    let r = rp
        .post(http, "/oauth2/token")
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT_URI),
        ])
        .send()
        .await
        .map_err(|_| 0u16)?;
    let status = r.status().as_u16();
    let body = r.bytes().await.map_err(|_| 0u16)?;
    if status != 200 {
        return Err(status);
    }
    serde_json::from_slice(&body).map_err(|_| INCOMPLETE)
}

/// Exchanges `n` codes from `pool` one after another, for their access
/// tokens; fails on the first refusal.
pub async fn access_tokens(
    http: &reqwest::Client,
    rp: &RelyingParty,
    pool: &CodePool,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let code = pool
            .take()
            .ok_or_else(|| anyhow::anyhow!("the code pool ran out ({} seeded)", pool.len()))?;
        let tokens = exchange(http, rp, code)
            .await
            .map_err(|s| anyhow::anyhow!("a code exchange answered {s}"))?;
        out.push(tokens.access_token);
    }
    Ok(out)
}

/// How many codes a run needs: the run's length at the highest exchange
/// rate this machine could reach, with a margin. That rate is bounded by
/// the raw signing rate (two signatures per exchange) and by how fast the
/// store commits (one grant per commit while seeding; an exchange commits
/// once, after more work).
fn pool_size(
    duration: Duration,
    rounds: usize,
    signatures_per_s: f64,
    commits_per_s: f64,
) -> usize {
    let ceiling = (signatures_per_s / 2.0).min(commits_per_s);
    let seconds = duration.as_secs_f64() * rounds as f64;
    (ceiling * seconds * MARGIN).ceil() as usize + WARMUP
}

pub async fn oidc_token(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, b.settings.accounts).await?;
    let fixture = OidcFixture::seed(&db.store).await?;

    let cores = b.cores;
    let quick_signatures = tokio::task::spawn_blocking(move || {
        raw_es256_rate(cores, Duration::from_millis(300), "http://127.0.0.1:1")
    })
    .await??;
    let started = Instant::now();
    let mut codes = fixture
        .grants(&db.store, CALIBRATION_GRANTS, CONCURRENCY)
        .await?;
    let commits_per_s = CALIBRATION_GRANTS as f64 / started.elapsed().as_secs_f64().max(1e-9);
    let need = pool_size(
        b.settings.duration,
        b.settings.rounds,
        quick_signatures,
        commits_per_s,
    );
    if need > codes.len() {
        codes.extend(
            fixture
                .grants(&db.store, need - codes.len(), CONCURRENCY)
                .await?,
        );
    }
    eprintln!(
        "   seeded {} codes ({commits_per_s:.0} grant commits/s, {quick_signatures:.0} raw signatures/s)",
        codes.len()
    );

    let server = b.serve(&db, &[])?;
    let http = client(CONCURRENCY);
    let rp = RelyingParty::new(&server.base, &fixture);
    let pool = Arc::new(CodePool::new(codes));
    access_tokens(&http, &rp, &pool, WARMUP).await?;

    let probe = LoadProbe::start();
    let (mut rates, mut raw, mut p50, mut p99) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let (mut bad, mut statuses) = (0u64, std::collections::BTreeMap::new());
    for _ in 0..b.settings.rounds {
        let (h, rp2, pool2) = (http.clone(), rp.clone(), pool.clone());
        let s = closed_loop(CONCURRENCY, b.settings.duration, move |_| {
            let (h, rp, pool) = (h.clone(), rp2.clone(), pool2.clone());
            async move {
                let Some(code) = pool.take() else {
                    return POOL_EMPTY;
                };
                match exchange(&h, &rp, code).await {
                    Ok(_) => 200,
                    Err(status) => status,
                }
            }
        })
        .await;
        if s.count(POOL_EMPTY) > 0 {
            anyhow::bail!(
                "the code pool ran out: {} seeded, sized for {:.0} exchanges/s; this run went faster",
                pool.len(),
                (quick_signatures / 2.0).min(commits_per_s)
            );
        }
        bad += s.requests - s.count(200);
        for (k, v) in &s.statuses {
            *statuses.entry(*k).or_insert(0u64) += v;
        }
        eprintln!("   {:.0} exchanges/s, statuses {:?}", s.per_sec, s.statuses);
        rates.push(s.per_sec);
        p50.push(s.p50_ms);
        p99.push(s.p99_ms);
        let (d, issuer) = (b.settings.duration, server.base.clone());
        raw.push(tokio::task::spawn_blocking(move || raw_es256_rate(cores, d, &issuer)).await??);
    }
    let machine = probe.finish();
    if bad > 0 {
        anyhow::bail!("{bad} code exchanges did not succeed: {statuses:?}");
    }
    let ratio = median(rates.clone()) / median(raw.clone()).max(1e-9);
    let (target, met) = at_least(ratio, 0.5);
    Ok(Outcome {
        ratio_name: "code exchanges/s ÷ raw ES256 signatures/s".into(),
        ratio,
        target,
        met,
        figures: json!({
            "exchanges_per_s": median(rates), "raw_es256_signatures_per_s": median(raw),
            "signatures_per_exchange": 2, "p50_ms": median(p50), "p99_ms": median(p99),
            "codes_seeded": pool.len(), "codes_used": pool.taken(), "concurrency": CONCURRENCY,
            "threads": cores, "server_peak_rss_kib": rss_kib(server.pid()).1,
            "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}

/// Raw ES256 signatures per second, one thread per core, in this
/// process: `jsonwebtoken` on aws-lc-rs as the server signs, with a P-256
/// key generated as `oidc::keys::generate` makes one, over a claims set
/// shaped like the ID token the token endpoint issues (issued by
/// `issuer`). Each signature parses the PKCS#8 key again, as
/// `jsonwebtoken::encode` does in the server too.
pub fn raw_es256_rate(threads: usize, duration: Duration, issuer: &str) -> anyhow::Result<f64> {
    use aws_lc_rs::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair};
    use jsonwebtoken::jwk::{Jwk, ThumbprintHash};
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
        .and_then(|k| k.to_pkcs8v1())
        .map_err(|e| anyhow::anyhow!("P-256 key generation: {e}"))?;
    let key = EncodingKey::from_ec_der(pkcs8.as_ref());
    let mut header = Header::new(Algorithm::ES256);
    header.kid =
        Some(Jwk::from_encoding_key(&key, Algorithm::ES256)?.thumbprint(ThumbprintHash::SHA256)?);
    let claims = id_token_claims(issuer);
    // Fails here, not silently in every thread.
    jsonwebtoken::encode(&header, &claims, &key)?;
    let (key, header, claims) = (Arc::new(key), Arc::new(header), Arc::new(claims));
    let start = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (key, header, claims) = (key.clone(), header.clone(), claims.clone());
            std::thread::spawn(move || {
                let mut n = 0u64;
                while start.elapsed() < duration {
                    if jsonwebtoken::encode(&header, &*claims, &key).is_ok() {
                        n += 1;
                    }
                }
                n
            })
        })
        .collect();
    let total: u64 = handles.into_iter().filter_map(|h| h.join().ok()).sum();
    Ok(total as f64 / start.elapsed().as_secs_f64())
}

/// An ID token's claims as the server fills them for a seeded grant
/// (`openid profile email`, a nonce, a password session, no display
/// name).
fn id_token_claims(issuer: &str) -> tessera_core::oidc::claims::IdTokenClaims {
    use tessera_core::oidc::claims::{IdTokenClaims, acr_of, amr_of};
    use tessera_core::session::{Aal, AuthMethod};
    let iat = 1_800_000_000;
    IdTokenClaims {
        iss: issuer.to_string(),
        sub: uuid::Uuid::new_v4().to_string(),
        aud: uuid::Uuid::new_v4().to_string(),
        exp: iat + 3600,
        iat,
        auth_time: iat,
        nonce: Some(tessera_core::secrets::random_token(
            &tessera_core::OsSecrets,
            16,
        )),
        acr: acr_of(Aal::Aal1).to_string(),
        amr: amr_of(Aal::Aal1, &[AuthMethod::Password])
            .into_iter()
            .map(String::from)
            .collect(),
        sid: Some(uuid::Uuid::new_v4().to_string()),
        email: Some(seed::user_email(0)),
        email_verified: Some(true),
        name: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_is_handed_out_once_then_none() {
        let pool = Arc::new(CodePool::new((0..100).map(|i| format!("c{i}")).collect()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let pool = pool.clone();
                std::thread::spawn(move || {
                    let mut got = Vec::new();
                    while let Some(c) = pool.take() {
                        got.push(c.to_string());
                    }
                    got
                })
            })
            .collect();
        let mut all: Vec<String> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 100);
        assert_eq!(pool.taken(), 100);
        assert!(pool.take().is_none());
    }

    #[test]
    fn the_pool_covers_the_run_at_the_lower_ceiling_with_a_margin() {
        let five = Duration::from_secs(5);
        // Signatures bound it: 1,000/s ÷ 2 × 25 s × 1.5.
        assert_eq!(pool_size(five, 5, 1_000.0, 3_000.0), 18_750 + WARMUP);
        // Commits bound it.
        assert_eq!(pool_size(five, 5, 40_000.0, 2_000.0), 75_000 + WARMUP);
    }
}
