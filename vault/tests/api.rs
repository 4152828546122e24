//! The vault's HTTP API end to end, on both backends with keys in the SoftHSM2 token: patients,
//! pseudonyms, search, resolve under policy, records with care relationships and break-glass,
//! sign-in, bad input, and failing closed when the audit cannot be written.
#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

mod support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use support::app::{PASSWORD, TestApp, identity};
use vault::store::Backend;

/// Values of `identity()` that must never appear outside the sealed store.
const PII: [&str; 6] = [
    "Зюзикова",
    "Евлампия",
    "913",
    "112-233-445",
    "4506",
    "Томск",
];

fn field<'a>(patient: &'a Value, name: &str) -> &'a Value {
    &patient["fields"][name]
}

/// A receptionist's session, and the staff-domain token of the patient with `phone`.
async fn reception_finds(app: &TestApp, phone: &str) -> (String, String) {
    let reception = app.staff("reception.1", policy::Role::Receptionist).await;
    let bearer = app.login(&reception).await;
    let (_, v) = app
        .post("/v1/patients/search", &bearer, json!({"phone": phone}))
        .await;
    (bearer, v["tokens"][0].as_str().unwrap().to_string())
}

/// The patient id behind a clinic-app token, read from the store.
async fn patient_behind(app: &TestApp, token: &str) -> vault::ids::PatientId {
    let found = vault::store::patients::resolve_batch(
        &app.db.db,
        "clinic-app",
        &[token.to_owned()],
        &["surname"],
        1,
    )
    .await
    .unwrap();
    found[0].as_ref().unwrap().patient
}

