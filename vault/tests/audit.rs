//! The tamper-evident audit on both backends: edits, deletions, reorderings, insertions and a
//! rewrite with recomputed hashes are each named by `verify` at the right event or checkpoint;
//! the database refuses UPDATE and DELETE; concurrent events share group commits; the alert
//! scanner's rate rules count their own windows.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

mod support;

use serde_json::json;
use support::app::{TestApp, identity};
use vault::audit::chain;
use vault::audit::verify::{ChainFault, CheckpointFault, VerifyReport, verify};
use vault::audit::writer::Written;
use vault::clock::Clock;
use vault::store::Backend;
use vault::store::audit::{AuditRow, RevisionCheck};

async fn check(app: &TestApp) -> VerifyReport {
    verify(&app.db.db, app.state.sealed.custody().provider().clone())
        .await
        .unwrap()
}

/// What an attacker with database rights does first: switch the append-only guard off.
async fn disable_guards(app: &TestApp, backend: Backend) {
    match backend {
        Backend::Sqlite => {
            for t in [
                "audit_events_append_only_update",
                "audit_events_append_only_delete",
                "audit_checkpoints_append_only_update",
            ] {
                app.raw_exec(&format!("DROP TRIGGER {t}")).await;
            }
        }
        Backend::Postgres => {
            app.raw_exec("ALTER TABLE audit_events DISABLE TRIGGER USER")
                .await;
            app.raw_exec("ALTER TABLE audit_checkpoints DISABLE TRIGGER USER")
                .await;
        }
    }
}

async fn some_events(app: &TestApp) {
    let token = app.register(identity()).await;
    for phone in ["+79130000001", "+79130000002", "+79135550177"] {
        app.post("/v1/patients/search", &app.clinic, json!({"phone": phone}))
            .await;
    }
    for purpose in ["scheduling", "reminder", "receipt", "billing"] {
        app.post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token], "fields": ["surname"], "purpose": purpose}),
        )
        .await;
    }
    let mut second = identity();
    second["phones"] = json!(["+79135550111"]);
    second["snils"] = json!("001-001-998 00");
    app.register(second).await;
    app.post(
        "/v1/patients/search",
        &app.clinic,
        json!({"phone": "+79135550111"}),
    )
    .await;
}

async fn tampering(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    let clean = check(&app).await;
    assert!(clean.passed(), "{clean:?}");
    assert!(clean.events >= 10 && clean.checkpoints >= 2, "{clean:?}");
    disable_guards(&app, backend).await;

    // Altered.
    app.raw_exec("UPDATE audit_events SET reasons = reasons || '.' WHERE seq = 3")
        .await;
    assert_eq!(
        check(&app).await.chain,
        Some(ChainFault::Altered { seq: 3 })
    );

    // Fresh app for each following case keeps them independent.
    drop(app);
    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    disable_guards(&app, backend).await;
    app.raw_exec("DELETE FROM audit_events WHERE seq = 4").await;
    assert_eq!(
        check(&app).await.chain,
        Some(ChainFault::Removed { first: 4, last: 4 })
    );

    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    disable_guards(&app, backend).await;
    app.raw_exec("UPDATE audit_events SET seq = -1 WHERE seq = 5")
        .await;
    app.raw_exec("UPDATE audit_events SET seq = 5 WHERE seq = 6")
        .await;
    app.raw_exec("UPDATE audit_events SET seq = 6 WHERE seq = -1")
        .await;
    assert_eq!(
        check(&app).await.chain,
        Some(ChainFault::Reordered { seq: 5 })
    );

    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    disable_guards(&app, backend).await;
    let last = app.raw_count("SELECT MAX(seq) FROM audit_events").await;
    for seq in (7..=last).rev() {
        app.raw_exec(&format!(
            "UPDATE audit_events SET seq = {} WHERE seq = {seq}",
            seq + 1
        ))
        .await;
    }
    app.raw_exec(
        "INSERT INTO audit_events (seq, at, request_id, principal, role, action, decision, reasons, entry_hash) \
         SELECT 7, at, 'forged', principal, role, 'resolve', 'permit', '', entry_hash FROM audit_events WHERE seq = 8",
    )
    .await;
    assert_eq!(
        check(&app).await.chain,
        Some(ChainFault::Inserted { seq: 7 })
    );

    // A careful attacker recomputes every hash after the edit: the chain holds, but the signed
    // checkpoints do not, and verify names the first one.
    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    disable_guards(&app, backend).await;
    app.raw_exec("UPDATE audit_events SET decision = 'deny' WHERE seq = 2")
        .await;
    rehash_from(&app, 2).await;
    let report = check(&app).await;
    assert_eq!(
        report.chain, None,
        "the recomputed chain is self-consistent"
    );
    assert_eq!(
        report.checkpoint_faults.first(),
        Some(&CheckpointFault::HeadMismatch { seq: 5 }),
        "{report:?}"
    );

    // A checkpoint whose signature was replaced.
    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    disable_guards(&app, backend).await;
    let first = app
        .raw_count("SELECT MIN(seq) FROM audit_checkpoints")
        .await;
    match backend {
        Backend::Sqlite => app.raw_exec(&format!("UPDATE audit_checkpoints SET mac = zeroblob(32) WHERE seq = {first}")).await,
        Backend::Postgres => {
            app.raw_exec(&format!("UPDATE audit_checkpoints SET mac = decode(repeat('00', 32), 'hex') WHERE seq = {first}")).await
        }
    }
    assert_eq!(
        check(&app).await.checkpoint_faults,
        vec![CheckpointFault::BadSignature { seq: first }]
    );
}
on_both_backends!(verify_names_each_kind_of_tampering, tampering);

