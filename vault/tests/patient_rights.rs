//! Patient rights end to end, on both backends (issue 6, ADR 0016): consents gate the purposes
//! that rest on them; a deletion request destroys what rests on consent at once and keeps what
//! the law requires, readable only for its legal purposes; the retention job destroys the rest
//! when every retention has ended (unless a legal hold stops it), writes a signed act, and
//! leaves the audit chain intact; access requests carry their deadlines, extension, answer and
//! export; overdue requests raise an alert. Every refusal is audited.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::app::{TestApp, identity};
use vault::audit::verify::verify;
use vault::clock::Clock;
use vault::domain::rights::{ActIssuer, retention, verify_acts};
use vault::store::{Backend, Database};

const DAY: i64 = 86_400;
const YEAR: i64 = 365 * DAY;

fn field<'a>(patient: &'a Value, name: &str) -> &'a Value {
    &patient["fields"][name]
}

fn issuer() -> ActIssuer {
    ActIssuer {
        operator: "ООО «Медикаменте», г. Томск".into(),
        system: "Medikamente vault".into(),
    }
}

async fn consent(app: &TestApp, token: &str, purpose: &str, granted: bool) -> (StatusCode, Value) {
    app.call(
        Method::PUT,
        &format!("/v1/patients/{token}/consents/{purpose}"),
        Some(&app.clinic),
        Some(json!({"granted": granted, "channel": "patient_app"})),
    )
    .await
}

