//! The patient app's back end against a real vault, on SQLite and PostgreSQL: sign-in by a
//! one-time code read from the development SMS sink, limits, what the database keeps, data
//! requests, and that a patient sees and changes only their own data.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use clinic_app::store::Database;
use reqwest::StatusCode;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use support::*;

const SNILS: &str = "112-233-445 95";
const PHONE: &str = "+79161234567";
/// The same number as a patient types it.
const PHONE_TYPED: &str = "8 (916) 123-45-67";

/// `POST` without a session; the answer's status, `Retry-After` and body.
async fn post_open(app: &TestApp, path: &str, body: Value) -> (StatusCode, Option<String>, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let retry_after = r
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_owned());
    let text = r.text().await.unwrap();
    (
        status,
        retry_after,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn start(app: &TestApp, phone: &str) -> (StatusCode, Value) {
    let (status, _, body) =
        post_open(app, "/v1/patient/login/start", json!({ "phone": phone })).await;
    (status, body)
}

async fn verify(app: &TestApp, challenge_id: &Value, code: &str) -> (StatusCode, Value) {
    let (status, _, body) = post_open(
        app,
        "/v1/patient/login/verify",
        json!({ "challenge_id": challenge_id, "code": code }),
    )
    .await;
    (status, body)
}

/// The 6-digit code of a sign-in SMS.
fn code_of(message: &Value) -> String {
    let text = message["text"].as_str().unwrap();
    let digits: Vec<&str> = text
        .split(|c: char| !c.is_ascii_digit())
        .filter(|w| w.len() == 6)
        .collect();
    assert_eq!(digits.len(), 1, "one code in {text}");
    digits[0].to_owned()
}

/// A code that is not `code`.
fn wrong(code: &str) -> String {
    let n: u32 = code.parse().unwrap();
    format!("{:06}", (n + 1) % 1_000_000)
}

/// Signs the patient with this phone in; returns the `cp_` session.
async fn sign_in(app: &TestApp, phone: &str) -> String {
    let before = app.sent_messages().len();
    let (status, challenge) = start(app, phone).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{challenge}");
    let sent = app.wait_for_messages(before + 1).await;
    let (status, body) = verify(app, &challenge["challenge_id"], &code_of(&sent[before])).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["session"].as_str().unwrap().to_owned()
}

#[derive(Debug, PartialEq)]
struct ChallengeRaw {
    challenge_id: String,
    patient_token: Option<String>,
    phone_digest: Vec<u8>,
    code_hash: Vec<u8>,
    created_at: i64,
    expires_at: i64,
    attempts: i64,
    used_at: Option<i64>,
}

type RawTuple = (
    String,
    Option<String>,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
    i64,
    Option<i64>,
);

/// Every stored challenge, read with plain SQL.
async fn stored_challenges(app: &TestApp) -> Vec<ChallengeRaw> {
    const SQL: &str = "SELECT challenge_id, patient_token, phone_digest, code_hash, created_at, \
                       expires_at, attempts, used_at FROM login_challenges ORDER BY created_at";
    let rows: Vec<RawTuple> = match &app.db.db {
        Database::Sqlite(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
        Database::Postgres(pool) => sqlx::query_as(SQL).fetch_all(pool).await.unwrap(),
    };
    rows.into_iter()
        .map(|r| ChallengeRaw {
            challenge_id: r.0,
            patient_token: r.1,
            phone_digest: r.2,
            code_hash: r.3,
            created_at: r.4,
            expires_at: r.5,
            attempts: r.6,
            used_at: r.7,
        })
        .collect()
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

on_both_backends!(
    a_patient_signs_in_with_a_code_sent_to_the_phone_on_file,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app.register("Входова", "Анна", PHONE, SNILS).await;

        let (status, challenge) = start(&app, PHONE_TYPED).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{challenge}");
        assert_eq!(challenge["expires_at"], json!(app.now() + 300));
        let keys: Vec<&String> = challenge.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["challenge_id", "expires_at"]);
        let openapi = app
            .http
            .get(format!("{}/openapi.json", app.base))
            .send()
            .await
            .unwrap();
        let openapi = openapi.text().await.unwrap();
        for operation in [
            "patientLoginStart",
            "patientLoginVerify",
            "fileMyDataRequest",
            "fileDataRequestForPatient",
        ] {
            assert!(
                openapi.contains(&format!("\"{operation}\"")),
                "{operation} is documented"
            );
        }

        let sent = app.wait_for_messages(1).await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0]["channel"], json!("sms"));
        assert_eq!(sent[0]["to"], json!(PHONE), "the normalised number on file");
        let text = sent[0]["text"].as_str().unwrap();
        assert!(text.starts_with("Медикаменте:"), "{text}");
        for medical in ["Терапевт", "Услуга", "врач", "приём", "Тверская"]
        {
            assert!(!text.contains(medical), "nothing about care in {text}");
        }
        let code = code_of(&sent[0]);

        let (status, body) = verify(&app, &challenge["challenge_id"], &code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let session = body["session"].as_str().unwrap().to_owned();
        assert!(session.starts_with("cp_"));
        assert_eq!(body["expires_at"], json!(app.now() + 30 * 24 * 3600));

        let (status, me) = app.get(&session, "/v1/me").await;
        assert_eq!(status, StatusCode::OK, "{me}");
        assert_eq!(
            me,
            json!({ "patient_token": token }),
            "the token and nothing else"
        );

        // The code worked once.
        let (status, body) = verify(&app, &challenge["challenge_id"], &code).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(body["code"], json!("challenge_invalid"));

        // Signing out ends the session.
        let (status, _) = app.post(&session, "/v1/logout", json!({})).await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        assert_eq!(
            app.get(&session, "/v1/me").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
);

on_both_backends!(
    an_unknown_phone_gets_the_same_answer_and_no_message,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        app.register("Известнова", "Анна", PHONE, SNILS).await;
        // Two patients share this phone: it does not identify one, so no code either.
        app.register("Общая", "Вера", "+79161110000", SNILS).await;
        app.register("Общая", "Надежда", "+79161110000", SNILS)
            .await;

        let (status, unknown) = start(&app, "+7 999 000-00-00").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{unknown}");
        let (status, shared) = start(&app, "+79161110000").await;
        assert_eq!(status, StatusCode::ACCEPTED, "{shared}");
        let (status, known) = start(&app, PHONE).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{known}");
        for body in [&unknown, &shared] {
            let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
            assert_eq!(keys, ["challenge_id", "expires_at"]);
            assert_eq!(body["expires_at"], known["expires_at"]);
        }
        let sent = app.wait_for_messages(1).await;
        // Give a stray background send the time to show up before counting.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent_after = app.sent_messages();
        assert_eq!(
            sent_after.len(),
            1,
            "only the known phone got a code: {sent_after:?}"
        );
        assert_eq!(sent[0]["to"], json!(PHONE));

        // Verifying an unknown phone's challenge looks like a wrong code, never like success.
        for code in ["000000", "123456", &code_of(&sent[0])] {
            let (status, body) = verify(&app, &unknown["challenge_id"], code).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
            assert_eq!(body["code"], json!("wrong_code"));
        }
        let (_, body) = verify(&app, &shared["challenge_id"], "000000").await;
        assert_eq!(
            body["attempts_left"],
            json!(4),
            "counted as for a known phone"
        );
    }
);

on_both_backends!(five_wrong_codes_kill_the_challenge, |backend| async move {
    let app = TestApp::spawn(backend).await;
    app.register("Ошибкина", "Анна", PHONE, SNILS).await;
    let (_, challenge) = start(&app, PHONE).await;
    let code = code_of(&app.wait_for_messages(1).await[0]);

    for left in (0..5).rev() {
        let (status, body) = verify(&app, &challenge["challenge_id"], &wrong(&code)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
        assert_eq!(body["code"], json!("wrong_code"));
        assert_eq!(body["attempts_left"], json!(left), "{body}");
        assert!(!body.to_string().contains(&code), "no code in the answer");
    }
    // Dead now: even the right code is refused, like an unknown challenge.
    let (status, body) = verify(&app, &challenge["challenge_id"], &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], json!("challenge_invalid"));
    let (_, unknown) = verify(&app, &json!("no-such-challenge"), &code).await;
    assert_eq!(unknown, body, "dead and unknown answer alike");

    // A malformed code is the request's fault and costs nothing.
    let (_, fresh) = start(&app, PHONE).await;
    let (status, body) = verify(&app, &fresh["challenge_id"], "12 34").await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["field"], json!("code"));
    let (_, body) = verify(&app, &fresh["challenge_id"], "999999").await;
    let left = if body["code"] == json!("wrong_code") {
        &body["attempts_left"]
    } else {
        &Value::Null
    };
    // 999999 could be the fresh code (one in a million); then it signed in, also fine.
    assert!(left == &json!(4) || body["session"].is_string(), "{body}");
});

