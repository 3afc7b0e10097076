//! The CSV export of an organization's external users, from the real
//! binary over HTTP and from its CLI, parsed by Python's `csv` module and
//! matched cell by cell against the data: quoting of a display name with
//! a comma, quotes and a line break, organization names with commas, and
//! cells a spreadsheet would evaluate (`=`, `+`, `-`, `@`) escaped with a
//! leading `'`. On SQLite and on PostgreSQL.

use crate::orgs::call;
use crate::support::*;
use crate::world::{bearer, org_with_domain};
use serde_json::{Value, json};

/// Parses a CSV file with Python's `csv` module: its rows, as JSON.
fn python_csv(path: &std::path::Path) -> Vec<Vec<String>> {
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import csv, json, sys\n\
             with open(sys.argv[1], newline='', encoding='utf-8') as f:\n\
             \x20   print(json.dumps(list(csv.reader(f, strict=True))))",
        ])
        .arg(path)
        .output()
        .expect("run python3");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A mobile session after a password step-up (a recent verification).
async fn stepped_up(s: &Server, email: &str) -> String {
    let t = signin(s, email, PASSWORD).await;
    let (st, up) = call(
        s,
        "POST",
        "/api/v1/step-up/password",
        &t,
        Some(json!({"password": PASSWORD})),
    )
    .await;
    assert_eq!(st, 200, "{up}");
    up["session_token"].as_str().unwrap_or(&t).to_string()
}

