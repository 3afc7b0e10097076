//! The webhook receiver and outbox fixtures shared by the tests.

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tessera_core::crypto::SecretBox;
use tessera_core::outbox::{SMS_CHANNEL, seal_sms_body};
use tessera_core::store::{OutboxMessage, OutboxStore};
use tessera_core::{ManualClock, OsSecrets, Timestamp};
use tessera_notify::{OutboxWorker, SmsProvider, WebhookConfig, WebhookSms, WorkerConfig};

/// One request as the receiver saw it, and what it answered.
#[derive(Debug, Clone)]
pub struct Seen {
    pub path_and_query: String,
    pub headers: HeaderMap,
    pub body: serde_json::Value,
    pub status: u16,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<Seen>>,
    /// Statuses to answer, in order; then `fallback`.
    script: Mutex<VecDeque<u16>>,
    fallback: Mutex<u16>,
    delay: Mutex<Duration>,
}

/// A real HTTP server on 127.0.0.1 that records webhook requests.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    rec: Arc<Recorder>,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let rec = Arc::new(Recorder::default());
        *rec.fallback.lock().unwrap() = 200;
        let app = Router::new().fallback(hook).with_state(rec.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Receiver {
            base: format!("http://{addr}"),
            rec,
        }
    }

    /// Answers these statuses first, then `fallback`.
    pub fn script(&self, statuses: &[u16], fallback: u16) {
        self.rec.script.lock().unwrap().extend(statuses);
        *self.rec.fallback.lock().unwrap() = fallback;
    }

    pub fn delay_answers(&self, d: Duration) {
        *self.rec.delay.lock().unwrap() = d;
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.rec.seen.lock().unwrap().clone()
    }
}

async fn hook(
    State(rec): State<Arc<Recorder>>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let delay = *rec.delay.lock().unwrap();
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let status = {
        let next = rec.script.lock().unwrap().pop_front();
        next.unwrap_or(*rec.fallback.lock().unwrap())
    };
    let body = serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null);
    rec.seen.lock().unwrap().push(Seen {
        path_and_query: uri
            .path_and_query()
            .map(|p| p.to_string())
            .unwrap_or_default(),
        headers,
        body,
        status,
    });
    StatusCode::from_u16(status).unwrap()
}

pub const T0: Timestamp = Timestamp(1_800_000_000_000);

/// The server key every test seals with.
pub fn secret_box() -> Arc<SecretBox> {
    Arc::new(SecretBox::new(&[9u8; 32]).unwrap())
}

/// A migrated SQLite outbox in a temp dir (kept alive by the returned dir).
pub async fn sqlite() -> (Arc<tessera_store::SqliteStore>, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let store = tessera_store::SqliteStore::open(&dir.path().join("t.db"))
        .await
        .unwrap();
    store.migrate().await.unwrap();
    (Arc::new(store), dir)
}

/// Queues `text` to `to` the way the server does.
pub async fn queue(store: &dyn OutboxStore, to: &str, text: &str, now: Timestamp) -> i64 {
    let body = seal_sms_body(&secret_box(), &OsSecrets, to, text);
    store
        .enqueue(SMS_CHANNEL, to, "", &body, now)
        .await
        .unwrap();
    store.outbox_for(to).await.unwrap()[0].id
}

pub async fn message(store: &dyn OutboxStore, to: &str) -> OutboxMessage {
    store.outbox_for(to).await.unwrap().remove(0)
}

pub fn webhook(url: &str, auth: Option<&str>, template: Option<&str>) -> Arc<dyn SmsProvider> {
    Arc::new(WebhookSms::new(WebhookConfig::parse(url, auth, template).unwrap()).unwrap())
}

pub fn worker(
    store: Arc<dyn OutboxStore>,
    provider: Arc<dyn SmsProvider>,
    clock: &ManualClock,
) -> OutboxWorker {
    OutboxWorker::sms(store, provider, secret_box(), Arc::new(clock.clone())).with_config(
        WorkerConfig {
            poll_interval: Duration::from_millis(20),
            ..WorkerConfig::default()
        },
    )
}
