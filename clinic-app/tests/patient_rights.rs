//! Issue 6, patient rights, through clinic-app against a real vault, on SQLite and PostgreSQL:
//! consents at registration and what they decide (reminders, the app), the consent routes of
//! the app and of reception, a deletion request carried out end to end (visits cancelled,
//! account gone, accounting kept, the token unlinked in the vault), and an access request
//! answered by the security officer and served as JSON and as a document.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use clinic_app::store::Database;
use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

const SNILS: &str = "112-233-445 95";
const PHONE: &str = "+79161234567";
const OTHER_PHONE: &str = "+79161234568";
/// A well-formed token the vault never issued.
const UNKNOWN_TOKEN: &str = "pt_aaaaaaaaaaaaaaaaaaaaaaaaaa";

async fn post_open(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value) {
    let r = app
        .http
        .post(format!("{}{path}", app.base))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let text = r.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

/// Starts a sign-in and returns the challenge id and the code from the SMS.
async fn code_for(app: &TestApp, phone: &str) -> (Value, String) {
    let before = app.sent_messages().len();
    let (status, challenge) =
        post_open(app, "/v1/patient/login/start", json!({ "phone": phone })).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{challenge}");
    let sent = app.wait_for_messages(before + 1).await;
    let text = sent[before]["text"].as_str().unwrap();
    let code = text
        .split(|c: char| !c.is_ascii_digit())
        .find(|w| w.len() == 6)
        .unwrap()
        .to_owned();
    (challenge["challenge_id"].clone(), code)
}

async fn verify(
    app: &TestApp,
    challenge: &Value,
    code: &str,
    accept: Option<bool>,
) -> (StatusCode, Value) {
    let mut body = json!({ "challenge_id": challenge, "code": code });
    if let Some(accept) = accept {
        body["accept_terms"] = json!(accept);
    }
    post_open(app, "/v1/patient/login/verify", body).await
}

/// Signs the patient with this phone in (their app consent in force); returns the session.
async fn sign_in(app: &TestApp, phone: &str) -> String {
    let (challenge, code) = code_for(app, phone).await;
    let (status, body) = verify(app, &challenge, &code, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["session"].as_str().unwrap().to_owned()
}

async fn put(app: &TestApp, session: &str, path: &str, body: Value) -> (StatusCode, Value) {
    app.call(reqwest::Method::PUT, session, path, Some(body))
        .await
}

/// Rows of `table` whose `patient_token` is `token`.
async fn rows_of(app: &TestApp, table: &str, token: &str) -> i64 {
    app.count(&format!("{table} WHERE patient_token = '{token}'"))
        .await
}

/// Text columns of a query, read raw.
async fn strings(app: &TestApp, sql: &str) -> Vec<(String, Option<String>)> {
    match &app.db.db {
        Database::Sqlite(pool) => sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(pool)
            .await
            .unwrap(),
        Database::Postgres(pool) => sqlx::query_as(sqlx::AssertSqlSafe(sql.to_owned()))
            .fetch_all(pool)
            .await
            .unwrap(),
    }
}

/// The raw response of a GET: status, headers, text.
async fn get_raw(
    app: &TestApp,
    session: &str,
    path: &str,
) -> (StatusCode, reqwest::header::HeaderMap, String) {
    let r = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(session)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.text().await.unwrap())
}

fn in_force(consents: &Value) -> Vec<&str> {
    consents["in_force"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p.as_str().unwrap())
        .collect()
}

on_both_backends!(
    consents_given_at_registration_decide_reminders,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let agreed = app.register("Согласова", "Анна", PHONE, SNILS).await;
        let refused = app
            .register_with("Несогласова", "Вера", OTHER_PHONE, SNILS, &[])
            .await;
        // What the patient signed is what the vault records, on paper, by clinic-app.
        let (status, consents) = app
            .get(&app.reception, &format!("/v1/patients/{agreed}/consents"))
            .await;
        assert_eq!(status, StatusCode::OK, "{consents}");
        assert_eq!(in_force(&consents), ["patient_app", "sms_reminders"]);
        let history = consents["history"].as_array().unwrap();
        assert_eq!(history.len(), 2);
        assert!(
            history
                .iter()
                .all(|e| e["channel"] == json!("paper") && e["granted"] == json!(true))
        );
        let (_, none) = app
            .get(&app.reception, &format!("/v1/patients/{refused}/consents"))
            .await;
        assert_eq!(none, json!({"in_force": [], "history": []}));

        // Both book a visit tomorrow at 10:00: a confirmation now, a reminder the day before.
        for (token, hh) in [(&agreed, 10), (&refused, 11)] {
            let (status, body) = app.book(&app.reception, token, 1, hh, 0).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
        }
        app.state.clinic.send_due_messages().await.unwrap();
        let sent = app.sent_messages();
        assert_eq!(
            sent.len(),
            1,
            "only the consenting patient is messaged: {sent:?}"
        );
        assert_eq!(sent[0]["to"], json!(PHONE));
        let dropped = strings(
            &app,
            &format!("SELECT kind, last_error FROM outbox WHERE patient_token = '{refused}' AND dropped_at IS NOT NULL"),
        )
        .await;
        assert_eq!(
            dropped,
            [(
                "booking_confirmation".to_owned(),
                Some("no_consent".to_owned())
            )],
            "a terminal state with its reason"
        );
        // The day-before reminder goes to the consenting patient only, and the other one's is
        // dropped for good: later rounds send nothing and retry nothing.
        app.set_time(msk(0, 10, 1));
        app.state.clinic.send_due_messages().await.unwrap();
        app.set_time(msk(0, 12, 0));
        app.state.clinic.send_due_messages().await.unwrap();
        let sent = app.sent_messages();
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent.iter().all(|m| m["to"] == json!(PHONE)));
        let waiting = app
            .count(&format!(
                "outbox WHERE patient_token = '{refused}' AND sent_at IS NULL AND dropped_at IS NULL"
            ))
            .await;
        assert_eq!(waiting, 0, "nothing of hers waits for a retry");
        let attempts = app
            .count(&format!(
                "outbox WHERE patient_token = '{refused}' AND attempts > 0"
            ))
            .await;
        assert_eq!(attempts, 0, "dropped without attempts");

        // Reception records the consent she signs later: the next visit is confirmed.
        let (status, body) = put(
            &app,
            &app.reception,
            &format!("/v1/patients/{refused}/consents/sms_reminders"),
            json!({"granted": true, "channel": "paper"}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(in_force(&body), ["sms_reminders"]);
        let (status, body) = app.book(&app.reception, &refused, 2, 15, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        app.state.clinic.send_due_messages().await.unwrap();
        let sent = app.sent_messages();
        assert_eq!(sent.len(), 3, "{sent:?}");
        assert_eq!(sent[2]["to"], json!(OTHER_PHONE));

        // The registration body names the consents; a wrong one is the request's fault, and
        // only reception records consents.
        let identity = json!({"surname": "Ошибкина", "name": "Анна", "birth_date": "1980-05-17",
            "sex": "female", "phones": ["+79161110001"]});
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/patients",
                json!({"identity": identity}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "consents are required: {body}"
        );
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/patients",
                json!({"identity": identity, "consents": ["newsletter"]}),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        let (status, body) = app
            .post(
                &app.admin,
                "/v1/patients",
                json!({"identity": identity, "consents": ["sms_reminders"]}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, body) = app
            .post(
                &app.admin,
                "/v1/patients",
                json!({"identity": identity, "consents": []}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["consents"]["in_force"], json!([]));
    }
);

on_both_backends!(
    signing_in_asks_for_the_app_terms_once,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register_with("Условиева", "Анна", PHONE, SNILS, &["sms_reminders"])
            .await;

        // The right code without the app's consent: accept the terms first.
        let (challenge, code) = code_for(&app, PHONE).await;
        let (status, body) = verify(&app, &challenge, &code, None).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        assert_eq!(body["code"], json!("terms_not_accepted"));
        assert!(
            body["message"].as_str().unwrap().contains("accept_terms"),
            "{body}"
        );
        let (status, body) = verify(&app, &challenge, &code, Some(false)).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::FORBIDDEN, json!("terms_not_accepted"))
        );
        // A wrong code is still a wrong code, terms or not.
        let wrong = format!("{:06}", (code.parse::<u32>().unwrap() + 1) % 1_000_000);
        let (status, body) = verify(&app, &challenge, &wrong, Some(true)).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNAUTHORIZED, json!("wrong_code"))
        );
        // The same code, accepting: signed in, and the consent is on record as the patient's.
        let (status, body) = verify(&app, &challenge, &code, Some(true)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let session = body["session"].as_str().unwrap().to_owned();
        let (status, consents) = app.get(&session, "/v1/me/consents").await;
        assert_eq!(status, StatusCode::OK, "{consents}");
        assert_eq!(in_force(&consents), ["patient_app", "sms_reminders"]);
        assert_eq!(consents["history"][0]["purpose"], json!("patient_app"));
        assert_eq!(consents["history"][0]["channel"], json!("patient_app"));
        // Next time no question is asked.
        let second = sign_in(&app, PHONE).await;

        // The patient gives and withdraws consents in the app.
        let (status, body) = put(
            &app,
            &session,
            "/v1/me/consents/marketing",
            json!({"granted": true}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(
            in_force(&body),
            ["marketing", "patient_app", "sms_reminders"]
        );
        let (status, body) = put(
            &app,
            &session,
            "/v1/me/consents/newsletter",
            json!({"granted": true}),
        )
        .await;
        assert_eq!(
            (status, body["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("purpose"))
        );
        let (status, body) = put(
            &app,
            &session,
            "/v1/me/consents/marketing",
            json!({"granted": true, "channel": "paper"}),
        )
        .await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "the app's channel is fixed: {body}"
        );
        // Withdrawing the app's consent ends every session of the app.
        let (status, body) = put(
            &app,
            &session,
            "/v1/me/consents/patient_app",
            json!({"granted": false}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(in_force(&body), ["marketing", "sms_reminders"]);
        for s in [&session, &second] {
            assert_eq!(app.get(s, "/v1/me").await.0, StatusCode::UNAUTHORIZED);
        }
        // Signing in again asks for the terms again.
        let (challenge, code) = code_for(&app, PHONE).await;
        let (status, body) = verify(&app, &challenge, &code, None).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::FORBIDDEN, json!("terms_not_accepted"))
        );
        let (status, body) = verify(&app, &challenge, &code, Some(true)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let third = body["session"].as_str().unwrap().to_owned();

        // Reception: the patient's consents, and a withdrawal at the desk ends the app too.
        let path = format!("/v1/patients/{token}/consents");
        assert_eq!(app.get(&app.reception, &path).await.0, StatusCode::OK);
        for s in [&app.cashier, &app.accountant, &app.admin, &third] {
            assert_eq!(app.get(s, &path).await.0, StatusCode::FORBIDDEN);
        }
        let (status, body) = put(
            &app,
            &app.reception,
            &format!("{path}/patient_app"),
            json!({"granted": false, "channel": "patient_app"}),
        )
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("invalid_channel"))
        );
        let (status, body) = put(
            &app,
            &app.reception,
            &format!("{path}/patient_app"),
            json!({"granted": false}),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["history"][0]["channel"], json!("reception"));
        assert_eq!(app.get(&third, "/v1/me").await.0, StatusCode::UNAUTHORIZED);
        let (status, body) = app
            .get(
                &app.reception,
                &format!("/v1/patients/{UNKNOWN_TOKEN}/consents"),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::NOT_FOUND, json!("unknown_patient"))
        );
        let (status, body) = put(
            &app,
            &app.reception,
            &format!("/v1/patients/{UNKNOWN_TOKEN}/consents/marketing"),
            json!({"granted": true}),
        )
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::NOT_FOUND, json!("unknown_patient"))
        );
    }
);

