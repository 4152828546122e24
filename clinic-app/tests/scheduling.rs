//! Schedules, booking and the day view, against a real vault, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

const SNILS: &str = "112-233-445 95";

on_both_backends!(
    a_day_of_bookings_shows_with_names_from_one_vault_call,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let mut tokens = Vec::new();
        for (i, surname) in ["Скворцова", "Ласточкина", "Воробьёва"]
            .into_iter()
            .enumerate()
        {
            let token = app
                .register(surname, "Ульяна", &format!("+7916123450{i}"), SNILS)
                .await;
            let (status, body) = app
                .book(&app.reception, &token, 0, 10 + i64::try_from(i).unwrap(), 0)
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            assert_eq!(body["status"], json!("booked"));
            tokens.push(token);
        }
        let before = app.vault_resolve_calls().await;
        let (status, view) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(
            app.vault_resolve_calls().await - before,
            1,
            "one batch call for the whole day"
        );
        assert_eq!(view["names"]["shown"], json!(true));
        let entries = view["appointments"].as_array().unwrap();
        let shown: Vec<(&str, &str)> = entries
            .iter()
            .map(|e| {
                (
                    e["time"].as_str().unwrap(),
                    e["patient_name"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            shown,
            vec![
                ("10:00", "Скворцова Ульяна Тестовна"),
                ("11:00", "Ласточкина Ульяна Тестовна"),
                ("12:00", "Воробьёва Ульяна Тестовна"),
            ]
        );
        assert_eq!(entries[0]["doctor_name"], json!("Терапевтова А. А."));
        assert_eq!(entries[0]["patient_token"], json!(tokens[0]));

        // Names withheld on request: no vault call at all.
        let before = app.vault_resolve_calls().await;
        let (_, view) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30&names=false",
            )
            .await;
        assert_eq!(app.vault_resolve_calls().await, before);
        assert!(view["appointments"][0].get("patient_name").is_none());
    }
);

on_both_backends!(
    with_the_vault_down_the_schedule_shows_times_and_says_why_names_are_missing,
    |backend| async move {
        let mut app = TestApp::spawn(backend).await;
        let token = app
            .register("Скворцова", "Ульяна", "+79161234567", SNILS)
            .await;
        assert_eq!(
            app.book(&app.reception, &token, 0, 9, 30).await.0,
            StatusCode::CREATED
        );
        app.vault.stop().await;
        let (status, view) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "the schedule still shows: {view}");
        assert_eq!(view["names"]["shown"], json!(false));
        assert!(
            view["names"]["reason"]
                .as_str()
                .unwrap()
                .contains("vault is unreachable"),
            "{view}"
        );
        let entry = &view["appointments"][0];
        assert_eq!(entry["time"], json!("09:30"));
        assert_eq!(entry["patient_token"], json!(token));
        assert!(entry.get("patient_name").is_none());
        assert!(
            entry["name_withheld"]
                .as_str()
                .unwrap()
                .contains("unreachable")
        );

        // What needs the vault fails with a clear 503 and writes nothing.
        let appointments = app.count("appointments").await;
        let (status, body) = app.book(&app.reception, &token, 0, 10, 0).await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], json!("vault_unavailable"));
        assert_eq!(
            app.count("appointments").await,
            appointments,
            "nothing booked"
        );
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/patients/search",
                json!({"phone": "+79161234567"}),
            )
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        // The free slots (no personal data) keep working.
        let (status, slots) = app
            .get(
                &app.reception,
                &format!("/v1/slots?day=2026-11-30&doctor_id={}", app.fx.doctor),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            slots.as_array().unwrap().len(),
            17,
            "18 half-hour slots from 09:00 to 18:00, one taken"
        );
    }
);

on_both_backends!(
    the_same_slot_booked_from_many_tasks_at_once_goes_to_exactly_one,
    |backend| async move {
        let app = Arc::new(TestApp::spawn(backend).await);
        let mut tokens = Vec::new();
        for i in 0..12 {
            tokens.push(
                app.register("Гонкина", "Вера", &format!("+791612345{i:02}"), SNILS)
                    .await,
            );
        }
        let mut tasks = Vec::new();
        for token in tokens {
            let app = app.clone();
            tasks.push(tokio::spawn(async move {
                app.book(&app.reception, &token, 0, 15, 0).await
            }));
        }
        let mut won = 0;
        for t in tasks {
            let (status, body) = t.await.unwrap();
            match status {
                StatusCode::CREATED => won += 1,
                StatusCode::CONFLICT => assert_eq!(body["code"], json!("slot_taken"), "{body}"),
                other => panic!("unexpected {other}: {body}"),
            }
        }
        assert_eq!(won, 1);
        assert_eq!(app.count("appointments").await, 1);
    }
);