/// A resolve batch writes one event per distinct decision, listing the tokens it covers: the
/// chain covers the list, the officer's search and the access report find each token in it,
/// and an edited list is caught by verify.
async fn shared_resolve_events(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut tokens = Vec::new();
    for (i, surname) in ["Ааронова", "Бубнова", "Вихрова"].iter().enumerate()
    {
        tokens.push(
            app.register(json!({"surname": surname, "name": "Ия", "birth_date": format!("199{i}-01-02"), "sex": "female"}))
                .await,
        );
    }
    let unknown = "pt_aaaaaaaaaaaaaaaaaaaaaaaaaa";
    let before = app.raw_count("SELECT COUNT(*) FROM audit_events").await;
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [tokens[0], unknown, tokens[1], tokens[2]], "fields": ["surname"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{v}");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events").await - before,
        2,
        "one event for the three permitted tokens, one for the unknown one"
    );
    let list = tokens.join(" ");
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'resolve' AND decision = 'permit' \
             AND patient_token IS NULL AND patient_tokens = '{list}' AND purpose = 'scheduling'"
        ))
        .await,
        1
    );
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'resolve' AND decision = 'deny' \
             AND patient_token = '{unknown}' AND patient_tokens IS NULL AND reasons = 'unknown_token'"
        ))
        .await,
        1
    );
    let clean = check(&app).await;
    assert!(clean.passed(), "{clean:?}");

    // The officer finds the event by any of its tokens; the access report of one patient shows
    // it without naming the others.
    let officer = app.staff("so.petrova", policy::Role::SecurityOfficer).await;
    let session = app.login(&officer).await;
    let (status, v) = app
        .get(
            &format!(
                "/v1/audit/events?patient_token={}&action=resolve",
                tokens[1]
            ),
            &session,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{v}");
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["patient_tokens"], json!(tokens), "{v}");
    assert!(events[0].get("patient_token").is_none(), "{v}");
    let seq = events[0]["seq"].as_i64().unwrap();
    let (status, v) = app
        .get(
            &format!("/v1/audit/events?patient_token={unknown}&action=resolve"),
            &session,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{v}");
    assert_eq!(
        v["events"].as_array().unwrap().len(),
        1,
        "only the unknown token's own event: {v}"
    );
    let reception = app.staff("reception.1", policy::Role::Receptionist).await;
    let desk = app.login(&reception).await;
    let (_, found) = app
        .post("/v1/patients/search", &desk, json!({"surname_name_birth": {"surname": "Бубнова", "name": "Ия", "birth_date": "1991-01-02"}}))
        .await;
    let staff_token = found["tokens"][0].as_str().unwrap().to_owned();
    let (status, v) = app
        .get(
            &format!("/v1/patients/{staff_token}/access-report"),
            &session,
        )
        .await;
    assert_eq!(status, reqwest::StatusCode::OK, "{v}");
    let shown = v["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["seq"].as_i64() == Some(seq))
        .collect::<Vec<_>>();
    assert_eq!(shown.len(), 1, "the shared resolve is in the report: {v}");
    assert_eq!(shown[0]["purpose"], json!("scheduling"), "{v}");
    let text = v.to_string();
    for other in [&tokens[0], &tokens[2]] {
        assert!(
            !text.contains(other.as_str()),
            "another patient's token in the report: {v}"
        );
    }

    // Taking a token out of the list is an alteration of that event.
    disable_guards(&app, backend).await;
    app.raw_exec(&format!(
        "UPDATE audit_events SET patient_tokens = '{} {}' WHERE seq = {seq}",
        tokens[0], tokens[2]
    ))
    .await;
    assert_eq!(check(&app).await.chain, Some(ChainFault::Altered { seq }));
}

on_both_backends!(
    a_resolve_batch_is_one_event_listing_its_tokens,
    shared_resolve_events
);

/// Recomputes `entry_hash` of every event from `from` on, as an attacker who knows the format
/// (but not the token's key) would.
async fn rehash_from(app: &TestApp, from: i64) {
    use vault::store::audit::events_after;
    let rows = events_after(&app.db.db, 0, 10_000).await.unwrap();
    let mut prev = chain::GENESIS.to_vec();
    for r in rows {
        let hash = if r.seq >= from {
            chain::entry_hash(&prev, r.seq, &r.row)
        } else {
            r.entry_hash.clone().unwrap()
        };
        if r.seq >= from {
            let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
            let literal = match app.db.db.backend() {
                Backend::Sqlite => format!("X'{hex}'"),
                Backend::Postgres => format!("decode('{hex}', 'hex')"),
            };
            app.raw_exec(&format!(
                "UPDATE audit_events SET entry_hash = {literal} WHERE seq = {}",
                r.seq
            ))
            .await;
        }
        prev = hash;
    }
}

async fn append_only(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    some_events(&app).await;
    for sql in [
        "UPDATE audit_events SET decision = 'permit'",
        "DELETE FROM audit_events WHERE seq = 1",
    ] {
        let refused = match &app.db.db {
            vault::store::Database::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(p)
                .await
                .is_err(),
            vault::store::Database::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(p)
                .await
                .is_err(),
        };
        assert!(refused, "{sql} was allowed");
    }
    if let vault::store::Database::Postgres(p) = &app.db.db {
        // The runtime role has no UPDATE or DELETE on the audit at all, triggers aside.
        let mut conn = p.acquire().await.unwrap();
        sqlx::query("SET ROLE vault_runtime")
            .execute(&mut *conn)
            .await
            .unwrap();
        for sql in [
            "UPDATE audit_events SET decision = 'permit'",
            "DELETE FROM audit_events",
            "TRUNCATE audit_events",
        ] {
            let err = sqlx::query(sqlx::AssertSqlSafe(sql))
                .execute(&mut *conn)
                .await
                .unwrap_err();
            let code = err
                .as_database_error()
                .and_then(|e| e.code())
                .unwrap_or_default()
                .to_string();
            assert_eq!(code, "42501", "{sql}: {err}");
        }
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM audit_events")
            .fetch_one(&mut *conn)
            .await
            .unwrap();
        assert!(n > 0, "the runtime role can still read");
        sqlx::query("RESET ROLE").execute(&mut *conn).await.unwrap();
    }
    assert!(check(&app).await.passed());
}
on_both_backends!(audit_rows_cannot_be_changed_or_deleted, append_only);

fn event(i: usize) -> AuditRow {
    AuditRow {
        at: 1_800_000_000,
        request_id: format!("req-{i}"),
        principal: "service:clinic-app".into(),
        role: "service".into(),
        branch: None,
        action: "resolve".into(),
        patient_token: None,
        patient_tokens: None,
        purpose: Some("scheduling".into()),
        reason_code: None,
        decision: "permit".into(),
        reasons: "test".into(),
        client_addr: None,
    }
}

async fn group_commit(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let writer = app.state.audit.clone();
    let before = (writer.batches.get(), writer.events.get());
    let events_before = app.raw_count("SELECT COUNT(*) FROM audit_events").await as u64;
    let waits: Vec<_> = (0..200)
        .map(|i| {
            let w = writer.clone();
            tokio::spawn(async move { w.record(vec![event(i)]).await })
        })
        .collect();
    for w in waits {
        w.await.unwrap().unwrap();
    }
    let batches = writer.batches.get() - before.0;
    let events = writer.events.get() - before.1;
    assert_eq!(events, 200);
    assert!(
        batches < 100,
        "200 concurrent events took {batches} transactions"
    );
    let report = check(&app).await;
    assert!(report.passed(), "{report:?}");
    assert_eq!(report.events, events_before + 200);
    // Checkpoints are taken at commit time, at most one per batch.
    assert!(
        report.checkpoints >= 1 && report.checkpoints <= batches,
        "{report:?}"
    );
}
on_both_backends!(concurrent_events_share_commits, group_commit);

/// Events sent with a revision check (ADR 0029) share batches with the rest: a check that
/// fails writes nothing for its request, and only its request, even beside a request about
/// the same patient whose check holds; the chain stays whole.
async fn revision_checks(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.register(identity()).await;
    let revision = app.raw_count("SELECT revision FROM patients").await;
    let patient_id: String = {
        use vault::store::Database;
        let sql = "SELECT patient_id FROM patients";
        match &app.db.db {
            Database::Sqlite(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
            Database::Postgres(p) => sqlx::query_scalar(sql).fetch_one(p).await.unwrap(),
        }
    };
    let writer = app.state.audit.clone();
    let events_before = app.raw_count("SELECT COUNT(*) FROM audit_events").await;
    let waits: Vec<_> = (0..90)
        .map(|i| {
            let w = writer.clone();
            let check = |revision| RevisionCheck {
                patient_id: patient_id.clone(),
                revision,
            };
            // A third current, a third one revision behind, a third unchecked.
            let sent = match i % 3 {
                0 => Some(check(revision)),
                1 => Some(check(revision - 1)),
                _ => None,
            };
            tokio::spawn(async move {
                match sent {
                    Some(c) => w.record_checked(vec![event(i)], c).await.unwrap(),
                    None => w
                        .record(vec![event(i)])
                        .await
                        .map(|_| Written::Yes)
                        .unwrap(),
                }
            })
        })
        .collect();
    for (i, w) in waits.into_iter().enumerate() {
        let expected = if i % 3 == 1 {
            Written::Stale
        } else {
            Written::Yes
        };
        assert_eq!(w.await.unwrap(), expected, "request {i}");
    }
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events").await - events_before,
        60,
        "the stale third wrote nothing"
    );
    let report = check(&app).await;
    assert!(report.passed(), "{report:?}");
}
on_both_backends!(
    a_failed_revision_check_writes_nothing_for_its_request,
    revision_checks
);

fn check_links(lines: &[serde_json::Value], first_prev: &str) {
    let mut prev = first_prev.to_string();
    for l in lines {
        assert_eq!(
            l["prev_hash"].as_str().unwrap(),
            prev,
            "broken link at {}",
            l["seq"]
        );
        prev = l["entry_hash"].as_str().unwrap().to_string();
    }
}

/// The SIEM export: JSON lines over HTTP, resumable, each linked to the one before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_is_resumable_and_linked() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    some_events(&app).await;
    let officer = app
        .staff("security.export", policy::Role::SecurityOfficer)
        .await;
    let bearer = app.login(&officer).await;
    let fetch = |after: i64| {
        let app = &app;
        let bearer = bearer.clone();
        async move {
            let resp = app
                .http
                .get(format!(
                    "{}/v1/audit/export?after_seq={after}&limit=5",
                    app.base
                ))
                .bearer_auth(bearer)
                .send()
                .await
                .unwrap();
            assert_eq!(resp.headers()["content-type"], "application/x-ndjson");
            let text = resp.text().await.unwrap();
            text.lines()
                .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
                .collect::<Vec<_>>()
        }
    };
    let first = fetch(0).await;
    assert_eq!(first.len(), 5);
    check_links(&first, &"00".repeat(32));
    // Resume after the last line: the next page links to it.
    let last = first[4]["seq"].as_i64().unwrap();
    let next = fetch(last).await;
    assert_eq!(next[0]["seq"].as_i64(), Some(last + 1));
    check_links(&next, first[4]["entry_hash"].as_str().unwrap());
    // Not for anyone else.
    let doctor = app.staff("dr.export", policy::Role::Doctor).await;
    let doc = app.login(&doctor).await;
    let (status, _) = app.get("/v1/audit/export", &doc).await;
    assert_eq!(status, reqwest::StatusCode::FORBIDDEN);
}

