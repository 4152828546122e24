//! Schedules, booking and the day view, against a real vault, on SQLite and PostgreSQL.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::json;
use support::*;

on_both_backends!(
    a_booking_shows_in_the_day_view_with_the_name_from_the_vault,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let token = app
            .register("Скворцова", "Ульяна", "+79161234567", "112-233-445 95")
            .await;
        let (status, body) = app.book(&app.reception, &token, 0, 10, 0).await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let (status, view) = app
            .get(
                &app.reception,
                "/v1/schedule/day?branch_id=msk-1&day=2026-11-30",
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{view}");
        assert_eq!(view["names"]["shown"], json!(true));
        let entry = &view["appointments"][0];
        assert_eq!(entry["time"], json!("10:00"));
        assert_eq!(entry["patient_name"], json!("Скворцова Ульяна Тестовна"));
        assert_eq!(entry["patient_token"], json!(token));
    }
);
