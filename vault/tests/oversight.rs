//! The security officer's tools end to end, on both backends: audit search and counts, the
//! break-glass review queue with its working-day deadline, incidents with their 24 h / 72 h
//! clocks and evidence from the chain, and a patient's access report. Every call is for the
//! security officer alone, and every call (and every refusal) is itself audited.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

mod support;

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::app::{Staff, TestApp, identity};
use vault::audit::verify::verify;
use vault::clock::Clock;
use vault::store::{Backend, Database};

const DAY: i64 = 86_400;

fn now(app: &TestApp) -> i64 {
    app.clock.unix_seconds()
}

/// A second made-up patient, distinct in every indexed value.
fn other_identity() -> Value {
    let mut p = identity();
    p["surname"] = json!("Карандашова");
    p["phones"] = json!(["+79135550111"]);
    p["snils"] = json!("001-001-998 00");
    p["passport"] = json!("4510 654321");
    p
}

/// The stored text columns of one audit event, found by its sequence number.
async fn event(app: &TestApp, officer: &str, seq: i64) -> Value {
    let (status, v) = app
        .get(
            &format!(
                "/v1/audit/events?order=oldest&after_seq={}&limit=1",
                seq - 1
            ),
            officer,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let e = v["events"][0].clone();
    assert_eq!(e["seq"].as_i64(), Some(seq), "{v}");
    e
}

/// Runs a statement that the database is expected to refuse; returns whether it did.
async fn refused(app: &TestApp, sql: &str) -> bool {
    match &app.db.db {
        Database::Sqlite(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .is_err(),
        Database::Postgres(p) => sqlx::query(sqlx::AssertSqlSafe(sql.to_string()))
            .execute(p)
            .await
            .is_err(),
    }
}

/// A patient in Dr. House's care with one record, and Dr. Wilson breaking the glass on them:
/// the grant id, Wilson's token for the patient, the record id.
struct BreakGlass {
    house: Staff,
    wilson: Staff,
    house_session: String,
    wilson_session: String,
    clinic_token: String,
    token: String,
    grant: String,
    record: String,
    started_at: i64,
}

const JUSTIFICATION: &str = "Unconscious in ER, needs history, JUSTIFY-7731";

async fn break_glass(app: &TestApp) -> BreakGlass {
    let clinic_token = app.register(identity()).await;
    let house = app.staff("dr.house", policy::Role::Doctor).await;
    let wilson = app.staff("dr.wilson", policy::Role::Doctor).await;
    let house_session = app.login(&house).await;
    let wilson_session = app.login(&wilson).await;
    app.book(&house, &clinic_token).await;
    let (_, v) = app.get("/v1/me/patients", &house_session).await;
    let house_token = v["tokens"][0].as_str().unwrap().to_string();
    let (status, v) = app
        .post(
            &format!("/v1/patients/{house_token}/records"),
            &house_session,
            json!({"kind": "diagnosis", "body": {"kind": "diagnosis", "icd10": "K35.8", "text": "Острый аппендицит"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let record = v["record_id"].as_str().unwrap().to_string();

    let (_, v) = app
        .post(
            "/v1/patients/search",
            &wilson_session,
            json!({"snils": "112-233-445 95"}),
        )
        .await;
    let token = v["tokens"][0].as_str().unwrap().to_string();
    assert_eq!(token, house_token, "staff share one token domain");
    let started_at = now(app);
    let (status, v) = app
        .post(
            "/v1/break-glass",
            &wilson_session,
            json!({"patient": token, "reason": "ETREAT", "justification": JUSTIFICATION, "minutes": 30}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let grant = v["grant_id"].as_str().unwrap().to_string();
    // Two reads under the grant.
    let (status, _) = app
        .get(&format!("/v1/patients/{token}/records"), &wilson_session)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .get(
            &format!("/v1/patients/{token}/records/{record}"),
            &wilson_session,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    BreakGlass {
        house,
        wilson,
        house_session,
        wilson_session,
        clinic_token,
        token,
        grant,
        record,
        started_at,
    }
}

async fn officer(app: &TestApp) -> (Staff, String) {
    let so = app.staff("so.petrova", policy::Role::SecurityOfficer).await;
    let session = app.login(&so).await;
    (so, session)
}

async fn audit_search_and_counts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clinic_token = app.register(identity()).await;
    app.post(
        "/v1/resolve",
        &app.clinic,
        json!({"tokens": [clinic_token], "fields": ["surname"], "purpose": "scheduling"}),
    )
    .await;
    let doctor = app.staff("dr.house", policy::Role::Doctor).await;
    let reception = app.staff("reception.1", policy::Role::Receptionist).await;
    let doctor_session = app.login(&doctor).await;
    let reception_session = app.login(&reception).await;
    let (so, officer) = officer(&app).await;

    // Non-officers are refused, and each refusal is an audit event.
    for (who, bearer) in [
        (doctor.id.as_str(), doctor_session.as_str()),
        (reception.id.as_str(), reception_session.as_str()),
        ("service:clinic-app", app.clinic.as_str()),
    ] {
        for path in [
            "/v1/audit/events",
            "/v1/audit/counts",
            "/v1/break-glass/reviews",
            "/v1/incidents",
        ] {
            let (status, v) = app.get(path, bearer).await;
            assert_eq!(
                (status, v["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("forbidden")),
                "{who} {path}: {v}"
            );
        }
        let denied = app
            .raw_count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE principal = '{who}' AND decision = 'deny' AND action IN ('search_audit', 'list_break_glass_reviews', 'list_incidents')"
            ))
            .await;
        assert_eq!(denied, 4, "{who}");
    }
    let (status, _) = app.call(Method::GET, "/v1/audit/events", None, None).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Newest first by default, paged by after_seq.
    let total = app.raw_count("SELECT COUNT(*) FROM audit_events").await;
    let (status, v) = app.get("/v1/audit/events?limit=3", &officer).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let page1 = v["events"].as_array().unwrap().clone();
    assert_eq!(page1.len(), 3);
    // The search itself is the newest event.
    assert_eq!(page1[0]["seq"].as_i64(), Some(total + 1));
    assert_eq!(page1[0]["action"], json!("search_audit"));
    assert_eq!(page1[0]["principal"], json!(so.id));
    assert_eq!(page1[0]["role"], json!("security_officer"));
    assert_eq!(page1[0]["branch"], json!("msk-1"));
    assert_eq!(
        page1[0]["reasons"],
        json!("security-officer-audit; filters:limit")
    );
    assert!(page1[0].get("patient_token").is_none(), "{v}");
    assert_eq!(page1[0]["entry_hash"].as_str().unwrap().len(), 64);
    assert!(page1[0]["request_id"].is_string());
    let seqs: Vec<i64> = page1.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "{seqs:?}");
    let after = v["next_after_seq"].as_i64().unwrap();
    assert_eq!(after, seqs[2]);
    let (_, v) = app
        .get(
            &format!("/v1/audit/events?limit=3&after_seq={after}"),
            &officer,
        )
        .await;
    assert_eq!(v["events"][0]["seq"].as_i64(), Some(after - 1));
    // Oldest first from the start; the last page says so.
    let (_, v) = app
        .get("/v1/audit/events?order=oldest&limit=500", &officer)
        .await;
    let all = v["events"].as_array().unwrap();
    assert_eq!(all[0]["seq"].as_i64(), Some(1));
    assert!(v.get("next_after_seq").is_none(), "{v}");
    assert!(all.len() as i64 >= total + 2);

    // Filters combine; the register event names clinic-app and its token.
    let (_, v) = app
        .get(
            &format!(
                "/v1/audit/events?principal=service:clinic-app&patient_token={clinic_token}&action=register_patient&decision=permit"
            ),
            &officer,
        )
        .await;
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["patient_token"], json!(clinic_token));
    let (_, v) = app
        .get("/v1/audit/events?purpose=scheduling", &officer)
        .await;
    let events = v["events"].as_array().unwrap();
    assert_eq!(events.len(), 1, "{v}");
    assert_eq!(events[0]["action"], json!("resolve"));
    let (_, v) = app
        .get(
            &format!("/v1/audit/events?decision=deny&principal={}", doctor.id),
            &officer,
        )
        .await;
    assert_eq!(v["events"].as_array().unwrap().len(), 4, "{v}");
    let (_, v) = app.get("/v1/audit/events?branch=spb-2", &officer).await;
    assert_eq!(v["events"], json!([]));
    let t = now(&app);
    let (_, v) = app
        .get(
            &format!("/v1/audit/events?from={}&until={}", t + 1, t + 100),
            &officer,
        )
        .await;
    assert_eq!(v["events"], json!([]), "nothing in the future");

    // The search with a token names the filter, never the token.
    let n = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'search_audit' AND principal = '{}' AND reasons LIKE '%filters:principal,patient_token,action,decision%' AND patient_token IS NULL",
            so.id
        ))
        .await;
    assert_eq!(n, 1);
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'search_audit' AND reasons LIKE '%{clinic_token}%'"
        ))
        .await,
        0
    );

    // Counts per UTC day and per principal.
    let before = app.raw_count("SELECT COUNT(*) FROM audit_events").await;
    let (status, v) = app.get("/v1/audit/counts", &officer).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["total"].as_i64(), Some(before + 1), "{v}");
    assert_eq!(
        v["per_day"],
        json!([{"date": "2027-01-15", "count": before + 1}])
    );
    let per_principal = v["per_principal"].as_array().unwrap();
    let clinic = per_principal
        .iter()
        .find(|p| p["principal"] == json!("service:clinic-app"))
        .unwrap();
    assert_eq!(clinic["role"], json!("service"));
    assert_eq!(
        clinic["count"].as_i64().unwrap(),
        app.raw_count("SELECT COUNT(*) FROM audit_events WHERE principal = 'service:clinic-app'")
            .await
    );
    app.clock.advance(Duration::from_secs(DAY as u64));
    let officer = app.login(&so).await;
    let (_, v) = app
        .get(
            "/v1/audit/counts?action=search_audit&decision=deny",
            &officer,
        )
        .await;
    assert_eq!(v["total"].as_i64(), Some(6), "{v}");
    assert_eq!(v["per_principal"].as_array().unwrap().len(), 3, "{v}");
    let (_, v) = app
        .get("/v1/audit/counts?action=search_audit", &officer)
        .await;
    let days: Vec<&str> = v["per_day"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["date"].as_str().unwrap())
        .collect();
    assert_eq!(days, ["2027-01-15", "2027-01-16"]);

    // Bad queries: a clear 400 naming the parameter, never echoing the value.
    for (query, needle) in [
        ("/v1/audit/counts?limit=5", "filters only"),
        ("/v1/audit/events?limit=501", "limit"),
        ("/v1/audit/events?decision=Zyuzikova", "decision"),
        ("/v1/audit/events?purpose=Zyuzikova", "purpose"),
        ("/v1/audit/events?patient_token=Zyuzikova", "patient token"),
        ("/v1/audit/events?from=20&until=10", "until"),
        ("/v1/audit/events?colour=red", "colour"),
        ("/v1/audit/events?from=soon", "from"),
    ] {
        let (status, v) = app.get(query, &officer).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_query")),
            "{query}: {v}"
        );
        let message = v["message"].as_str().unwrap();
        assert!(message.contains(needle), "{query}: {message}");
        assert!(!message.contains("Zyuzikova"), "{query}: {message}");
    }
}
on_both_backends!(
    officer_searches_and_counts_the_audit,
    audit_search_and_counts
);