on_both_backends!(
    bad_bookings_are_refused_with_a_code_and_nothing_is_written,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register("Ошибкина", "Анна", "+79161234567", SNILS)
            .await;
        let doctor = app.fx.doctor.clone();
        let cases = [
            (
                "in the past",
                json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(0, 6, 0), "patient_token": token}),
                "in_the_past",
            ),
            (
                "before opening",
                json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(0, 8, 0), "patient_token": token}),
                "outside_working_hours",
            ),
            (
                "on Sunday",
                json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(6, 10, 0), "patient_token": token}),
                "outside_working_hours",
            ),
            (
                "off the slot grid",
                json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(0, 10, 10), "patient_token": token}),
                "outside_working_hours",
            ),
            (
                "unknown service",
                json!({"doctor_id": doctor, "service_code": "X99", "starts_at": msk(0, 10, 0), "patient_token": token}),
                "service_unavailable",
            ),
            (
                "service longer than the slot",
                json!({"doctor_id": doctor, "service_code": "A16.07.002", "starts_at": msk(0, 10, 0), "patient_token": token}),
                "service_too_long",
            ),
            (
                "unknown doctor",
                json!({"doctor_id": "nobody", "service_code": "B01.047.001", "starts_at": msk(0, 10, 0), "patient_token": token}),
                "unknown_doctor",
            ),
            (
                "unknown token",
                json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(0, 10, 0), "patient_token": "pt_aaaaaaaaaaaaaaaaaaaaaaaaaa"}),
                "unknown_patient",
            ),
            (
                "no token",
                json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(0, 10, 0)}),
                "missing_field",
            ),
        ];
        for (what, body, code) in cases {
            let (status, answer) = app.post(&app.reception, "/v1/appointments", body).await;
            assert!(status.is_client_error(), "{what}: {status} {answer}");
            assert_eq!(answer["code"], json!(code), "{what}: {answer}");
            assert!(
                answer["message"].as_str().unwrap().len() > 10,
                "{what}: says what to do"
            );
        }
        // A withdrawn service cannot be booked.
        let (status, _) = app
            .call(
                reqwest::Method::DELETE,
                &app.admin,
                "/v1/services/A09.05.003",
                None,
            )
            .await;
        assert_eq!(status, StatusCode::NO_CONTENT);
        let (status, answer) = app
        .post(&app.reception, "/v1/appointments", json!({"doctor_id": doctor, "service_code": "A09.05.003", "starts_at": msk(0, 10, 0), "patient_token": token}))
        .await;
        assert_eq!(
            (status, answer["code"].clone()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!("service_unavailable")
            )
        );
        assert_eq!(app.count("appointments").await, 0);
        assert_eq!(app.count("outbox").await, 0);
        // A malformed token is refused before anything happens, without echoing it.
        let (status, answer) = app
        .post(&app.reception, "/v1/appointments", json!({"doctor_id": doctor, "service_code": "B01.047.001", "starts_at": msk(0, 10, 0), "patient_token": "Иванова"}))
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert!(!answer.to_string().contains("Иванова"), "{answer}");
    }
);

on_both_backends!(
    a_patient_room_or_doctor_cannot_be_in_two_places_at_once,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let anna = app
            .register("Двойнова", "Анна", "+79161234567", SNILS)
            .await;
        let vera = app
            .register("Двойнова", "Вера", "+79161234568", SNILS)
            .await;
        assert_eq!(
            app.book(&app.reception, &anna, 0, 10, 0).await.0,
            StatusCode::CREATED
        );
        // The same patient with the other doctor at the same time.
        let (status, body) = app
        .post(&app.reception, "/v1/appointments", json!({"doctor_id": app.fx.doctor2, "service_code": "B01.047.001", "starts_at": msk(0, 10, 0), "patient_token": anna}))
        .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("patient_double_booked")),
            "{body}"
        );
        // Another patient in the taken slot.
        let (status, body) = app.book(&app.reception, &vera, 0, 10, 0).await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("slot_taken"))
        );
        // The other doctor at that time is fine.
        let (status, _) = app
        .post(&app.reception, "/v1/appointments", json!({"doctor_id": app.fx.doctor2, "service_code": "B01.047.001", "starts_at": msk(0, 10, 0), "patient_token": vera}))
        .await;
        assert_eq!(status, StatusCode::CREATED);
    }
);

