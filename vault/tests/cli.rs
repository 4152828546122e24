//! The `vault` binary as an operator meets it: bad configuration stops start-up with one clear
//! line (no panic, no stack trace); key rotation shows progress; `serve` and `demo` answer.
#![allow(clippy::unwrap_used, clippy::expect_used)]
// tests stop at the first fault
// The token turn is held for a whole test on purpose; each test has its own runtime.
#![allow(clippy::await_holding_lock)]
// A child left by a failing test is reaped by init when the test binary exits.
#![allow(clippy::zombie_processes)]

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;

use support::{token_settings, workspace_path};
use vault::crypto::Suite;
use vault::keys::pkcs11::Pkcs11Provider;
use vault::keys::{KekVersion, KeyProvider};

/// SoftHSM2's file store answers CKR_GENERAL_ERROR when several processes write the same token
/// at once, so the tests of this file, which start processes, take turns.
static TOKEN_TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn turn() -> std::sync::MutexGuard<'static, ()> {
    TOKEN_TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn vault_cmd(config: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.arg("--config")
        .arg(config)
        .env("RUST_LOG", "warn")
        .env_remove("RUST_BACKTRACE");
    cmd
}

struct Fixture {
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new() -> Self {
        Self {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    /// A production config on the test token with the given KEK label and database URL.
    fn token_config(&self, kek_label: &str, db_url: &str, extra: &str) -> std::path::PathBuf {
        let text = format!(
            r#"mode = "production"
listen = "127.0.0.1:0"
data_dir = "{data}"
[database]
url = "{db_url}"
[keys]
provider = "pkcs11"
{extra}
[keys.pkcs11]
module = "{module}"
token_label = "{label}"
kek_label = "{kek_label}"
profile = "{profile}"
"#,
            data = self.dir.path().display(),
            module = std::env::var("VAULT_HSM_MODULE").unwrap(),
            label = std::env::var("VAULT_HSM_TOKEN_LABEL").unwrap(),
            profile = workspace_path("hsm-config/softhsm2.toml").display(),
        );
        self.write("vault.toml", &text)
    }

    fn write(&self, name: &str, text: &str) -> std::path::PathBuf {
        let path = self.dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        path
    }

    fn db_url(&self) -> String {
        format!("sqlite://{}/vault.db", self.dir.path().display())
    }
}

/// Asserts the process failed with exactly one line on stderr containing every `needle`.
fn assert_one_line_failure(out: &Output, needles: &[&str]) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected, got: {stderr}"
    );
    for needle in needles {
        assert!(stderr.contains(needle), "{needle:?} missing from: {stderr}");
    }
    for bad in ["panicked", "backtrace", "RUST_BACKTRACE"] {
        assert!(!stderr.contains(bad), "{bad} in: {stderr}");
    }
}

#[test]
fn openapi_is_printed_without_a_server() {
    let _turn = turn();
    let out = Command::new(env!("CARGO_BIN_EXE_vault"))
        .arg("openapi")
        .output()
        .unwrap();
    assert!(out.status.success());
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["info"]["title"], "Medikamente vault");
    assert!(doc["paths"]["/v1/resolve"]["post"]["operationId"] == "resolveTokens");
}

#[test]
fn unknown_config_key_is_named() {
    let _turn = turn();
    let f = Fixture::new();
    let cfg = f.token_config("k", &f.db_url(), "sute = \"gost\"");
    let out = vault_cmd(&cfg).arg("serve").output().unwrap();
    assert_one_line_failure(&out, &["unknown field `sute`", "line 8"]);
}

#[test]
fn soft_provider_outside_demo_is_refused() {
    let _turn = turn();
    let f = Fixture::new();
    let cfg = f.write(
        "vault.toml",
        "mode = \"production\"\n[keys]\nprovider = \"danger_soft\"\n[keys.danger_soft]\nkek_dir = \"k\"\n",
    );
    let out = vault_cmd(&cfg).arg("serve").output().unwrap();
    assert_one_line_failure(&out, &["danger_soft", "refused when mode = \"production\""]);
}

#[test]
fn missing_token_is_named() {
    let _turn = turn();
    let f = Fixture::new();
    let cfg = f.token_config("k", &f.db_url(), "");
    let out = vault_cmd(&cfg)
        .arg("serve")
        .env("VAULT_HSM_TOKEN_LABEL", "absent-token")
        .output()
        .unwrap();
    assert_one_line_failure(&out, &["no token labelled 'absent-token'", "token_label"]);
}