on_both_backends!(a_code_expires_after_five_minutes, |backend| async move {
    let app = TestApp::spawn(backend).await;
    app.register("Опоздалова", "Анна", PHONE, SNILS).await;
    let (_, challenge) = start(&app, PHONE).await;
    let code = code_of(&app.wait_for_messages(1).await[0]);
    app.set_time(app.now() + 301);
    let (status, body) = verify(&app, &challenge["challenge_id"], &code).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], json!("challenge_invalid"));

    // Within the five minutes it works.
    let (_, challenge) = start(&app, PHONE).await;
    let code = code_of(&app.wait_for_messages(2).await[1]);
    app.set_time(app.now() + 299);
    let (status, body) = verify(&app, &challenge["challenge_id"], &code).await;
    assert_eq!(status, StatusCode::OK, "{body}");
});

on_both_backends!(
    codes_are_rate_limited_per_phone_and_per_patient,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        app.register("Торопыгина", "Анна", PHONE, SNILS).await;
        let unknown = "+79990000000";
        for phone in [PHONE, unknown] {
            for i in 0..3 {
                let (status, body) = start(&app, phone).await;
                assert_eq!(status, StatusCode::ACCEPTED, "start {i}: {body}");
            }
        }
        app.wait_for_messages(3).await;
        for phone in [PHONE_TYPED, unknown] {
            let (status, retry_after, body) =
                post_open(&app, "/v1/patient/login/start", json!({ "phone": phone })).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            assert_eq!(body["code"], json!("too_many_codes"));
            assert_eq!(body["retry_after_seconds"], json!(900));
            assert_eq!(retry_after.as_deref(), Some("900"));
            assert!(!body.to_string().contains("916"), "no phone in {body}");
        }
        // After the 15-minute window the hourly limit still holds, for a known and an unknown
        // phone alike (so the limits do not tell them apart).
        let started = app.now();
        app.set_time(started + 16 * 60);
        for phone in [PHONE, unknown] {
            let (status, body) = start(&app, phone).await;
            assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
            assert_eq!(body["retry_after_seconds"], json!(44 * 60));
        }
        app.set_time(started + 3600);
        for phone in [PHONE, unknown] {
            let (status, body) = start(&app, phone).await;
            assert_eq!(status, StatusCode::ACCEPTED, "{body}");
        }
        app.wait_for_messages(4).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(app.sent_messages().len(), 4, "refused starts send nothing");
    }
);