async fn register_search_resolve(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.register(identity()).await;
    assert!(token.starts_with("pt_") && token.len() == 29, "{token}");

    // The same patient is found by any indexed value, written any way a receptionist types it.
    for criterion in [
        json!({"phone": "8 913 555 01 77"}),
        json!({"snils": "11223344595"}),
        json!({"passport": "45 06 123456"}),
        json!({"surname_name_birth": {"surname": "ЗЮЗИКОВА", "name": "евлампия", "birth_date": "1961-02-03"}}),
    ] {
        let (status, v) = app
            .post("/v1/patients/search", &app.clinic, criterion.clone())
            .await;
        assert_eq!(status, StatusCode::OK, "{criterion}: {v}");
        assert_eq!(v["tokens"], json!([token]), "{criterion}");
    }
    let (_, v) = app
        .post(
            "/v1/patients/search",
            &app.clinic,
            json!({"phone": "+79135550000"}),
        )
        .await;
    assert_eq!(v["tokens"], json!([]));

    // Scheduling: name and phone shown; documents are not for scheduling; unknown token not found.
    let unknown = "pt_aaaaaaaaaaaaaaaaaaaaaaaaaa";
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token, unknown], "fields": ["surname", "phones", "snils"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let p = &v["patients"][0];
    assert_eq!(p["found"], json!(true));
    assert_eq!(
        field(p, "surname"),
        &json!({"status": "shown", "value": "Зюзикова"})
    );
    assert_eq!(field(p, "phones")["value"], json!(["+79135550177"]));
    assert_eq!(field(p, "snils")["status"], json!("withheld"));
    assert!(
        field(p, "snils")["reason"]
            .as_str()
            .unwrap()
            .starts_with("policy"),
        "{v}"
    );
    assert_eq!(
        v["patients"][1],
        json!({"token": unknown, "found": false, "fields": {}})
    );

    // A receipt carries no personal data at all (54-FZ).
    let (_, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token], "fields": ["surname", "phones"], "purpose": "receipt"}),
        )
        .await;
    assert_eq!(
        field(&v["patients"][0], "surname")["status"],
        json!("withheld")
    );
    assert_eq!(
        field(&v["patients"][0], "phones")["status"],
        json!("withheld")
    );

    // A tax certificate gets the INN, masked (documents are masked outside treatment/legal).
    let (_, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token], "fields": ["inn", "name"], "purpose": "tax_certificate"}),
        )
        .await;
    assert_eq!(field(&v["patients"][0], "name")["status"], json!("shown"));

    // Update: the new phone is findable, the old one no longer.
    let (status, v) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{token}"),
            Some(&app.clinic),
            Some(json!({"phones": ["+79135550188"]})),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "clinic-app may not update identities: {v}"
    );
    let (bearer, staff_token) = reception_finds(&app, "+79135550177").await;
    assert_ne!(
        staff_token, token,
        "staff and clinic-app get unlinkable tokens"
    );
    let (status, v) = app
        .call(
            Method::PATCH,
            &format!("/v1/patients/{staff_token}"),
            Some(&bearer),
            Some(json!({"phones": ["+79135550188"], "surname": "Зюзикова-Петрова"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["updated_fields"],
        json!(["surname", "phones", "full_name"])
    );
    let (_, v) = app
        .post(
            "/v1/patients/search",
            &bearer,
            json!({"phone": "+79135550188"}),
        )
        .await;
    assert_eq!(v["tokens"], json!([staff_token]));
    let (_, v) = app
        .post(
            "/v1/patients/search",
            &bearer,
            json!({"phone": "+79135550177"}),
        )
        .await;
    assert_eq!(v["tokens"], json!([]));
    let (_, v) = app
        .post("/v1/patients/search", &bearer, json!({"surname_name_birth": {"surname": "Зюзикова-Петрова", "name": "Евлампия", "birth_date": "1961-02-03"}}))
        .await;
    assert_eq!(
        v["tokens"],
        json!([staff_token]),
        "the combined index follows the new surname"
    );

    // The audit has an event per decision and holds no personal data.
    let audit = app.audit_dump().await;
    assert!(audit.contains("register_patient"), "{audit}");
    assert!(
        audit.contains("|resolve|") && audit.contains("|deny|"),
        "{audit}"
    );
    for pii in PII {
        assert!(!audit.contains(pii), "{pii} in audit");
    }
    // The stored identity is ciphertext only.
    let envelopes = app.raw_bytes("SELECT envelope FROM identity_fields").await;
    assert_eq!(
        envelopes.len(),
        12,
        "one envelope per field, full_name included"
    );
    for pii in PII {
        assert!(
            !envelopes
                .iter()
                .any(|e| e.windows(pii.len()).any(|w| w == pii.as_bytes())),
            "{pii} in clear"
        );
    }
}
on_both_backends!(
    patients_are_registered_found_and_resolved_under_policy,
    register_search_resolve
);

async fn records_with_care_and_break_glass(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clinic_token = app.register(identity()).await;
    let doctor = app.staff("dr.house", policy::Role::Doctor).await;
    let other = app.staff("dr.wilson", policy::Role::Doctor).await;

    // Doctors need their second factor.
    let (status, v) = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"username": "dr.house", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("totp_required"))
    );
    let (status, v) = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"username": "dr.house", "password": "wrong password!", "totp": "000000"})),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_credentials"))
    );
    let house = app.login(&doctor).await;
    let wilson = app.login(&other).await;
    // A TOTP code works once (RFC 6238 section 5.2); the next time step gives a new one.
    let replay = json!({"username": "dr.house", "password": PASSWORD, "totp": app.totp(&doctor)});
    let (status, _) = app
        .call(Method::POST, "/v1/login", None, Some(replay))
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "replayed TOTP code accepted"
    );
    app.clock.advance(std::time::Duration::from_secs(30));
    let house = {
        let _ = house;
        app.login(&doctor).await
    };

    // clinic-app can only report real doctors, for bounded windows.
    let reception = app
        .staff("reception.book", policy::Role::Receptionist)
        .await;
    let now = vault::clock::Clock::unix_seconds(&*app.clock);
    for (doctor_id, until, code) in [
        ("no-such-staff".to_string(), now + 3600, "unknown_doctor"),
        (reception.id.clone(), now + 3600, "unknown_doctor"),
        (doctor.id.clone(), now + 91 * 24 * 3600, "window_too_long"),
    ] {
        let (status, v) = app
            .call(
                Method::PUT,
                "/v1/care-relationships",
                Some(&app.clinic),
                Some(json!({"doctor_staff_id": doctor_id, "patient": clinic_token, "from": now, "until": until})),
            )
            .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::UNPROCESSABLE_ENTITY, Some(code)),
            "{v}"
        );
    }
    // A service cannot break the glass, and the refusal is audited.
    let (status, _) = app
        .post(
            "/v1/break-glass",
            &app.clinic,
            json!({"patient": clinic_token, "reason": "BTG", "justification": "service tries it"}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM audit_events WHERE action = 'start_break_glass' AND decision = 'deny'").await,
        1
    );

    // No appointment yet: no patients in care.
    let (_, v) = app.get("/v1/me/patients", &house).await;
    assert_eq!(v["tokens"], json!([]));
    app.book(&doctor, &clinic_token).await;
    let (_, v) = app.get("/v1/me/patients", &house).await;
    let token = v["tokens"][0].as_str().unwrap().to_string();

    let note = json!({"kind": "diagnosis", "body": {"kind": "diagnosis", "icd10": "K35.8", "text": "Острый аппендицит, MARKER-8841"}});
    let (status, v) = app
        .post(&format!("/v1/patients/{token}/records"), &house, note)
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let record = v["record_id"].as_str().unwrap().to_string();
    let (status, v) = app
        .post(
            &format!("/v1/patients/{token}/records/{record}/versions"),
            &house,
            json!({"body": {"kind": "diagnosis", "icd10": "K35.3", "text": "Уточнено"}}),
        )
        .await;
    assert_eq!(
        (status, v["version"].as_u64()),
        (StatusCode::CREATED, Some(2)),
        "{v}"
    );
    let (_, v) = app
        .get(&format!("/v1/patients/{token}/records"), &house)
        .await;
    assert_eq!(v["records"].as_array().unwrap().len(), 2, "{v}");
    let (status, v) = app
        .get(
            &format!("/v1/patients/{token}/records/{record}?version=1"),
            &house,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(
        v["body"]["icd10"],
        json!("K35.8"),
        "the first version stays readable"
    );
    // The body is passed through as sealed (ADR 0028): the answer is still the typed view,
    // with the body exactly as written.
    let view: vault_wire::RecordView = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(
        serde_json::to_value(&view.body).unwrap(),
        json!({"kind": "diagnosis", "icd10": "K35.8", "text": "Острый аппендицит, MARKER-8841"})
    );
    assert_eq!(v["meta"]["author_staff_id"], json!(doctor.id));

    // A version or record that is not there, and a record of another patient of the same
    // doctor, are all "no such record for this patient": nothing of the other one comes back.
    let mut second = identity();
    second["phones"] = json!(["+79135550111"]);
    second["snils"] = json!("001-001-998 00");
    let second_clinic_token = app.register(second).await;
    app.book(&doctor, &second_clinic_token).await;
    let (_, v) = app.get("/v1/me/patients", &house).await;
    let second_token = v["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .find(|t| *t != token)
        .unwrap()
        .to_string();
    let (status, v) = app
        .post(&format!("/v1/patients/{second_token}/records"), &house, json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "OTHER-PATIENT-3307"}}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let others_record = v["record_id"].as_str().unwrap().to_string();
    let missing = "00000000-0000-4000-8000-000000000000";
    for path in [
        format!("/v1/patients/{token}/records/{record}?version=3"),
        format!("/v1/patients/{token}/records/{others_record}"),
        format!("/v1/patients/{token}/records/{missing}"),
    ] {
        let (status, v) = app.get(&path, &house).await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::NOT_FOUND, Some("unknown_record")),
            "{path}: {v}"
        );
        assert!(!v.to_string().contains("OTHER-PATIENT"), "{v}");
    }
    let (status, v) = app
        .get(
            &format!("/v1/patients/{second_token}/records/{others_record}"),
            &house,
        )
        .await;
    assert_eq!(
        (status, v["body"]["text"].as_str()),
        (StatusCode::OK, Some("OTHER-PATIENT-3307"))
    );

    // Another doctor without an appointment: the patient is found, but records are closed.
    let (_, v) = app
        .post(
            "/v1/patients/search",
            &wilson,
            json!({"snils": "112-233-445 95"}),
        )
        .await;
    let wtoken = v["tokens"][0].as_str().unwrap().to_string();
    let (status, v) = app
        .get(&format!("/v1/patients/{wtoken}/records/{record}"), &wilson)
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{v}"
    );
    assert!(v.to_string().find("MARKER").is_none());
    // Refused before existence is told: a record that is not there is refused the same way.
    let (status, _) = app
        .get(&format!("/v1/patients/{wtoken}/records/{missing}"), &wilson)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Break-glass: coded reason, read-only, time-boxed.
    let (status, v) = app
        .post("/v1/break-glass", &wilson, json!({"patient": wtoken, "reason": "ETREAT", "justification": "Unconscious in ER, needs history"}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let grant = v["grant_id"].as_str().unwrap().to_string();
    assert_eq!(
        v["expires_at"].as_i64(),
        Some(vault::clock::Clock::unix_seconds(&*app.clock) + 3600)
    );
    let (status, v) = app
        .get(&format!("/v1/patients/{wtoken}/records/{record}"), &wilson)
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["body"]["icd10"], json!("K35.3"));
    let (status, _) = app
        .post(
            &format!("/v1/patients/{wtoken}/records"),
            &wilson,
            json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "x"}}),
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "break-glass is read-only");
    let (status, _) = app
        .post(&format!("/v1/break-glass/{grant}/end"), &wilson, json!({}))
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/v1/patients/{wtoken}/records/{record}"), &wilson)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the grant ended");

    // A grant expires on its own.
    let (_, v) = app
        .post("/v1/break-glass", &wilson, json!({"patient": wtoken, "reason": "BTG", "justification": "Consult requested by ER", "minutes": 5}))
        .await;
    assert!(v["grant_id"].is_string(), "{v}");
    app.clock.advance(std::time::Duration::from_secs(301));
    // Sessions last 30 minutes, so the doctor is still signed in.
    let (status, _) = app
        .get(&format!("/v1/patients/{wtoken}/records/{record}"), &wilson)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the grant expired");

    // The appointment is cancelled: Dr. House loses access.
    let (status, _) = app
        .call(
            Method::DELETE,
            &format!("/v1/care-relationships/{}/{clinic_token}", doctor.id),
            Some(&app.clinic),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .get(&format!("/v1/patients/{token}/records/{record}"), &house)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // clinic-app never reads medical data, even with a token of its own.
    let (status, _) = app
        .get(&format!("/v1/patients/{clinic_token}/records"), &app.clinic)
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    let audit = app.audit_dump().await;
    assert!(
        audit.contains("start_break_glass") && audit.contains("obligation:notify_security_officer"),
        "{audit}"
    );
    assert!(!audit.contains("MARKER-8841") && !audit.contains("Unconscious"));
    // The start and the read under the ETREAT grant carry its code; the read names the grant.
    let n = app
        .raw_count("SELECT COUNT(*) FROM audit_events WHERE reason_code = 'ETREAT'")
        .await;
    assert!(n >= 2, "start and read under the grant: {n}");
    let n = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'read_record' AND reasons LIKE '%grant:{grant}%'"
        ))
        .await;
    assert_eq!(
        n, 1,
        "the one read inside the ETREAT window names its grant"
    );

    // Another replica shreds the second patient: this one still holds the patient's DEK in
    // its cache (the read above warmed it), yet the record is gone.
    let second_id = patient_behind(&app, &second_clinic_token).await;
    app.raw_exec(&format!(
        "DELETE FROM patient_deks WHERE patient_id = '{second_id}'"
    ))
    .await;
    app.raw_exec(&format!(
        "UPDATE patients SET shredded_at = 1 WHERE patient_id = '{second_id}'"
    ))
    .await;
    let (status, v) = app
        .get(
            &format!("/v1/patients/{second_token}/records/{others_record}"),
            &house,
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::GONE, Some("patient_destroyed")),
        "{v}"
    );
}
on_both_backends!(
    records_need_care_or_break_glass,
    records_with_care_and_break_glass
);