#[test]
fn wrong_or_missing_pin_is_named() {
    let _turn = turn();
    let f = Fixture::new();
    let cfg = f.token_config("k", &f.db_url(), "");
    let out = vault_cmd(&cfg)
        .arg("serve")
        .env("VAULT_HSM_PIN", "wrong-pin")
        .output()
        .unwrap();
    assert_one_line_failure(&out, &["refused the PIN", "$VAULT_HSM_PIN"]);
    let out = vault_cmd(&cfg)
        .arg("serve")
        .env_remove("VAULT_HSM_PIN")
        .output()
        .unwrap();
    assert_one_line_failure(&out, &["$VAULT_HSM_PIN is not set"]);
}

#[test]
fn uninitialised_token_and_unreachable_database_are_named() {
    let _turn = turn();
    let f = Fixture::new();
    let cfg = f.token_config("never-created", &f.db_url(), "");
    let out = vault_cmd(&cfg).arg("serve").output().unwrap();
    assert_one_line_failure(&out, &["vault keys init"]);
    let cfg = f.token_config("k", "postgres://nobody:secret@127.0.0.1:1/vault", "");
    let out = vault_cmd(&cfg).arg("serve").output().unwrap();
    assert_one_line_failure(
        &out,
        &["database postgres://nobody:***@127.0.0.1:1/vault is unavailable"],
    );
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("secret"),
        "password leaked"
    );
}

/// Seals `n` patients into a SQLite file with KEK v1 under `kek_label`, in process.
async fn seed(db_url: &str, settings: vault::keys::pkcs11::Pkcs11Settings, n: usize) {
    let provider = Arc::new(Pkcs11Provider::open(settings).unwrap());
    provider.create_kek(KekVersion::FIRST).unwrap();
    let db = vault::store::Database::connect(db_url, 2).await.unwrap();
    vault::store::migrate(&db).await.unwrap();
    let sealed = support::sealed_data(&db, provider, Suite::Aes256GcmSiv).await;
    for _ in 0..n {
        let p = sealed.create_patient().await.unwrap();
        sealed.seal_record(p, "visit_note", b"note").await.unwrap();
    }
    db.close().await;
}

#[tokio::test]
async fn kek_used_by_the_database_must_be_in_the_token() {
    let _turn = turn();
    let f = Fixture::new();
    let settings = token_settings("softhsm2.toml");
    seed(&f.db_url(), settings, 1).await;
    // Same database, another KEK label under which the token holds only a v2: the store is
    // not empty, but it lacks the v1 the database needs.
    let other = token_settings("softhsm2.toml");
    let cfg = f.token_config(&other.kek_label, &f.db_url(), "");
    Pkcs11Provider::open(other)
        .unwrap()
        .create_kek(KekVersion::new(2).unwrap())
        .unwrap();
    let out = vault_cmd(&cfg).arg("serve").output().unwrap();
    assert_one_line_failure(&out, &["the database names KEK v1", "has no such version"]);
}

