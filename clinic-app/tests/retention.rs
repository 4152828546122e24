//! Issue 6's acceptance test, end to end through both services: a patient registers, books,
//! pays and is treated (a record in the vault); files a deletion request from the patient app;
//! what rests on consent goes at once in clinic-app and in the vault, the rest is kept with its
//! legal basis and date; then the injected clock moves past every retention, the retention job
//! runs, and the raw databases hold nothing that decrypts for that patient, the destruction act
//! verifies and the audit chain still verifies. Both services on SQLite, then on PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;
use vault::domain::principal::{Principal, RequestMeta, StaffPrincipal};
use vault::domain::rights::{ActIssuer, retention, verify_acts};
use vault::store::Database as VaultDb;

const SNILS: &str = "112-233-445 95";
const PHONE: &str = "+79161234567";
const YEAR: i64 = 365 * 86_400;

/// One number from the vault's raw database.
async fn vault_count(app: &TestApp, sql: &str) -> i64 {
    match app.vault.state.sealed.db() {
        VaultDb::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(p)
            .await
            .unwrap(),
        VaultDb::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

async fn vault_text(app: &TestApp, sql: &str) -> String {
    match app.vault.state.sealed.db() {
        VaultDb::Sqlite(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(p)
            .await
            .unwrap(),
        VaultDb::Postgres(p) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

/// Rows the vault holds for the patient in every table that can hold their data.
async fn vault_rows(app: &TestApp, patient: &str) -> Vec<(&'static str, i64)> {
    let mut out = Vec::new();
    for table in [
        "identity_fields",
        "sealed_records",
        "attachments",
        "blind_indexes",
        "patient_tokens",
        "unlinked_tokens",
        "patient_deks",
        "consents",
        "care_relationships",
    ] {
        let sql = format!("SELECT COUNT(*) FROM {table} WHERE patient_id = '{patient}'");
        out.push((table, vault_count(app, &sql).await));
    }
    out
}

async fn sign_in(app: &TestApp, phone: &str) -> String {
    let before = app.sent_messages().len();
    let r = app
        .http
        .post(format!("{}/v1/patient/login/start", app.base))
        .json(&json!({"phone": phone}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let challenge: Value = r.json().await.unwrap();
    let sent = app.wait_for_messages(before + 1).await;
    let code = sent[before]["text"]
        .as_str()
        .unwrap()
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    let r = app
        .http
        .post(format!("{}/v1/patient/login/verify", app.base))
        .json(&json!({"challenge_id": challenge["challenge_id"], "code": code}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let body: Value = r.json().await.unwrap();
    body["session"].as_str().unwrap().to_owned()
}

/// Rows of a clinic table whose `patient_token` is `token`.
async fn rows_of(app: &TestApp, table: &str, token: &str) -> i64 {
    app.count(&format!("{table} WHERE patient_token = '{token}'"))
        .await
}

on_both_backends!(
    a_deleted_patient_is_destroyed_when_every_retention_has_ended,
    |backend| async move {
        // On PostgreSQL both services use it; on SQLite both use files.
        let app =
            TestApp::spawn_with(backend, backend == clinic_app::store::Backend::Postgres).await;
        let token = app.register("Стираева", "Нина", PHONE, SNILS).await;
        let patient = vault_text(
            &app,
            &format!("SELECT patient_id FROM patient_tokens WHERE token = '{token}'"),
        )
        .await;

        // Book, be seen, pay.
        let (status, visit) = app.book(&app.reception, &token, 0, 9, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{visit}");
        app.set_time(msk(0, 9, 40));
        let (status, invoice) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": visit["appointment_id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invoice}");
        assert_eq!(
            app.post(&app.cashier, "/v1/shifts", json!({})).await.0,
            StatusCode::CREATED
        );
        let (status, payment) = app
            .post(
                &app.cashier,
                &format!(
                    "/v1/invoices/{}/payments",
                    invoice["invoice_id"].as_str().unwrap()
                ),
                json!({"method": "card", "amount": "2500", "idempotency_key": "retention-e2e-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{payment}");

        // The doctor, in care through the booking, writes a record in the vault.
        let doctor = Principal::Staff(StaffPrincipal {
            staff_id: app.fx.doctor_vault_id.clone(),
            role: policy::Role::Doctor,
            branch: "msk-1".into(),
        });
        let meta = RequestMeta::default();
        let vault = &app.vault.state;
        let doctor_token = vault.patients.in_my_care(&doctor, &meta).await.unwrap()[0].clone();
        let body = br#"{"kind":"diagnosis","icd10":"J06.9","text":"MARKER-3301"}"#;
        vault
            .records
            .create(&doctor, &meta, &doctor_token, "diagnosis", body)
            .await
            .unwrap();
        assert_eq!(
            vault_count(
                &app,
                &format!("SELECT COUNT(*) FROM sealed_records WHERE patient_id = '{patient}'")
            )
            .await,
            1
        );

        // The patient asks from the app to delete her data.
        let session = sign_in(&app, PHONE).await;
        let (status, answer) = app
            .post(
                &session,
                "/v1/me/data-requests",
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        let request_id = answer["request_id"].as_str().unwrap().to_owned();
        let kept = answer["deletion"]["vault"]["kept"]
            .as_array()
            .unwrap()
            .clone();
        let card = kept
            .iter()
            .find(|k| k["basis"].as_str().unwrap().contains("025/u"))
            .unwrap();
        assert_eq!(
            card["readable_for"],
            json!(["treatment", "disclosure_legal"])
        );
        let books = kept
            .iter()
            .find(|k| k["basis"].as_str().unwrap().contains("402-FZ"))
            .unwrap();
        let last_retention = card["until"]
            .as_i64()
            .unwrap()
            .max(books["until"].as_i64().unwrap());
        assert!(last_retention > app.now() + 24 * YEAR);

        // At once: the account in clinic-app and the consent-based data in the vault.
        assert_eq!(
            app.get(&session, "/v1/me").await.0,
            StatusCode::UNAUTHORIZED
        );
        for table in ["sessions", "login_challenges"] {
            assert_eq!(
                rows_of(&app, table, &token).await,
                0,
                "{table} still holds her account"
            );
        }
        assert_eq!(
            vault_count(&app, &format!("SELECT COUNT(*) FROM identity_fields WHERE patient_id = '{patient}' AND field IN ('phones', 'email')")).await,
            0
        );
        assert_eq!(
            vault_count(&app, &format!("SELECT COUNT(*) FROM patient_tokens WHERE patient_id = '{patient}' AND domain = 'clinic-app'")).await,
            0
        );
        // What the law keeps is still there, restricted.
        assert_eq!(
            vault_count(&app, &format!("SELECT COUNT(*) FROM identity_fields WHERE patient_id = '{patient}' AND field = 'surname'")).await,
            1
        );
        assert_eq!(
            vault_count(
                &app,
                &format!("SELECT COUNT(*) FROM retentions WHERE patient_id = '{patient}'")
            )
            .await,
            2
        );
        assert_eq!(
            rows_of(&app, "invoices", &token).await,
            1,
            "accounting kept"
        );

        // A day before the last retention ends the job destroys nothing.
        let issuer = ActIssuer {
            operator: "ООО «Медикаменте»".into(),
            system: "Medikamente vault".into(),
        };
        app.set_time(last_retention - 86_400);
        let report = retention::run(&vault.sealed, &vault.audit, &*app.clock, &issuer, "test")
            .await
            .unwrap();
        assert!(report.destroyed.is_empty());
        assert_eq!(report.waiting.len(), 1);

        // Past it: destroyed, once.
        app.set_time(last_retention + 86_400);
        let report = retention::run(&vault.sealed, &vault.audit, &*app.clock, &issuer, "test")
            .await
            .unwrap();
        assert_eq!(report.destroyed.len(), 1, "{report:?}");
        let again = retention::run(&vault.sealed, &vault.audit, &*app.clock, &issuer, "test")
            .await
            .unwrap();
        assert!(again.destroyed.is_empty());

        // Nothing that decrypts is left: no key, no ciphertext, no index, no pseudonym.
        for (table, n) in vault_rows(&app, &patient).await {
            assert_eq!(n, 0, "{table} still holds rows of the destroyed patient");
        }
        let id: vault::ids::PatientId = patient.parse().unwrap();
        assert!(matches!(
            vault.sealed.current_keys(id).await,
            Err(vault::domain::VaultError::PatientShredded)
        ));
        // clinic-app keeps only the accounting rows under a token that leads nowhere.
        assert_eq!(rows_of(&app, "invoices", &token).await, 1);
        let credential = app.vault.clinic_credential.clone();
        let (_, resolved) = app
            .vault_call(
                reqwest::Method::POST,
                Some(&credential),
                "/v1/resolve",
                Some(json!({"tokens": [token], "fields": ["surname"], "purpose": "billing"})),
            )
            .await;
        assert_eq!(resolved["patients"][0]["found"], json!(false), "{resolved}");

        // The act verifies and names the request; the audit chain still verifies.
        let provider = vault.sealed.custody().provider().clone();
        let checks = verify_acts(vault.sealed.db(), &provider, None)
            .await
            .unwrap();
        assert_eq!(checks.len(), 1);
        assert_eq!(checks[0].problem, None, "{checks:?}");
        assert!(checks[0].audit_seq.is_some());
        assert_eq!(
            vault_count(
                &app,
                &format!("SELECT COUNT(*) FROM destruction_acts WHERE request_id = '{request_id}'")
            )
            .await,
            1
        );
        let chain = vault::audit::verify::verify(vault.sealed.db(), provider)
            .await
            .unwrap();
        assert!(chain.passed(), "{chain:?}");
    }
);