async fn review_queue(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // 2027-01-15 08:00 UTC, the test clock's start, is a Friday.
    assert_eq!(now(&app), 1_800_000_000);
    let bg = break_glass(&app).await;
    let (so, officer) = officer(&app).await;
    let reception = app.staff("reception.1", policy::Role::Receptionist).await;

    let (status, v) = app
        .get("/v1/break-glass/reviews?state=pending", &officer)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let reviews = v["reviews"].as_array().unwrap();
    assert_eq!(reviews.len(), 1, "{v}");
    let r = &reviews[0];
    assert_eq!(r["grant_id"], json!(bg.grant));
    assert_eq!(r["doctor_staff_id"], json!(bg.wilson.id));
    assert_eq!(r["patient_token"], json!(bg.token));
    assert_eq!(r["reason_code"], json!("ETREAT"));
    assert_eq!(r["started_at"].as_i64(), Some(bg.started_at));
    assert_eq!(r["expires_at"].as_i64(), Some(bg.started_at + 30 * 60));
    assert!(r.get("ended_at").is_none());
    // Friday 08:00 plus three working days is Wednesday 08:00.
    let deadline = bg.started_at + 5 * DAY;
    assert_eq!(r["review_deadline"].as_i64(), Some(deadline));
    assert_eq!(r["overdue"], json!(false));
    assert_eq!(r["state"], json!("pending"));
    assert_eq!(r["justification"], json!(JUSTIFICATION));
    assert_eq!(r["justification_status"], json!("shown"));
    assert_eq!(r["reviews"], json!([]));
    // The reads under the grant, by their audit events.
    assert_eq!(r["reads"]["count"].as_u64(), Some(2), "{r}");
    let reads: Vec<i64> = r["reads"]["seqs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_i64().unwrap())
        .collect();
    let mut actions = Vec::new();
    for seq in &reads {
        let e = event(&app, &officer, *seq).await;
        assert_eq!(e["principal"], json!(bg.wilson.id));
        assert_eq!(e["patient_token"], json!(bg.token));
        assert_eq!(e["reason_code"], json!("ETREAT"));
        assert!(e["reasons"].as_str().unwrap().contains(&bg.grant), "{e}");
        actions.push(e["action"].as_str().unwrap().to_string());
    }
    assert_eq!(actions, ["list_records", "read_record"]);
    // Opening the justification was audited first, naming the patient's token.
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'read_justification' AND principal = '{}' AND patient_token = '{}' AND reasons LIKE '%grant:{}%'",
            so.id, bg.token, bg.grant
        ))
        .await,
        1
    );
    // The justification text is in no audit event.
    assert!(!app.audit_dump().await.contains("JUSTIFY-7731"));

    // Not overdue on Wednesday at the deadline itself; overdue one second later.
    app.clock
        .advance(Duration::from_secs((deadline - now(&app)) as u64));
    let officer = app.login(&so).await;
    let (_, v) = app.get("/v1/break-glass/reviews", &officer).await;
    assert_eq!(v["reviews"][0]["overdue"], json!(false), "{v}");
    app.clock.advance(Duration::from_secs(1));
    let (_, v) = app.get("/v1/break-glass/reviews", &officer).await;
    assert_eq!(v["reviews"][0]["overdue"], json!(true), "{v}");

    // Neither doctor may review, nor reception; each refusal is audited.
    let review = |decision: &str, comment: &str| json!({"decision": decision, "comment": comment});
    let path = format!("/v1/break-glass/reviews/{}", bg.grant);
    let wilson = app.login(&bg.wilson).await;
    let house = app.login(&bg.house).await;
    let reception_session = app.login(&reception).await;
    for (who, bearer) in [
        (&bg.wilson, &wilson),
        (&bg.house, &house),
        (&reception, &reception_session),
    ] {
        let (status, v) = app
            .post(&path, bearer, review("justified", "my own call"))
            .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("forbidden")),
            "{v}"
        );
        assert_eq!(
            app.raw_count(&format!(
                "SELECT COUNT(*) FROM audit_events WHERE action = 'review_break_glass' AND principal = '{}' AND decision = 'deny'",
                who.id
            ))
            .await,
            1
        );
    }
    let (status, _) = app.get("/v1/break-glass/reviews", &wilson).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let _ = (&bg.house_session, &bg.wilson_session);

    // Bad input: nothing is written.
    for (body, code) in [
        (review("justified", "   "), "invalid_field"),
        (review("maybe", "fine"), "invalid_field"),
        (json!({"decision": "justified"}), "invalid_field"),
    ] {
        let (status, v) = app.post(&path, &officer, body).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{v}"
        );
    }
    let (status, v) = app
        .post(
            &format!("/v1/break-glass/reviews/{}", uuid::Uuid::new_v4()),
            &officer,
            review("justified", "fine"),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_grant")),
        "{v}"
    );
    let (status, v) = app
        .post(
            "/v1/break-glass/reviews/not-a-uuid",
            &officer,
            review("justified", "fine"),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{v}");
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM break_glass_reviews")
            .await,
        0
    );

    // needs_info, then a final decision; the history is kept.
    let (status, v) = app
        .post(
            &path,
            &officer,
            review("needs_info", "Please describe the emergency, COMMENT-5512"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], json!("needs_info"));
    assert!(v.get("incident").is_none());
    let (_, v) = app
        .get("/v1/break-glass/reviews?state=pending", &officer)
        .await;
    assert_eq!(v["reviews"], json!([]));
    let (_, v) = app
        .get("/v1/break-glass/reviews?state=needs_info", &officer)
        .await;
    let r = &v["reviews"][0];
    assert_eq!(r["state"], json!("needs_info"));
    assert_eq!(r["overdue"], json!(true), "needs_info is not final");
    assert_eq!(r["reviews"][0]["decision"], json!("needs_info"));
    assert_eq!(r["reviews"][0]["reviewer_staff_id"], json!(so.id));
    assert_eq!(
        r["reviews"][0]["comment"],
        json!("Please describe the emergency, COMMENT-5512")
    );
    let (status, v) = app
        .post(
            &path,
            &officer,
            review("justified", "Confirmed with the ER head"),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], json!("justified"));
    let (_, v) = app
        .get("/v1/break-glass/reviews?state=justified", &officer)
        .await;
    let r = &v["reviews"][0];
    assert_eq!(r["overdue"], json!(false), "final: no longer overdue");
    assert_eq!(r["reviews"].as_array().unwrap().len(), 2);
    for d in ["unjustified", "needs_info", "justified"] {
        let (status, v) = app
            .post(&path, &officer, review(d, "changed my mind"))
            .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::CONFLICT, Some("already_reviewed")),
            "{v}"
        );
    }
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM break_glass_reviews")
            .await,
        2
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM incidents").await, 0);
    // Reviews are evidence: the database refuses to change or delete them.
    assert!(
        refused(
            &app,
            "UPDATE break_glass_reviews SET decision = 'unjustified'"
        )
        .await
    );
    assert!(refused(&app, "DELETE FROM break_glass_reviews").await);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM break_glass_reviews WHERE decision = 'justified'")
            .await,
        1
    );
    // Comments are sealed, not stored in clear.
    let stored = app
        .raw_bytes("SELECT comment_envelope FROM break_glass_reviews")
        .await;
    assert!(
        stored
            .iter()
            .all(|b| !String::from_utf8_lossy(b).contains("COMMENT-5512"))
    );
    assert!(!app.audit_dump().await.contains("COMMENT-5512"));

    // Whatever the policy says, nobody reviews a grant they held: a grant row naming the
    // officer (as a database writer could insert) is refused, and its justification, bound to
    // another grant id, shows as unreadable instead of hiding the queue.
    let forged = uuid::Uuid::new_v4();
    app.raw_exec(&format!(
        "INSERT INTO break_glass_grants (grant_id, staff_id, patient_id, reason_code, justification_envelope, started_at, expires_at) \
         SELECT '{forged}', '{}', patient_id, reason_code, justification_envelope, started_at, expires_at FROM break_glass_grants WHERE grant_id = '{}'",
        so.id, bg.grant
    ))
    .await;
    let (status, v) = app
        .post(
            &format!("/v1/break-glass/reviews/{forged}"),
            &officer,
            review("justified", "fine"),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("own_grant")),
        "{v}"
    );
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'review_break_glass' AND decision = 'deny' AND reasons LIKE '%reviewer-held-the-grant%' AND principal = '{}'",
            so.id
        ))
        .await,
        1
    );
    let (status, v) = app
        .get("/v1/break-glass/reviews?state=pending", &officer)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["reviews"][0]["grant_id"], json!(forged.to_string()));
    assert_eq!(v["reviews"][0]["justification_status"], json!("unreadable"));
    assert!(v["reviews"][0].get("justification").is_none());
    let _ = (&bg.clinic_token, &bg.record);
}
on_both_backends!(break_glass_grants_wait_in_the_review_queue, review_queue);