async fn resolve(app: &TestApp, bearer: &str, token: &str, fields: Value, purpose: &str) -> Value {
    let (status, v) = app
        .post(
            "/v1/resolve",
            bearer,
            json!({"tokens": [token], "fields": fields, "purpose": purpose}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    v["patients"][0].clone()
}

/// Rows the vault still holds for one patient in every table that can hold their data.
async fn rows_of_patient(app: &TestApp, patient_id: &str) -> Vec<(&'static str, i64)> {
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
        let n = app
            .raw_count(&format!(
                "SELECT COUNT(*) FROM {table} WHERE patient_id = '{patient_id}'"
            ))
            .await;
        out.push((table, n));
    }
    out
}

async fn patient_id_of_token(app: &TestApp, token: &str) -> String {
    let sql = format!("SELECT patient_id FROM patient_tokens WHERE token = '{token}'");
    match &app.db.db {
        Database::Sqlite(p) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
        Database::Postgres(p) => sqlx::query_scalar::<_, String>(sqlx::AssertSqlSafe(sql))
            .fetch_one(p)
            .await
            .unwrap(),
    }
}

async fn consents_gate_their_purposes(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.register(identity()).await;

    // No consent yet: reminders and the patient app see nothing; scheduling (a contract) does.
    let p = resolve(&app, &app.clinic, &token, json!(["phones"]), "reminder").await;
    assert_eq!(field(&p, "phones")["status"], json!("withheld"), "{p}");
    assert!(
        field(&p, "phones")["reason"]
            .as_str()
            .unwrap()
            .contains("consent-required"),
        "{p}"
    );
    let p = resolve(&app, &app.clinic, &token, json!(["phones"]), "scheduling").await;
    assert_eq!(field(&p, "phones")["status"], json!("shown"), "{p}");

    // Given: reminders reach the phone; marketing still does not.
    let (status, v) = consent(&app, &token, "sms_reminders", true).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["in_force"], json!(["sms_reminders"]), "{v}");
    let p = resolve(&app, &app.clinic, &token, json!(["phones"]), "reminder").await;
    assert_eq!(field(&p, "phones")["status"], json!("shown"), "{p}");
    let p = resolve(&app, &app.clinic, &token, json!(["phones"]), "marketing").await;
    assert_eq!(field(&p, "phones")["status"], json!("withheld"), "{p}");

    // Withdrawn: closed again, and the history keeps both events, newest first.
    let (_, v) = consent(&app, &token, "sms_reminders", false).await;
    assert_eq!(v["in_force"], json!([]), "{v}");
    assert_eq!(v["history"].as_array().unwrap().len(), 2, "{v}");
    assert_eq!(v["history"][0]["granted"], json!(false), "{v}");
    assert_eq!(v["history"][0]["recorded_by"], json!("service:clinic-app"));
    let p = resolve(&app, &app.clinic, &token, json!(["phones"]), "reminder").await;
    assert_eq!(field(&p, "phones")["status"], json!("withheld"), "{p}");

    // Bad input: an unknown consent purpose, a staff session claiming the patient app.
    let (status, v) = consent(&app, &token, "newsletter", true).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_purpose")),
        "{v}"
    );
    assert!(!v["message"].as_str().unwrap().contains("newsletter"));
    let desk = app.staff("desk", policy::Role::Receptionist).await;
    let desk_session = app.login(&desk).await;
    let (_, found) = app
        .post(
            "/v1/patients/search",
            &desk_session,
            json!({"snils": "112-233-445 95"}),
        )
        .await;
    let staff_token = found["tokens"][0].as_str().unwrap().to_string();
    let (status, v) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{staff_token}/consents/marketing"),
            Some(&desk_session),
            Some(json!({"granted": true, "channel": "patient_app"})),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_channel")),
        "{v}"
    );
    // A signed paper form at the desk is fine.
    let (status, v) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{staff_token}/consents/marketing"),
            Some(&desk_session),
            Some(json!({"granted": true, "channel": "paper"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["in_force"], json!(["marketing"]), "{v}");

    // Who may not: a cashier, a doctor; refused and audited.
    let cashier = app.staff("till", policy::Role::Cashier).await;
    let till = app.login(&cashier).await;
    let (status, _) = app
        .call(
            Method::PUT,
            &format!("/v1/patients/{staff_token}/consents/marketing"),
            Some(&till),
            Some(json!({"granted": false, "channel": "paper"})),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            "/v1/data-requests",
            &till,
            json!({"patient": staff_token, "kind": "access", "channel": "reception"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events WHERE action IN ('set_consent', 'file_data_request') AND decision = 'deny'")
            .await,
        2
    );
    // An unknown token is refused with its own code, and audited as a failure.
    let (status, v) = app
        .post(
            "/v1/data-requests",
            &app.clinic,
            json!({"patient": "pt_aaaaaaaaaaaaaaaaaaaaaaaaaa", "kind": "access", "channel": "patient_app"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_token")),
        "{v}"
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events WHERE action = 'file_data_request' AND decision = 'failure' AND reasons LIKE '%unknown_token%'")
            .await,
        1
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM data_requests").await, 0);
}
on_both_backends!(
    consents_gate_the_purposes_that_rest_on_them,
    consents_gate_their_purposes
);

async fn deletion_and_retention(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let officer = app.staff("officer", policy::Role::SecurityOfficer).await;
    let doctor = app.staff("house", policy::Role::Doctor).await;
    let desk = app.staff("desk", policy::Role::Receptionist).await;
    let token = app.register(identity()).await;
    let patient_id = patient_id_of_token(&app, &token).await;
    for purpose in ["sms_reminders", "patient_app"] {
        assert_eq!(consent(&app, &token, purpose, true).await.0, StatusCode::OK);
    }

    // A visit: the doctor writes a record.
    app.book(&doctor, &token).await;
    let house = app.login(&doctor).await;
    let (_, v) = app.get("/v1/me/patients", &house).await;
    let doctor_token = v["tokens"][0].as_str().unwrap().to_string();
    let (status, v) = app
        .post(
            &format!("/v1/patients/{doctor_token}/records"),
            &house,
            json!({"kind": "diagnosis", "body": {"kind": "diagnosis", "icd10": "J06.9", "text": "ОРВИ, MARKER-6612"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let record = v["record_id"].as_str().unwrap().to_string();

    // Another doctor breaks the glass without cause: the officer finds it unjustified, which
    // opens an incident about this patient.
    let wilson = app.staff("wilson", policy::Role::Doctor).await;
    let w = app.login(&wilson).await;
    let (_, found) = app
        .post(
            "/v1/patients/search",
            &w,
            json!({"snils": "112-233-445 95"}),
        )
        .await;
    let wilson_token = found["tokens"][0].as_str().unwrap().to_string();
    let (status, grant) = app
        .post(
            "/v1/break-glass",
            &w,
            json!({"patient": wilson_token, "reason": "BTG", "justification": "любопытство", "minutes": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{grant}");
    let so = app.login(&officer).await;
    let (status, review) = app
        .post(
            &format!(
                "/v1/break-glass/reviews/{}",
                grant["grant_id"].as_str().unwrap()
            ),
            &so,
            json!({"decision": "unjustified", "comment": "no emergency"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{review}");
    let incident = review["incident"]["incident_id"]
        .as_str()
        .unwrap()
        .to_string();

    // The patient asks, through the app, to delete their data.
    let (status, v) = app
        .post(
            "/v1/data-requests",
            &app.clinic,
            json!({"patient": token, "kind": "deletion", "channel": "patient_app"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let now = app.clock.unix_seconds();
    let request_id = v["request_id"].as_str().unwrap().to_string();
    assert_eq!(v["state"], json!("completed"), "{v}");
    assert_eq!(v["answered_at"].as_i64(), Some(now));
    assert_eq!(
        v["due_at"].as_i64(),
        Some(now + 30 * DAY),
        "destruction within 30 days"
    );
    assert_eq!(v["responsible_officer"], json!(officer.id));
    let answer = &v["deletion"];
    let deleted: Vec<&str> = answer["deleted"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["data"].as_str().unwrap())
        .collect();
    assert!(
        deleted.iter().any(|d| d.contains("phone numbers")),
        "{answer}"
    );
    assert!(
        deleted.iter().any(|d| d.contains("patient-app account")),
        "{answer}"
    );
    let kept = answer["kept"].as_array().unwrap();
    assert_eq!(kept.len(), 2, "{answer}");
    let card = kept
        .iter()
        .find(|k| k["basis"].as_str().unwrap().contains("025/u"))
        .unwrap();
    let card_until = card["until"].as_i64().unwrap();
    assert!(
        (now + 25 * YEAR..now + 25 * YEAR + 8 * DAY).contains(&card_until),
        "{card}"
    );
    assert_eq!(
        card["readable_for"],
        json!(["treatment", "disclosure_legal"])
    );
    let books = kept
        .iter()
        .find(|k| k["basis"].as_str().unwrap().contains("402-FZ"))
        .unwrap();
    assert!(books["until"].as_i64().unwrap() > now + 5 * YEAR, "{books}");
    assert!(
        !v.to_string().contains("Зюзикова"),
        "no personal data in the answer"
    );

    // Immediately: contact data and its index gone, the clinic-app token unlinked, consents
    // withdrawn; identity and records kept.
    let counts = |field: &str| {
        format!(
            "SELECT COUNT(*) FROM identity_fields WHERE patient_id = '{patient_id}' AND field = '{field}'"
        )
    };
    assert_eq!(app.raw_count(&counts("phones")).await, 0);
    assert_eq!(app.raw_count(&counts("email")).await, 0);
    assert_eq!(app.raw_count(&counts("surname")).await, 1);
    assert_eq!(
        app.raw_count(&format!("SELECT COUNT(*) FROM blind_indexes WHERE patient_id = '{patient_id}' AND kind = 'phone'"))
            .await,
        0
    );
    let p = resolve(&app, &app.clinic, &token, json!(["surname"]), "billing").await;
    assert_eq!(
        p["found"],
        json!(false),
        "the clinic-app token no longer resolves: {p}"
    );
    let (status, _) = app
        .call(
            Method::PUT,
            "/v1/care-relationships",
            Some(&app.clinic),
            Some(json!({"doctor_staff_id": doctor.id, "patient": token, "from": now, "until": now + 3600})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let desk_session = app.login(&desk).await;
    let (_, found) = app
        .post(
            "/v1/patients/search",
            &desk_session,
            json!({"phone": "+79135550177"}),
        )
        .await;
    assert_eq!(found["tokens"], json!([]), "the phone index is gone");
    let (_, found) = app
        .post(
            "/v1/patients/search",
            &desk_session,
            json!({"snils": "112-233-445 95"}),
        )
        .await;
    let desk_token = found["tokens"][0].as_str().unwrap().to_string();
    let (_, v) = app
        .get(
            &format!("/v1/patients/{desk_token}/consents"),
            &desk_session,
        )
        .await;
    assert_eq!(v["in_force"], json!([]), "{v}");

    // What is kept is readable only for its legal purposes: the treating doctor reads the
    // record; reception may not resolve for scheduling; nobody writes any more.
    let (status, v) = app
        .get(
            &format!("/v1/patients/{doctor_token}/records/{record}"),
            &house,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let p = resolve(
        &app,
        &desk_session,
        &desk_token,
        json!(["surname"]),
        "scheduling",
    )
    .await;
    assert_eq!(field(&p, "surname")["status"], json!("withheld"), "{p}");
    let (status, _) = app
        .post(
            &format!("/v1/patients/{doctor_token}/records"),
            &house,
            json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "после удаления"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // A second deletion request is a duplicate, refused and audited.
    let (status, v) = app
        .post(
            "/v1/data-requests",
            &desk_session,
            json!({"patient": desk_token, "kind": "deletion", "channel": "reception"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("duplicate_request")),
        "{v}"
    );
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events WHERE action = 'file_data_request' AND reasons LIKE '%duplicate_request%'")
            .await,
        1
    );

    // Before the retention ends the job destroys nothing.
    let report = retention::run(
        &app.state.sealed,
        &app.state.audit,
        &*app.clock,
        &issuer(),
        "test",
    )
    .await
    .unwrap();
    assert!(report.destroyed.is_empty());
    assert_eq!(report.waiting.len(), 1);

    // A court asks for the data: the hold stops destruction even after the retention.
    let so = app.login(&officer).await;
    let (status, hold) = app
        .post(
            &format!("/v1/data-requests/{request_id}/legal-holds"),
            &so,
            json!({"reason": "court_request", "reference": "Дело № 2-1234/2051"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{hold}");
    let to_end = card_until + DAY - app.clock.unix_seconds();
    app.clock.advance(Duration::from_secs(to_end as u64));
    let report = retention::run(
        &app.state.sealed,
        &app.state.audit,
        &*app.clock,
        &issuer(),
        "test",
    )
    .await
    .unwrap();
    assert_eq!((report.destroyed.len(), report.held.len()), (0, 1));
    assert_eq!(app.raw_count(&counts("surname")).await, 1);

    let so = app.login(&officer).await;
    let (status, v) = app
        .post(
            &format!(
                "/v1/legal-holds/{}/release",
                hold["hold_id"].as_str().unwrap()
            ),
            &so,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    // The incident about the patient still holds it until its results are recorded.
    let report = retention::run(
        &app.state.sealed,
        &app.state.audit,
        &*app.clock,
        &issuer(),
        "test",
    )
    .await
    .unwrap();
    assert_eq!((report.destroyed.len(), report.held.len()), (0, 1));
    let now = app.clock.unix_seconds();
    for step in ["notified", "results"] {
        let (status, v) = app
            .post(
                &format!("/v1/incidents/{incident}/{step}"),
                &so,
                json!({"at": now}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{v}");
    }
    // Two replicas run the job at once: the patient is destroyed once, with one act.
    let both = issuer();
    let (a, b) = tokio::join!(
        retention::run(
            &app.state.sealed,
            &app.state.audit,
            &*app.clock,
            &both,
            "replica-a"
        ),
        retention::run(
            &app.state.sealed,
            &app.state.audit,
            &*app.clock,
            &both,
            "replica-b"
        ),
    );
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_eq!(a.destroyed.len() + b.destroyed.len(), 1, "{a:?} {b:?}");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM destruction_acts").await,
        1
    );
    // And again: nothing left to do.
    let again = retention::run(
        &app.state.sealed,
        &app.state.audit,
        &*app.clock,
        &issuer(),
        "test",
    )
    .await
    .unwrap();
    assert!(again.destroyed.is_empty() && again.waiting.is_empty());

    // Nothing that decrypts is left: no key, no ciphertext, no index, no pseudonym.
    for (table, n) in rows_of_patient(&app, &patient_id).await {
        assert_eq!(n, 0, "{table} still holds rows of the destroyed patient");
    }
    assert_eq!(
        app.raw_count(&format!("SELECT COUNT(*) FROM patients WHERE patient_id = '{patient_id}' AND shredded_at IS NOT NULL")).await,
        1
    );
    // A serving vault may still know the doctor's old token from its cache; the record is
    // refused either way, and nothing of it comes back.
    let (status, v) = app
        .get(
            &format!("/v1/patients/{doctor_token}/records/{record}"),
            &app.login(&doctor).await,
        )
        .await;
    assert!(
        matches!(status, StatusCode::FORBIDDEN | StatusCode::NOT_FOUND),
        "{status} {v}"
    );
    assert!(!v.to_string().contains("MARKER-6612"));

    // The act: retrievable by the officer, signed, with its log extract in the chain.
    let so = app.login(&officer).await;
    let (status, v) = app.get("/v1/destruction-acts", &so).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let act = v["acts"][0].clone();
    assert_eq!(act["request_id"], json!(request_id));
    assert!(act["subject"].as_str().unwrap().contains(&patient_id));
    assert!(act["method"].as_str().unwrap().contains("crypto-shredding"));
    assert_eq!(act["operator"], json!("ООО «Медикаменте», г. Томск"));
    assert!(act["kept_until"].as_i64().unwrap() >= card_until + DAY + 3 * YEAR);
    let seq = act["audit_seq"]
        .as_i64()
        .expect("the log extract is in the chain");
    let (status, one) = app
        .get(
            &format!("/v1/destruction-acts/{}", act["act_id"].as_str().unwrap()),
            &so,
        )
        .await;
    assert_eq!((status, &one), (StatusCode::OK, &act));
    let (_, v) = app
        .get(&format!("/v1/data-requests/{request_id}"), &so)
        .await;
    assert_eq!(v["destruction_act_id"], act["act_id"], "{v}");
    assert!(v.get("patient").is_none(), "the officer sees no token: {v}");
    assert!(!app.audit_dump().await.contains("Зюзикова"));

    let provider = app.state.sealed.custody().provider().clone();
    let checks = verify_acts(&app.db.db, &provider, None).await.unwrap();
    assert_eq!(checks.len(), 1);
    assert_eq!(
        (checks[0].problem.clone(), checks[0].audit_seq),
        (None, Some(seq))
    );
    // The chain still verifies after the destruction.
    let report = verify(&app.db.db, provider.clone()).await.unwrap();
    assert!(report.passed(), "{report:?}");

    // An edited act is caught (the runtime role cannot edit it; a superuser can).
    if backend == Backend::Sqlite {
        app.raw_exec("DROP TRIGGER destruction_acts_append_only_update")
            .await;
    }
    app.raw_exec("UPDATE destruction_acts SET document = REPLACE(document, 'crypto-shredding', 'overwriting')")
        .await;
    let checks = verify_acts(&app.db.db, &provider, None).await.unwrap();
    assert_eq!(
        checks[0].problem.as_deref(),
        Some("the signature does not match the document")
    );
}
on_both_backends!(
    deletion_keeps_what_the_law_requires_and_the_job_destroys_it_later,
    deletion_and_retention
);

async fn access_requests(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let officer = app.staff("officer", policy::Role::SecurityOfficer).await;
    let token = app.register(identity()).await;
    assert_eq!(
        consent(&app, &token, "patient_app", true).await.0,
        StatusCode::OK
    );
    // The test clock starts on a Friday at 08:00 UTC.
    let filed_at = app.clock.unix_seconds();

    let (status, v) = app
        .post(
            "/v1/data-requests",
            &app.clinic,
            json!({"patient": token, "kind": "access", "channel": "patient_app"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["request_id"].as_str().unwrap().to_string();
    assert_eq!(v["state"], json!("open"));
    assert_eq!(v["patient"], json!(token));
    // 10 working days from a Friday: the Friday two weeks later, same time.
    assert_eq!(v["due_at"].as_i64(), Some(filed_at + 14 * DAY), "{v}");
    // A second one while it is pending is a duplicate.
    let (status, _) = app
        .post(
            "/v1/data-requests",
            &app.clinic,
            json!({"patient": token, "kind": "access", "channel": "patient_app"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // The patient's side lists and reads its own; an unknown id answers as unknown.
    let (_, v) = app
        .get(&format!("/v1/data-requests?patient={token}"), &app.clinic)
        .await;
    assert_eq!(v["requests"].as_array().unwrap().len(), 1, "{v}");
    let (status, _) = app
        .get(
            "/v1/data-requests/6f1c7a52-0000-4000-8000-000000000000",
            &app.clinic,
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Not answered yet: no export.
    let (status, v) = app
        .get(&format!("/v1/data-requests/{id}/export"), &app.clinic)
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_answered")),
        "{v}"
    );

    // The officer extends it once, with a reason, by 5 working days.
    let so = app.login(&officer).await;
    let (status, v) = app
        .post(
            &format!("/v1/data-requests/{id}/extend"),
            &so,
            json!({"reason": "архив на другом филиале"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["state"], json!("extended"));
    assert_eq!(v["due_at"].as_i64(), Some(filed_at + 21 * DAY), "{v}");
    let (status, _) = app
        .post(
            &format!("/v1/data-requests/{id}/extend"),
            &so,
            json!({"reason": "ещё"}),
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);

    // Past the deadline: one alert, once.
    app.clock.advance(Duration::from_secs(22 * DAY as u64));
    let raised = app
        .state
        .alert_scanner
        .scan_overdue_requests()
        .await
        .unwrap();
    assert_eq!(raised.len(), 1);
    assert_eq!(raised[0].rule, "data_request_overdue");
    assert!(raised[0].details.contains(&id));
    assert!(
        app.state
            .alert_scanner
            .scan_overdue_requests()
            .await
            .unwrap()
            .is_empty()
    );
    let so = app.login(&officer).await;
    let (_, v) = app.get("/v1/data-requests?pending=true", &so).await;
    assert_eq!(v["requests"][0]["overdue"], json!(true), "{v}");

    // Answered: the export holds identity, consents and the access log, never record texts.
    let (status, v) = app
        .post(&format!("/v1/data-requests/{id}/answer"), &so, json!({}))
        .await;
    assert_eq!(
        (status, &v["state"]),
        (StatusCode::OK, &json!("answered")),
        "{v}"
    );
    let (status, v) = app
        .get(&format!("/v1/data-requests/{id}/export"), &app.clinic)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["identity"]["surname"], json!("Зюзикова"));
    assert_eq!(v["consents"]["in_force"], json!(["patient_app"]));
    let actions: Vec<&str> = v["accesses"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["action"].as_str().unwrap())
        .collect();
    assert!(
        actions.contains(&"register_patient") && actions.contains(&"file_data_request"),
        "{actions:?}"
    );
    assert!(v["processing"].as_array().unwrap().len() >= 4);
    // Staff get no export: it goes to the patient.
    let (status, _) = app
        .get(&format!("/v1/data-requests/{id}/export"), &so)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Answering it twice is refused.
    let (status, _) = app
        .post(&format!("/v1/data-requests/{id}/answer"), &so, json!({}))
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
}
on_both_backends!(
    access_requests_have_deadlines_an_extension_an_answer_and_an_export,
    access_requests
);

/// Opens the export's sealed contents with the phone's private key.
fn open_contents(
    sealed: &Value,
    secret: &<hpke::kem::X25519HkdfSha256 as hpke::Kem>::PrivateKey,
    request_id: &str,
) -> Value {
    use hpke::Deserializable;
    let encapped = <hpke::kem::X25519HkdfSha256 as hpke::Kem>::EncappedKey::from_bytes(
        &hex::decode(sealed["encapped_key"].as_str().unwrap()).unwrap(),
    )
    .unwrap();
    let plain = hpke::single_shot_open::<
        hpke::aead::ChaCha20Poly1305,
        hpke::kdf::HkdfSha256,
        hpke::kem::X25519HkdfSha256,
    >(
        &hpke::OpModeR::Base,
        secret,
        &encapped,
        vault_wire::EXPORT_HPKE_INFO,
        &hex::decode(sealed["ciphertext"].as_str().unwrap()).unwrap(),
        uuid::Uuid::parse_str(request_id).unwrap().as_bytes(),
    )
    .unwrap();
    serde_json::from_slice(&plain).unwrap()
}

async fn export_seals_contents(backend: Backend) {
    use hpke::{Kem, Serializable};
    let app = TestApp::spawn(backend).await;
    let officer = app.staff("officer", policy::Role::SecurityOfficer).await;
    let doctor = app.staff("house", policy::Role::Doctor).await;
    let token = app.register(identity()).await;
    app.book(&doctor, &token).await;
    let house = app.login(&doctor).await;
    let (_, v) = app.get("/v1/me/patients", &house).await;
    let doctor_token = v["tokens"][0].as_str().unwrap().to_string();
    let (_, v) = app
        .post(
            &format!("/v1/patients/{doctor_token}/records"),
            &house,
            json!({"kind": "diagnosis", "body": {"kind": "diagnosis", "icd10": "J06.9", "text": "MARKER-7001"}}),
        )
        .await;
    let record = v["record_id"].as_str().unwrap().to_string();
    let (status, _) = app
        .post(
            &format!("/v1/patients/{doctor_token}/records/{record}/versions"),
            &house,
            json!({"body": {"kind": "diagnosis", "icd10": "J20.9", "text": "MARKER-7002"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);

    // A key that is not one is refused when the request is filed, and nothing is written.
    let (status, v) = app
        .post(
            "/v1/data-requests",
            &app.clinic,
            json!({"patient": token, "kind": "access", "channel": "patient_app", "recipient_key": "00ff"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str(), v["field"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_recipient_key"),
            Some("recipient_key")
        ),
        "{v}"
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM data_requests").await, 0);

    // The phone's key pair; the public half goes with the request.
    let (secret, public) = hpke::kem::X25519HkdfSha256::gen_keypair();
    let (status, v) = app
        .post(
            "/v1/data-requests",
            &app.clinic,
            json!({"patient": token, "kind": "access", "channel": "patient_app",
                   "recipient_key": hex::encode(public.to_bytes())}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["request_id"].as_str().unwrap().to_string();
    let so = app.login(&officer).await;
    let (status, _) = app
        .post(&format!("/v1/data-requests/{id}/answer"), &so, json!({}))
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, export) = app
        .get(&format!("/v1/data-requests/{id}/export"), &app.clinic)
        .await;
    assert_eq!(status, StatusCode::OK, "{export}");
    // What clinic-app passes on holds no record text, only ciphertext.
    assert!(!export.to_string().contains("MARKER-70"), "{export}");
    let sealed = &export["medical_contents"];
    assert_eq!(sealed["record_versions"], json!(2));
    assert_eq!(sealed["suite"], json!(vault_wire::EXPORT_HPKE_SUITE));
    // The phone opens it: both versions, as written.
    let contents = open_contents(sealed, &secret, &id);
    let texts: Vec<&str> = contents["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["MARKER-7001", "MARKER-7002"]);
    assert_eq!(contents["records"][1]["version"], json!(2));
    // Bound to this request: opened as another request's export, it fails.
    let other = uuid::Uuid::new_v4().to_string();
    let wrong = std::panic::catch_unwind(|| open_contents(sealed, &secret, &other));
    assert!(wrong.is_err(), "the AAD binds the request id");
    // The export is audited.
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events WHERE action = 'export_patient_data' AND decision = 'permit'")
            .await,
        1
    );
}
on_both_backends!(
    the_export_seals_record_contents_to_the_patients_phone,
    export_seals_contents
);
