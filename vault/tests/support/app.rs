//! A running vault for API tests: real HTTP on port 0, a fresh database, KEKs in the SoftHSM2
//! token, a manual clock, and ready-made principals (clinic-app, doctors, receptionist, security).

use std::sync::Arc;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use vault::clock::{Clock, ManualClock};
use vault::config::{Config, Mode, ProviderConfig};
use vault::crypto::Suite;
use vault::domain::auth::Auth;
use vault::keys::KekVersion;
use vault::keys::KeyProvider;
use vault::keys::pkcs11::Pkcs11Provider;
use vault::startup::{AppState, Application};
use vault::store::Backend;

use super::{TestDb, fresh_db, test_clock, token_settings, workspace_path};

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Staff {
    pub id: String,
    pub username: String,
    pub totp_seed: Option<String>,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<ManualClock>,
    pub state: Arc<AppState>,
    pub db: TestDb,
    pub clinic: String,
    /// The label base of this app's KEKs in the test token.
    pub kek_label: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

fn seed_of(uri: &str) -> String {
    uri.split("secret=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .to_string()
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        let db = fresh_db(backend).await;
        let settings = token_settings("softhsm2.toml");
        let kek_label = settings.kek_label.clone();
        Pkcs11Provider::open(settings)
            .unwrap()
            .create_kek(KekVersion::FIRST)
            .unwrap();
        let config = Config {
            mode: Mode::Production,
            listen: "127.0.0.1:0".parse().unwrap(),
            data_dir: std::env::temp_dir(),
            database_url: db.url.clone(),
            max_connections: 8,
            suite: Suite::Aes256GcmSiv,
            cache_capacity: 1000,
            cache_ttl: Duration::from_secs(300),
            backup_retention: Duration::from_secs(35 * 86_400),
            // Small, so tests see checkpoints.
            checkpoint: vault::audit::writer::CheckpointPolicy {
                every_events: 5,
                every: Duration::from_secs(60),
            },
            danger_audit_stub: false,
            alert_rules: vault::audit::alerts::AlertRules::default(),
            alert_webhook: None,
            // Tests scan on demand with `state.alert_scanner.scan_once()`.
            alert_scan_every: Duration::from_secs(3600),
            provider: ProviderConfig::Pkcs11 {
                module: std::env::var("VAULT_HSM_MODULE").unwrap().into(),
                token_label: std::env::var("VAULT_HSM_TOKEN_LABEL").unwrap(),
                pin_env: "VAULT_HSM_PIN".into(),
                kek_label: kek_label.clone(),
                profile: workspace_path("hsm-config/softhsm2.toml"),
                sessions: 4,
            },
        };
        let clock = test_clock();
        let app = Application::build(&config, clock.clone()).await.unwrap();
        let state = app.state().clone();
        let base = format!("http://{}", app.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        let clinic = state
            .auth
            .put_service(policy::ConsumerDomain::ClinicApp)
            .await
            .unwrap()
            .to_string();
        TestApp {
            base,
            http: reqwest::Client::new(),
            clock,
            state,
            db,
            clinic,
            kek_label,
            shutdown: Some(tx),
        }
    }

    pub async fn staff(&self, username: &str, role: policy::Role) -> Staff {
        let (id, uri) = self
            .state
            .auth
            .add_staff(username, PASSWORD, role, "msk-1")
            .await
            .unwrap();
        Staff {
            id,
            username: username.into(),
            totp_seed: uri.as_deref().map(seed_of),
        }
    }

    pub fn totp(&self, staff: &Staff) -> String {
        let now = u64::try_from(self.clock.unix_seconds()).unwrap();
        Auth::totp_code(staff.totp_seed.as_deref().unwrap(), now).unwrap()
    }

    /// Signs in and returns the session bearer.
    pub async fn login(&self, staff: &Staff) -> String {
        let body = json!({"username": staff.username, "password": PASSWORD,
            "totp": staff.totp_seed.as_ref().map(|_| self.totp(staff))});
        let (status, v) = self
            .call(reqwest::Method::POST, "/v1/login", None, Some(body))
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
        v["session"].as_str().unwrap().to_string()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        if let Some(body) = body {
            req = req.json(&body);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn post(&self, path: &str, bearer: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(bearer), Some(body))
            .await
    }

    pub async fn get(&self, path: &str, bearer: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(bearer), None)
            .await
    }

    /// Registers a patient through clinic-app; returns its clinic-app token.
    pub async fn register(&self, identity: Value) -> String {
        let (status, v) = self
            .post("/v1/patients", &self.clinic, json!({"identity": identity}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        v["token"].as_str().unwrap().to_string()
    }

    /// clinic-app reports an appointment of `doctor` with the patient around now.
    pub async fn book(&self, doctor: &Staff, clinic_token: &str) {
        let now = self.clock.unix_seconds();
        let (status, v) = self
            .call(
                reqwest::Method::PUT,
                "/v1/care-relationships",
                Some(&self.clinic),
                Some(json!({"doctor_staff_id": doctor.id, "patient": clinic_token, "from": now - 60, "until": now + 3600})),
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT, "{v}");
    }

    pub async fn raw_count(&self, sql: &str) -> i64 {
        use vault::store::Database;
        match &self.db.db {
            Database::Sqlite(p) => {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(p)
                    .await
            }
            Database::Postgres(p) => {
                sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_one(p)
                    .await
            }
        }
        .unwrap()
    }

    /// Sends a JSON body of `len` bytes on a fresh connection and returns the status code. The
    /// body is written from another task, because the server may answer before reading it all.
    pub async fn oversize_status(
        &self,
        path: &str,
        bearer: &str,
        content_type: &str,
        len: usize,
    ) -> u16 {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let addr = self.base.trim_start_matches("http://").to_string();
        let stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
        let (mut rd, mut wr) = stream.into_split();
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Bearer {bearer}\r\nContent-Type: {content_type}\r\nContent-Length: {len}\r\nConnection: close\r\n\r\n"
        );
        let writer = tokio::spawn(async move {
            let _ = wr.write_all(head.as_bytes()).await;
            let _ = wr.write_all(&vec![b' '; len]).await;
        });
        let mut buf = Vec::new();
        let _ = rd.read_to_end(&mut buf).await;
        writer.abort();
        let text = String::from_utf8_lossy(&buf);
        text.split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    pub async fn raw_bytes(&self, sql: &str) -> Vec<Vec<u8>> {
        use vault::store::Database;
        match &self.db.db {
            Database::Sqlite(p) => {
                sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(p)
                    .await
            }
            Database::Postgres(p) => {
                sqlx::query_scalar::<_, Vec<u8>>(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(p)
                    .await
            }
        }
        .unwrap()
    }

    pub async fn raw_exec(&self, sql: &str) {
        use vault::store::Database;
        match &self.db.db {
            Database::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|_| ()),
            Database::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
                .execute(p)
                .await
                .map(|_| ()),
        }
        .unwrap();
    }

    /// Every text value of the audit table, for scanning.
    pub async fn audit_dump(&self) -> String {
        use vault::store::Database;
        let sql = "SELECT principal || '|' || role || '|' || action || '|' || COALESCE(patient_token,'') || '|' || COALESCE(purpose,'') || '|' || decision || '|' || reasons FROM audit_events ORDER BY seq";
        let rows: Vec<String> = match &self.db.db {
            Database::Sqlite(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(p)
                    .await
            }
            Database::Postgres(p) => {
                sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_string()))
                    .fetch_all(p)
                    .await
            }
        }
        .unwrap();
        rows.join("\n")
    }
}

/// A distinctive made-up identity; its values are searched for where they must not be.
pub fn identity() -> Value {
    json!({
        "surname": "Зюзикова", "name": "Евлампия", "patronymic": "Порфирьевна",
        "birth_date": "1961-02-03", "sex": "female",
        "phones": ["+7 (913) 555-01-77"], "email": "evlampia.z@example.org",
        "snils": "112-233-445 95", "passport": "4506 123456",
        "address": "г. Томск, ул. Примерная, 7", "inn": "500100732259"
    })
}
