//! Mail delivery against a real SMTP server (aiosmtpd): a notification
//! arrives multipart with the right headers and the operator's template;
//! an SMTP outage delays mail, which then arrives exactly once (on a moved
//! clock); bad mail settings stop the program with one line; the `file`
//! provider writes private `.eml` files.

use crate::smtp_peer::{SmtpPeer, free_port};
use crate::support::*;
use crate::world::World;
use serde_json::json;
use std::os::unix::fs::PermissionsExt;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tessera_core::account::Role;
use tessera_core::service::CoreConfig;
use tessera_core::store::OutboxStore;
use tessera_notify::{
    EmailChannel, MailTemplates, OutboxWorker, Pass, SmtpConfig, SmtpMailer, parse_from,
};

const NOTICE: &str = "Someone tried to create an account with your address";

async fn sign_up(base: &str, email: &str) {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/signup"))
        .json(&json!({"email": email, "password": "a long and unusual passphrase"}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "{}", r.status());
}

#[tokio::test]
async fn a_notification_arrives_over_smtp_multipart_in_the_operators_template() {
    let Some(smtp) = SmtpPeer::start() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    std::fs::create_dir(data.path().join("templates")).unwrap();
    std::fs::write(
        data.path().join("templates/signup_attempt.html"),
        "<p>Operator's words for {{ name }} of {{ issuer }}.</p>",
    )
    .unwrap();
    let s = Server::start_with(Opts {
        data_dir: Some(data.path().to_path_buf()),
        env: vec![
            ("TESSERA_SIGNUP_ENABLED".into(), "true".into()),
            ("TESSERA_EMAIL__PROVIDER".into(), "smtp".into()),
            ("TESSERA_EMAIL__SMTP_URL".into(), smtp.url()),
            (
                "TESSERA_EMAIL__FROM".into(),
                "Acme Security <security@acme.example>".into(),
            ),
            ("TESSERA_TWO_STEP__ISSUER".into(), "Acme & Co".into()),
        ],
    });
    s.create_user("owner@example.com", "member");
    sign_up(&s.base, "owner@example.com").await;

    let got = smtp.wait_for(1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let m = &got[0];
    assert_eq!(m["from"], "Acme Security <security@acme.example>");
    assert_eq!(m["to"], "owner@example.com");
    assert_eq!(m["subject"], NOTICE);
    assert_eq!(m["content_type"], "multipart/alternative");
    let id = m["message_id"].as_str().unwrap();
    assert!(
        id.starts_with("<tessera-outbox-") && id.ends_with("@acme.example>"),
        "{id}"
    );
    // The built-in plain-text part, the operator's HTML part, variables
    // escaped in HTML only.
    let text = m["text"].as_str().unwrap();
    assert!(text.starts_with("Hello owner@example.com,"), "{text}");
    assert!(text.contains("a Acme & Co account"), "{text}");
    assert!(text.contains("Replies are not read"), "the layout: {text}");
    let html = m["html"].as_str().unwrap();
    assert!(
        html.contains("<p>Operator's words for owner@example.com of Acme &amp; Co.</p>"),
        "{html}"
    );
    assert!(
        html.contains("<!DOCTYPE html>"),
        "the built-in layout: {html}"
    );

    // The outbox shows it delivered, its sealed body gone.
    let store = tessera_store::SqliteStore::open(&data.path().join("tessera.db"))
        .await
        .unwrap();
    let row = store
        .outbox_for("owner@example.com")
        .await
        .unwrap()
        .remove(0);
    assert!(row.delivered_at.is_some());
    assert_eq!(row.body, "");
    assert!(s.terminate().success(), "stops cleanly with both workers");
    assert_eq!(smtp.messages().len(), 1);
}

/// The mail worker of an in-process world, sending to `url`.
pub(crate) fn smtp_worker(w: &World, url: &str) -> OutboxWorker {
    let channel = EmailChannel::new(
        Arc::new(SmtpMailer::new(SmtpConfig::parse(url, None).unwrap())),
        Arc::new(MailTemplates::builtin()),
        w.s.core.secret_box.clone(),
        parse_from("security@acme.example").unwrap(),
    );
    OutboxWorker::new(
        w.s.core.store.clone(),
        Arc::new(channel),
        Arc::new(w.clock.clone()),
    )
}

#[tokio::test]
async fn an_smtp_outage_delays_mail_and_it_arrives_exactly_once() {
    let port = free_port();
    let w = World::new(CoreConfig {
        signup_enabled: true,
        ..kit_config()
    })
    .await;
    let worker = smtp_worker(&w, &format!("smtp://127.0.0.1:{port}"));
    w.user("victim@example.com", Role::Member).await;
    sign_up(&w.s.url(""), "victim@example.com").await;

    // Nothing listens: the mail waits, with the reason.
    let p = worker.run_once().await.unwrap();
    assert_eq!((p.claimed, p.retrying), (1, 1), "{p:?}");
    let row = |w: &World| {
        let store = w.s.core.store.clone();
        async move {
            store
                .outbox_for("victim@example.com")
                .await
                .unwrap()
                .remove(0)
        }
    };
    let queued = row(&w).await;
    assert!(queued.delivered_at.is_none());
    assert!(queued.last_error.is_some(), "{queued:?}");
    assert_ne!(queued.body, "", "still there to send");

    // The server comes back; nothing is tried before the 2 s backoff.
    let Some(smtp) = SmtpPeer::start_on(port) else {
        return;
    };
    assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    w.clock.advance_secs(2);
    assert_eq!(worker.run_once().await.unwrap().delivered, 1);
    // Later passes, however many, send nothing again.
    for _ in 0..5 {
        w.clock.advance_secs(3600);
        assert_eq!(worker.run_once().await.unwrap(), Pass::default());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let got = smtp.messages();
    assert_eq!(got.len(), 1, "exactly once: {got:?}");
    assert_eq!(got[0]["subject"], NOTICE);
    assert_eq!(got[0]["to"], "victim@example.com");
    let delivered = row(&w).await;
    assert!(delivered.delivered_at.is_some());
    assert_eq!(delivered.attempts, 2);
}

#[test]
fn bad_mail_settings_stop_the_program_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("pw");
    std::fs::write(&pw_file, "file-secret\n").unwrap();
    let pw_path = pw_file.to_str().unwrap();
    let smtp = ("TESSERA_EMAIL__PROVIDER", "smtp");
    let from = ("TESSERA_EMAIL__FROM", "security@acme.example");
    for (env, needle) in [
        (
            vec![("TESSERA_EMAIL__PROVIDER", "sendmail")],
            "email.provider",
        ),
        (vec![smtp, from], "email.smtp_url is required"),
        (
            vec![smtp, ("TESSERA_EMAIL__SMTP_URL", "smtp://127.0.0.1:2525")],
            "email.from is required",
        ),
        (vec![("TESSERA_EMAIL__FROM", "nobody")], "email.from"),
        (
            vec![
                smtp,
                from,
                ("TESSERA_EMAIL__SMTP_URL", "http://mail.example"),
            ],
            "smtp://",
        ),
        (
            vec![
                smtp,
                from,
                (
                    "TESSERA_EMAIL__SMTP_URL",
                    "smtp://bot:hunter2@mail.example:587?tls=required",
                ),
            ],
            "must not hold the password",
        ),
        (
            vec![
                smtp,
                from,
                (
                    "TESSERA_EMAIL__SMTP_URL",
                    "smtp://bot@mail.example:587?tls=required",
                ),
            ],
            "email.smtp_password",
        ),
        (
            vec![
                smtp,
                from,
                ("TESSERA_EMAIL__SMTP_URL", "smtp://bot@mail.example"),
                ("TESSERA_EMAIL__SMTP_PASSWORD", "hunter2"),
            ],
            "in clear",
        ),
        (
            vec![
                smtp,
                from,
                ("TESSERA_EMAIL__SMTP_URL", "smtps://bot@mail.example"),
                ("TESSERA_EMAIL__SMTP_PASSWORD", "hunter2"),
                ("TESSERA_EMAIL__SMTP_PASSWORD_FILE", pw_path),
            ],
            "not both",
        ),
        (
            vec![
                smtp,
                from,
                ("TESSERA_EMAIL__SMTP_URL", "smtps://bot@mail.example"),
                ("TESSERA_EMAIL__SMTP_PASSWORD_FILE", "/nonexistent/pw"),
            ],
            "cannot be read",
        ),
        (
            vec![("TESSERA_EMAIL__SMTP_PASSWORD", "hunter2")],
            "email.smtp_url is not",
        ),
    ] {
        for args in [
            &["config", "check"][..],
            &["serve", "--listen", "127.0.0.1:0"][..],
        ] {
            let out = cli_with(dir.path(), &env, args, None);
            assert!(!out.status.success(), "{args:?} {env:?}");
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(err.trim().lines().count(), 1, "{err}");
            assert!(err.contains(needle), "{needle}: {err}");
            assert!(
                !err.contains("hunter2") && !err.contains("file-secret"),
                "{err}"
            );
        }
    }
    // A template override that cannot work stops it too.
    let templates = dir.path().join("templates");
    std::fs::create_dir(&templates).unwrap();
    std::fs::write(templates.join("two_step_disabled.txt"), "{{ secret }}").unwrap();
    for args in [
        &["config", "check"][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let out = cli_with(dir.path(), &[], args, None);
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success());
        assert_eq!(err.trim().lines().count(), 1, "{err}");
        assert!(err.contains("two_step_disabled.txt"), "{err}");
    }
    std::fs::remove_dir_all(&templates).unwrap();
    // A good SMTP setting is shown without its password.
    let out = cli_with(
        dir.path(),
        &[
            smtp,
            from,
            ("TESSERA_EMAIL__SMTP_URL", "smtps://bot@mail.example"),
            ("TESSERA_EMAIL__SMTP_PASSWORD_FILE", pw_path),
        ],
        &["config", "check"],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains("email = smtp smtps://bot@mail.example:465 from security@acme.example"),
        "{text}"
    );
    assert!(!text.contains("file-secret"), "{text}");
    let out = cli_with(dir.path(), &[], &["config", "check"], None);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("email = file "), "{text}");
    let out = cli_with(
        dir.path(),
        &[("TESSERA_EMAIL__PROVIDER", "none")],
        &["config", "check"],
        None,
    );
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("email = none (nothing is sent)"), "{text}");
}