on_both_backends!(
    cancelling_records_who_and_whether_late_and_ends_the_care_relationship,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register("Отменова", "Анна", "+79161234567", SNILS)
            .await;
        let (_, early) = app.book(&app.reception, &token, 2, 10, 0).await;
        let (_, late) = app.book(&app.reception, &token, 0, 16, 0).await;
        let relationships = app.vault_care_relationships().await;
        assert_eq!(
            relationships.len(),
            1,
            "one doctor-patient relationship, window extended"
        );
        assert_eq!(relationships[0].0, app.fx.doctor_vault_id);
        assert!(
            relationships[0].1 > msk(2, 10, 30),
            "it covers the later visit"
        );

        let (status, out) = app
            .post(
                &app.reception,
                &format!(
                    "/v1/appointments/{}/cancel",
                    early["appointment_id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{out}");
        assert_eq!(out["appointment"]["late_cancel"], json!(false));
        assert_eq!(out["care_relationship_ended"], json!(true));
        let (status, out) = app
            .post(
                &app.reception,
                &format!(
                    "/v1/appointments/{}/cancel",
                    late["appointment_id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            out["appointment"]["late_cancel"],
            json!(true),
            "within 24 hours of 16:00"
        );
        assert!(
            out["appointment"]["cancelled_by"].as_str().unwrap().len() > 10,
            "the receptionist's staff id"
        );
        assert!(
            app.vault_care_relationships()
                .await
                .iter()
                .all(|(_, until)| *until <= app.now()),
            "ended in the vault"
        );
        // Cancelling twice is refused; the slot is free again.
        let (status, body) = app
            .post(
                &app.reception,
                &format!(
                    "/v1/appointments/{}/cancel",
                    late["appointment_id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("not_cancellable"))
        );
        assert_eq!(
            app.book(&app.reception, &token, 0, 16, 0).await.0,
            StatusCode::CREATED
        );
    }
);

on_both_backends!(
    rescheduling_moves_or_leaves_everything_as_it_was,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let anna = app
            .register("Переносова", "Анна", "+79161234567", SNILS)
            .await;
        let vera = app
            .register("Переносова", "Вера", "+79161234568", SNILS)
            .await;
        let (_, a) = app.book(&app.reception, &anna, 0, 10, 0).await;
        app.book(&app.reception, &vera, 0, 11, 0).await;
        let id = a["appointment_id"].as_str().unwrap();
        // Into a taken slot: refused, the old booking stands.
        let (status, body) = app
            .post(
                &app.reception,
                &format!("/v1/appointments/{id}/reschedule"),
                json!({"starts_at": msk(0, 11, 0)}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("slot_taken"))
        );
        // To the other doctor the next day.
        let (status, moved) = app
            .post(
                &app.reception,
                &format!("/v1/appointments/{id}/reschedule"),
                json!({"starts_at": msk(1, 9, 0), "doctor_id": app.fx.doctor2}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{moved}");
        assert_eq!(moved["doctor_id"], json!(app.fx.doctor2));
        let (_, day) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30&names=false",
            )
            .await;
        let old = day["appointments"]
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["appointment_id"] == json!(id))
            .unwrap()
            .clone();
        assert_eq!(old["status"], json!("rescheduled"));
        assert_eq!(old["rescheduled_to"], moved["appointment_id"]);
        // The old slot is free again.
        assert_eq!(
            app.book(&app.reception, &vera, 0, 10, 0).await.0,
            StatusCode::CREATED
        );
    }
);

on_both_backends!(
    a_visit_moves_through_its_statuses_in_order,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register("Статусова", "Анна", "+79161234567", SNILS)
            .await;
        let (_, a) = app.book(&app.reception, &token, 0, 10, 0).await;
        let path = format!(
            "/v1/appointments/{}/status",
            a["appointment_id"].as_str().unwrap()
        );
        let (status, body) = app
            .post(&app.reception, &path, json!({"status": "no_show"}))
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("too_early"))
        );
        let (status, body) = app
            .post(&app.reception, &path, json!({"status": "completed"}))
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "a receptionist does not conduct visits: {body}"
        );
        let doctor = app.login("doctor").await;
        let (status, body) = app
            .post(&doctor, &path, json!({"status": "completed"}))
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("invalid_transition"))
        );
        assert_eq!(
            app.post(&app.reception, &path, json!({"status": "arrived"}))
                .await
                .0,
            StatusCode::OK
        );
        assert_eq!(
            app.post(&doctor, &path, json!({"status": "in_progress"}))
                .await
                .0,
            StatusCode::OK
        );
        let (status, body) = app
            .post(&doctor, &path, json!({"status": "completed"}))
            .await;
        assert_eq!(
            (status, body["status"].clone()),
            (StatusCode::OK, json!("completed"))
        );
    }
);