#[tokio::test]
async fn keys_rotate_shows_progress_and_list_shows_protection() {
    let _turn = turn();
    let f = Fixture::new();
    let settings = token_settings("softhsm2.toml");
    let kek_label = settings.kek_label.clone();
    seed(&f.db_url(), settings, 5).await;
    let cfg = f.token_config(&kek_label, &f.db_url(), "");

    let out = vault_cmd(&cfg)
        .args(["keys", "rotate", "--batch", "2"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for line in [
        "created KEK v2",
        "rewrapped 0/5 DEKs under KEK v2",
        "rewrapped 2/5 DEKs",
        "rewrapped 5/5 DEKs",
        "rotation complete: 5 DEKs rewrapped",
    ] {
        assert!(stdout.contains(line), "{line:?} missing from: {stdout}");
    }

    let out = vault_cmd(&cfg).args(["keys", "list"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(
            "KEK v1: wraps 0 DEKs and 0 vault-wide keys; in token: sensitive, non-extractable, wrap/unwrap only"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("KEK v2 (current): wraps 5 DEKs and 0 vault-wide keys"),
        "{stdout}"
    );

    // Key operations are in the audit.
    let pool = sqlx::SqlitePool::connect(&f.db_url()).await.unwrap();
    let actions: Vec<String> = sqlx::query_scalar("SELECT action FROM audit_events ORDER BY seq")
        .fetch_all(&pool)
        .await
        .unwrap();
    assert_eq!(actions, ["create_kek", "rewrap_keys"], "{actions:?}");
    pool.close().await;
    let out = vault_cmd(&cfg)
        .args(["keys", "rotate", "--resume"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("rotation complete: 0 DEKs rewrapped"));
}

#[tokio::test]
async fn retention_run_destroys_with_an_act_that_act_verify_checks() {
    let _turn = turn();
    let f = Fixture::new();
    let settings = token_settings("softhsm2.toml");
    let kek_label = settings.kek_label.clone();
    seed(&f.db_url(), settings, 2).await;
    let cfg = f.token_config(&kek_label, &f.db_url(), "");
    // One of the two patients asked for deletion long ago and every retention has ended.
    let pool = sqlx::SqlitePool::connect(&f.db_url()).await.unwrap();
    let patient: String = sqlx::query_scalar("SELECT patient_id FROM patients LIMIT 1")
        .fetch_one(&pool)
        .await
        .unwrap();
    for sql in [
        format!("UPDATE patients SET restricted_at = 1000 WHERE patient_id = '{patient}'"),
        format!(
            "INSERT INTO data_requests (request_id, patient_id, kind, channel, state, filed_by, filed_at, due_at, responsible_officer) VALUES ('6f1c7a52-0000-4000-8000-000000000001', '{patient}', 'deletion', 'reception', 'completed', 'st-1', 1000, 2000, 'unassigned')"
        ),
        format!(
            "INSERT INTO retentions (patient_id, data, basis, until, request_id) VALUES ('{patient}', 'medical_card', 'test', 1500, '6f1c7a52-0000-4000-8000-000000000001')"
        ),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&pool)
            .await
            .unwrap();
    }

    let out = vault_cmd(&cfg)
        .args([
            "retention",
            "run",
            "--operator",
            "ООО «Медикаменте», г. Томск",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("destroyed patient {patient}: act ")),
        "{stdout}"
    );
    assert!(
        stdout.contains("retention run: 1 destroyed, 0 held, 0 still under retention"),
        "{stdout}"
    );
    let left: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM sealed_records")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(left, 1, "the other patient's record stays");
    // Twice is harmless.
    let out = vault_cmd(&cfg).args(["retention", "run"]).output().unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).contains("retention run: 0 destroyed"));

    let out = vault_cmd(&cfg).args(["act", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout}");
    assert!(stdout.contains("(log extract: audit event"), "{stdout}");
    assert!(
        stdout.contains("destruction acts: 1 checked, 0 failed"),
        "{stdout}"
    );

    // An act edited in the database fails, named, with exit code 1.
    for sql in [
        "DROP TRIGGER destruction_acts_append_only_update",
        "UPDATE destruction_acts SET document = REPLACE(document, 'Томск', 'Омск')",
    ] {
        sqlx::query(sql).execute(&pool).await.unwrap();
    }
    pool.close().await;
    let out = vault_cmd(&cfg).args(["act", "verify"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL: act") && stdout.contains("the signature does not match"),
        "{stdout}"
    );
}

/// Like [`start`], but keeps every line the server writes, on stdout and stderr.
fn start_capturing(mut cmd: Command) -> (Child, String, Arc<std::sync::Mutex<Vec<String>>>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let captured = Arc::new(std::sync::Mutex::new(Vec::new()));
    let err_lines = captured.clone();
    let stderr = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            err_lines.lock().unwrap().push(line);
        }
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let addr = line
            .split("listening on http://")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap().to_string());
        captured.lock().unwrap().push(line);
        if let Some(addr) = addr {
            let out_lines = captured.clone();
            std::thread::spawn(move || {
                for line in lines.map_while(Result::ok) {
                    out_lines.lock().unwrap().push(line);
                }
            });
            return (child, addr, captured);
        }
    }
    let _ = child.wait();
    panic!(
        "vault exited before listening: {:?}",
        captured.lock().unwrap()
    );
}

/// Starts the binary, waits for its "listening on" line and returns the child and address.
fn start(mut cmd: Command) -> (Child, String, Vec<String>) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        let addr = line
            .split("listening on http://")
            .nth(1)
            .map(|rest| rest.split_whitespace().next().unwrap().to_string());
        seen.push(line);
        if let Some(addr) = addr {
            // Keep draining what the server logs, as a supervisor would.
            std::thread::spawn(move || lines.for_each(drop));
            return (child, addr, seen);
        }
    }
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    panic!("vault exited before listening: {seen:?} {err}");
}

