//! Issue 5, deliverable 1: no column of clinic-app holds a patient's personal data. Distinctive
//! patients go through the whole flow (registration, search, booking, reschedule, cancel,
//! reminders, the patient app's sign-in, consents, invoice, payment, refund, receipt, 1C export,
//! tax certificate, the answer to an access request); then the clinic database is dumped raw (the SQLite files byte for byte, or
//! `pg_dump`) and scanned, with everything clinic-app and the vault logged meanwhile, for their
//! names, phones, SNILS, INN and e-mail: zero hits.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

/// Everything logged at any level by this test process (both services run in it).
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .json()
            .with_writer(move || Capture(writer.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
    .clone()
}

struct Capture(Arc<Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The personal data of the two patients, in every form it could be stored in.
const NEEDLES: [&str; 17] = [
    "Зюзикова",
    "Евлампия",
    "Акакиевна",
    "Пафнутьев",
    "Варсонофий",
    "9169876543",
    "916 987-65-43",
    "987-65-43",
    "9035550199",
    "11223344595",
    "112-233-445 95",
    "00100199800",
    "001-001-998 00",
    "500100732259",
    "771234567859",
    "zyuzikova@example.ru",
    "1977-03-08",
];

fn hits(haystack: &[u8]) -> Vec<&'static str> {
    let text = String::from_utf8_lossy(haystack);
    // JSON logs escape non-ASCII as-is, but keep both forms just in case.
    NEEDLES
        .iter()
        .copied()
        .filter(|n| text.contains(n))
        .collect()
}

async fn dump(app: &TestApp) -> Vec<u8> {
    if let Some(path) = app.db.url.strip_prefix("sqlite://") {
        // The file, its write-ahead log and shared memory: every byte, free pages included.
        let mut bytes = Vec::new();
        for suffix in ["", "-wal", "-shm"] {
            if let Ok(b) = std::fs::read(format!("{path}{suffix}")) {
                bytes.extend(b);
            }
        }
        bytes
    } else {
        let out = std::process::Command::new("pg_dump")
            .arg("--data-only")
            .arg(&app.db.url)
            .output()
            .expect("pg_dump is needed for this test (apt-get install postgresql-client)");
        assert!(
            out.status.success(),
            "pg_dump: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

async fn ok(resp: (StatusCode, Value), what: &str) -> Value {
    assert!(resp.0.is_success(), "{what}: {} {}", resp.0, resp.1);
    resp.1
}

on_both_backends!(
    the_clinic_database_and_the_logs_hold_no_patient_data,
    |backend| async move {
        let logs = captured_logs();
        let app = TestApp::spawn(backend).await;
        // Registration at reception with everything a patient gives.
        let patient = ok(
            app.post(
                &app.reception,
                "/v1/patients",
                json!({"identity": {
        "surname": "Зюзикова", "name": "Евлампия", "patronymic": "Акакиевна",
        "birth_date": "1977-03-08", "sex": "female", "phones": ["+7 (916) 987-65-43"],
        "email": "zyuzikova@example.ru", "snils": "112-233-445 95", "inn": "500100732259"
    }, "consents": ["sms_reminders", "patient_app"]}),
            )
            .await,
            "register",
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        let payer = ok(
            app.post(
                &app.reception,
                "/v1/patients",
                json!({"identity": {
        "surname": "Пафнутьев", "name": "Варсонофий", "birth_date": "1975-01-01", "sex": "male",
        "phones": ["+79035550199"], "snils": "001-001-998 00", "inn": "771234567859"
    }, "consents": []}),
            )
            .await,
            "register payer",
        )
        .await["token"]
            .as_str()
            .unwrap()
            .to_owned();
        // Search by phone and SNILS.
        let found = ok(
            app.post(
                &app.reception,
                "/v1/patients/search",
                json!({"phone": "8 916 987 65 43"}),
            )
            .await,
            "search",
        )
        .await;
        assert_eq!(found["tokens"], json!([patient]));
        ok(
            app.post(
                &app.reception,
                "/v1/patients/search",
                json!({"snils": "11223344595"}),
            )
            .await,
            "search snils",
        )
        .await;
        // Book, reschedule, cancel, book again; day views with names.
        let a = ok(app.book(&app.reception, &patient, 0, 10, 0).await, "book").await;
        let id = a["appointment_id"].as_str().unwrap();
        let moved = ok(
            app.post(
                &app.reception,
                &format!("/v1/appointments/{id}/reschedule"),
                json!({"starts_at": msk(0, 11, 0)}),
            )
            .await,
            "reschedule",
        )
        .await;
        ok(
            app.post(
                &app.reception,
                &format!(
                    "/v1/appointments/{}/cancel",
                    moved["appointment_id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await,
            "cancel",
        )
        .await;
        let visit = ok(
            app.book(&app.reception, &patient, 0, 12, 0).await,
            "book again",
        )
        .await;
        let view = ok(
            app.get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
            )
            .await,
            "day",
        )
        .await;
        assert!(
            view.to_string().contains("Зюзикова"),
            "the view itself shows the name"
        );
        // Reminders go out (the sink file holds the phone, as a gateway would; it is not scanned).
        app.state.clinic.send_due_messages().await.unwrap();
        // The patient app's sign-in by phone.
        let before = app.sent_messages().len();
        let start = ok(
            app.post(
                "",
                "/v1/patient/login/start",
                json!({"phone": "+79169876543"}),
            )
            .await,
            "login start",
        )
        .await;
        let code = app
            .wait_for_messages(before + 1)
            .await
            .iter()
            .rev()
            .find_map(|m| {
                m["text"]
                    .as_str()
                    .and_then(|t| {
                        t.split(|c: char| !c.is_ascii_digit())
                            .find(|w| w.len() == 6)
                    })
                    .map(str::to_owned)
            })
            .expect("a code was sent");
        let session = ok(
            app.post(
                "",
                "/v1/patient/login/verify",
                json!({"challenge_id": start["challenge_id"], "code": code}),
            )
            .await,
            "login verify",
        )
        .await;
        let patient_session = session["session"].as_str().unwrap().to_owned();
        ok(
            app.get(&patient_session, "/v1/me/appointments").await,
            "my appointments",
        )
        .await;
        let access = ok(
            app.post(
                &patient_session,
                "/v1/me/data-requests",
                json!({"kind": "access"}),
            )
            .await,
            "data request",
        )
        .await;
        let access_id = access["request_id"].as_str().unwrap().to_owned();
        ok(
            app.get(&patient_session, "/v1/me/consents").await,
            "my consents",
        )
        .await;
        // Billing: invoice paid by the payer, payment, partial refund, receipt, export, certificate.
        let visit_id = visit["appointment_id"].as_str().unwrap();
        let invoice = ok(
            app.post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": visit_id, "payer_token": payer}),
            )
            .await,
            "invoice",
        )
        .await;
        ok(
            app.post(&app.cashier, "/v1/shifts", json!({"branch_id": "msk-1"}))
                .await,
            "open shift",
        )
        .await;
        let invoice_id = invoice["invoice_id"].as_str().unwrap();
        let payment = ok(
            app.post(
                &app.cashier,
                &format!("/v1/invoices/{invoice_id}/payments"),
                json!({"method": "card", "amount": "2500.00", "idempotency_key": "pii-pay-1"}),
            )
            .await,
            "pay",
        )
        .await;
        let payment_id = payment["payment_id"].as_str().unwrap();
        ok(
            app.post(
                &app.cashier,
                &format!("/v1/payments/{payment_id}/refunds"),
                json!({"amount": "500.00", "idempotency_key": "pii-refund-1"}),
            )
            .await,
            "refund",
        )
        .await;
        ok(
            app.get(&app.cashier, &format!("/v1/payments/{payment_id}/receipt"))
                .await,
            "receipt",
        )
        .await;
        let (status, _) = app
            .get(
                &app.accountant,
                "/v1/exports/1c?day=2026-11-30&branch_id=msk-1",
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, certificate) = app
        .get(&app.cashier, &format!("/v1/tax-certificates?payer_token={payer}&patient_token={patient}&year=2026&relation=child"))
        .await;
        assert_eq!(status, StatusCode::OK, "{certificate}");
        assert!(
            certificate.to_string().contains("Пафнутьев"),
            "the certificate itself names the taxpayer"
        );

        // The answer to the access request: personal data in the response, never stored.
        app.answer_in_vault(&access_id).await;
        let export_path = format!("/v1/me/data-requests/{access_id}/export");
        let export = ok(app.get(&patient_session, &export_path).await, "export").await;
        assert!(
            export.to_string().contains("Зюзикова"),
            "the export names the patient"
        );
        let page = ok(
            app.get(&patient_session, &format!("{export_path}?format=html"))
                .await,
            "export html",
        )
        .await;
        assert!(page.to_string().contains("Зюзикова"));

        let dumped = dump(&app).await;
        assert!(dumped.len() > 10_000, "the dump is not empty");
        let token_hits = String::from_utf8_lossy(&dumped).matches(&patient).count();
        assert!(
            token_hits > 0,
            "the dump does hold the patient's token (a sanity check of the scan)"
        );
        assert_eq!(
            hits(&dumped),
            Vec::<&str>::new(),
            "personal data in the clinic database"
        );
        let logged = logs.lock().unwrap().clone();
        assert!(!logged.is_empty(), "logs were captured");
        assert_eq!(
            hits(&logged),
            Vec::<&str>::new(),
            "personal data in the logs"
        );
    }
);