/// RFC 5424 over TCP and over TLS to a receiver: every event arrives once, octet-counted,
/// in order, linked.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn syslog_export_over_tcp_and_tls() {
    use tokio::io::AsyncReadExt;
    let app = TestApp::spawn(Backend::Sqlite).await;
    some_events(&app).await;
    let total = app.raw_count("SELECT COUNT(*) FROM audit_events").await;

    fn frames(bytes: &[u8]) -> Vec<String> {
        let text = String::from_utf8(bytes.to_vec()).unwrap();
        let mut out = Vec::new();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let (len, tail) = rest.split_once(' ').unwrap();
            let len: usize = len.parse().unwrap();
            out.push(tail[..len].to_string());
            rest = &tail[len..];
        }
        out
    }
    fn json_of(frame: &str) -> serde_json::Value {
        assert!(frame.starts_with("<110>1 "), "{frame}");
        serde_json::from_str(frame.split_once("] ").unwrap().1).unwrap()
    }

    // Plain TCP, from the start.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let (mut s, _) = listener.accept().await.unwrap();
        let mut buf = Vec::new();
        s.read_to_end(&mut buf).await.unwrap();
        buf
    });
    let mut tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let last = vault::audit::export::to_syslog(&app.db.db, 0, &mut tcp, "vault-test")
        .await
        .unwrap();
    drop(tcp);
    let got: Vec<_> = frames(&receiver.await.unwrap())
        .iter()
        .map(|f| json_of(f))
        .collect();
    assert_eq!(got.len() as i64, total);
    assert_eq!(last, total);
    check_links(&got, &"00".repeat(32));

    // TLS, resuming after event 4, to a receiver with a certificate from a private CA.
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate().unwrap())
        .unwrap();
    let server_key = rcgen::KeyPair::generate().unwrap();
    let server_cert = rcgen::CertificateParams::new(vec!["siem.test".to_string()])
        .unwrap()
        .signed_by(&server_key, &ca)
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let ca_path = dir.path().join("ca.pem");
    std::fs::write(&ca_path, ca.pem()).unwrap();
    use tokio_rustls::rustls;
    let config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(
        vec![server_cert.der().clone()],
        rustls::pki_types::PrivatePkcs8KeyDer::from(server_key.serialize_der()).into(),
    )
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let receiver = tokio::spawn(async move {
        let (s, _) = listener.accept().await.unwrap();
        let mut tls = acceptor.accept(s).await.unwrap();
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        buf
    });
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut tls =
        vault::audit::export::connect_tls(tcp, &addr.to_string(), &ca_path, Some("siem.test"))
            .await
            .unwrap();
    vault::audit::export::to_syslog(&app.db.db, 4, &mut tls, "vault-test")
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::shutdown(&mut tls).await.unwrap();
    drop(tls);
    let got: Vec<_> = frames(&receiver.await.unwrap())
        .iter()
        .map(|f| json_of(f))
        .collect();
    assert_eq!(got.first().and_then(|v| v["seq"].as_i64()), Some(5));
    assert_eq!(got.len() as i64, total - 4);
}