/// The metric's value in `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let (_, v) = app.call(Method::GET, "/metrics", None, None).await;
    let text = v.as_str().unwrap().to_string();
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in {text}"))
}

/// An unseal may decide on what an earlier unseal on this replica read, but only if nothing
/// the decision rests on changed meanwhile, on any replica (ADR 0029): the patient's revision is
/// checked where the event commits, and time alone (a care relationship ending) is honoured.
async fn remembered_unseal_reads(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let doctor = app.staff("dr.memory", policy::Role::Doctor).await;
    let bearer = app.login(&doctor).await;
    let clinic_token = app.register(identity()).await;
    let patient_id = patient_behind(&app, &clinic_token).await;
    app.book(&doctor, &clinic_token).await;
    let (_, v) = app.get("/v1/me/patients", &bearer).await;
    let token = v["tokens"][0].as_str().unwrap().to_string();
    let (_, v) = app
        .post(
            &format!("/v1/patients/{token}/records"),
            &bearer,
            json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "FIRST-7731"}}),
        )
        .await;
    let record = v["record_id"].as_str().unwrap().to_string();
    let path = format!("/v1/patients/{token}/records/{record}");
    let reads = "SELECT COUNT(*) FROM audit_events WHERE action = 'read_record'";

    // The second unseal is decided on what the first read, and still writes its own event.
    for _ in 0..2 {
        let (status, v) = app.get(&path, &bearer).await;
        assert_eq!(
            (status, v["body"]["text"].as_str()),
            (StatusCode::OK, Some("FIRST-7731"))
        );
    }
    assert_eq!(metric(&app, "vault_unseal_cache_hits_total").await, 1.0);
    assert_eq!(app.raw_count(reads).await, 2, "one event per unseal");

    // A correction: the latest version is the new one at once, and the stale round wrote
    // nothing (one event for the one unseal).
    let (status, _) = app
        .post(
            &format!("{path}/versions"),
            &bearer,
            json!({"body": {"kind": "visit_note", "text": "SECOND-7732"}}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let (status, v) = app.get(&path, &bearer).await;
    assert_eq!(
        (status, v["body"]["text"].as_str()),
        (StatusCode::OK, Some("SECOND-7732"))
    );
    assert_eq!(metric(&app, "vault_unseal_cache_stale_total").await, 1.0);
    assert_eq!(app.raw_count(reads).await, 3, "one event per unseal");

    // Another replica ends the care relationship (here: straight in the database). This
    // replica still remembers a permit, and refuses all the same.
    let (status, _) = app.get(&path, &bearer).await;
    assert_eq!(status, StatusCode::OK);
    let now = vault::clock::Clock::unix_seconds(&*app.clock);
    app.raw_exec(&format!(
        "UPDATE care_relationships SET valid_until = {now} WHERE patient_id = '{patient_id}'"
    ))
    .await;
    let (status, v) = app.get(&path, &bearer).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("forbidden")),
        "{v}"
    );
    assert!(!v.to_string().contains("7732"));
    let denied =
        "SELECT COUNT(*) FROM audit_events WHERE action = 'read_record' AND decision = 'deny'";
    assert_eq!(
        app.raw_count(denied).await,
        1,
        "the permit it remembered was never written"
    );

    // ... and a refusal is not remembered past a change either: booked again elsewhere.
    app.raw_exec(&format!(
        "INSERT INTO care_relationships (doctor_staff_id, patient_id, valid_from, valid_until, reported_by) \
         VALUES ('{}', '{patient_id}', {}, {}, 'clinic-app')",
        doctor.id,
        now - 30,
        now + 600
    ))
    .await;
    let (status, v) = app.get(&path, &bearer).await;
    assert_eq!(
        (status, v["body"]["text"].as_str()),
        (StatusCode::OK, Some("SECOND-7732"))
    );

    // Time alone: the relationship ends at now + 600 with nothing written anywhere, and the
    // permit remembered before is not used past it.
    let (status, _) = app.get(&path, &bearer).await;
    assert_eq!(status, StatusCode::OK);
    app.clock.advance(std::time::Duration::from_secs(601));
    let (status, _) = app.get(&path, &bearer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "the care relationship ended");

    // Every unseal above wrote exactly one event.
    assert_eq!(app.raw_count(reads).await, 8);
}
on_both_backends!(
    unseal_from_memory_is_checked_at_commit,
    remembered_unseal_reads
);