fn get(addr: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    let status = resp.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, resp)
}

#[tokio::test]
async fn serve_answers_health_readiness_and_metrics() {
    let _turn = turn();
    let f = Fixture::new();
    let settings = token_settings("softhsm2.toml");
    let kek_label = settings.kek_label.clone();
    seed(&f.db_url(), settings, 1).await;
    let (mut child, addr, _) = start({
        let mut c = vault_cmd(&f.token_config(&kek_label, &f.db_url(), ""));
        c.arg("serve");
        c
    });
    assert_eq!(get(&addr, "/healthz").0, 200);
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 200, "{body}");
    let (status, body) = get(&addr, "/metrics");
    assert_eq!(status, 200);
    assert!(body.contains("vault_dek_cache_misses_total"), "{body}");

    // The current KEK disappears from the token (pulled, wiped): readiness says so.
    let mut same = token_settings("softhsm2.toml");
    same.kek_label = kek_label;
    Pkcs11Provider::open(same)
        .unwrap()
        .destroy_kek(KekVersion::FIRST)
        .unwrap();
    let (status, body) = get(&addr, "/readyz");
    assert_eq!(status, 503, "{body}");
    assert!(body.contains(r#""code":"key_store_unavailable""#), "{body}");
    assert_eq!(
        get(&addr, "/healthz").0,
        200,
        "the process itself is still alive"
    );
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn demo_starts_on_the_embedded_default_and_warns() {
    let _turn = turn();
    let f = Fixture::new();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(f.dir.path().join("data"));
    let (mut child, addr, lines) = start(cmd);
    let text = lines.join("\n");
    assert!(
        text.contains("DANGER: keys.provider = danger_soft"),
        "{text}"
    );
    assert!(
        text.contains("demo patients registered: 2 (made up)"),
        "{text}"
    );
    assert!(
        text.contains("demo clinic-app credential: svc.clinic-app."),
        "{text}"
    );
    assert!(text.contains("TOTP for dr.demo: otpauth://totp/"), "{text}");
    assert_eq!(get(&addr, "/readyz").0, 200);
    let (status, body) = get(&addr, "/openapi.json");
    assert_eq!(status, 200);
    assert!(body.contains("resolveTokens"));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(f.dir.path().join("data/vault.db").exists());
    assert!(
        f.dir
            .path()
            .join("data/danger-soft-kek/kek-v1.key")
            .exists()
    );

    // A second start reuses the data and seeds nothing new.
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_vault"));
    cmd.args(["demo", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(f.dir.path().join("data"));
    let (mut child, _, lines) = start(cmd);
    assert!(!lines.join("\n").contains("demo patients registered"));
    child.kill().unwrap();
    child.wait().unwrap();
}

/// STYLE 11: a whole flow with distinctive personal data at debug level leaves none of it, and
/// no token or secret, in anything the vault prints.
#[tokio::test]
async fn logs_carry_no_personal_data_or_tokens() {
    let _turn = turn();
    let f = Fixture::new();
    let settings = token_settings("softhsm2.toml");
    let kek_label = settings.kek_label.clone();
    Pkcs11Provider::open(settings)
        .unwrap()
        .create_kek(KekVersion::FIRST)
        .unwrap();
    let cfg = f.token_config(&kek_label, &f.db_url(), "");
    let out = vault_cmd(&cfg)
        .args(["service", "issue", "--domain", "clinic-app"])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let credential = stdout.split(": ").last().unwrap().trim().to_string();
    assert!(credential.starts_with("svc.clinic-app."), "{stdout}");
    let out = vault_cmd(&cfg)
        .args([
            "staff",
            "add",
            "--username",
            "reception.logs",
            "--role",
            "receptionist",
            "--branch",
            "b1",
        ])
        .env("VAULT_NEW_PASSWORD", "reception password 1")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let (mut child, addr, captured) = start_capturing({
        let mut c = vault_cmd(&cfg);
        c.arg("serve").env("RUST_LOG", "debug");
        c
    });
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let identity = serde_json::json!({
        "surname": "Штормовая", "name": "Агриппина", "birth_date": "1977-07-07", "sex": "female",
        "phones": ["+79245550199"], "snils": "112-233-445 95", "passport": "4506 654321",
        "email": "agrippina.storm@example.org"
    });
    let v: serde_json::Value = http
        .post(format!("{base}/v1/patients"))
        .bearer_auth(&credential)
        .json(&serde_json::json!({"identity": identity}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let token = v["token"].as_str().unwrap().to_string();
    for body in [
        serde_json::json!({"phone": "+79245550199"}),
        serde_json::json!({"snils": "112-233-445 96"}),
    ] {
        http.post(format!("{base}/v1/patients/search"))
            .bearer_auth(&credential)
            .json(&body)
            .send()
            .await
            .unwrap();
    }
    http.post(format!("{base}/v1/resolve"))
        .bearer_auth(&credential)
        .json(&serde_json::json!({"tokens": [token], "fields": ["surname", "phones", "snils"], "purpose": "scheduling"}))
        .send()
        .await
        .unwrap();
    let login: serde_json::Value = http
        .post(format!("{base}/v1/login"))
        .json(
            &serde_json::json!({"username": "reception.logs", "password": "reception password 1"}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let session = login["session"].as_str().unwrap().to_string();
    http.post(format!("{base}/v1/login"))
        .json(&serde_json::json!({"username": "Штормовая", "password": "Агриппина-пароль"}))
        .send()
        .await
        .unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    std::thread::sleep(std::time::Duration::from_millis(200));

    let logs = captured.lock().unwrap().join("\n");
    assert!(
        logs.contains("\"level\":\"DEBUG\""),
        "debug logging was on: {logs}"
    );
    let secret = credential.rsplit('.').next().unwrap().to_string();
    for needle in [
        "Штормовая",
        "Агриппина",
        "9245550199",
        "112-233-445",
        "11223344595",
        "654321",
        "agrippina",
        token.as_str(),
        secret.as_str(),
        session.as_str(),
        "reception password",
    ] {
        assert!(!logs.contains(needle), "{needle} appears in the logs");
    }
}

/// `vault audit verify` on a database file: exit 0 and PASS when intact; exit 1 naming the
/// first altered event after an edit behind the vault's back.
#[tokio::test]
async fn audit_verify_exit_code_says_pass_or_fail() {
    let _turn = turn();
    let f = Fixture::new();
    let settings = token_settings("softhsm2.toml");
    let kek_label = settings.kek_label.clone();
    let provider = Arc::new(Pkcs11Provider::open(settings).unwrap());
    provider.create_kek(KekVersion::FIRST).unwrap();
    provider.ensure_audit_key().unwrap();
    let db = vault::store::Database::connect(&f.db_url(), 2)
        .await
        .unwrap();
    vault::store::migrate(&db).await.unwrap();
    let (writer, _task) = vault::audit::AuditWriter::start(
        db.clone(),
        provider,
        support::test_clock(),
        vault::audit::writer::CheckpointPolicy {
            every_events: 3,
            every: std::time::Duration::from_secs(60),
        },
    );
    for i in 0..7 {
        let row = vault::store::audit::AuditRow {
            at: 1_800_000_000 + i,
            request_id: format!("r{i}"),
            principal: "service:clinic-app".into(),
            role: "service".into(),
            branch: None,
            action: "search".into(),
            patient_token: None,
            patient_tokens: None,
            purpose: None,
            reason_code: None,
            decision: "permit".into(),
            reasons: String::new(),
            client_addr: None,
        };
        writer.record(vec![row]).await.unwrap();
    }
    // Offline means offline: this process lets go of the file before the command opens it (a
    // CI run once saw the command fail while this pool still held it).
    drop(writer);
    db.close().await;
    let cfg = f.token_config(&kek_label, "sqlite://unused.db", "");
    let out = vault_cmd(&cfg)
        .args(["audit", "verify", "--database", &f.db_url()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("7 events, 2 checkpoints") && stdout.contains("PASS"),
        "{stdout}"
    );

    let db = vault::store::Database::connect(&f.db_url(), 1)
        .await
        .unwrap();
    if let vault::store::Database::Sqlite(p) = &db {
        for sql in [
            "DROP TRIGGER audit_events_append_only_update",
            "UPDATE audit_events SET decision = 'deny' WHERE seq = 2",
        ] {
            sqlx::query(sql).execute(p).await.unwrap();
        }
    }
    db.close().await;
    let out = vault_cmd(&cfg)
        .args(["audit", "verify", "--database", &f.db_url()])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("FAIL: event 2 was altered"), "{stdout}");
}