on_both_backends!(
    a_deletion_request_cancels_visits_closes_the_account_and_keeps_the_accounts,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app.register("Удалова", "Анна", PHONE, SNILS).await;
        let other = app.register("Остаётся", "Вера", OTHER_PHONE, SNILS).await;
        // A visit today that is billed and paid, two future visits, a waitlist entry.
        let (status, today) = app.book(&app.reception, &token, 0, 9, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{today}");
        let mut future = Vec::new();
        for days in [1, 2] {
            let (status, body) = app.book(&app.reception, &token, days, 10, 0).await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            future.push(body["appointment_id"].as_str().unwrap().to_owned());
        }
        // Sunday: one slot of the second doctor, taken by the other patient; she waits for it.
        let (status, body) = app
            .post(&app.admin, "/v1/schedule-templates", json!({"doctor_id": app.fx.doctor2, "room_id": app.fx.room2, "weekday": 7, "start": "09:00", "end": "09:30", "slot_minutes": 30, "valid_from": "2026-01-01"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(&app.reception, "/v1/appointments", json!({"doctor_id": app.fx.doctor2, "service_code": app.fx.service, "starts_at": msk(6, 9, 0), "patient_token": other}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/waitlist",
                json!({"doctor_id": app.fx.doctor2, "day": "2026-12-06", "patient_token": token}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        app.set_time(msk(0, 9, 40));
        let (status, invoice) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": today["appointment_id"]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{invoice}");
        let (status, body) = app.post(&app.cashier, "/v1/shifts", json!({})).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, payment) = app
            .post(
                &app.cashier,
                &format!(
                    "/v1/invoices/{}/payments",
                    invoice["invoice_id"].as_str().unwrap()
                ),
                json!({"method": "card", "amount": "2500", "idempotency_key": "deletion-payment-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{payment}");
        let session = sign_in(&app, PHONE).await;
        let second = sign_in(&app, PHONE).await;
        let others = sign_in(&app, OTHER_PHONE).await;
        app.state.clinic.send_due_messages().await.unwrap();
        assert!(rows_of(&app, "outbox", &token).await > 0);
        assert_eq!(rows_of(&app, "login_challenges", &token).await, 2);
        let accounting = (app.count("invoices").await, app.count("payments").await);

        let (status, answer) = app
            .post(
                &session,
                "/v1/me/data-requests",
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["kind"], json!("deletion"));
        assert_eq!(answer["state"], json!("completed"));
        assert_eq!(answer["channel"], json!("patient_app"));
        let deletion = &answer["deletion"];
        let mut cancelled: Vec<String> = deletion["clinic_app"]["cancelled_appointments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect();
        cancelled.sort();
        future.sort();
        assert_eq!(cancelled, future, "the future visits, not today's");
        // What went and what stays, each with its basis; what stays with its date.
        for part in [&deletion["vault"], &deletion["clinic_app"]] {
            let deleted = part["deleted"].as_array().unwrap();
            assert!(!deleted.is_empty(), "{part}");
            assert!(
                deleted
                    .iter()
                    .all(|d| !d["data"].as_str().unwrap().is_empty()
                        && !d["basis"].as_str().unwrap().is_empty())
            );
            let kept = part["kept"].as_array().unwrap();
            assert!(!kept.is_empty(), "{part}");
            for k in kept {
                assert!(
                    k["until"].as_i64().unwrap() > app.now() + 4 * 365 * 86_400,
                    "{k}"
                );
                assert!(k["basis"].as_str().unwrap().contains("art."), "{k}");
            }
        }
        let clinic_kept = deletion["clinic_app"]["kept"].to_string();
        assert!(
            clinic_kept.contains("402-FZ") && clinic_kept.contains("payments"),
            "{clinic_kept}"
        );
        let vault_deleted = deletion["vault"]["deleted"].to_string();
        assert!(vault_deleted.contains("phone"), "{vault_deleted}");
        // The accounting date agrees between the two parts.
        let until = |part: &Value| -> i64 {
            part["kept"]
                .as_array()
                .unwrap()
                .iter()
                .find(|k| k["basis"].as_str().unwrap().contains("402-FZ"))
                .unwrap()["until"]
                .as_i64()
                .unwrap()
        };
        assert_eq!(until(&deletion["vault"]), until(&deletion["clinic_app"]));

        // The future visits are cancelled at the patient's request, and their slots are free.
        let rows = strings(&app, &format!("SELECT status, cancelled_by FROM appointments WHERE patient_token = '{token}' ORDER BY starts_at")).await;
        assert_eq!(
            rows,
            [
                ("booked".to_owned(), None),
                ("cancelled".to_owned(), Some("patient_request".to_owned())),
                ("cancelled".to_owned(), Some("patient_request".to_owned())),
            ]
        );
        let relationships = app.vault_care_relationships().await;
        assert!(
            relationships
                .iter()
                .filter(|(doctor, _)| *doctor == app.fx.doctor_vault_id)
                .all(|(_, until)| *until <= app.now()),
            "her doctor's care relationship ended: {relationships:?}"
        );
        assert!(
            relationships.iter().any(|(_, until)| *until > app.now()),
            "the other patient's stays"
        );
        // The account is gone: sessions, sign-in rows, waitlist, messages.
        for s in [&session, &second] {
            assert_eq!(app.get(s, "/v1/me").await.0, StatusCode::UNAUTHORIZED);
        }
        for table in ["sessions", "login_challenges", "waitlist", "outbox"] {
            assert_eq!(rows_of(&app, table, &token).await, 0, "{table}");
        }
        // The accounting documents stay, and so does the other patient's account.
        assert_eq!(
            (app.count("invoices").await, app.count("payments").await),
            accounting
        );
        assert_eq!(rows_of(&app, "invoices", &token).await, 1);
        assert_eq!(app.get(&others, "/v1/me").await.0, StatusCode::OK);
        assert_eq!(
            rows_of(&app, "waitlist", &other).await,
            0,
            "she never waited"
        );
        assert!(rows_of(&app, "outbox", &other).await > 0);

        // In the vault the token leads nowhere any more.
        let (status, body) = app
            .get(&app.reception, &format!("/v1/patients/{token}/consents"))
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::NOT_FOUND, json!("unknown_patient"))
        );
        let (status, body) = app.book(&app.reception, &token, 3, 10, 0).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("unknown_patient"))
        );
        let (status, day) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let entry = day["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["patient_token"] == json!(token))
            .unwrap();
        assert!(entry.get("patient_name").is_none(), "{entry}");
        // Her phone is deleted: signing in finds nobody and sends nothing.
        let before = app.sent_messages().len();
        let (status, _) = post_open(&app, "/v1/patient/login/start", json!({"phone": PHONE})).await;
        assert_eq!(status, StatusCode::ACCEPTED);
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        assert_eq!(app.sent_messages().len(), before);

        // A second deletion is refused, and changes nothing.
        let (status, body) = app
            .post(
                &app.reception,
                &format!("/v1/patients/{token}/data-requests"),
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("duplicate_request")),
            "{body}"
        );
        assert_eq!(rows_of(&app, "data_requests", &token).await, 1);
    }
);

on_both_backends!(
    an_access_request_is_answered_with_everything_held,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        app.register("Запросова", "Анна", PHONE, SNILS).await;
        app.register("Чужакова", "Вера", OTHER_PHONE, SNILS).await;
        let session = sign_in(&app, PHONE).await;
        let others = sign_in(&app, OTHER_PHONE).await;
        let (status, visit) = app
            .post(&session, "/v1/appointments", json!({"doctor_id": app.fx.doctor, "service_code": app.fx.service, "starts_at": msk(0, 9, 0)}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{visit}");
        app.set_time(msk(0, 9, 40));
        let (_, invoice) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": visit["appointment_id"]}),
            )
            .await;
        app.post(&app.cashier, "/v1/shifts", json!({})).await;
        let (status, paid) = app
            .post(
                &app.cashier,
                &format!(
                    "/v1/invoices/{}/payments",
                    invoice["invoice_id"].as_str().unwrap()
                ),
                json!({"method": "cash", "amount": "2500", "idempotency_key": "access-payment-1"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");

        // The phone sends its public key, so the vault can seal the records' contents to it.
        let (phone_secret, phone_public) =
            <hpke::kem::X25519HkdfSha256 as hpke::Kem>::gen_keypair();
        let phone_key = hex::encode(hpke::Serializable::to_bytes(&phone_public));
        let (status, body) = app
            .post(
                &session,
                "/v1/me/data-requests",
                json!({"kind": "deletion", "recipient_key": phone_key}),
            )
            .await;
        assert_eq!(
            (status, body["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("recipient_key")),
            "{body}"
        );
        let (status, request) = app
            .post(
                &session,
                "/v1/me/data-requests",
                json!({"kind": "access", "recipient_key": phone_key}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{request}");
        let id = request["request_id"].as_str().unwrap().to_owned();
        let export = format!("/v1/me/data-requests/{id}/export");
        assert!(request.get("export_url").is_none());

        // Not answered yet: a clear 409 with the deadline.
        let (status, body) = app.get(&session, &export).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("not_answered")),
            "{body}"
        );
        assert!(
            body["message"].as_str().unwrap().contains(".20"),
            "the deadline: {body}"
        );
        // Somebody else's request, a made-up one, a malformed one: all unknown.
        for (who, path) in [
            (&others, export.clone()),
            (
                &session,
                format!("/v1/me/data-requests/{}/export", uuid::Uuid::new_v4()),
            ),
            (&session, "/v1/me/data-requests/nonsense/export".to_owned()),
        ] {
            let (status, body) = app.get(who, &path).await;
            assert_eq!(
                (status, body["code"].clone()),
                (StatusCode::NOT_FOUND, json!("not_found")),
                "{path}: {body}"
            );
        }
        assert_eq!(
            app.get(&app.reception, &export).await.0,
            StatusCode::FORBIDDEN
        );

        // The security officer answers it in the vault.
        app.answer_in_vault(&id).await;
        let (_, list) = app.get(&session, "/v1/me/data-requests").await;
        assert_eq!(list[0]["state"], json!("answered"), "{list}");
        assert_eq!(list[0]["export_url"], json!(export));
        assert!(list[0]["answered_at"].is_i64());

        let (status, headers, text) = get_raw(&app, &session, &export).await;
        assert_eq!(status, StatusCode::OK, "{text}");
        assert_eq!(headers["cache-control"], "no-store");
        let data: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(data["request_id"], json!(id));
        let vault = &data["vault"];
        assert_eq!(vault["identity"]["surname"], json!("Запросова"));
        assert_eq!(vault["identity"]["phones"], json!([PHONE]));
        assert_eq!(
            in_force(&vault["consents"]),
            ["patient_app", "sms_reminders"]
        );
        assert!(!vault["accesses"].as_array().unwrap().is_empty());
        assert!(!vault["processing"].as_array().unwrap().is_empty());
        // The records' contents came sealed to the phone; only its private key opens them.
        let sealed = &vault["medical_contents"];
        assert_eq!(sealed["record_versions"], json!(0), "{sealed}");
        let encapped = <<hpke::kem::X25519HkdfSha256 as hpke::Kem>::EncappedKey as hpke::Deserializable>::from_bytes(
            &hex::decode(sealed["encapped_key"].as_str().unwrap()).unwrap(),
        )
        .unwrap();
        let opened = hpke::single_shot_open::<
            hpke::aead::ChaCha20Poly1305,
            hpke::kdf::HkdfSha256,
            hpke::kem::X25519HkdfSha256,
        >(
            &hpke::OpModeR::Base,
            &phone_secret,
            &encapped,
            vault_wire::EXPORT_HPKE_INFO,
            &hex::decode(sealed["ciphertext"].as_str().unwrap()).unwrap(),
            uuid::Uuid::parse_str(&id).unwrap().as_bytes(),
        )
        .unwrap();
        let opened: Value = serde_json::from_slice(&opened).unwrap();
        assert_eq!(opened, json!({"records": []}));
        let clinic = &data["clinic_app"];
        let past = clinic["appointments"]["past"].as_array().unwrap();
        assert_eq!(past.len(), 1, "{clinic}");
        assert_eq!(past[0]["appointment_id"], visit["appointment_id"]);
        assert_eq!(past[0]["service_name"], json!("Услуга B01.047.001"));
        let invoices = clinic["invoices"].as_array().unwrap();
        assert_eq!(invoices.len(), 1);
        assert_eq!(invoices[0]["paid_kopecks"], json!(250_000));
        assert_eq!(invoices[0]["payments"][0]["method"], json!("cash"));
        assert_eq!(clinic["data_requests"][0]["request_id"], json!(id));
        assert!(!clinic["processing"].as_array().unwrap().is_empty());
        assert!(!text.contains("Чужакова"), "nothing of the other patient");

        // The same as a document for a person.
        let (status, headers, page) =
            get_raw(&app, &session, &format!("{export}?format=html")).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(headers["cache-control"], "no-store");
        for expected in [
            "Сведения об обработке ваших персональных данных",
            "Запросова",
            "Тестовна",
            "+79161234567",
            "SMS-напоминания о приёмах",
            "Мобильное приложение пациента",
            "Услуга B01.047.001",
            "Терапевтова А. А.",
            "2500,00",
            "оплата наличными",
            "сведения о моих данных",
            "ответ дан",
            "402-FZ",
        ] {
            assert!(
                page.contains(expected),
                "{expected} missing from the document"
            );
        }
        let (status, body) = app.get(&session, &format!("{export}?format=pdf")).await;
        assert_eq!(
            (status, body["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("format"))
        );
        // Still nobody else's.
        assert_eq!(app.get(&others, &export).await.0, StatusCode::NOT_FOUND);
        // Nothing of the export was stored.
        assert_eq!(app.count("data_requests").await, 1);
    }
);

on_both_backends!(
    nothing_is_filed_while_the_vault_is_down,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app.register("Ждущая", "Анна", PHONE, SNILS).await;
        let (status, visit) = app.book(&app.reception, &token, 1, 10, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{visit}");
        let session = sign_in(&app, PHONE).await;
        let (challenge, code) = code_for(&app, PHONE).await;
        app.vault_link.set(false);
        for kind in ["access", "deletion"] {
            let (status, body) = app
                .post(&session, "/v1/me/data-requests", json!({"kind": kind}))
                .await;
            assert_eq!(
                (status, body["code"].clone()),
                (StatusCode::SERVICE_UNAVAILABLE, json!("vault_unavailable")),
                "{kind}: {body}"
            );
        }
        let (status, body) = app.get(&session, "/v1/me/consents").await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::SERVICE_UNAVAILABLE, json!("vault_unavailable"))
        );
        // Sign-in cannot check the consent: 503, and the code is not used up.
        let (status, body) = verify(&app, &challenge, &code, None).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::SERVICE_UNAVAILABLE, json!("vault_unavailable"))
        );
        // Nothing written, nothing cancelled, the account intact.
        assert_eq!(app.count("data_requests").await, 0);
        let rows = strings(
            &app,
            &format!(
                "SELECT status, cancelled_by FROM appointments WHERE patient_token = '{token}'"
            ),
        )
        .await;
        assert_eq!(rows, [("booked".to_owned(), None)]);
        assert_eq!(app.get(&session, "/v1/me").await.0, StatusCode::OK);
        // The list still answers from clinic-app's rows, saying it is not current.
        let (status, list) = app.get(&session, "/v1/me/data-requests").await;
        assert_eq!((status, list.clone()), (StatusCode::OK, json!([])));

        app.vault_link.set(true);
        let (status, body) = verify(&app, &challenge, &code, None).await;
        assert_eq!(status, StatusCode::OK, "the same code works: {body}");
        let (status, access) = app
            .post(&session, "/v1/me/data-requests", json!({"kind": "access"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{access}");
        app.vault_link.set(false);
        let (status, list) = app.get(&session, "/v1/me/data-requests").await;
        assert_eq!(status, StatusCode::OK, "{list}");
        assert_eq!(list[0]["request_id"], access["request_id"]);
        assert_eq!(list[0]["state"], json!("open"));
        assert_eq!(list[0]["current"], json!(false));
    }
);

on_both_backends!(
    a_deletion_settles_queued_care_ends_and_finishes_after_a_lost_answer,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app.register("Потеряева", "Анна", PHONE, SNILS).await;
        let session = sign_in(&app, PHONE).await;
        // A visit cancelled while the vault was unreachable: its care relationship's end waits
        // in the outbox.
        let (status, visit) = app.book(&app.reception, &token, 1, 10, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{visit}");
        app.vault_link.set(false);
        let (status, body) = app
            .post(
                &session,
                &format!(
                    "/v1/appointments/{}/cancel",
                    visit["appointment_id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["care_relationship_ended"], json!(false));
        app.vault_link.set(true);
        assert!(
            app.vault_care_relationships()
                .await
                .iter()
                .any(|(_, until)| *until > app.now()),
            "still open in the vault"
        );

        // The deletion delivers the queued end before the vault unlinks the token.
        let (status, answer) = app
            .post(
                &session,
                "/v1/me/data-requests",
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert!(
            app.vault_care_relationships()
                .await
                .iter()
                .all(|(_, until)| *until <= app.now()),
            "the queued end reached the vault before the token was unlinked"
        );
        assert_eq!(
            app.count(&format!("outbox WHERE patient_token = '{token}'"))
                .await,
            0
        );

        // Another patient: the vault has done it, clinic-app did not hear.
        // (Simulated: filed straight with the vault, as clinic-app would, the answer dropped.)
        let lost = app.register("Неуслышева", "Вера", OTHER_PHONE, SNILS).await;
        let lost_session = sign_in(&app, OTHER_PHONE).await;
        let (status, lost_visit) = app.book(&app.reception, &lost, 2, 10, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{lost_visit}");
        let client = vault_wire::VaultClient::new(
            &app.vault.base,
            vault_wire::Credential::Service {
                domain: "clinic-app".parse().unwrap(),
                secret: app
                    .vault
                    .clinic_credential
                    .strip_prefix("svc.clinic-app.")
                    .unwrap()
                    .to_owned(),
            },
        )
        .unwrap();
        let view = client
            .file_data_request(&vault_wire::FileDataRequest {
                patient: lost.parse().unwrap(),
                kind: vault_wire::DataRequestKind::Deletion,
                channel: vault_wire::Channel::PatientApp,
                recipient_key: None,
            })
            .await
            .unwrap();
        assert!(view.deletion.is_some());
        assert_eq!(
            rows_of(&app, "sessions", &lost).await,
            1,
            "clinic-app's part not done yet"
        );
        // Filing again finishes clinic-app's part.
        let (status, answer) = app
            .post(
                &lost_session,
                "/v1/me/data-requests",
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{answer}");
        assert_eq!(answer["state"], json!("completed"));
        assert!(
            answer["deletion"].get("vault").is_none(),
            "the vault's answer was lost: {answer}"
        );
        assert!(
            !answer["deletion"]["clinic_app"]["deleted"]
                .as_array()
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            answer["deletion"]["clinic_app"]["cancelled_appointments"],
            json!([lost_visit["appointment_id"]])
        );
        for table in ["sessions", "login_challenges", "outbox"] {
            assert_eq!(rows_of(&app, table, &lost).await, 0, "{table}");
        }
        let rows = strings(
            &app,
            &format!(
                "SELECT status, cancelled_by FROM appointments WHERE patient_token = '{lost}'"
            ),
        )
        .await;
        assert_eq!(
            rows,
            [("cancelled".to_owned(), Some("patient_request".to_owned()))]
        );
        let (status, body) = app
            .post(
                &app.reception,
                &format!("/v1/patients/{lost}/data-requests"),
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("duplicate_request"))
        );
        // A token nobody knows is not taken for a lost deletion.
        let (status, body) = app
            .post(
                &app.reception,
                &format!("/v1/patients/{UNKNOWN_TOKEN}/data-requests"),
                json!({"kind": "deletion"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::NOT_FOUND, json!("unknown_patient"))
        );
        assert_eq!(rows_of(&app, "data_requests", UNKNOWN_TOKEN).await, 0);
    }
);

#[test]
fn every_new_route_is_documented() {
    let doc = clinic_app::http::openapi::json();
    for operation in [
        "myConsents",
        "setMyConsent",
        "patientConsents",
        "setPatientConsent",
        "fileMyDataRequest",
        "listMyDataRequests",
        "fileDataRequestForPatient",
        "exportMyData",
    ] {
        assert!(
            doc.contains(&format!("\"{operation}\"")),
            "{operation} is documented"
        );
    }
    for path in [
        "/v1/me/consents/{purpose}",
        "/v1/patients/{token}/consents/{purpose}",
        "/v1/me/data-requests/{request_id}/export",
    ] {
        assert!(doc.contains(&format!("\"{path}\"")), "{path}");
    }
}
