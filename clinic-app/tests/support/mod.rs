//! A running vault (demo mode: SQLite and a software KEK in a temporary directory) and a
//! running clinic-app in front of it, on SQLite or PostgreSQL, both on real HTTP on port 0 and
//! on one manual clock. A missing PostgreSQL fails the test with a message; nothing is skipped.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)] // shared by several test files; tests stop at the first fault

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use clinic_app::config::Config;
use clinic_app::domain::auth::{Role, StaffPrincipal};
use clinic_app::domain::directory::{NewBranch, NewPrice, NewRoom, NewService, NewTemplate};
use clinic_app::startup::{AppState, Application};
use clinic_app::store::{Backend, Database};
use reqwest::StatusCode;
use serde_json::{Value, json};
use vault::clock::Clock as _;

pub const PASSWORD: &str = "correct horse battery staple";
/// Monday 2026-11-30, 07:00 in Moscow (04:00 UTC): before the branch opens.
pub const MONDAY_0700_MSK: i64 = 1_796_011_200;
/// Offset of the test branch.
pub const MSK: i64 = 180;

/// Unix seconds of a Moscow wall-clock time on the test Monday plus `days`.
pub fn msk(days: i64, hh: i64, mm: i64) -> i64 {
    MONDAY_0700_MSK - 7 * 3600 + days * 86_400 + hh * 3600 + mm * 60
}

/// Both services read this clock: the vault's manual clock, seen by clinic-app in seconds.
pub struct SharedClock(pub Arc<vault::clock::ManualClock>);

impl clinic_app::clock::Clock for SharedClock {
    fn now(&self) -> i64 {
        self.0.unix_seconds()
    }
}

pub struct TestDb {
    pub db: Database,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
}

pub async fn fresh_clinic_db(backend: Backend) -> TestDb {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let url = format!("sqlite://{}", dir.path().join("clinic.db").display());
            let db = Database::connect(&url, 4).await.unwrap();
            clinic_app::store::migrate(&db).await.unwrap();
            TestDb {
                db,
                url,
                _dir: Some(dir),
            }
        }
        Backend::Postgres => {
            let url =
                create_empty_postgres(&format!("clinic_test_{}", uuid::Uuid::new_v4().simple()))
                    .await;
            let db = Database::connect(&url, 8).await.unwrap();
            clinic_app::store::migrate(&db).await.unwrap();
            TestDb {
                db,
                url,
                _dir: None,
            }
        }
    }
}