/// An event of `principal` about one patient (or a list of them) at `at`.
fn access(principal: &str, role: &str, action: &str, decision: &str, at: i64) -> AuditRow {
    AuditRow {
        at,
        principal: principal.into(),
        role: role.into(),
        action: action.into(),
        decision: decision.into(),
        ..event(0)
    }
}

/// The (rule, principal) of each alert raised, sorted.
fn fired(raised: &[vault::store::alerts::AlertRow]) -> Vec<(String, String)> {
    let mut rules: Vec<(String, String)> = raised
        .iter()
        .map(|a| (a.rule.clone(), a.principal.clone()))
        .collect();
    rules.sort();
    rules
}

/// The rate rules count each one's own window before the newest event: reads from before the
/// hour do not count towards a doctor's patient volume, the reads of the hour do, and a rule
/// that fired stays quiet for that principal while others still fire.
async fn rate_rules(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let writer = app.state.audit.clone();
    let scanner = app.state.alert_scanner.clone();
    // Whatever setting the app up wrote is scanned first.
    scanner.scan_once().await.unwrap();
    let now = app.clock.unix_seconds();
    let read = |i: usize, at: i64| AuditRow {
        patient_token: Some(format!("pt_volume{i:04}")),
        ..access("staff:dr-volume", "doctor", "read_record", "permit", at)
    };

    // 31 patients two hours ago and 5 now: 5 within the hour, under the threshold of 30.
    let mut rows: Vec<AuditRow> = (0..31).map(|i| read(i, now - 7200)).collect();
    rows.extend((31..36).map(|i| read(i, now)));
    writer.record(rows).await.unwrap();
    assert_eq!(fired(&scanner.scan_once().await.unwrap()), vec![]);

    // 26 more patients within the hour: 31 in it, and the rule fires once.
    writer
        .record((36..62).map(|i| read(i, now - 60)).collect())
        .await
        .unwrap();
    assert_eq!(
        fired(&scanner.scan_once().await.unwrap()),
        vec![("patient_volume".into(), "staff:dr-volume".into())]
    );

    // Quiet for that doctor now; five denials of another principal and a service resolving
    // 3,001 tokens in a minute still raise theirs.
    let mut rows: Vec<AuditRow> = (62..100).map(|i| read(i, now)).collect();
    rows.extend((0..5).map(|_| access("staff:dr-denied", "doctor", "read_record", "deny", now)));
    rows.push(AuditRow {
        patient_tokens: Some(
            (0..3001)
                .map(|i| format!("pt_rate{i:04}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ..access("service:clinic-app", "service", "resolve", "permit", now)
    });
    writer.record(rows).await.unwrap();
    assert_eq!(
        fired(&scanner.scan_once().await.unwrap()),
        vec![
            ("repeated_denials".into(), "staff:dr-denied".into()),
            ("service_resolve_rate".into(), "service:clinic-app".into()),
        ]
    );
    assert!(check(&app).await.passed());
}
on_both_backends!(rate_rules_count_their_own_windows, rate_rules);

/// A night of reads raises one after-hours alert per member of staff, however many reads
/// the scan holds, and the rule then stays quiet for that principal on the next scan.
async fn after_hours_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let writer = app.state.audit.clone();
    let scanner = app.state.alert_scanner.clone();
    scanner.scan_once().await.unwrap();
    // 03:00 Moscow time (the default offset) of the test clock's day: before working hours.
    let moscow = app.clock.unix_seconds() + 180 * 60;
    let night = moscow - moscow.rem_euclid(86_400) + 3 * 3600 - 180 * 60;
    // Five patients each: under the patient-volume threshold, so only the night rule fires.
    let read = |who: &str, i: usize| AuditRow {
        patient_token: Some(format!("pt_night{:02}", i % 5)),
        ..access(who, "doctor", "read_record", "permit", night + i as i64)
    };
    let mut rows: Vec<AuditRow> = (0..40).map(|i| read("staff:dr-night-a", i)).collect();
    rows.extend((0..3).map(|i| read("staff:dr-night-b", i)));
    rows.push(read("staff:dr-night-c", 0));
    writer.record(rows).await.unwrap();
    let raised = scanner.scan_once().await.unwrap();
    assert_eq!(
        fired(&raised),
        vec![
            ("after_hours_access".into(), "staff:dr-night-a".into()),
            ("after_hours_access".into(), "staff:dr-night-b".into()),
            ("after_hours_access".into(), "staff:dr-night-c".into()),
        ]
    );
    // Each alert points at its principal's first read of the night.
    let events = vault::store::audit::events_after(&app.db.db, 0, 10_000)
        .await
        .unwrap();
    for alert in &raised {
        let first = events
            .iter()
            .find(|e| e.row.principal == alert.principal)
            .map(|e| e.seq);
        assert_eq!(Some(alert.seq_first), first, "{}", alert.principal);
    }
    writer
        .record((40..50).map(|i| read("staff:dr-night-a", i)).collect())
        .await
        .unwrap();
    assert_eq!(fired(&scanner.scan_once().await.unwrap()), vec![]);
    let alerts = vault::store::alerts::list(&app.db.db, 0, 100)
        .await
        .unwrap();
    assert_eq!(
        alerts
            .iter()
            .filter(|a| a.rule == "after_hours_access")
            .count(),
        3
    );
}
on_both_backends!(after_hours_alert_once_per_principal, after_hours_once);