#[tokio::test]
async fn the_file_provider_writes_private_eml_files() {
    let s = Server::start_with(Opts {
        env: vec![
            ("TESSERA_SIGNUP_ENABLED".into(), "true".into()),
            ("TESSERA_EMAIL__PROVIDER".into(), "file".into()),
        ],
        ..Default::default()
    });
    s.create_user("owner@example.com", "member");
    sign_up(&s.base, "owner@example.com").await;
    let dir = s.data_dir.join("mail");
    let start = Instant::now();
    let file = loop {
        let found = std::fs::read_dir(&dir).ok().and_then(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.path())
                .find(|p| p.extension().is_some_and(|x| x == "eml"))
        });
        if let Some(f) = found {
            break f;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "no .eml file");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
        0o700
    );
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(text.contains("To: owner@example.com"), "{text}");
    assert!(text.contains(&format!("Subject: {NOTICE}")), "{text}");
    assert!(text.contains("From: Tessera <tessera@localhost>"), "{text}");
    assert!(text.contains("multipart/alternative"), "{text}");
    assert!(s.terminate().success());
}

#[tokio::test]
async fn a_mail_queued_with_a_code_in_one_transaction_is_delivered() {
    use tessera_core::Clock;
    use tessera_core::email::Email;
    use tessera_core::mail::email_message;
    use tessera_core::store::{OtpRecord, OtpSend, SendBudget, SendChannel};
    // How the emailed-code feature queues its mail: `put_otp_and_send` with
    // an `email_message`, as `service::sms` does for texts.
    let w = World::new(kit_config()).await;
    w.user("coded@example.com", Role::Member).await;
    let core = &w.s.core;
    let account = core
        .store
        .account_by_email(&Email::parse("coded@example.com").unwrap())
        .await
        .unwrap()
        .unwrap();
    let now = w.clock.now();
    let message = email_message(
        &core.secret_box,
        core.secrets.as_ref(),
        "coded@example.com",
        "Sign-ins to your account are paused",
        "signin_paused",
        &[("name", "Coded"), ("when", "now"), ("issuer", "Acme")],
    )
    .unwrap();
    let sent = core
        .store
        .put_otp_and_send(
            "signin:test-flow",
            &OtpRecord {
                account_id: account.id,
                code_mac: vec![7; 32],
                sent_at: now,
                expires_at: now.plus_secs(600),
            },
            now.plus_secs(-60),
            SendBudget {
                channel: SendChannel::Mail,
                max: 10,
                window_ms: 3_600_000,
            },
            &message,
        )
        .await
        .unwrap();
    assert!(matches!(sent, OtpSend::Sent));
    let dir = tempfile::tempdir().unwrap();
    let channel = EmailChannel::new(
        Arc::new(tessera_notify::MailFiles::new(dir.path())),
        Arc::new(MailTemplates::builtin()),
        core.secret_box.clone(),
        parse_from("security@acme.example").unwrap(),
    );
    let worker = OutboxWorker::new(
        core.store.clone(),
        Arc::new(channel),
        Arc::new(w.clock.clone()),
    );
    assert_eq!(worker.run_once().await.unwrap().delivered, 1);
    let files: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(files.len(), 1);
    let text = std::fs::read_to_string(files[0].as_ref().unwrap().path()).unwrap();
    assert!(text.contains("To: coded@example.com"), "{text}");
}