on_both_backends!(roles_limit_what_staff_can_do, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let token = app.register("Ролева", "Анна", "+79161234567", SNILS).await;
    let (status, body) = app.book(&app.cashier, &token, 0, 10, 0).await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "a cashier cannot edit schedules: {body}"
    );
    let (status, _) = app
        .post(&app.cashier, "/v1/schedule-templates", json!({"doctor_id": app.fx.doctor, "room_id": app.fx.room, "weekday": 7, "start": "09:00", "end": "12:00", "slot_minutes": 30, "valid_from": "2026-12-01"}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = app
        .post(
            &app.reception,
            "/v1/services",
            json!({"code": "NEW", "name": "n", "duration_minutes": 30}),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "only the administrator edits the price list"
    );
    assert_eq!(
        app.get(
            &app.cashier,
            "/v1/schedule/day?branch_id=msk-1&day=2026-11-30"
        )
        .await
        .0,
        StatusCode::OK
    );
    assert_eq!(
        app.get(
            &app.accountant,
            "/v1/schedule/day?branch_id=msk-1&day=2026-11-30"
        )
        .await
        .0,
        StatusCode::FORBIDDEN
    );
    // A doctor sees only their own day.
    app.book(&app.reception, &token, 0, 10, 0).await;
    let other = app.register("Ролева", "Вера", "+79161234568", SNILS).await;
    app.post(&app.reception, "/v1/appointments", json!({"doctor_id": app.fx.doctor2, "service_code": "B01.047.001", "starts_at": msk(0, 10, 0), "patient_token": other})).await;
    let doctor = app.login("doctor").await;
    let (_, view) = app
        .get(&doctor, "/v1/schedule/day?branch_id=msk-1&day=2026-11-30")
        .await;
    let doctors: Vec<&Value> = view["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["doctor_id"])
        .collect();
    assert_eq!(doctors, vec![&json!(app.fx.doctor)]);
    // No session, no schedule.
    let (status, body) = app
        .get("", "/v1/schedule/day?branch_id=msk-1&day=2026-11-30")
        .await;
    assert_eq!(
        (status, body["code"].clone()),
        (StatusCode::UNAUTHORIZED, json!("unauthenticated"))
    );
    // A patient's consents and data requests are reception's alone, as in the vault's policy.
    let consents = format!("/v1/patients/{token}/consents");
    assert_eq!(app.get(&app.reception, &consents).await.0, StatusCode::OK);
    for session in [&app.admin, &app.cashier, &app.accountant, &doctor] {
        assert_eq!(app.get(session, &consents).await.0, StatusCode::FORBIDDEN);
        let (status, _) = app
            .call(
                reqwest::Method::PUT,
                session,
                &format!("{consents}/marketing"),
                Some(json!({"granted": true})),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .post(
                session,
                &format!("/v1/patients/{token}/data-requests"),
                json!({"kind": "access"}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
});

on_both_backends!(
    leave_removes_slots_and_a_full_day_takes_a_waitlist,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app.register("Ждунова", "Анна", "+79161234567", SNILS).await;
        app.book(&app.reception, &token, 1, 9, 0).await;
        let (status, added) = app
        .post(&app.admin, "/v1/schedule-exceptions", json!({"doctor_id": app.fx.doctor, "first_day": "2026-12-01", "last_day": "2026-12-02", "kind": "sick_day"}))
        .await;
        assert_eq!(status, StatusCode::CREATED, "{added}");
        assert_eq!(
            added["booked_appointments_to_move"]
                .as_array()
                .unwrap()
                .len(),
            1,
            "reception must call one patient"
        );
        let (_, slots) = app
            .get(
                &app.reception,
                &format!("/v1/slots?day=2026-12-01&doctor_id={}", app.fx.doctor),
            )
            .await;
        assert_eq!(slots, json!([]));
        let (status, body) = app.book(&app.reception, &token, 2, 10, 0).await;
        assert_eq!(
            (status, body["code"].clone()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                json!("outside_working_hours")
            )
        );

        // Fill Thursday, then the waitlist takes a patient and a cancellation offers them the slot.
        let mut first = None;
        for i in 0..18 {
            let t = app
                .register("Полнова", "Анна", &format!("+791612346{i:02}"), SNILS)
                .await;
            let (status, body) = app
                .book(&app.reception, &t, 3, 9 + i / 2, (i % 2) * 30)
                .await;
            assert_eq!(status, StatusCode::CREATED, "{body}");
            first.get_or_insert(body["appointment_id"].as_str().unwrap().to_owned());
        }
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/waitlist",
                json!({"doctor_id": app.fx.doctor, "day": "2026-12-03", "patient_token": token}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["position"], json!(1));
        let (status, body) = app
            .post(
                &app.reception,
                "/v1/waitlist",
                json!({"doctor_id": app.fx.doctor, "day": "2026-12-04", "patient_token": token}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("day_not_full"))
        );
        let messages = app.count("outbox").await;
        app.post(
            &app.reception,
            &format!("/v1/appointments/{}/cancel", first.unwrap()),
            json!({}),
        )
        .await;
        app.state.clinic.send_due_messages().await.unwrap();
        let offer = app
            .sent_messages()
            .into_iter()
            .find(|m| m["text"].as_str().unwrap().contains("освободилось"))
            .expect("a waitlist offer");
        assert_eq!(offer["to"], json!("+79161234567"));
        assert!(app.count("outbox").await > messages);
    }
);

on_both_backends!(
    reminders_name_time_and_place_never_the_doctor_or_the_service,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register("Напоминалова", "Анна", "+79161234567", SNILS)
            .await;
        let (_, a) = app.book(&app.reception, &token, 2, 14, 30).await;
        let (_, b) = app.book(&app.reception, &token, 3, 9, 0).await;
        assert_eq!(
            app.state.clinic.send_due_messages().await.unwrap(),
            2,
            "two confirmations now"
        );
        let sent = app.sent_messages();
        assert_eq!(sent.len(), 2);
        for m in &sent {
            assert_eq!(m["channel"], json!("sms"));
            assert_eq!(m["to"], json!("+79161234567"));
            let text = m["text"].as_str().unwrap();
            for secret in [
                "терапевт",
                "Терапевтова",
                "B01.047.001",
                "Услуга",
                "кардиолог",
            ] {
                assert!(!text.contains(secret), "{text}");
            }
        }
        assert!(
            sent[0]["text"]
                .as_str()
                .unwrap()
                .contains("02.12.2026 в 14:30"),
            "{}",
            sent[0]
        );
        // Cancel the second; move to the day before the first: only its reminder goes out.
        app.post(
            &app.reception,
            &format!(
                "/v1/appointments/{}/cancel",
                b["appointment_id"].as_str().unwrap()
            ),
            json!({}),
        )
        .await;
        app.set_time(msk(1, 14, 30));
        assert_eq!(app.state.clinic.send_due_messages().await.unwrap(), 1);
        let last = app.sent_messages().pop().unwrap();
        assert!(
            last["text"].as_str().unwrap().contains("напоминаем"),
            "{last}"
        );
        assert!(a["appointment_id"].is_string());
        // Nothing is sent twice.
        assert_eq!(app.state.clinic.send_due_messages().await.unwrap(), 0);
    }
);

on_both_backends!(
    with_the_vault_down_reminders_wait_and_go_out_later,
    |backend| async move {
        let mut app = TestApp::spawn(backend).await;
        let token = app
            .register("Терпеливова", "Анна", "+79161234567", SNILS)
            .await;
        app.book(&app.reception, &token, 0, 10, 0).await;
        app.vault.stop().await;
        assert_eq!(app.state.clinic.send_due_messages().await.unwrap(), 0);
        assert!(app.sent_messages().is_empty());
        assert_eq!(
            app.count("outbox WHERE sent_at IS NULL AND dropped_at IS NULL")
                .await,
            1,
            "kept for retry"
        );
    }
);

on_both_backends!(
    the_published_price_list_is_public_and_keeps_its_history,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let (status, _) = app
            .post(
                &app.admin,
                "/v1/services/B01.047.001/prices",
                json!({"valid_from": "2027-01-01", "amount": "2750"}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let (status, body) = app
            .post(
                &app.admin,
                "/v1/services/B01.047.001/prices",
                json!({"valid_from": "2027-01-01", "amount": "3000"}),
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (StatusCode::CONFLICT, json!("price_exists")),
            "history is not overwritten"
        );
        let (status, body) = app
            .post(
                &app.admin,
                "/v1/services/B01.047.001/prices",
                json!({"valid_from": "2027-02-01", "amount": "12.505"}),
            )
            .await;
        assert_eq!(
            (status, body["field"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!("amount"))
        );
        let (status, list) = app.get("", "/v1/price-list").await;
        assert_eq!(status, StatusCode::OK, "no sign-in needed: {list}");
        let entry = list
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == json!("B01.047.001"))
            .unwrap();
        assert_eq!(
            entry["prices"],
            json!([
                {"valid_from": "2026-01-01", "valid_until": "2026-12-31", "kopecks": 250000},
                {"valid_from": "2027-01-01", "kopecks": 275000}
            ])
        );
        // Today's price in the service list is still the old one.
        let (_, services) = app.get(&app.reception, "/v1/services").await;
        let today = services
            .as_array()
            .unwrap()
            .iter()
            .find(|e| e["code"] == json!("B01.047.001"))
            .unwrap();
        assert_eq!(today["price_kopecks"], json!(250000));
    }
);

on_both_backends!(
    with_its_database_gone_clinic_app_answers_503_and_readyz_says_so,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        assert_eq!(app.get("", "/readyz").await.0, StatusCode::OK);
        app.state.clinic.db.close().await;
        let (status, body) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
            )
            .await;
        assert_eq!(
            (status, body["code"].clone()),
            (
                StatusCode::SERVICE_UNAVAILABLE,
                json!("database_unavailable")
            ),
            "{body}"
        );
        assert!(
            !body.to_string().contains("sqlx") && !body.to_string().contains("pool"),
            "no cause in the body: {body}"
        );
        let (status, ready) = app.get("", "/readyz").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(ready["database"], json!(false));
    }
);

on_both_backends!(
    a_care_relationship_the_vault_could_not_end_is_ended_when_it_is_back,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register("Доступова", "Анна", "+79161234567", SNILS)
            .await;
        let (_, a) = app.book(&app.reception, &token, 3, 10, 0).await;
        app.vault_link.set(false);
        let (status, out) = app
            .post(
                &app.reception,
                &format!(
                    "/v1/appointments/{}/cancel",
                    a["appointment_id"].as_str().unwrap()
                ),
                json!({}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::OK,
            "the cancellation stands without the vault: {out}"
        );
        assert_eq!(out["care_relationship_ended"], json!(false));
        let live = |rels: Vec<(String, i64)>, now: i64| {
            rels.iter().filter(|(_, until)| *until > now).count()
        };
        assert_eq!(
            live(app.vault_care_relationships().await, app.now()),
            1,
            "the doctor still has access"
        );
        assert_eq!(
            app.count("outbox WHERE kind = 'care_end' AND sent_at IS NULL")
                .await,
            1,
            "queued"
        );
        // Still cut off: the retry waits.
        app.set_time(app.now() + 301);
        app.state.clinic.send_due_messages().await.unwrap();
        assert_eq!(live(app.vault_care_relationships().await, app.now()), 1);
        // Back: the next round ends it.
        app.vault_link.set(true);
        app.set_time(app.now() + 301);
        app.state.clinic.send_due_messages().await.unwrap();
        assert_eq!(
            live(app.vault_care_relationships().await, app.now()),
            0,
            "ended in the vault"
        );
        assert_eq!(
            app.count("outbox WHERE kind = 'care_end' AND sent_at IS NOT NULL")
                .await,
            1
        );
        assert!(
            app.sent_messages()
                .iter()
                .all(|m| m["text"].as_str().is_some_and(|t| !t.is_empty())),
            "no message went to the patient for it"
        );
    }
);