on_both_backends!(
    concurrent_starts_do_not_exceed_the_limit,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let mut tasks = Vec::new();
        for _ in 0..8 {
            let http = app.http.clone();
            let url = format!("{}/v1/patient/login/start", app.base);
            tasks.push(tokio::spawn(async move {
                http.post(&url)
                    .json(&json!({ "phone": "+79990000001" }))
                    .send()
                    .await
                    .unwrap()
                    .status()
            }));
        }
        let mut accepted = 0;
        for task in tasks {
            match task.await.unwrap() {
                StatusCode::ACCEPTED => accepted += 1,
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("unexpected {other}"),
            }
        }
        assert_eq!(accepted, 3, "the limit holds under concurrency");
        assert_eq!(app.count("login_challenges").await, 3);
    }
);

on_both_backends!(
    the_database_holds_neither_the_phone_nor_the_code,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app.register("Тайнова", "Анна", PHONE, SNILS).await;
        let (_, unknown) = start(&app, "+79990001122").await;
        let (_, challenge) = start(&app, PHONE_TYPED).await;
        let code = code_of(&app.wait_for_messages(1).await[0]);
        let (status, _) = verify(&app, &challenge["challenge_id"], &code).await;
        assert_eq!(status, StatusCode::OK);

        let rows = stored_challenges(&app).await;
        assert_eq!(rows.len(), 2);
        let known = rows
            .iter()
            .find(|r| json!(r.challenge_id) == challenge["challenge_id"])
            .unwrap();
        let other = rows
            .iter()
            .find(|r| json!(r.challenge_id) == unknown["challenge_id"])
            .unwrap();
        assert_eq!(known.patient_token.as_deref(), Some(token.as_str()));
        assert_eq!(other.patient_token, None);
        assert_eq!(known.expires_at, known.created_at + 300);
        assert!(known.used_at.is_some());
        assert_eq!(known.attempts, 0);

        let phone_forms: [&[u8]; 4] = [
            b"+79161234567",
            b"79161234567",
            b"9161234567",
            b"89161234567",
        ];
        for r in &rows {
            let mut bytes = format!("{}|{:?}|", r.challenge_id, r.patient_token).into_bytes();
            bytes.extend_from_slice(&r.phone_digest);
            bytes.extend_from_slice(&r.code_hash);
            for form in phone_forms {
                assert!(!contains(&bytes, form), "a phone in {r:?}");
            }
            assert!(!contains(&bytes, code.as_bytes()), "the code in {r:?}");
            assert_eq!(r.phone_digest.len(), 32);
            assert_eq!(r.code_hash.len(), 32);
        }
        // The digests are keyed: not the plain SHA-256 anyone could recompute.
        assert_ne!(
            known.phone_digest,
            Sha256::digest(PHONE.as_bytes()).to_vec()
        );
        for guess in [code.clone(), format!("{}{code}", known.challenge_id)] {
            assert_ne!(known.code_hash, Sha256::digest(guess.as_bytes()).to_vec());
        }
        // The same phone, however typed, has one digest (the per-phone limit depends on it).
        let (_, again) = start(&app, PHONE).await;
        let rows = stored_challenges(&app).await;
        let third = rows
            .iter()
            .find(|r| json!(r.challenge_id) == again["challenge_id"])
            .unwrap();
        assert_eq!(third.phone_digest, known.phone_digest);
        assert_ne!(other.phone_digest, known.phone_digest);

        // On SQLite the whole database file can be searched too.
        if let Some(path) = app.db.url.strip_prefix("sqlite://") {
            let mut bytes = Vec::new();
            for suffix in ["", "-wal"] {
                bytes.extend(std::fs::read(format!("{path}{suffix}")).unwrap_or_default());
            }
            assert!(!bytes.is_empty());
            for form in phone_forms {
                assert!(!contains(&bytes, form), "a phone in the database file");
            }
        }
    }
);