async fn unjustified_opens_an_incident(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let bg = break_glass(&app).await;
    let (so, officer) = officer(&app).await;
    let path = format!("/v1/break-glass/reviews/{}", bg.grant);

    // Reviewed while the grant is still live: the grant ends at once.
    app.clock.advance(Duration::from_secs(60));
    let detected = now(&app);
    let (status, v) = app
        .post(
            &path,
            &officer,
            json!({"decision": "unjustified", "comment": "No emergency on record"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["state"], json!("unjustified"));
    let opened = &v["incident"];
    assert_eq!(opened["detected_at"].as_i64(), Some(detected));
    assert_eq!(
        opened["notify_roskomnadzor_by"].as_i64(),
        Some(detected + DAY)
    );
    assert_eq!(opened["results_by"].as_i64(), Some(detected + 3 * DAY));
    let incident_id = opened["incident_id"].as_str().unwrap().to_string();
    let wilson = app.login(&bg.wilson).await;
    let (status, _) = app
        .get(
            &format!("/v1/patients/{}/records/{}", bg.token, bg.record),
            &wilson,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the grant was revoked");
    let (status, v) = app
        .post(
            &path,
            &officer,
            json!({"decision": "justified", "comment": "second thoughts"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_reviewed"))
    );

    let (status, v) = app.get("/v1/incidents", &officer).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let incidents = v["incidents"].as_array().unwrap();
    assert_eq!(incidents.len(), 1);
    let i = &incidents[0];
    assert_eq!(i["incident_id"], json!(incident_id));
    assert_eq!(i["grant_id"], json!(bg.grant));
    assert_eq!(i["doctor_staff_id"], json!(bg.wilson.id));
    assert_eq!(i["patient_token"], json!(bg.token));
    assert_eq!(i["status"], json!("open"));
    assert_eq!(i["overdue_24h"], json!(false));
    assert_eq!(i["overdue_72h"], json!(false));
    assert_eq!(i["evidence"]["from"].as_i64(), Some(bg.started_at));
    assert_eq!(i["evidence"]["until"].as_i64(), Some(detected));

    // The evidence: Wilson's events about the patient during the grant, as the chain holds them.
    let evidence: Vec<(i64, String)> = i["evidence"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["seq"].as_i64().unwrap(),
                e["entry_hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut actions = Vec::new();
    for (seq, hash) in &evidence {
        let e = event(&app, &officer, *seq).await;
        assert_eq!(&e["entry_hash"], &json!(hash), "seq {seq}");
        assert_eq!(e["principal"], json!(bg.wilson.id));
        actions.push(e["action"].as_str().unwrap().to_string());
    }
    assert_eq!(
        actions,
        ["start_break_glass", "list_records", "read_record"],
        "{evidence:?}"
    );
    // The chain verifies, so these hashes are the chain's.
    let report = verify(&app.db.db, app.state.sealed.custody().provider().clone())
        .await
        .unwrap();
    assert!(report.passed(), "{report:?}");
    // A signed checkpoint covers the evidence (checkpoints every 5 events in tests).
    for _ in 0..5 {
        app.get("/v1/audit/events?limit=1", &officer).await;
    }
    let (_, v) = app.get("/v1/incidents", &officer).await;
    let cp = &v["incidents"][0]["evidence"]["checkpoint"];
    let last = evidence.last().unwrap().0;
    assert!(cp["seq"].as_i64().unwrap() >= last, "{cp}");
    let head = event(&app, &officer, cp["seq"].as_i64().unwrap()).await;
    assert_eq!(cp["head_hash"], head["entry_hash"], "{cp}");
    assert!(!cp["mac"].as_str().unwrap().is_empty());

    // The review is audited with the incident; the queue shows it.
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'review_break_glass' AND decision = 'permit' AND principal = '{}' AND patient_token = '{}' AND reasons LIKE '%incident:{incident_id}%' AND reasons LIKE '%grant_revoked%'",
            so.id, bg.token
        ))
        .await,
        1
    );
    let (_, v) = app
        .get("/v1/break-glass/reviews?state=unjustified", &officer)
        .await;
    assert_eq!(v["reviews"][0]["incident_id"], json!(incident_id));
    assert_eq!(v["reviews"][0]["ended_at"].as_i64(), Some(detected));

    // The 24-hour clock.
    app.clock.advance(Duration::from_secs(DAY as u64 + 1));
    let officer = app.login(&so).await;
    let (_, v) = app.get("/v1/incidents?status=open", &officer).await;
    let i = &v["incidents"][0];
    assert_eq!(
        (i["overdue_24h"].clone(), i["overdue_72h"].clone()),
        (json!(true), json!(false))
    );
    let milestone = |m: &str| format!("/v1/incidents/{incident_id}/{m}");
    let (status, v) = app.post(&milestone("results"), &officer, json!({})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_notified")),
        "{v}"
    );
    for at in [now(&app) + 10, detected - 10] {
        let (status, v) = app
            .post(&milestone("notified"), &officer, json!({"at": at}))
            .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_time")),
            "{v}"
        );
    }
    let (status, v) = app
        .post(
            &milestone("notified"),
            &officer,
            json!({"at": detected + 3600}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], json!("notified"));
    assert_eq!(v["notified_at"].as_i64(), Some(detected + 3600));
    assert_eq!(v["overdue_24h"], json!(false));
    let (status, v) = app.post(&milestone("notified"), &officer, json!({})).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("already_recorded"))
    );
    let (status, v) = app
        .post(
            &format!("/v1/incidents/{}/notified", uuid::Uuid::new_v4()),
            &officer,
            json!({}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_incident"))
    );
    let (status, _) = app
        .post(
            &milestone("notified"),
            &app.login(&bg.house).await,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // The 72-hour clock.
    app.clock.advance(Duration::from_secs(2 * DAY as u64));
    let officer = app.login(&so).await;
    let (_, v) = app.get("/v1/incidents", &officer).await;
    assert_eq!(v["incidents"][0]["overdue_72h"], json!(true), "{v}");
    let (status, v) = app.post(&milestone("results"), &officer, json!({})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["status"], json!("closed"));
    assert_eq!(v["results_sent_at"].as_i64(), Some(now(&app)));
    assert_eq!(v["overdue_72h"], json!(false));
    let (_, v) = app.get("/v1/incidents?status=closed", &officer).await;
    assert_eq!(v["incidents"].as_array().unwrap().len(), 1);
    let (_, v) = app.get("/v1/incidents?status=open", &officer).await;
    assert_eq!(v["incidents"], json!([]));
    let (status, _) = app.get("/v1/incidents?status=lost", &officer).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Incidents and their evidence are append-only.
    for sql in [
        "UPDATE incidents SET notify_by = 0",
        "DELETE FROM incident_evidence",
        "DELETE FROM incident_milestones",
    ] {
        assert!(refused(&app, sql).await, "{sql}");
    }
    let _ = &bg.clinic_token;
}
on_both_backends!(
    an_unjustified_review_opens_an_incident,
    unjustified_opens_an_incident
);

async fn access_report(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clinic_token = app.register(identity()).await;
    let other_clinic_token = app.register(other_identity()).await;
    let house = app.staff("dr.house", policy::Role::Doctor).await;
    let house_session = app.login(&house).await;
    app.book(&house, &clinic_token).await;
    let (_, v) = app.get("/v1/me/patients", &house_session).await;
    let token = v["tokens"][0].as_str().unwrap().to_string();
    let (status, _) = app
        .post(
            &format!("/v1/patients/{token}/records"),
            &house_session,
            json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "Кашель"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    app.get(&format!("/v1/patients/{token}/records"), &house_session)
        .await;
    app.post(
        "/v1/resolve",
        &app.clinic,
        json!({"tokens": [clinic_token], "fields": ["surname", "phones"], "purpose": "reminder"}),
    )
    .await;
    // Reception works with the other patient only.
    let reception = app.staff("reception.1", policy::Role::Receptionist).await;
    let reception_session = app.login(&reception).await;
    let (_, v) = app
        .post(
            "/v1/patients/search",
            &reception_session,
            json!({"snils": "001-001-998 00"}),
        )
        .await;
    let other_token = v["tokens"][0].as_str().unwrap().to_string();
    app.post(
        "/v1/resolve",
        &reception_session,
        json!({"tokens": [other_token], "fields": ["surname"], "purpose": "scheduling"}),
    )
    .await;
    app.post(
        "/v1/resolve",
        &app.clinic,
        json!({"tokens": [other_clinic_token], "fields": ["surname"], "purpose": "scheduling"}),
    )
    .await;

    let (so, officer) = officer(&app).await;
    let (status, v) = app
        .get(&format!("/v1/patients/{token}/access-report"), &officer)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let entries = v["entries"].as_array().unwrap();
    // Every event naming one of this patient's tokens (both domains), and nothing else; the
    // report's own event is the newest.
    let mine = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE patient_token IN ('{token}', '{clinic_token}')"
        ))
        .await;
    assert_eq!(entries.len() as i64, mine, "{v}");
    assert_eq!(entries[0]["action"], json!("access_report"));
    assert_eq!(entries[0]["role"], json!("security_officer"));
    let seqs: Vec<i64> = entries.iter().map(|e| e["seq"].as_i64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first");
    let text = v.to_string();
    for absent in [
        other_token.as_str(),
        other_clinic_token.as_str(),
        token.as_str(),
        clinic_token.as_str(),
        "receptionist",
        "scheduling",
        "Зюзикова",
        "Карандашова",
    ] {
        assert!(!text.contains(absent), "{absent} in {text}");
    }
    let read = entries
        .iter()
        .find(|e| e["action"] == json!("list_records"))
        .unwrap();
    assert_eq!(read["role"], json!("doctor"));
    assert_eq!(read["branch"], json!("msk-1"));
    assert_eq!(read["purpose"], json!("treatment"));
    assert_eq!(read["decision"], json!("permit"));
    assert_eq!(
        read["staff_id"],
        json!(house.id),
        "the officer sees staff ids"
    );
    assert!(read["at"].as_i64().unwrap() > 0);
    let reminder = entries
        .iter()
        .find(|e| e["purpose"] == json!("reminder"))
        .unwrap();
    assert_eq!(reminder["role"], json!("service"));
    assert_eq!(reminder["service"], json!("clinic-app"));
    assert!(reminder.get("staff_id").is_none());
    assert!(
        entries
            .iter()
            .any(|e| e["action"] == json!("register_patient"))
    );
    // Paging.
    let (_, v) = app
        .get(
            &format!("/v1/patients/{token}/access-report?limit=2"),
            &officer,
        )
        .await;
    let after = v["next_after_seq"].as_i64().unwrap();
    let (_, v) = app
        .get(
            &format!("/v1/patients/{token}/access-report?limit=500&after_seq={after}"),
            &officer,
        )
        .await;
    assert!(
        v["entries"]
            .as_array()
            .unwrap()
            .iter()
            .all(|e| e["seq"].as_i64().unwrap() < after)
    );

    // The report is audited with the patient's token.
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'access_report' AND principal = '{}' AND patient_token = '{token}' AND decision = 'permit'",
            so.id
        ))
        .await,
        3
    );
    // Officer only for now: a doctor, and clinic-app with its own token, are refused and audited.
    let (status, _) = app
        .get(
            &format!("/v1/patients/{token}/access-report"),
            &house_session,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .get(
            &format!("/v1/patients/{clinic_token}/access-report"),
            &app.clinic,
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.raw_count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'access_report' AND decision = 'deny'"
        )
        .await,
        2
    );
    // A token of another domain is not found in the officer's.
    let (status, v) = app
        .get(
            &format!("/v1/patients/{clinic_token}/access-report"),
            &officer,
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("unknown_token")),
        "{v}"
    );
    let (status, _) = app
        .get("/v1/patients/not-a-token/access-report", &officer)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}
on_both_backends!(
    a_patients_access_report_lists_only_their_accesses,
    access_report
);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_the_officer_operations() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, v) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = v.to_string();
    for op in [
        "searchAudit",
        "auditCounts",
        "accessReport",
        "listBreakGlassReviews",
        "reviewBreakGlass",
        "listIncidents",
        "incidentNotified",
        "incidentResultsSent",
    ] {
        assert!(
            text.contains(&format!("\"operationId\":\"{op}\"")),
            "{op} missing"
        );
    }
    for param in ["after_seq", "patient_token", "state"] {
        assert!(text.contains(&format!("\"name\":\"{param}\"")), "{param}");
    }
}