fn postgres_admin_url() -> String {
    std::env::var("VAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// Creates an empty PostgreSQL database; returns its URL.
async fn create_empty_postgres(name: &str) -> String {
    let admin_url = postgres_admin_url();
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap_or_else(|e| {
        panic!("PostgreSQL at {admin_url} is unreachable ({e}): start it or set VAULT_TEST_POSTGRES_URL")
    });
    sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .execute(&admin)
        .await
        .unwrap();
    admin.close().await;
    let base = admin_url
        .rsplit_once('/')
        .map_or(admin_url.as_str(), |(b, _)| b);
    format!("{base}/{name}")
}

pub struct Vault {
    pub base: String,
    /// The vault's PostgreSQL database, when it is not a file in `dir`.
    pub database_url: Option<String>,
    pub state: Arc<vault::startup::AppState>,
    pub clinic_credential: String,
    pub dir: tempfile::TempDir,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    server: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Vault {
    pub async fn spawn(clock: Arc<vault::clock::ManualClock>) -> Vault {
        Self::spawn_on(clock, None).await
    }

    /// A demo vault whose database is `database_url` (a PostgreSQL database for benchmarks)
    /// instead of a SQLite file in its directory.
    pub async fn spawn_on(
        clock: Arc<vault::clock::ManualClock>,
        database_url: Option<String>,
    ) -> Vault {
        let dir = tempfile::tempdir().unwrap();
        let mut config = vault::config::Config::demo(dir.path(), "127.0.0.1:0".parse().unwrap());
        if let Some(url) = database_url.clone() {
            config.database_url = url;
            config.max_connections = 16;
        }
        // Diagnosis only (benchmarks): the vault's audit writer stubbed out, to see its share.
        config.danger_audit_stub =
            std::env::var("CLINICBENCH_VAULT_AUDIT_STUB").is_ok_and(|v| v == "1");
        config.alert_scan_every = Duration::from_secs(3600);
        let app = vault::startup::Application::build(&config, clock)
            .await
            .unwrap();
        let state = app.state().clone();
        let base = format!("http://{}", app.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        let clinic_credential = state
            .auth
            .put_service(policy::ConsumerDomain::ClinicApp)
            .await
            .unwrap()
            .to_string();
        Vault {
            base,
            database_url,
            state,
            clinic_credential,
            dir,
            shutdown: Some(tx),
            server: Some(server),
        }
    }

    /// Stops the vault's HTTP server and returns once it has stopped: the port refuses
    /// connections and the keep-alive connections clinic-app held are closed. (Returning on
    /// the signal alone let the next request race the shutdown over a pooled connection.)
    pub async fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }
}

impl Drop for Vault {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// A TCP relay between clinic-app and the vault that a test can cut (every connection through
/// it, open or new, is dropped: the vault looks unreachable) and restore.
pub struct VaultLink {
    pub base: String,
    up: tokio::sync::watch::Sender<bool>,
}

impl VaultLink {
    pub async fn open(vault_base: &str) -> VaultLink {
        let target = vault_base.trim_start_matches("http://").to_owned();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (up, watch) = tokio::sync::watch::channel(true);
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let mut watch = watch.clone();
                if !*watch.borrow() {
                    continue; // dropped: the caller sees the connection close
                }
                let target = target.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    // A relay must not add Nagle's delay to either side.
                    let _ = inbound.set_nodelay(true);
                    let _ = outbound.set_nodelay(true);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = watch.wait_for(|up| !*up) => {}
                    }
                });
            }
        });
        VaultLink { base, up }
    }

    pub fn set(&self, up: bool) {
        self.up.send_replace(up);
    }
}

/// The made-up clinic every test starts from.
pub struct Fixture {
    pub branch: String,
    pub room: String,
    pub room2: String,
    pub doctor: String,
    pub doctor2: String,
    pub doctor_vault_id: String,
    pub service: String,
    pub long_service: String,
}

pub struct TestApp {
    pub base: String,
    pub http: reqwest::Client,
    pub clock: Arc<vault::clock::ManualClock>,
    pub state: Arc<AppState>,
    pub db: TestDb,
    pub vault: Vault,
    /// clinic-app reaches the vault through this link, which a test can cut and restore.
    pub vault_link: VaultLink,
    pub outbox_file: PathBuf,
    pub fx: Fixture,
    pub admin: String,
    pub reception: String,
    pub cashier: String,
    pub accountant: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

impl TestApp {
    pub async fn spawn(backend: Backend) -> TestApp {
        Self::spawn_with(backend, false).await
    }