on_both_backends!(
    a_bad_phone_is_refused_without_echoing_it,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let (status, body) = start(&app, "+7 916 ЙЦУ-45-67").await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], json!("phone"));
        assert!(
            !body.to_string().contains("ЙЦУ") && !body.to_string().contains("916"),
            "{body}"
        );
        assert_eq!(app.count("login_challenges").await, 0);
    }
);

on_both_backends!(
    data_requests_are_forwarded_to_the_vault_once_per_kind,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        app.register("Правова", "Анна", PHONE, SNILS).await;
        let other = app.register("Правова", "Вера", "+79161234568", SNILS).await;
        let session = sign_in(&app, PHONE).await;

        let (status, access) = app
            .post(&session, "/v1/me/data-requests", json!({"kind": "access"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{access}");
        assert_eq!(access["kind"], json!("access"));
        assert_eq!(access["state"], json!("open"), "the vault's state");
        assert_eq!(access["filed_at"], json!(app.now()));
        assert_eq!(access["filed_by"], json!("patient"));
        assert_eq!(access["channel"], json!("patient_app"));
        assert!(access["due_at"].as_i64().unwrap() > app.now(), "{access}");
        assert!(
            uuid::Uuid::parse_str(access["request_id"].as_str().unwrap()).is_ok(),
            "the vault's request id"
        );

        // A pending access request is the vault's duplicate.
        let (status, body) = app
            .post(&session, "/v1/me/data-requests", json!({"kind": "access"}))
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], json!("duplicate_request"));
        let (status, body) = app
            .post(&session, "/v1/me/data-requests", json!({"kind": "erase"}))
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");

        // Reception files for a patient: recorded as staff, at the desk.
        let path = |t: &str| format!("/v1/patients/{t}/data-requests");
        let (status, by_staff) = app
            .post(&app.reception, &path(&other), json!({"kind": "access"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{by_staff}");
        assert_eq!(by_staff["filed_by"], json!("staff"));
        assert_eq!(by_staff["channel"], json!("reception"));
        for session in [&app.cashier, &app.accountant, &app.admin] {
            let (status, body) = app
                .post(session, &path(&other), json!({"kind": "deletion"}))
                .await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        }
        let (status, body) = app
            .post(
                &app.reception,
                &path("pt_nonsense"),
                json!({"kind": "access"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        // A patient cannot file for somebody else, nor use the staff route.
        let (status, _) = app
            .post(&session, &path(&other), json!({"kind": "deletion"}))
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        // Staff have no "me".
        assert_eq!(
            app.get(&app.reception, "/v1/me/data-requests").await.0,
            StatusCode::FORBIDDEN
        );

        let (status, list) = app.get(&session, "/v1/me/data-requests").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        let list = list.as_array().unwrap();
        assert_eq!(list.len(), 1, "own requests only: {list:?}");
        assert_eq!(list[0]["request_id"], access["request_id"]);
        assert_eq!(list[0]["state"], json!("open"));
        assert_eq!(list[0]["current"], json!(true));

        // Stored: who filed it, the vault's id, the channel.
        let sql = "SELECT filed_by, channel FROM data_requests WHERE vault_request_id IS NOT NULL ORDER BY filed_by";
        let rows: Vec<(String, String)> = match &app.db.db {
            Database::Sqlite(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
            Database::Postgres(pool) => sqlx::query_as(sql).fetch_all(pool).await.unwrap(),
        };
        let reception_id = app.state.auth.principal(&app.reception).await.unwrap();
        let clinic_app::domain::auth::Principal::Staff(reception) = reception_id else {
            panic!()
        };
        let mut expected = vec![
            ("patient".to_owned(), "patient_app".to_owned()),
            (reception.staff_id, "reception".to_owned()),
        ];
        expected.sort();
        assert_eq!(rows, expected);
    }
);

on_both_backends!(
    a_patient_sees_and_changes_only_their_own_appointments,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let anna = app.register("Своя", "Анна", PHONE, SNILS).await;
        let vera = app.register("Чужая", "Вера", "+79161234568", SNILS).await;
        let (status, veras) = app.book(&app.reception, &vera, 0, 9, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{veras}");
        let veras_id = veras["appointment_id"].as_str().unwrap().to_owned();
        let session = sign_in(&app, PHONE).await;

        // The directory and free slots.
        let (status, doctors) = app.get(&session, "/v1/doctors").await;
        assert_eq!(status, StatusCode::OK, "{doctors}");
        assert_eq!(doctors.as_array().unwrap().len(), 2);
        let (status, services) = app.get(&session, "/v1/services").await;
        assert_eq!(status, StatusCode::OK, "{services}");
        assert!(!services.as_array().unwrap().is_empty());
        let (status, slots) = app
            .get(
                &session,
                &format!("/v1/slots?day=2026-11-30&doctor_id={}", app.fx.doctor),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{slots}");
        let starts: Vec<i64> = slots
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["starts_at"].as_i64().unwrap())
            .collect();
        assert!(!starts.contains(&msk(0, 9, 0)), "Vera's slot is taken");
        assert!(starts.contains(&msk(0, 10, 0)));

        // Self-booking without a token books for the caller.
        let (status, own) = app
        .post(&session, "/v1/appointments", json!({"doctor_id": app.fx.doctor, "service_code": app.fx.service, "starts_at": msk(0, 10, 0)}))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{own}");
        assert_eq!(own["patient_token"], json!(anna));
        assert_eq!(own["booked_via"], json!("patient_app"));
        let own_id = own["appointment_id"].as_str().unwrap().to_owned();

        // Somebody else's appointment does not exist for this patient.
        let (status, _) = app
            .post(
                &session,
                &format!("/v1/appointments/{veras_id}/cancel"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app
            .post(
                &session,
                &format!("/v1/appointments/{veras_id}/reschedule"),
                json!({"starts_at": msk(0, 11, 0)}),
            )
            .await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        let (status, _) = app.book(&session, &vera, 0, 12, 0).await;
        assert_eq!(
            status,
            StatusCode::NOT_FOUND,
            "no booking in another's name"
        );
        // Staff routes are closed.
        for path in ["/v1/schedule/day?branch_id=msk-1&day=2026-11-30"] {
            assert_eq!(
                app.get(&session, path).await.0,
                StatusCode::FORBIDDEN,
                "{path}"
            );
        }
        let (status, _) = app
            .post(
                &session,
                "/v1/patients/search",
                json!({"phone": "+79161234568"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .post(
                &session,
                &format!("/v1/appointments/{own_id}/status"),
                json!({"status": "arrived"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);

        // Reschedule and cancel their own.
        let (status, moved) = app
            .post(
                &session,
                &format!("/v1/appointments/{own_id}/reschedule"),
                json!({"starts_at": msk(1, 11, 30)}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        let moved_id = moved["appointment_id"].as_str().unwrap().to_owned();
        let (status, body) = app
            .post(
                &session,
                &format!("/v1/appointments/{moved_id}/cancel"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let (status, _) = app
        .post(&session, "/v1/appointments", json!({"doctor_id": app.fx.doctor2, "service_code": app.fx.service, "starts_at": msk(2, 9, 30)}))
        .await;
        assert_eq!(status, StatusCode::CREATED);

        // Own appointments, upcoming and past, with names; nothing of Vera's.
        app.set_time(msk(0, 12, 0));
        let (status, mine) = app.get(&session, "/v1/me/appointments").await;
        assert_eq!(status, StatusCode::OK, "{mine}");
        let upcoming = mine["upcoming"].as_array().unwrap();
        let past = mine["past"].as_array().unwrap();
        assert_eq!(past.len(), 1, "{mine}");
        assert_eq!(past[0]["appointment_id"], json!(own_id));
        assert_eq!(past[0]["status"], json!("rescheduled"));
        assert_eq!(past[0]["time"], json!("10:00"));
        assert_eq!(past[0]["date"], json!("2026-11-30"));
        assert_eq!(past[0]["doctor_name"], json!("Терапевтова А. А."));
        assert_eq!(past[0]["service_name"], json!("Услуга B01.047.001"));
        assert_eq!(past[0]["branch_name"], json!("Тверская"));
        assert_eq!(past[0]["branch_address"], json!("ул. Тверская, 1"));
        let statuses: Vec<(&str, &str)> = upcoming
            .iter()
            .map(|a| (a["time"].as_str().unwrap(), a["status"].as_str().unwrap()))
            .collect();
        assert_eq!(
            statuses,
            [("11:30", "cancelled"), ("09:30", "booked")],
            "soonest first"
        );
        assert_eq!(upcoming[1]["doctor_name"], json!("Кардиологов Б. Б."));
        let all = mine.to_string();
        assert!(
            !all.contains(&vera) && !all.contains(&veras_id),
            "nothing of another patient"
        );
    }
);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_in_needs_the_vault_and_says_so() {
    let mut app = TestApp::spawn(clinic_app::store::Backend::Sqlite).await;
    app.register("Ожидалова", "Анна", PHONE, SNILS).await;
    app.vault.stop().await;
    let (status, body) = start(&app, PHONE).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["code"], json!("vault_unavailable"));
    assert!(!body.to_string().contains("916"), "{body}");
    assert_eq!(app.count("login_challenges").await, 0, "nothing written");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(app.sent_messages().is_empty());
}

/// Log lines of the whole test process, captured once.
fn captured_logs() -> Arc<Mutex<Vec<u8>>> {
    static LOGS: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    LOGS.get_or_init(|| {
        let buffer = Arc::new(Mutex::new(Vec::new()));
        let sink = buffer.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(
                "info,clinic_app=trace,service_kit=trace",
            ))
            .json()
            .with_writer(move || LogSink(sink.clone()))
            .finish();
        tracing::subscriber::set_global_default(subscriber).unwrap();
        buffer
    })
    .clone()
}

struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn no_phone_code_token_or_session_reaches_the_logs() {
    let logs = captured_logs();
    let app = TestApp::spawn(clinic_app::store::Backend::Sqlite).await;
    // A phone no other test uses.
    let token = app.register("Логова", "Анна", "+79037654321", SNILS).await;
    let (_, challenge) = start(&app, "8 903 765-43-21").await;
    let code = code_of(&app.wait_for_messages(1).await[0]);
    verify(&app, &challenge["challenge_id"], &wrong(&code)).await;
    let (status, body) = verify(&app, &challenge["challenge_id"], &code).await;
    assert_eq!(status, StatusCode::OK);
    let session = body["session"].as_str().unwrap().to_owned();
    app.post(&session, "/v1/me/data-requests", json!({"kind": "access"}))
        .await;
    app.get(&session, "/v1/me/appointments").await;
    for _ in 0..3 {
        start(&app, "+79037654321").await;
    }
    start(&app, "not a phone 9037654321").await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(
        text.contains("patient sign-in started"),
        "the flow was logged"
    );
    for secret in ["9037654321", "765-43-21", &code, &token, &session] {
        assert!(!text.contains(secret), "{secret} leaked into the logs");
    }
}
