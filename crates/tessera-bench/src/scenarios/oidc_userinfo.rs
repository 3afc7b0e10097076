//! What relying parties ask with an access token: userinfo (`GET
//! /oauth2/userinfo`, Bearer) and introspection (`POST /oauth2/introspect`,
//! the client's Basic credentials), each against the bare hello world.
//! Both check the token's signature, its grant, session and account on
//! every request.

use super::http::getter;
use super::oidc_token::{CodePool, RelyingParty, access_tokens};
use super::{Bench, client};
use crate::load::{closed_loop, median};
use crate::report::{Check, Outcome, at_least};
use crate::seed;
use crate::seed::oidc::OidcFixture;
use crate::sys::{LoadProbe, rss_kib};
use serde_json::json;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

const CONCURRENCY: usize = 32;
/// Access tokens in use per round, each from a code redeemed at the start
/// of the round (so no token nears its expiry, however long the rounds).
const TOKENS: usize = 16;
/// A 200 from introspection that called the token inactive.
const INACTIVE: u16 = 3;

/// A request maker for `POST /oauth2/introspect` of `tokens`, in turn.
fn introspector(
    http: reqwest::Client,
    rp: RelyingParty,
    tokens: Arc<Vec<String>>,
) -> impl Fn(u64) -> Pin<Box<dyn Future<Output = u16> + Send>> + Send + Sync + 'static {
    move |i| {
        let req = rp
            .post(&http, "/oauth2/introspect")
            .form(&[("token", tokens[i as usize % tokens.len()].as_str())]);
        Box::pin(async move {
            let Ok(r) = req.send().await else { return 0 };
            let status = r.status().as_u16();
            match r.bytes().await {
                // `active` is the answer's first field.
                Ok(body) if status == 200 && !body.starts_with(br#"{"active":true"#) => INACTIVE,
                Ok(_) => status,
                Err(_) => 0,
            }
        })
    }
}

pub async fn oidc_userinfo(b: &Bench) -> anyhow::Result<Outcome> {
    let db = b.fresh_db().await?;
    seed::accounts(&db.store, 0, b.settings.accounts).await?;
    let fixture = OidcFixture::seed(&db.store).await?;
    let codes = fixture
        .grants(&db.store, TOKENS * b.settings.rounds, CONCURRENCY)
        .await?;
    let server = b.serve(&db, &[])?;
    let hello = crate::server::start_hello()?;
    let http = client(CONCURRENCY);
    let rp = RelyingParty::new(&server.base, &fixture);
    let pool = CodePool::new(codes);
    let userinfo_url = format!("{}/oauth2/userinfo", server.base);
    let hello_url = format!("{}/hello", hello.base);

    let probe = LoadProbe::start();
    let (mut users, mut hellos, mut intros) = (Vec::new(), Vec::new(), Vec::new());
    let (mut p99_user, mut p99_intro) = (Vec::new(), Vec::new());
    let mut errors = 0;
    for _ in 0..b.settings.rounds {
        let toks = Arc::new(access_tokens(&http, &rp, &pool, TOKENS).await?);
        let d = b.settings.duration;
        let su = closed_loop(
            CONCURRENCY,
            d,
            getter(http.clone(), userinfo_url.clone(), toks.clone()),
        )
        .await;
        let sh = closed_loop(
            CONCURRENCY,
            d,
            getter(http.clone(), hello_url.clone(), toks.clone()),
        )
        .await;
        let si = closed_loop(CONCURRENCY, d, introspector(http.clone(), rp.clone(), toks)).await;
        for (what, s) in [("userinfo", &su), ("hello", &sh), ("introspect", &si)] {
            if s.requests != s.count(200) {
                errors += s.requests - s.count(200);
                eprintln!("   {what}: {:?}", s.statuses);
            }
        }
        eprintln!(
            "   userinfo {:.0}/s, introspect {:.0}/s, hello {:.0}/s",
            su.per_sec, si.per_sec, sh.per_sec
        );
        users.push(su.per_sec);
        hellos.push(sh.per_sec);
        intros.push(si.per_sec);
        p99_user.push(su.p99_ms);
        p99_intro.push(si.p99_ms);
    }
    let machine = probe.finish();
    if errors > 0 {
        anyhow::bail!("{errors} requests failed");
    }
    let (user, hello_rate, intro) = (median(users), median(hellos), median(intros));
    let ratio = user / hello_rate.max(1e-9);
    let (target, met) = at_least(ratio, 0.5);
    let intro_ratio = intro / hello_rate.max(1e-9);
    let (t2, m2) = at_least(intro_ratio, 0.5);
    Ok(Outcome {
        ratio_name: "userinfo req/s ÷ hello-world req/s".into(),
        ratio,
        target,
        met,
        checks: vec![Check {
            name: "introspection req/s ÷ hello-world req/s".into(),
            value: intro_ratio,
            target: t2,
            met: m2,
        }],
        figures: json!({
            "userinfo_req_per_s": user.round(), "introspect_req_per_s": intro.round(),
            "hello_req_per_s": hello_rate.round(), "userinfo_p99_ms": median(p99_user),
            "introspect_p99_ms": median(p99_intro), "tokens": TOKENS, "concurrency": CONCURRENCY,
            "server_peak_rss_kib": rss_kib(server.pid()).1,
            "load1": machine.load1_end, "steal_pct": machine.steal_pct,
        }),
        ..Default::default()
    })
}