async fn bad_input(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    // Anonymous and forged credentials.
    let (status, v) = app
        .call(
            Method::POST,
            "/v1/patients/search",
            None,
            Some(json!({"phone": "+79130000000"})),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("unauthenticated"))
    );
    for forged in [
        "svc.clinic-app.0000",
        "vs_deadbeef",
        "svc.analytics.x",
        "garbage",
    ] {
        let (status, _) = app
            .post(
                "/v1/patients/search",
                forged,
                json!({"phone": "+79130000000"}),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{forged}");
    }
    // Malformed JSON, unknown fields, wrong types, invalid values: a 4xx naming the problem,
    // never echoing the value.
    let resp = app
        .http
        .post(format!("{}/v1/patients", app.base))
        .bearer_auth(&app.clinic)
        .header("content-type", "application/json")
        .body("{\"identity\": ")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let v: Value = resp.json().await.unwrap();
    assert_eq!(v["code"], json!("malformed_json"));

    let mut bad = identity();
    bad["snils"] = json!("112-233-445 96");
    let (status, v) = app
        .post("/v1/patients", &app.clinic, json!({"identity": bad}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("snils"), "{v}");
    assert!(!v.to_string().contains("445 96"), "value echoed: {v}");
    let mut many = identity();
    many["phones"] = json!(
        (0..11)
            .map(|i| format!("+7913000000{i:01}"))
            .collect::<Vec<_>>()
    );
    let (status, v) = app
        .post("/v1/patients", &app.clinic, json!({"identity": many}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(
        v["message"].as_str().unwrap().contains("identity.phones")
            && v["message"]
                .as_str()
                .unwrap()
                .contains("at most 10 phone numbers"),
        "{v}"
    );
    let mut extra = identity();
    extra["blood_type"] = json!("A+");
    let (status, v) = app
        .post("/v1/patients", &app.clinic, json!({"identity": extra}))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    assert!(v["message"].as_str().unwrap().contains("blood_type"), "{v}");
    let (status, v) = app
        .post(
            "/v1/patients/search",
            &app.clinic,
            json!({"phone": 79130000000u64}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!v.to_string().contains("79130000000"), "number echoed: {v}");
    let (status, v) = app
        .post("/v1/patients/search", &app.clinic, json!({}))
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_search"))
    );
    let (status, _) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": ["pt_x"], "fields": ["surname"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let (status, _) = app
        .post("/v1/resolve", &app.clinic, json!({"tokens": ["pt_aaaaaaaaaaaaaaaaaaaaaaaaaa"], "fields": ["surname"], "purpose": "research"}))
        .await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "purposes are a closed list"
    );
    // Oversize body: answered 413 (on its own connection: the server stops reading it).
    assert_eq!(
        app.oversize_status(
            "/v1/patients/search",
            &app.clinic,
            "application/json",
            2 * 1024 * 1024
        )
        .await,
        413
    );
    // Unknown token, wrong-format token.
    let (status, v) = app
        .call(
            Method::PATCH,
            "/v1/patients/pt_aaaaaaaaaaaaaaaaaaaaaaaaaa",
            Some(&app.clinic),
            Some(json!({"phones": []})),
        )
        .await;
    assert!(
        status == StatusCode::NOT_FOUND || status == StatusCode::FORBIDDEN,
        "{status} {v}"
    );
    let (status, v) = app
        .get("/v1/patients/not-a-token/records", &app.clinic)
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_token"))
    );
    // Nothing was written by any of these.
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM patients").await, 0);
}
on_both_backends!(bad_input_gets_a_clear_4xx_and_writes_nothing, bad_input);

async fn resolve_batch_answers_each_token(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.register(identity()).await;
    // A batch answers each token on its own: a field never recorded says so, and a patient
    // whose keys were destroyed is not found, without failing the rest of the batch. A token
    // given twice is refused as a whole (422), before anything is read.
    let second = app
        .register(json!({"surname": "Пафнутьева", "name": "Ия", "birth_date": "1990-05-06", "sex": "female"}))
        .await;
    let gone = app
        .register(
            json!({"surname": "Удалов", "name": "Ян", "birth_date": "1970-01-02", "sex": "male"}),
        )
        .await;
    assert!(
        app.state
            .sealed
            .shred_patient(patient_behind(&app, &gone).await)
            .await
            .unwrap()
    );
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [second, gone, token], "fields": ["surname", "patronymic"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    let answers = v["patients"].as_array().unwrap();
    assert_eq!(answers.len(), 3, "{v}");
    assert_eq!(answers[0]["token"], json!(second));
    assert_eq!(
        field(&answers[0], "surname")["value"],
        json!("Пафнутьева"),
        "{v}"
    );
    assert_eq!(
        field(&answers[0], "patronymic"),
        &json!({"status": "withheld", "reason": "not_recorded"}),
        "{v}"
    );
    assert_eq!(
        answers[1],
        json!({"token": gone, "found": false, "fields": {}})
    );
    assert_eq!(field(&answers[2], "surname")["value"], json!("Зюзикова"));
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [second, second], "fields": ["surname"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
}

on_both_backends!(
    a_resolve_batch_answers_each_token_on_its_own,
    resolve_batch_answers_each_token
);

/// The name a schedule shows is one sealed field, `full_name`, which the vault writes whenever
/// surname, name or patronymic is written, cannot be set directly, and composes from its parts
/// for a patient stored before it existed (ADR 0025).
async fn full_name_follows_its_parts(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.register(identity()).await;
    let second = app
        .register(json!({"surname": "Пафнутьева", "name": "Ия", "birth_date": "1990-05-06", "sex": "female"}))
        .await;
    let full_names = |tokens: Vec<String>| {
        let app = &app;
        async move {
            let (status, v) = app
                .post(
                    "/v1/resolve",
                    &app.clinic,
                    json!({"tokens": tokens, "fields": ["full_name"], "purpose": "scheduling"}),
                )
                .await;
            assert_eq!(status, StatusCode::OK, "{v}");
            v["patients"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| field(p, "full_name").clone())
                .collect::<Vec<_>>()
        }
    };
    let shown = |name: &str| json!({"status": "shown", "value": name});
    assert_eq!(
        full_names(vec![token.clone(), second.clone()]).await,
        [
            shown("Зюзикова Евлампия Порфирьевна"),
            shown("Пафнутьева Ия")
        ]
    );

    // Reception renames the patient, then changes only the patronymic: the name follows both.
    let (bearer, staff_token) = reception_finds(&app, "+79135550177").await;
    let patch = |body: Value| {
        let (app, path, bearer) = (&app, format!("/v1/patients/{staff_token}"), &bearer);
        async move {
            app.call(Method::PATCH, &path, Some(bearer), Some(body))
                .await
        }
    };
    let (status, v) = patch(json!({"surname": "Зюзикова-Петрова"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["updated_fields"], json!(["surname", "full_name"]));
    let (status, v) = patch(json!({"patronymic": "Аркадьевна"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["updated_fields"], json!(["patronymic", "full_name"]));
    let (status, v) = patch(json!({"sex": "female"})).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["updated_fields"], json!(["sex"]), "no name part changed");
    assert_eq!(
        full_names(vec![token.clone()]).await,
        [shown("Зюзикова-Петрова Евлампия Аркадьевна")]
    );

    // It is the vault's to write, not the caller's.
    let (status, v) = patch(json!({"full_name": "Someone Else"})).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    let mut with_full_name = identity();
    with_full_name["full_name"] = json!("Someone Else");
    let (status, v) = app
        .post(
            "/v1/patients",
            &app.clinic,
            json!({"identity": with_full_name}),
        )
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{v}");

    // A patient stored before `full_name` existed (its row removed here) gets it composed from
    // the parts, in the same batch as one who has it; nothing is written back.
    let patient = patient_behind(&app, &second).await;
    app.raw_exec(&format!(
        "DELETE FROM identity_fields WHERE field = 'full_name' AND patient_id = '{patient}'"
    ))
    .await;
    assert_eq!(
        full_names(vec![token.clone(), second.clone()]).await,
        [
            shown("Зюзикова-Петрова Евлампия Аркадьевна"),
            shown("Пафнутьева Ия")
        ]
    );
    assert_eq!(
        app.raw_count(&format!(
            "SELECT COUNT(*) FROM identity_fields WHERE field = 'full_name' AND patient_id = '{patient}'"
        ))
        .await,
        0
    );
}

on_both_backends!(
    full_name_is_written_with_its_parts,
    full_name_follows_its_parts
);

/// Migration 0011 (ADR 0020): on PostgreSQL every text column of the vault compares bytewise,
/// whatever locale the database was created with, and audit token lists are stored without
/// compression. A later migration that adds a text column without `COLLATE "C"` fails here.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_text_columns_compare_bytewise() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let text_columns = app
        .raw_count(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() \
             AND data_type = 'text' AND table_name NOT LIKE '\\_sqlx%'",
        )
        .await;
    assert!(
        text_columns > 50,
        "the schema has its text columns: {text_columns}"
    );
    let locale_ordered = app
        .raw_count(
            "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = current_schema() \
             AND data_type = 'text' AND table_name NOT LIKE '\\_sqlx%' \
             AND collation_name IS DISTINCT FROM 'C'",
        )
        .await;
    assert_eq!(locale_ordered, 0, "text columns that compare by locale");
    let uncompressed = app
        .raw_count(
            "SELECT COUNT(*) FROM pg_attribute WHERE attrelid = 'audit_events'::regclass \
             AND attname = 'patient_tokens' AND attstorage = 'e'",
        )
        .await;
    assert_eq!(
        uncompressed, 1,
        "audit token lists are stored out of line, uncompressed"
    );
}

/// Migrations 0012 (ADR 0021) and 0013 (ADR 0027): on PostgreSQL the key indexes of
/// `identity_fields`, `patient_tokens` and `patient_deks` carry what a resolve reads, so that it
/// can answer from the indexes alone, and stay the unique keys.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_keys_carry_what_a_resolve_reads() {
    let app = TestApp::spawn(Backend::Postgres).await;
    // Each table a resolve probes is read by an index-only scan of its primary key, which
    // carries the columns read (ADR 0021 for identity fields, ADR 0027 for tokens and DEKs).
    // The covering key replaced the plain one: each table has as many indexes as before.
    for (table, keys, all, definition, others) in [
        (
            "identity_fields",
            2,
            4,
            "(patient_id, field) INCLUDE (version, envelope)",
            0,
        ),
        (
            "patient_tokens",
            1,
            3,
            "(token) INCLUDE (domain, patient_id)",
            // UNIQUE (domain, patient_id): one token per patient and domain.
            1,
        ),
        (
            "patient_deks",
            2,
            4,
            "(patient_id, dek_version) INCLUDE (kek_version, wrapped_dek)",
            // patient_deks_by_kek, for KEK rotation and retirement.
            1,
        ),
    ] {
        let covering_key = app
            .raw_count(&format!(
                "SELECT COUNT(*) FROM pg_index i WHERE i.indrelid = '{table}'::regclass AND i.indisprimary \
                 AND i.indnkeyatts = {keys} AND i.indnatts = {all} \
                 AND pg_get_indexdef(i.indexrelid) LIKE '%{definition}'"
            ))
            .await;
        assert_eq!(
            covering_key, 1,
            "the primary key of {table} is {definition}"
        );
        let indexes = app
            .raw_count(&format!(
                "SELECT COUNT(*) FROM pg_index WHERE indrelid = '{table}'::regclass"
            ))
            .await;
        assert_eq!(
            indexes,
            1 + others,
            "{table}: the covering key replaced the plain one, it was not added beside it"
        );
    }
}

async fn audit_failure_fails_closed(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let token = app.register(identity()).await;
    // A record to unseal once the audit is down.
    let doctor = app.staff("dr.closed", policy::Role::Doctor).await;
    let bearer = app.login(&doctor).await;
    app.book(&doctor, &token).await;
    let (_, v) = app.get("/v1/me/patients", &bearer).await;
    let staff_token = v["tokens"][0].as_str().unwrap().to_string();
    let (_, v) = app
        .post(&format!("/v1/patients/{staff_token}/records"), &bearer, json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "SECRET-NOTE-4410"}}))
        .await;
    let record = v["record_id"].as_str().unwrap().to_string();
    // Opened once while the audit works: this replica remembers what it read, and the unseal
    // below decides on that (ADR 0029) and still fails closed.
    let (status, _) = app
        .get(
            &format!("/v1/patients/{staff_token}/records/{record}"),
            &bearer,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    match backend {
        Backend::Sqlite => {
            app.raw_exec("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
                .await
        }
        Backend::Postgres => {
            app.raw_exec("CREATE FUNCTION audit_down() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'disk full' USING ERRCODE = 'disk_full'; END $$ LANGUAGE plpgsql")
                .await;
            app.raw_exec("CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_down()")
                .await;
        }
    }
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token], "fields": ["surname", "phones"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("audit_unavailable")),
        "{v}"
    );
    for pii in PII {
        assert!(
            !v.to_string().contains(pii),
            "{pii} left with a failed audit"
        );
    }
    // The audited unseal: no audit, no record. The record is read with the facts, before the
    // decision, but nothing is answered before the event is durable: not even that a record
    // does not exist.
    for record in [record.as_str(), "6f1c0c5e-9a55-4c57-8d7e-2b1f3c4d5e6f"] {
        let (status, v) = app
            .get(
                &format!("/v1/patients/{staff_token}/records/{record}"),
                &bearer,
            )
            .await;
        assert_eq!(
            (status, v["code"].as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, Some("audit_unavailable")),
            "{record}: {v}"
        );
        assert!(
            !v.to_string().contains("SECRET-NOTE"),
            "record content left without an audit event"
        );
    }
    // A write with a failed audit leaves nothing half-written.
    let before = app.raw_count("SELECT COUNT(*) FROM patients").await;
    let tokens_before = app.raw_count("SELECT COUNT(*) FROM patient_tokens").await;
    let (status, _) = app
        .post("/v1/patients", &app.clinic, json!({"identity": identity()}))
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM patients").await, before);
    assert_eq!(
        app.raw_count("SELECT COUNT(*) FROM patient_tokens").await,
        tokens_before
    );
    // The audit back, the unseal is back: the writer gave back the connection whose batch
    // failed (ADR 0023, amendment) and nothing of the failure stays with it.
    match backend {
        Backend::Sqlite => app.raw_exec("DROP TRIGGER audit_down").await,
        Backend::Postgres => {
            app.raw_exec("DROP TRIGGER audit_down ON audit_events")
                .await
        }
    }
    let unseal = format!("/v1/patients/{staff_token}/records/{record}");
    let (status, v) = app.get(&unseal, &bearer).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert!(v.to_string().contains("SECRET-NOTE-4410"), "{v}");
}
on_both_backends!(no_audit_no_data, audit_failure_fails_closed);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_lists_every_operation() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (status, v) = app.call(Method::GET, "/openapi.json", None, None).await;
    assert_eq!(status, StatusCode::OK);
    let text = v.to_string();
    for op in [
        "registerPatient",
        "updatePatient",
        "searchPatients",
        "resolveTokens",
        "createRecord",
        "listRecords",
        "getRecord",
        "putCareRelationship",
        "endCareRelationship",
        "startBreakGlass",
        "endBreakGlass",
        "login",
        "logout",
        "createAttachment",
        "getAttachment",
        "searchAudit",
        "listBreakGlassReviews",
        "reviewBreakGlass",
        "listAlerts",
        "listIncidents",
        "accessReport",
        "exportAudit",
        "fileDataRequest",
        "listDataRequests",
        "getDataRequest",
        "setConsent",
        "listConsents",
        "getDestructionAct",
    ] {
        assert!(
            text.contains(&format!("\"operationId\":\"{op}\"")),
            "{op} missing"
        );
    }
    // Metrics name route templates, never tokens.
    let (_, metrics) = app.call(Method::GET, "/metrics", None, None).await;
    let metrics = metrics.as_str().unwrap().to_string();
    assert!(metrics.contains("route=\"/openapi.json\""), "{metrics}");
    // Login, logout; the session is dead afterwards.
    let reception = app.staff("reception.2", policy::Role::Receptionist).await;
    let bearer = app.login(&reception).await;
    let (status, _) = app.post("/v1/logout", &bearer, json!({})).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = app
        .post(
            "/v1/patients/search",
            &bearer,
            json!({"phone": "+79130000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    // Sessions expire.
    let bearer = app.login(&reception).await;
    app.clock.advance(std::time::Duration::from_secs(31 * 60));
    let (status, _) = app
        .post(
            "/v1/patients/search",
            &bearer,
            json!({"phone": "+79130000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_is_throttled() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    let reception = app.staff("reception.3", policy::Role::Receptionist).await;
    for _ in 0..5 {
        let (status, _) = app
            .call(
                Method::POST,
                "/v1/login",
                None,
                Some(json!({"username": "reception.3", "password": "wrong password 1"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, v) = app
        .call(
            Method::POST,
            "/v1/login",
            None,
            Some(json!({"username": "reception.3", "password": PASSWORD})),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (StatusCode::TOO_MANY_REQUESTS, Some("throttled")),
        "{v}"
    );
    app.clock.advance(std::time::Duration::from_secs(15 * 60));
    app.login(&reception).await;
    let failures = app
        .raw_count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'login' AND decision = 'failure'",
        )
        .await;
    assert_eq!(failures, 6);
}

/// Uploads `bytes` as `content_type`; returns status and body.
async fn upload(
    app: &TestApp,
    bearer: &str,
    path: &str,
    content_type: &str,
    bytes: Vec<u8>,
) -> (StatusCode, Value) {
    let resp = app
        .http
        .post(format!("{}{path}", app.base))
        .bearer_auth(bearer)
        .header("content-type", content_type)
        .body(bytes)
        .send()
        .await
        .unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn download(
    app: &TestApp,
    bearer: &str,
    path: &str,
) -> Result<(StatusCode, Vec<u8>), reqwest::Error> {
    let resp = app
        .http
        .get(format!("{}{path}", app.base))
        .bearer_auth(bearer)
        .send()
        .await?;
    let status = resp.status();
    Ok((status, resp.bytes().await?.to_vec()))
}

async fn attachments_round_trip(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let clinic_token = app.register(identity()).await;
    let doctor = app.staff("dr.scan", policy::Role::Doctor).await;
    let bearer = app.login(&doctor).await;
    app.book(&doctor, &clinic_token).await;
    let (_, v) = app.get("/v1/me/patients", &bearer).await;
    let token = v["tokens"][0].as_str().unwrap().to_string();
    let (_, v) = app
        .post(&format!("/v1/patients/{token}/records"), &bearer, json!({"kind": "lab_result", "body": {"kind": "lab_result", "test": "CT", "value": "see scan"}}))
        .await;
    let record = v["record_id"].as_str().unwrap().to_string();
    let base = format!("/v1/patients/{token}/records/{record}/attachments");

    // 3 MiB and a bit: several chunks and a short last one.
    let scan: Vec<u8> = (0..3 * 1024 * 1024 + 12_345)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let (status, v) = upload(&app, &bearer, &base, "application/pdf", scan.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["size_bytes"].as_u64(), Some(scan.len() as u64));
    let attachment = v["attachment_id"].as_str().unwrap().to_string();
    let chunks = app
        .raw_count(&format!(
            "SELECT COUNT(*) FROM attachment_chunks WHERE attachment_id = '{attachment}'"
        ))
        .await;
    assert_eq!(chunks, 49, "64 KiB chunks");
    let (status, body) = download(&app, &bearer, &format!("{base}/{attachment}"))
        .await
        .unwrap();
    assert_eq!(status, StatusCode::OK);
    assert!(body == scan, "downloaded bytes differ");
    let (_, v) = app.get(&base, &bearer).await;
    assert_eq!(
        v["attachments"][0]["content_type"],
        json!("application/pdf")
    );

    // Bad uploads write nothing.
    let (status, _) = upload(&app, &bearer, &base, "text/html", vec![1, 2, 3]).await;
    assert_eq!(status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let (status, _) = upload(&app, &bearer, &base, "image/png", vec![]).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.oversize_status(&base, &bearer, "image/png", 50 * 1024 * 1024 + 1)
            .await,
        413
    );
    assert_eq!(app.raw_count("SELECT COUNT(*) FROM attachments").await, 1);
    // clinic-app never sees scans.
    let (status, _) = download(
        &app,
        &app.clinic,
        &format!("/v1/patients/{clinic_token}/records/{record}/attachments/{attachment}"),
    )
    .await
    .unwrap();
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Tampering in the database: reordered chunks, then a dropped last chunk. The download
    // breaks off instead of delivering altered bytes.
    app.raw_exec(&format!(
        "UPDATE attachment_chunks SET idx = 1000 WHERE attachment_id = '{attachment}' AND idx = 3"
    ))
    .await;
    app.raw_exec(&format!(
        "UPDATE attachment_chunks SET idx = 3 WHERE attachment_id = '{attachment}' AND idx = 4"
    ))
    .await;
    app.raw_exec(&format!(
        "UPDATE attachment_chunks SET idx = 4 WHERE attachment_id = '{attachment}' AND idx = 1000"
    ))
    .await;
    // Only a correct prefix may arrive before the transfer breaks off, never swapped bytes.
    let broken_off = |result: Result<(StatusCode, Vec<u8>), reqwest::Error>| match result {
        Err(_) => true,
        Ok((_, b)) => b.len() < scan.len() && scan.starts_with(&b),
    };
    assert!(broken_off(
        download(&app, &bearer, &format!("{base}/{attachment}")).await
    ));
    app.raw_exec(&format!(
        "UPDATE attachment_chunks SET idx = 1000 WHERE attachment_id = '{attachment}' AND idx = 3"
    ))
    .await;
    app.raw_exec(&format!(
        "UPDATE attachment_chunks SET idx = 3 WHERE attachment_id = '{attachment}' AND idx = 4"
    ))
    .await;
    app.raw_exec(&format!(
        "UPDATE attachment_chunks SET idx = 4 WHERE attachment_id = '{attachment}' AND idx = 1000"
    ))
    .await;
    let (_, restored) = download(&app, &bearer, &format!("{base}/{attachment}"))
        .await
        .unwrap();
    assert!(restored == scan, "swapping back restores the file");
    app.raw_exec(&format!(
        "DELETE FROM attachment_chunks WHERE attachment_id = '{attachment}' AND idx = 48"
    ))
    .await;
    app.raw_exec(&format!(
        "UPDATE attachments SET chunk_count = 48 WHERE attachment_id = '{attachment}'"
    ))
    .await;
    assert!(
        broken_off(download(&app, &bearer, &format!("{base}/{attachment}")).await),
        "a truncated attachment must not download as if whole"
    );
}
on_both_backends!(attachments_stream_in_sealed_chunks, attachments_round_trip);

/// clinic-app's typed client against the real service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn typed_client_speaks_the_api() {
    use vault_wire::{Credential, FieldName, ResolveRequest, SearchCriterion, VaultClient};
    let app = TestApp::spawn(Backend::Sqlite).await;
    let (domain, secret) = app
        .clinic
        .strip_prefix("svc.")
        .unwrap()
        .split_once('.')
        .unwrap();
    let client = VaultClient::new(
        &app.base,
        Credential::Service {
            domain: domain.parse().unwrap(),
            secret: secret.to_string(),
        },
    )
    .unwrap();
    client.healthz().await.unwrap();
    let identity: vault_wire::PatientIdentity = serde_json::from_value(identity()).unwrap();
    let token = client
        .register_patient(&vault_wire::RegisterPatientRequest { identity })
        .await
        .unwrap()
        .token;
    let found = client
        .search_patients(&SearchCriterion::Phone("+79135550177".parse().unwrap()).into())
        .await
        .unwrap();
    assert_eq!(found.tokens, vec![token.clone()]);
    let request = ResolveRequest::new(
        vec![token.clone()],
        vec![FieldName::Surname],
        policy::Purpose::Reminder,
    )
    .unwrap();
    let answer = client.resolve(&request).await.unwrap();
    let surname = &answer.patients[0].fields[&FieldName::Surname];
    assert_eq!(
        surname.status,
        vault_wire::FieldStatus::Withheld,
        "a reminder needs contact data only"
    );
    // A wrong secret is an API error with the stable code, not a panic or a transport error.
    let forged = VaultClient::new(
        &app.base,
        Credential::Service {
            domain: domain.parse().unwrap(),
            secret: "00".repeat(32),
        },
    )
    .unwrap();
    match forged
        .search_patients(&SearchCriterion::Phone("+79135550177".parse().unwrap()).into())
        .await
    {
        Err(vault_wire::ClientError::Api { status: 401, error }) => {
            assert_eq!(error.code, "unauthenticated")
        }
        other => panic!("expected 401, got {other:?}"),
    }
}

/// PostgreSQL goes away under a running vault: requests get 503, readiness says so, no panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn database_down_is_a_503() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let token = app.register(identity()).await;
    let name = app.db.url.rsplit('/').next().unwrap().to_string();
    let admin_url = std::env::var("VAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    for sql in [
        format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"),
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token], "fields": ["surname"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert!(v["code"].as_str().unwrap().ends_with("_unavailable"), "{v}");
    let (status, v) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(
        (status, v["code"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("database_unavailable")
        )
    );
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "ALTER DATABASE {name} ALLOW_CONNECTIONS true"
    )))
    .execute(&admin)
    .await
    .unwrap();
    // Back once the database is: each connection the database killed fails once (the pool does
    // not ping before use) and is replaced, so at most a pool's worth of requests see a 503.
    let mut statuses = Vec::new();
    for _ in 0..10 {
        let (status, _) = app.call(Method::GET, "/readyz", None, None).await;
        statuses.push(status);
        if status == StatusCode::OK {
            break;
        }
    }
    assert_eq!(statuses.last(), Some(&StatusCode::OK), "{statuses:?}");
}

/// The KEK disappears from the token under a running vault: a cold open is a 503 naming the
/// key store, the data stays sealed, nothing panics.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_store_loss_is_a_503() {
    use vault::keys::KeyProvider;
    let app = TestApp::spawn(Backend::Sqlite).await;
    let token = app.register(identity()).await;
    let mut settings = support::token_settings("softhsm2.toml");
    settings.kek_label = app.kek_label.clone();
    vault::keys::pkcs11::Pkcs11Provider::open(settings)
        .unwrap()
        .destroy_kek(vault::keys::KekVersion::FIRST)
        .unwrap();
    // Past the cache TTL, the patient's DEK must come from the token again.
    app.clock.advance(std::time::Duration::from_secs(301));
    let (status, v) = app
        .post(
            "/v1/resolve",
            &app.clinic,
            json!({"tokens": [token], "fields": ["surname"], "purpose": "scheduling"}),
        )
        .await;
    assert_eq!(
        (status, v["code"].as_str()),
        (
            StatusCode::SERVICE_UNAVAILABLE,
            Some("key_store_unavailable")
        ),
        "{v}"
    );
    assert!(!v.to_string().contains("Зюзикова"));
    let (status, _) = app.call(Method::GET, "/readyz", None, None).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
}

/// Break-glass raises an alert that the security officer (and only they) can list.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn break_glass_raises_an_alert_for_the_security_officer() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.register(identity()).await;
    let doctor = app.staff("dr.alert", policy::Role::Doctor).await;
    let officer = app.staff("security.1", policy::Role::SecurityOfficer).await;
    let bearer = app.login(&doctor).await;
    let (_, v) = app
        .post(
            "/v1/patients/search",
            &bearer,
            json!({"snils": "112-233-445 95"}),
        )
        .await;
    let token = v["tokens"][0].as_str().unwrap().to_string();
    let (status, _) = app
        .post("/v1/break-glass", &bearer, json!({"patient": token, "reason": "BTG", "justification": "Ambulance brought patient in"}))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let raised = app.state.alert_scanner.scan_once().await.unwrap();
    assert!(
        raised
            .iter()
            .any(|a| a.rule == "break_glass_started" && a.principal == doctor.id),
        "{raised:?}"
    );
    assert!(
        app.state
            .alert_scanner
            .scan_once()
            .await
            .unwrap()
            .is_empty(),
        "each event is scanned once"
    );

    let officer_bearer = app.login(&officer).await;
    let (status, v) = app.get("/v1/alerts", &officer_bearer).await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["alerts"][0]["rule"], json!("break_glass_started"));
    assert!(
        !v.to_string().contains(&token),
        "alerts carry no patient token"
    );
    let (status, _) = app.get("/v1/alerts", &bearer).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "doctors do not read alerts");
}

/// PostgreSQL switched to read-only under a running vault (a failover to a replica, a full
/// disk guard): the unseal fails with 503 and gives nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_only_database_gives_no_data() {
    let app = TestApp::spawn(Backend::Postgres).await;
    let token = app.register(identity()).await;
    let doctor = app.staff("dr.readonly", policy::Role::Doctor).await;
    let bearer = app.login(&doctor).await;
    app.book(&doctor, &token).await;
    let (_, v) = app.get("/v1/me/patients", &bearer).await;
    let staff_token = v["tokens"][0].as_str().unwrap().to_string();
    let (_, v) = app
        .post(&format!("/v1/patients/{staff_token}/records"), &bearer, json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "SECRET-NOTE-7719"}}))
        .await;
    let record = v["record_id"].as_str().unwrap().to_string();
    let name = app.db.url.rsplit('/').next().unwrap().to_string();
    let admin_url = std::env::var("VAULT_TEST_POSTGRES_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let admin = sqlx::PgPool::connect(&admin_url).await.unwrap();
    for sql in [
        format!("ALTER DATABASE {name} SET default_transaction_read_only = on"),
        format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"),
    ] {
        sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&admin)
            .await
            .unwrap();
    }
    // Requests first meet the connections the database killed (the pool does not ping), then
    // the read-only database refuses the audit event: every answer is a 503 without data.
    let mut codes = Vec::new();
    for _ in 0..12 {
        let (status, v) = app
            .get(
                &format!("/v1/patients/{staff_token}/records/{record}"),
                &bearer,
            )
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{v}");
        assert!(!v.to_string().contains("SECRET-NOTE"));
        codes.push(v["code"].as_str().unwrap_or_default().to_string());
        if codes.last().is_some_and(|c| c == "audit_unavailable") {
            break;
        }
    }
    assert_eq!(
        codes.last().map(String::as_str),
        Some("audit_unavailable"),
        "{codes:?}"
    );
}

