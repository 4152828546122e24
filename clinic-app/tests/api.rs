//! The HTTP surface as a whole: OpenAPI (served and printed), health, readiness, metrics, and
//! the error style.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

const REQUIRED: [&str; 14] = [
    "daySchedule",
    "listFreeSlots",
    "bookAppointment",
    "cancelAppointment",
    "rescheduleAppointment",
    "setAppointmentStatus",
    "createInvoice",
    "recordPayment",
    "refundPayment",
    "shiftTotals",
    "export1c",
    "taxCertificate",
    "patientLoginStart",
    "patientLoginVerify",
];

fn operation_ids(doc: &Value) -> Vec<String> {
    doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| item.as_object().unwrap().values())
        .filter_map(|op| op["operationId"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn the_cli_prints_the_openapi_document_without_a_server_or_database() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-app"))
        .arg("openapi")
        .env_remove("CLINIC_VAULT_CREDENTIAL")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let ids = operation_ids(&doc);
    for id in REQUIRED {
        assert!(
            ids.iter().any(|i| i == id),
            "operationId {id} missing from {ids:?}"
        );
    }
    let mut sorted = ids.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), ids.len(), "operationIds are unique");
}

#[test]
fn a_missing_vault_credential_stops_start_up_with_a_message_that_says_what_to_set() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clinic.toml");
    std::fs::write(&config, "[vault]\nurl = \"http://127.0.0.1:1\"\n").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-app"))
        .args(["--config", config.to_str().unwrap(), "serve"])
        .env_remove("CLINIC_VAULT_CREDENTIAL")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("CLINIC_VAULT_CREDENTIAL"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

on_both_backends!(
    health_readiness_metrics_and_the_served_document,
    |backend| async move {
        let mut app = TestApp::spawn(backend).await;
        let (status, body) = app.get("", "/healthz").await;
        assert_eq!((status, body), (StatusCode::OK, json!("ok")));
        let (status, ready) = app.get("", "/readyz").await;
        assert_eq!(
            (status, ready.clone()),
            (StatusCode::OK, json!({"database": true, "vault": true}))
        );
        let (status, doc) = app.get("", "/openapi.json").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(operation_ids(&doc).len(), {
            let out = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-app"))
                .arg("openapi")
                .output()
                .unwrap();
            operation_ids(&serde_json::from_slice(&out.stdout).unwrap()).len()
        });
        // A booking, then the metrics show the route template, never the token or an id.
        let token = app
            .register("Метрикова", "Анна", "+79161234567", "112-233-445 95")
            .await;
        let (_, a) = app.book(&app.reception, &token, 0, 10, 0).await;
        let id = a["appointment_id"].as_str().unwrap().to_owned();
        app.post(
            &app.reception,
            &format!("/v1/appointments/{id}/cancel"),
            json!({}),
        )
        .await;
        let metrics = app
            .http
            .get(format!("{}/metrics", app.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(
            metrics.contains("route=\"/v1/appointments/{appointment_id}/cancel\""),
            "{metrics}"
        );
        assert!(
            !metrics.contains(&token) && !metrics.contains(&id),
            "no token or id in labels"
        );
        // Unknown routes and missing sessions answer in the common error style.
        let (status, body) = app.get("", "/v1/slots?day=2026-11-30").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], json!("unauthenticated"));
        let (status, body) = app
            .post(&app.reception, "/v1/appointments", json!({"doctor_id": 5}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["code"], json!("invalid_field"));
        // The vault gone: readiness still 200 (clinic-app serves what it can) and says so.
        app.vault.stop().await;
        let (status, ready) = app.get("", "/readyz").await;
        assert_eq!(
            (status, ready),
            (StatusCode::OK, json!({"database": true, "vault": false}))
        );
    }
);

#[test]
fn staff_are_added_from_the_command_line_with_the_password_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("clinic.toml");
    std::fs::write(
        &config,
        format!(
            "data_dir = \"{}\"\n[vault]\nurl = \"http://127.0.0.1:1\"\n",
            dir.path().display()
        ),
    )
    .unwrap();
    let add = |username: &str, role: &str, password: Option<&str>| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_clinic-app"));
        cmd.args(["--config", config.to_str().unwrap(), "staff", "add"])
            .args([
                "--username",
                username,
                "--display-name",
                "Кассирова",
                "--role",
                role,
            ])
            .env("CLINIC_VAULT_CREDENTIAL", "svc.clinic-app.not-used-here")
            .env_remove("CLINIC_STAFF_PASSWORD");
        if let Some(p) = password {
            cmd.env("CLINIC_STAFF_PASSWORD", p);
        }
        cmd.output().unwrap()
    };
    let out = add("cashier.1", "cashier", Some("a long enough password"));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("staff cashier.1 (cashier) added with id")
    );
    let again = add("cashier.1", "cashier", Some("a long enough password"));
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("username is taken"));
    let no_password = add("cashier.2", "cashier", None);
    assert!(String::from_utf8_lossy(&no_password.stderr).contains("CLINIC_STAFF_PASSWORD"));
    let bad_role = add("nurse.1", "nurse", Some("a long enough password"));
    assert!(String::from_utf8_lossy(&bad_role.stderr).contains("role: use receptionist"));
    assert!(
        dir.path().join("clinic.db").exists(),
        "the embedded default database was created"
    );
}