fn create(s: &Server, email: &str, display_name: &str) {
    let out = s.cli(
        &[
            "admin",
            "create-user",
            "--email",
            email,
            "--display-name",
            display_name,
            "--password-stdin",
        ],
        Some(PASSWORD),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_users_csv_parsed_by_python_matches_the_data_sqlite() {
    matches_the_data(Server::start(), None).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn external_users_csv_parsed_by_python_matches_the_data_postgres() {
    let Some(url) = crate::postgres::scoped_url().await else {
        return;
    };
    matches_the_data(crate::postgres::pg_server(&url), Some(&url)).await;
}

/// Writes a display name straight into the database, past the API's
/// checks, as older or imported data may hold it.
async fn write_display_name(s: &Server, pg_url: Option<&str>, email: &str, name: &str) {
    let sql = "UPDATE accounts SET display_name = $1 WHERE email = $2";
    match pg_url {
        Some(url) => {
            let db = sqlx::PgPool::connect(url).await.unwrap();
            let r = sqlx::query(sql).bind(name).bind(email).execute(&db).await;
            assert_eq!(r.unwrap().rows_affected(), 1);
            db.close().await;
        }
        None => {
            let db = sqlx::sqlite::SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(
                    sqlx::sqlite::SqliteConnectOptions::new()
                        .filename(s.data_dir.join("tessera.db"))
                        .busy_timeout(std::time::Duration::from_secs(10)),
                )
                .await
                .unwrap();
            let r = sqlx::query(sql).bind(name).bind(email).execute(&db).await;
            assert_eq!(r.unwrap().rows_affected(), 1);
            db.close().await;
        }
    }
}

/// The export over HTTP and from the CLI (which reaches the same
/// database through the server's environment), on either backend.
async fn matches_the_data(s: Server, pg_url: Option<&str>) {
    s.create_user("root@acme.example", "sysadmin");
    s.create_user("ann@acme.example", "member");
    create(&s, "bob@partner.example", "Bob");
    create(&s, "carol@partner.example", "Carol, Smith");
    create(&s, "dave@other.example", "+1 Dave");
    create(&s, "eve@other.example", "@eve");
    let root = signin(&s, "root@acme.example", PASSWORD).await;
    let acme = org_with_domain(&s, &bearer(&root), "Acme, Inc.", "acme.example").await;
    org_with_domain(&s, &bearer(&root), "Partner", "partner.example").await;
    let mut ids = std::collections::HashMap::new();
    for email in [
        "ann@acme.example",
        "bob@partner.example",
        "carol@partner.example",
        "dave@other.example",
        "eve@other.example",
    ] {
        let (st, m) = call(
            &s,
            "POST",
            &format!("{acme}/members"),
            &root,
            Some(json!({ "email": email })),
        )
        .await;
        assert_eq!(st, 201, "{m}");
        ids.insert(email, m["account_id"].as_str().unwrap().to_string());
    }
    // A display name the API would refuse (a line break).
    let bob_name = "=HYPERLINK(\"http://evil.example\"), \"Bob\"\nthe builder";
    write_display_name(&s, pg_url, "bob@partner.example", bob_name).await;
    // Carol has an API token; Eve an authenticator app; Dave is in the
    // test policy.
    let carol = stepped_up(&s, "carol@partner.example").await;
    let (st, t) = call(
        &s,
        "POST",
        "/api/v1/me/api-tokens",
        &carol,
        Some(json!({"label": "ci"})),
    )
    .await;
    assert_eq!(st, 201, "{t}");
    let eve = stepped_up(&s, "eve@other.example").await;
    crate::world::enroll_totp(&s, &eve).await;
    let (st, p) = call(
        &s,
        "PUT",
        &format!("{acme}/external-policy/test"),
        &root,
        Some(
            json!({"email_code": false, "verification_frequency_minutes": 60,
                    "api_token_access": true, "members": [ids["dave@other.example"]]}),
        ),
    )
    .await;
    assert_eq!(st, 200, "{p}");

    // Only admins of the organization may export.
    let ann = signin(&s, "ann@acme.example", PASSWORD).await;
    let (st, _) = call(&s, "GET", &format!("{acme}/external-users.csv"), &ann, None).await;
    assert_eq!(st, 403);

    let r = reqwest::Client::new()
        .get(s.url(&format!("{acme}/external-users.csv")))
        .bearer_auth(&root)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "text/csv; charset=utf-8");
    let text = r.text().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let http_file = dir.path().join("http.csv");
    std::fs::write(&http_file, &text).unwrap();
    let mut rows = python_csv(&http_file);
    assert_eq!(
        rows.remove(0),
        [
            "email",
            "display name",
            "organizations",
            "last active",
            "2SV on",
            "methods",
            "API token count",
            "policy"
        ]
    );
    rows.sort();
    // Last active: when they signed in, else empty.
    for r in &rows {
        let signed_in = r[0].starts_with("carol") || r[0].starts_with("eve");
        assert_eq!(!r[3].is_empty(), signed_in, "{r:?}");
        if signed_in {
            assert!(r[3].len() == 20 && r[3].ends_with('Z'), "{r:?}");
        }
    }
    let cells = |r: &Vec<String>| {
        let mut r = r.clone();
        r[3] = String::new();
        r
    };
    let got: Vec<Vec<String>> = rows.iter().map(cells).collect();
    let want: Vec<Vec<String>> = [
        [
            "bob@partner.example",
            &format!("'{bob_name}"),
            "Acme, Inc.; Partner",
            "",
            "no",
            "",
            "0",
            "external",
        ],
        [
            "carol@partner.example",
            "Carol, Smith",
            "Acme, Inc.; Partner",
            "",
            "no",
            "",
            "1",
            "external",
        ],
        [
            "dave@other.example",
            "'+1 Dave",
            "Acme, Inc.",
            "",
            "no",
            "",
            "0",
            "test",
        ],
        [
            "eve@other.example",
            "'@eve",
            "Acme, Inc.",
            "",
            "yes",
            "totp",
            "0",
            "external",
        ],
    ]
    .iter()
    .map(|r| r.iter().map(|c| c.to_string()).collect())
    .collect();
    assert_eq!(got, want, "managed Ann is not listed");
    // The raw text: CRLF records, the line break inside quotes.
    assert!(
        text.contains("\"'=HYPERLINK(\"\"http://evil.example\"\"), \"\"Bob\"\"\nthe builder\"")
    );

    // The CLI writes the same file (no progress bar: not a terminal).
    let cli_file = dir.path().join("cli.csv");
    let out = s.cli(
        &[
            "admin",
            "org",
            "export-external-users",
            "--org",
            "Acme, Inc.",
            "--output",
            cli_file.to_str().unwrap(),
        ],
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("4 external users written"), "{stderr}");
    let mut cli_rows = python_csv(&cli_file);
    cli_rows.remove(0);
    cli_rows.sort();
    assert_eq!(cli_rows.iter().map(cells).collect::<Vec<_>>(), want);
    // By id, to standard output.
    let id = acme.rsplit('/').next().unwrap();
    let out = s.cli(
        &["admin", "org", "export-external-users", "--org", id],
        None,
    );
    assert!(out.status.success());
    let stdout_file = dir.path().join("stdout.csv");
    std::fs::write(&stdout_file, &out.stdout).unwrap();
    assert_eq!(python_csv(&stdout_file).len(), 1 + 4);
    let out = s.cli(
        &["admin", "org", "export-external-users", "--org", "Nope"],
        None,
    );
    assert!(!out.status.success());

    let (_, audit) = call(
        &s,
        "GET",
        "/api/v1/admin/audit?kind=org.external_users_exported",
        &root,
        None,
    )
    .await;
    let events: &Vec<Value> = audit["events"].as_array().unwrap();
    assert_eq!(events.len(), 3, "{audit}");
}