    /// As [`TestApp::spawn`]; with `vault_on_postgres` the vault's database is a fresh
    /// PostgreSQL database too (benchmarks).
    pub async fn spawn_with(backend: Backend, vault_on_postgres: bool) -> TestApp {
        let clock = Arc::new(vault::clock::ManualClock::new(
            UNIX_EPOCH + Duration::from_secs(u64::try_from(MONDAY_0700_MSK).unwrap()),
        ));
        let vault_db = if vault_on_postgres {
            let name = format!("clinic_test_vault_{}", uuid::Uuid::new_v4().simple());
            Some(create_empty_postgres(&name).await)
        } else {
            None
        };
        let vault = Vault::spawn_on(clock.clone(), vault_db).await;
        let db = fresh_clinic_db(backend).await;
        let outbox_file = vault.dir.path().join("outbox.jsonl");
        let vault_link = VaultLink::open(&vault.base).await;
        let toml = format!(
            "listen = \"127.0.0.1:0\"\n[database]\nurl = \"{}\"\nmax_connections = 16\n[vault]\nurl = \"{}\"\ncredential_env = \"T\"\n[reminders]\noutbox_file = \"{}\"\nsend_every_seconds = 3600\n",
            db.url,
            vault_link.base,
            outbox_file.display()
        );
        let credential = vault.clinic_credential.clone();
        let config = Config::parse(&toml, |n| (n == "T").then(|| credential.clone())).unwrap();
        let app = Application::build(&config, Arc::new(SharedClock(clock.clone())))
            .await
            .unwrap();
        let state = app.state().clone();
        let base = format!("http://{}", app.local_addr().unwrap());
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async {
            let _ = rx.await;
        }));
        let fx = seed(&state, &vault).await;
        let mut t = TestApp {
            base,
            vault_link,
            http: reqwest::Client::new(),
            clock,
            state,
            db,
            vault,
            outbox_file,
            fx,
            admin: String::new(),
            reception: String::new(),
            cashier: String::new(),
            accountant: String::new(),
            shutdown: Some(tx),
        };
        t.admin = t.login("admin").await;
        t.reception = t.login("reception").await;
        t.cashier = t.login("cashier").await;
        t.accountant = t.login("accountant").await;
        t
    }

    pub fn now(&self) -> i64 {
        self.clock.unix_seconds()
    }

    /// Moves both services' clock to `at` (never backwards).
    pub fn set_time(&self, at: i64) {
        let now = self.now();
        assert!(at >= now, "the test clock only moves forward");
        self.clock
            .advance(Duration::from_secs(u64::try_from(at - now).unwrap()));
    }

    pub async fn login(&self, username: &str) -> String {
        let r = self
            .http
            .post(format!("{}/v1/staff/login", self.base))
            .json(&json!({"username": username, "password": PASSWORD}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "login of {username}");
        r.json::<Value>().await.unwrap()["session"]
            .as_str()
            .unwrap()
            .to_owned()
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        session: &str,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(session);
        if let Some(body) = body {
            r = r.json(&body);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    pub async fn get(&self, session: &str, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, session, path, None).await
    }

    pub async fn post(&self, session: &str, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, session, path, Some(body))
            .await
    }

    /// A patient app session for a token, opened directly (as after a verified sign-in code).
    pub async fn patient_session(&self, token: &str) -> String {
        let (session, _) = self
            .state
            .auth
            .open_patient_session(&token.parse().unwrap())
            .await
            .unwrap();
        session.to_string()
    }

    /// Registers a patient at reception who signed the reminder and patient-app consents (as
    /// most do); returns the clinic-app token.
    pub async fn register(&self, surname: &str, name: &str, phone: &str, snils: &str) -> String {
        self.register_with(
            surname,
            name,
            phone,
            snils,
            &["sms_reminders", "patient_app"],
        )
        .await
    }

    /// Registers a patient who signed exactly `consents` at reception.
    pub async fn register_with(
        &self,
        surname: &str,
        name: &str,
        phone: &str,
        snils: &str,
        consents: &[&str],
    ) -> String {
        let (status, body) = self
            .post(
                &self.reception,
                "/v1/patients",
                json!({"identity": {
                    "surname": surname, "name": name, "patronymic": "Тестовна",
                    "birth_date": "1980-05-17", "sex": "female",
                    "phones": [phone], "snils": snils, "inn": "500100732259"
                }, "consents": consents}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let mut expected: Vec<&str> = consents.to_vec();
        expected.sort_unstable();
        expected.dedup();
        assert_eq!(body["consents"]["in_force"], json!(expected), "{body}");
        body["token"].as_str().unwrap().to_owned()
    }

    /// Creates a security officer in the vault (with their second factor), signs them in and
    /// returns the vault session.
    pub async fn security_officer(&self) -> String {
        let username = format!(
            "officer.{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        );
        let username = username.as_str();
        let auth = &self.vault.state.auth;
        let uri = match auth
            .add_staff(username, PASSWORD, policy::Role::SecurityOfficer, "msk-1")
            .await
        {
            Ok((_, uri)) => uri,
            Err(e) => panic!("security officer account: {e}"),
        };
        let totp = uri.as_deref().map(|uri| {
            let seed = uri
                .split("secret=")
                .nth(1)
                .unwrap()
                .split('&')
                .next()
                .unwrap();
            let now = u64::try_from(self.now()).unwrap();
            vault::domain::auth::Auth::totp_code(seed, now).unwrap()
        });
        let (status, body) = self
            .vault_call(
                reqwest::Method::POST,
                None,
                "/v1/login",
                Some(json!({"username": username, "password": PASSWORD, "totp": totp})),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "officer login: {body}");
        body["session"].as_str().unwrap().to_owned()
    }

    /// A call to the vault's own API (as vault staff, or with no credential).
    pub async fn vault_call(
        &self,
        method: reqwest::Method,
        session: Option<&str>,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut r = self
            .http
            .request(method, format!("{}{path}", self.vault.base));
        if let Some(s) = session {
            r = r.bearer_auth(s);
        }
        if let Some(body) = body {
            r = r.json(&body);
        }
        let resp = r.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// The security officer answers an access request in the vault.
    pub async fn answer_in_vault(&self, request_id: &str) {
        let officer = self.security_officer().await;
        let (status, body) = self
            .vault_call(
                reqwest::Method::POST,
                Some(&officer),
                &format!("/v1/data-requests/{request_id}/answer"),
                None,
            )
            .await;
        assert_eq!(status, StatusCode::OK, "answer: {body}");
    }

    /// Books the test doctor at a Moscow time on the test Monday plus `days`.
    pub async fn book(
        &self,
        session: &str,
        token: &str,
        days: i64,
        hh: i64,
        mm: i64,
    ) -> (StatusCode, Value) {
        self.post(
            session,
            "/v1/appointments",
            json!({"doctor_id": self.fx.doctor, "service_code": self.fx.service,
                   "starts_at": msk(days, hh, mm), "patient_token": token}),
        )
        .await
    }
}

/// Directory and staff: branch msk-1 (UTC+3), two rooms, two doctors (Mon-Sat 09:00-18:00,
/// 30-minute slots, one per room), services with prices, one account per role.
async fn seed(state: &Arc<AppState>, vault: &Vault) -> Fixture {
    let clinic = &state.clinic;
    let auth = &state.auth;
    let admin_id = auth
        .add_staff(
            "admin",
            "Админ",
            Role::Administrator,
            None,
            None,
            None,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let admin = StaffPrincipal {
        staff_id: admin_id,
        role: Role::Administrator,
        branch_id: None,
    };
    clinic
        .add_branch(
            &admin,
            Some("msk-1"),
            NewBranch {
                name: "Тверская".into(),
                address: "ул. Тверская, 1".into(),
                utc_offset_minutes: MSK,
            },
        )
        .await
        .unwrap();
    let room = clinic
        .add_room(
            &admin,
            Some("r101"),
            NewRoom {
                branch_id: "msk-1".into(),
                name: "101".into(),
            },
        )
        .await
        .unwrap();
    let room2 = clinic
        .add_room(
            &admin,
            Some("r102"),
            NewRoom {
                branch_id: "msk-1".into(),
                name: "102".into(),
            },
        )
        .await
        .unwrap();
    let (doctor_vault_id, _) = vault
        .state
        .auth
        .add_staff("dr.vault", PASSWORD, policy::Role::Doctor, "msk-1")
        .await
        .unwrap();
    let (doctor2_vault_id, _) = vault
        .state
        .auth
        .add_staff("dr2.vault", PASSWORD, policy::Role::Doctor, "msk-1")
        .await
        .unwrap();
    let doctor = auth
        .add_staff(
            "doctor",
            "Терапевтова А. А.",
            Role::Doctor,
            Some("msk-1"),
            Some("терапевт"),
            Some(&doctor_vault_id),
            Some(PASSWORD),
        )
        .await
        .unwrap();
    let doctor2 = auth
        .add_staff(
            "doctor2",
            "Кардиологов Б. Б.",
            Role::Doctor,
            Some("msk-1"),
            Some("кардиолог"),
            Some(&doctor2_vault_id),
            Some(PASSWORD),
        )
        .await
        .unwrap();
    for (username, role) in [
        ("reception", Role::Receptionist),
        ("cashier", Role::Cashier),
        ("accountant", Role::Accountant),
    ] {
        auth.add_staff(
            username,
            username,
            role,
            Some("msk-1"),
            None,
            None,
            Some(PASSWORD),
        )
        .await
        .unwrap();
    }
    for (code, minutes, price) in [
        ("B01.047.001", 30, "2500"),
        ("A16.07.002", 60, "9000"),
        ("A09.05.003", 15, "650.50"),
    ] {
        clinic
            .add_service(
                &admin,
                NewService {
                    code: code.into(),
                    name: format!("Услуга {code}"),
                    duration_minutes: minutes,
                    vat_exempt: true,
                },
            )
            .await
            .unwrap();
        clinic
            .set_price(
                &admin,
                code,
                NewPrice {
                    valid_from: "2026-01-01".into(),
                    amount: price.into(),
                },
            )
            .await
            .unwrap();
    }
    for (doc, room) in [(&doctor, &room), (&doctor2, &room2)] {
        for weekday in 1..=6 {
            clinic
                .add_template(
                    &admin,
                    NewTemplate {
                        doctor_id: doc.clone(),
                        room_id: room.clone(),
                        weekday,
                        start: "09:00".into(),
                        end: "18:00".into(),
                        slot_minutes: 30,
                        valid_from: "2026-01-01".into(),
                        valid_until: None,
                    },
                )
                .await
                .unwrap();
        }
    }
    Fixture {
        branch: "msk-1".into(),
        room,
        room2,
        doctor,
        doctor2,
        doctor_vault_id,
        service: "B01.047.001".into(),
        long_service: "A16.07.002".into(),
    }
}

/// Runs an async test body on SQLite and on PostgreSQL.
#[macro_export]
macro_rules! on_both_backends {
    ($name:ident, $body:expr) => {
        mod $name {
            use super::*;
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                ($body)(clinic_app::store::Backend::Sqlite).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                ($body)(clinic_app::store::Backend::Postgres).await;
            }
        }
    };
}

impl TestApp {
    /// How many `POST /v1/resolve` calls the vault has answered (from its `/metrics`).
    pub async fn vault_resolve_calls(&self) -> u64 {
        let text = self
            .http
            .get(format!("{}/metrics", self.vault.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .filter(|l| {
                l.starts_with("vault_http_requests_total") && l.contains("route=\"/v1/resolve\"")
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .map(|v| v as u64)
            .sum()
    }

    /// Rows of a clinic table (for "nothing was written" checks).
    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT COUNT(*) FROM {table}");
        match &self.db.db {
            Database::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .unwrap(),
            Database::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
                .fetch_one(pool)
                .await
                .unwrap(),
        }
    }

    /// Care relationships the vault holds (its SQLite file).
    pub async fn vault_care_relationships(&self) -> Vec<(String, i64)> {
        let url = format!(
            "sqlite://{}",
            self.vault.dir.path().join("vault.db").display()
        );
        let pool = sqlx::SqlitePool::connect(&url).await.unwrap();
        let rows: Vec<(String, i64)> =
            sqlx::query_as("SELECT doctor_staff_id, valid_until FROM care_relationships")
                .fetch_all(&pool)
                .await
                .unwrap();
        pool.close().await;
        rows
    }

    /// Waits until the sink holds `n` messages (sign-in codes are handed to the sender in the
    /// background, so a known phone answers as fast as an unknown one).
    pub async fn wait_for_messages(&self, n: usize) -> Vec<Value> {
        for _ in 0..200 {
            let got = self.sent_messages();
            if got.len() >= n {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!(
            "expected {n} messages in the sink, found {:?}",
            self.sent_messages()
        );
    }

    /// The messages the development sink has written, as JSON values.
    pub fn sent_messages(&self) -> Vec<Value> {
        std::fs::read_to_string(&self.outbox_file)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }
}

/// Drops PostgreSQL databases by URL (benchmarks clean up after themselves; tests leave theirs
/// to `scripts/test.sh`, which drops them at the start of the next run).
pub async fn drop_postgres(urls: &[String]) {
    let admin = sqlx::PgPool::connect(&postgres_admin_url()).await.unwrap();
    for url in urls {
        if let Some((_, name)) = url.rsplit_once('/') {
            sqlx::query(sqlx::AssertSqlSafe(format!(
                "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
            )))
            .execute(&admin)
            .await
            .unwrap();
        }
    }
    admin.close().await;
}