/// Accounts: usernames are a plain charset; the staff token domain gets no service secret.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn account_rules() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    for bad in ["Dr House", "dr/house", "врач", "", "x\"y"] {
        let refused = app
            .state
            .auth
            .add_staff(bad, PASSWORD, policy::Role::Receptionist, "b1")
            .await;
        assert!(refused.is_err(), "{bad:?} accepted");
    }
    assert!(
        app.state
            .auth
            .add_staff("dr.house-2_b", PASSWORD, policy::Role::Receptionist, "b1")
            .await
            .is_ok()
    );
    assert!(
        app.state
            .auth
            .put_service(policy::ConsumerDomain::VaultStaff)
            .await
            .is_err()
    );
    // Reissuing a service credential retires the old one here at once.
    let old = app.clinic.clone();
    let (status, _) = app
        .post(
            "/v1/patients/search",
            &old,
            json!({"phone": "+79130000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let new = app
        .state
        .auth
        .put_service(policy::ConsumerDomain::ClinicApp)
        .await
        .unwrap();
    let (status, _) = app
        .post(
            "/v1/patients/search",
            &old,
            json!({"phone": "+79130000000"}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::UNAUTHORIZED,
        "the old secret still works"
    );
    let (status, _) = app
        .post(
            "/v1/patients/search",
            new.as_str(),
            json!({"phone": "+79130000000"}),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}
