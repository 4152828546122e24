//! Billing against a real vault, on SQLite and PostgreSQL: invoices from the price list,
//! shifts, payments with idempotency keys, refunds, 54-FZ receipts, the 1C export, the tax
//! certificate and the patient's own bills.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::*;

const SURNAME: &str = "Скворцова";
const CHILD_SURNAME: &str = "Зябликов";

fn key() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Rows of a clinic table, for "nothing was written".
async fn rows(app: &TestApp, table: &str) -> i64 {
    let sql = format!("SELECT COUNT(*) FROM {table}");
    match &app.db.db {
        clinic_app::store::Database::Sqlite(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .unwrap(),
        clinic_app::store::Database::Postgres(pool) => sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
            .fetch_one(pool)
            .await
            .unwrap(),
    }
}

/// A registered patient with a booked visit on the test Monday plus `days` at `hh`:00.
async fn visit(
    app: &TestApp,
    surname: &str,
    snils: &str,
    phone: &str,
    days: i64,
    hh: i64,
) -> (String, String) {
    let token = app.register(surname, "Ульяна", phone, snils).await;
    let (status, appointment) = app.book(&app.reception, &token, days, hh, 0).await;
    assert_eq!(status, StatusCode::CREATED, "{appointment}");
    (
        token,
        appointment["appointment_id"].as_str().unwrap().to_owned(),
    )
}

async fn invoice(app: &TestApp, appointment_id: &str) -> Value {
    let (status, body) = app
        .post(
            &app.cashier,
            "/v1/invoices",
            json!({"appointment_id": appointment_id}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body
}

async fn open_shift(app: &TestApp, session: &str) -> String {
    let (status, body) = app.post(session, "/v1/shifts", json!({})).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    body["shift_id"].as_str().unwrap().to_owned()
}

async fn pay(
    app: &TestApp,
    invoice_id: &str,
    method: &str,
    amount: &str,
    key: &str,
) -> (StatusCode, Value) {
    app.post(
        &app.cashier,
        &format!("/v1/invoices/{invoice_id}/payments"),
        json!({"method": method, "amount": amount, "idempotency_key": key}),
    )
    .await
}

async fn refund(app: &TestApp, payment_id: &str, amount: &str, key: &str) -> (StatusCode, Value) {
    app.post(
        &app.cashier,
        &format!("/v1/payments/{payment_id}/refunds"),
        json!({"amount": amount, "idempotency_key": key, "reason": "service_not_rendered"}),
    )
    .await
}

async fn complete(app: &TestApp, appointment_id: &str) {
    for status in ["arrived", "in_progress", "completed"] {
        let (s, body) = app
            .post(
                &app.admin,
                &format!("/v1/appointments/{appointment_id}/status"),
                json!({"status": status}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{status}: {body}");
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

on_both_backends!(
    an_invoice_is_priced_from_the_price_list_of_the_visit_day,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        // The price of the visit's service rises from Tuesday.
        let (status, body) = app
            .post(
                &app.admin,
                "/v1/services/B01.047.001/prices",
                json!({"valid_from": "2026-12-01", "amount": "2800"}),
            )
            .await;
        assert!(status.is_success(), "{body}");
        let (_, monday) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
        let (_, tuesday) = visit(&app, "Иволгина", "156-921-789 03", "+79161234568", 1, 10).await;

        let (status, inv) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": monday,
                       "extra_lines": [{"service_code": "A09.05.003", "quantity": 2}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        assert_eq!(inv["visit_day"], "2026-11-30");
        assert_eq!(inv["lines"][0]["service_code"], "B01.047.001");
        assert_eq!(inv["lines"][0]["price_kopecks"], 250_000);
        assert_eq!(inv["lines"][1]["price_kopecks"], 65_050);
        assert_eq!(inv["lines"][1]["sum_kopecks"], 130_100);
        assert_eq!(inv["lines"][0]["vat_exempt"], true);
        assert_eq!(inv["total_kopecks"], 380_100);
        assert_eq!(inv["outstanding_kopecks"], 380_100);
        assert_eq!(inv["status"], "unpaid");
        assert_eq!(inv["payer_token"], inv["patient_token"]);

        let later = invoice(&app, &tuesday).await;
        assert_eq!(later["total_kopecks"], 280_000, "Tuesday's price");

        let (status, body) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": monday}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "invoice_exists");

        // A withdrawn service, a service without a price that day: 422 naming the field.
        let (status, _) = app
            .call(
                reqwest::Method::DELETE,
                &app.admin,
                "/v1/services/A16.07.002",
                None,
            )
            .await;
        assert!(status.is_success());
        let (status, _) = app
            .post(
                &app.admin,
                "/v1/services",
                json!({"code": "A11.12.009", "name": "Взятие крови", "duration_minutes": 10}),
            )
            .await;
        assert!(status.is_success());
        let (_, wednesday) = visit(&app, "Синицына", "123-456-789 64", "+79161234569", 2, 10).await;
        let before = rows(&app, "invoices").await;
        for (code, expected) in [
            ("A16.07.002", "service_unavailable"),
            ("A11.12.009", "no_price"),
        ] {
            let (status, body) = app
                .post(
                    &app.cashier,
                    "/v1/invoices",
                    json!({"appointment_id": wednesday, "extra_lines": [{"service_code": code}]}),
                )
                .await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
            assert_eq!(body["code"], expected);
            assert_eq!(body["field"], "extra_lines");
            assert!(
                body["message"].as_str().unwrap().contains("extra_lines[0]"),
                "{body}"
            );
        }
        assert_eq!(rows(&app, "invoices").await, before, "nothing written");
        assert_eq!(
            rows(&app, "invoice_lines").await,
            3,
            "only the first two invoices' lines"
        );

        // A parent pays for a child: the payer is another token.
        let payer = app
            .register("Щеглова", "Анна", "+79161234570", "111-222-333 72")
            .await;
        let (_, thursday) =
            visit(&app, CHILD_SURNAME, "987-654-321 83", "+79161234571", 3, 10).await;
        let (status, inv) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": thursday, "payer_token": payer}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        assert_eq!(inv["payer_token"], json!(payer));
        assert_ne!(inv["patient_token"], json!(payer));

        // A cancelled visit is not billed.
        let (status, _) = app
            .post(
                &app.reception,
                &format!("/v1/appointments/{wednesday}/cancel"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, body) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": wednesday}),
            )
            .await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "appointment_not_billable");
    }
);

on_both_backends!(
    partial_payments_then_the_rest_make_the_invoice_paid,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let (_, appointment) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
        let inv = invoice(&app, &appointment).await;
        let id = inv["invoice_id"].as_str().unwrap();
        open_shift(&app, &app.cashier).await;

        let (status, first) = pay(&app, id, "cash", "1000", &key()).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        assert_eq!(first["amount_kopecks"], 100_000);
        assert_eq!(
            first["settlement"], "prepayment",
            "the visit is still to come"
        );
        let (_, now) = app.get(&app.cashier, &format!("/v1/invoices/{id}")).await;
        assert_eq!(now["status"], "partially_paid");
        assert_eq!(now["outstanding_kopecks"], 150_000);

        // More than outstanding: refused, nothing written.
        let (status, body) = pay(&app, id, "card", "1500.01", &key()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "amount_exceeds_outstanding");
        assert_eq!(body["field"], "amount");
        assert_eq!(rows(&app, "payments").await, 1);
        let (status, body) = pay(&app, id, "card", "0", &key()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "invalid_amount");

        let (status, second) = pay(&app, id, "card", "1500,00", &key()).await;
        assert_eq!(status, StatusCode::CREATED, "{second}");
        let (_, now) = app.get(&app.cashier, &format!("/v1/invoices/{id}")).await;
        assert_eq!(now["status"], "paid");
        assert_eq!(now["paid_kopecks"], 250_000);
        assert_eq!(now["outstanding_kopecks"], 0);
        assert_eq!(now["payments"].as_array().unwrap().len(), 2);

        let (status, body) = pay(&app, id, "cash", "1", &key()).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body["code"], "amount_exceeds_outstanding");
        assert!(
            body["message"].as_str().unwrap().contains("paid in full"),
            "{body}"
        );
    }
);

on_both_backends!(
    a_double_submitted_payment_is_one_payment,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let (_, appointment) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
        let inv = invoice(&app, &appointment).await;
        let id = inv["invoice_id"].as_str().unwrap().to_owned();
        open_shift(&app, &app.cashier).await;

        let k = key();
        let (status, first) = pay(&app, &id, "card", "1000", &k).await;
        assert_eq!(status, StatusCode::CREATED, "{first}");
        let (status, again) = pay(&app, &id, "card", "1000", &k).await;
        assert_eq!(
            status,
            StatusCode::OK,
            "a repeat answers the recorded payment: {again}"
        );
        assert_eq!(again["payment_id"], first["payment_id"]);
        assert_eq!(rows(&app, "payments").await, 1);

        let (status, body) = pay(&app, &id, "card", "900", &k).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "idempotency_key_reused");
        let (status, body) = pay(&app, &id, "cash", "1000", &k).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(rows(&app, "payments").await, 1);

        // Two cashiers' clicks at once on what is left (1500): one is taken, one refused.
        let send = |amount: &'static str, k: String| {
            let http = app.http.clone();
            let url = format!("{}/v1/invoices/{id}/payments", app.base);
            let session = app.cashier.clone();
            tokio::spawn(async move {
                http.post(url)
                    .bearer_auth(session)
                    .json(&json!({"method": "cash", "amount": amount, "idempotency_key": k}))
                    .send()
                    .await
                    .unwrap()
                    .status()
            })
        };
        let (a, b) = (send("1000", key()), send("1000", key()));
        let mut statuses = [a.await.unwrap(), b.await.unwrap()];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::CREATED, StatusCode::UNPROCESSABLE_ENTITY],
            "never overpaid"
        );
        // The same key sent twice at once: one row.
        let same = key();
        let (a, b) = (send("500", same.clone()), send("500", same));
        let mut statuses = [a.await.unwrap(), b.await.unwrap()];
        statuses.sort();
        assert_eq!(statuses, [StatusCode::OK, StatusCode::CREATED]);
        let (_, now) = app.get(&app.cashier, &format!("/v1/invoices/{id}")).await;
        assert_eq!(now["paid_kopecks"], 250_000);
        assert_eq!(now["status"], "paid");
        assert_eq!(rows(&app, "payments").await, 3);
    }
);

on_both_backends!(refunds_never_exceed_what_was_paid, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let (_, appointment) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
    let inv = invoice(&app, &appointment).await;
    let id = inv["invoice_id"].as_str().unwrap();
    open_shift(&app, &app.cashier).await;
    let (_, paid) = pay(&app, id, "cash", "2500", &key()).await;
    let payment = paid["payment_id"].as_str().unwrap();

    let (status, body) = refund(&app, payment, "2500.01", &key()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "refund_exceeds_paid");
    assert_eq!(rows(&app, "payments").await, 1, "nothing written");

    let k = key();
    let (status, first) = refund(&app, payment, "1000", &k).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    assert_eq!(first["kind"], "refund");
    assert_eq!(first["method"], "cash", "returned the way it was paid");
    assert_eq!(first["refund_of"], json!(payment));
    let (status, again) = refund(&app, payment, "1000", &k).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(again["payment_id"], first["payment_id"]);

    let (status, receipt) = app
        .get(
            &app.cashier,
            &format!(
                "/v1/payments/{}/receipt",
                first["payment_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["operation"], "income_return");
    assert_eq!(receipt["operation_tag_value"], 2);
    assert_eq!(receipt["payments"]["cash_kopecks"], 100_000);
    assert_eq!(receipt["total_kopecks"], 100_000);
    assert_eq!(receipt["items"][0]["sum_kopecks"], 100_000);

    let (status, body) = refund(&app, payment, "1500.01", &key()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert_eq!(body["code"], "refund_exceeds_paid");
    let (status, _) = refund(&app, payment, "1500", &key()).await;
    assert_eq!(status, StatusCode::CREATED);
    let (_, now) = app.get(&app.cashier, &format!("/v1/invoices/{id}")).await;
    assert_eq!(now["status"], "refunded");
    assert_eq!(now["refunded_kopecks"], 250_000);
    let original = now["payments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["kind"] == "payment")
        .unwrap();
    assert_eq!(original["refundable_kopecks"], 0);
    let (status, body) = refund(&app, payment, "0.01", &key()).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("refunded in full"),
        "{body}"
    );
    assert_eq!(rows(&app, "payments").await, 3);
});

on_both_backends!(
    shift_totals_add_up_and_a_closed_shift_takes_no_money,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let (_, a) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
        let (_, b) = visit(&app, "Иволгина", "156-921-789 03", "+79161234568", 0, 11).await;
        let a = invoice(&app, &a).await["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let b = invoice(&app, &b).await["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();

        let (status, body) = pay(&app, &a, "cash", "1000", &key()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "no_open_shift");
        assert!(
            body["message"].as_str().unwrap().contains("open one"),
            "{body}"
        );
        assert_eq!(rows(&app, "payments").await, 0);

        let shift = open_shift(&app, &app.cashier).await;
        let (status, body) = app.post(&app.cashier, "/v1/shifts", json!({})).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "shift_already_open");
        let (_, current) = app.get(&app.cashier, "/v1/shifts/current").await;
        assert_eq!(current["shift_id"], json!(shift));

        pay(&app, &a, "cash", "1000", &key()).await;
        pay(&app, &a, "card", "1500", &key()).await;
        let (_, cash_b) = pay(&app, &b, "cash", "2500", &key()).await;
        let (status, _) = refund(&app, cash_b["payment_id"].as_str().unwrap(), "500", &key()).await;
        assert_eq!(status, StatusCode::CREATED);
        pay(&app, &b, "transfer", "500", &key()).await;

        let (status, totals) = app
            .get(&app.accountant, &format!("/v1/shifts/{shift}/totals"))
            .await;
        assert_eq!(status, StatusCode::OK, "{totals}");
        let method = |m: &str| {
            totals["methods"]
                .as_array()
                .unwrap()
                .iter()
                .find(|x| x["method"] == m)
                .unwrap()
                .clone()
        };
        assert_eq!(method("cash")["payments_kopecks"], 350_000);
        assert_eq!(method("cash")["payments_count"], 2);
        assert_eq!(method("cash")["refunds_kopecks"], 50_000);
        assert_eq!(method("cash")["refunds_count"], 1);
        assert_eq!(method("cash")["net_kopecks"], 300_000);
        assert_eq!(method("card")["payments_kopecks"], 150_000);
        assert_eq!(method("transfer")["payments_kopecks"], 50_000);
        assert_eq!(totals["payments_kopecks"], 550_000);
        assert_eq!(totals["payments_count"], 4);
        assert_eq!(totals["refunds_kopecks"], 50_000);
        assert_eq!(totals["net_kopecks"], 500_000);
        assert_eq!(totals["cash_in_drawer_kopecks"], 300_000);

        let (status, body) = app
            .post(
                &app.reception,
                &format!("/v1/shifts/{shift}/close"),
                json!({}),
            )
            .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "only its cashier closes a shift: {body}"
        );
        let (status, closed) = app
            .post(
                &app.cashier,
                &format!("/v1/shifts/{shift}/close"),
                json!({}),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{closed}");
        assert!(closed["closed_at"].is_i64());
        assert_eq!(closed["net_kopecks"], 500_000);

        let (_, fresh) = visit(&app, "Синицына", "123-456-789 64", "+79161234569", 0, 12).await;
        let fresh = invoice(&app, &fresh).await["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, body) = pay(&app, &fresh, "cash", "100", &key()).await;
        assert_eq!(status, StatusCode::CONFLICT, "{body}");
        assert_eq!(body["code"], "no_open_shift");
        let (status, _) = app.get(&app.cashier, "/v1/shifts/current").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
    }
);

on_both_backends!(the_receipt_is_fiscal_and_anonymous, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let (token, appointment) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
    let inv = invoice(&app, &appointment).await;
    let id = inv["invoice_id"].as_str().unwrap();
    open_shift(&app, &app.cashier).await;

    // A prepayment before the visit: items shared out to the amount.
    let (_, pre) = pay(&app, id, "card", "1000", &key()).await;
    let (status, receipt) = app
        .get(
            &app.cashier,
            &format!(
                "/v1/payments/{}/receipt",
                pre["payment_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["operation"], "income");
    assert_eq!(receipt["operation_tag_value"], 1);
    let item = &receipt["items"][0];
    assert_eq!(item["payment_method"], "prepayment");
    assert_eq!(item["payment_method_tag_value"], 2);
    assert_eq!(item["sum_kopecks"], 100_000);
    assert_eq!(item["vat"], "none");
    assert_eq!(item["vat_tag_value"], 6);
    assert_eq!(item["payment_object_tag_value"], 4);
    assert_eq!(receipt["payments"]["electronic_kopecks"], 100_000);

    // The rest after the visit: a full settlement counting the prepayment (tag 1215).
    complete(&app, &appointment).await;
    let (_, rest) = pay(&app, id, "cash", "1500", &key()).await;
    assert_eq!(rest["settlement"], "full_payment");
    let (status, receipt) = app
        .get(
            &app.cashier,
            &format!(
                "/v1/payments/{}/receipt",
                rest["payment_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["items"].as_array().unwrap().len(), 1);
    let item = &receipt["items"][0];
    assert_eq!(item["name"], "Услуга B01.047.001");
    assert_eq!(item["price_kopecks"], 250_000);
    assert_eq!(item["quantity"], 1);
    assert_eq!(item["sum_kopecks"], 250_000);
    assert_eq!(item["vat"], "none");
    assert_eq!(item["payment_method"], "full_payment");
    assert_eq!(item["payment_method_tag_value"], 4);
    assert_eq!(
        receipt["payments"],
        json!({"cash_kopecks": 150_000, "electronic_kopecks": 0, "prepayment_kopecks": 100_000, "credit_kopecks": 0})
    );
    assert_eq!(receipt["total_kopecks"], 250_000);
    assert_eq!(receipt["total_without_vat_kopecks"], 250_000);
    assert_eq!(receipt["seller_inn"], "7707083893");
    assert_eq!(receipt["taxation_system_tag_value"], 1);
    assert_eq!(receipt["settlement_address"], "ул. Тверская, 1");
    assert_eq!(receipt["cashier"], "cashier");

    // Nothing about the buyer.
    let text = receipt.to_string();
    assert!(!text.contains(&token), "no token: {text}");
    assert!(!text.contains("pt_"), "no token: {text}");
    assert!(
        !text.contains(SURNAME) && !text.contains("Ульяна"),
        "no name: {text}"
    );
    assert!(!text.contains("buyer"), "{text}");
});

on_both_backends!(
    the_1c_export_lists_the_day_without_patient_data,
    |backend| async move {
        let mut app = TestApp::spawn(backend).await;
        let (token, a) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
        let (_, b) = visit(&app, "Иволгина", "156-921-789 03", "+79161234568", 1, 10).await;
        let (status, inv_a) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": a, "extra_lines": [{"service_code": "A09.05.003"}]}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED);
        let inv_a = inv_a["invoice_id"].as_str().unwrap().to_owned();
        let inv_b = invoice(&app, &b).await["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let shift = open_shift(&app, &app.cashier).await;
        let cashier_id = app.get(&app.cashier, "/v1/shifts/current").await.1["cashier_id"]
            .as_str()
            .unwrap()
            .to_owned();

        app.set_time(msk(0, 10, 45));
        let (_, p1) = pay(&app, &inv_a, "card", "3150.50", &key()).await;
        app.set_time(msk(0, 11, 5));
        let (_, r1) = refund(&app, p1["payment_id"].as_str().unwrap(), "650.50", &key()).await;
        app.set_time(msk(0, 23, 59));
        // Staff sessions last 12 hours: sign in again late in the evening.
        app.cashier = app.login("cashier").await;
        app.accountant = app.login("accountant").await;
        app.admin = app.login("admin").await;
        let (_, p2) = pay(&app, &inv_b, "cash", "500", &key()).await;
        app.set_time(msk(1, 0, 1));
        let (_, p3) = pay(&app, &inv_b, "cash", "2000", &key()).await;
        let id = |v: &Value| v["payment_id"].as_str().unwrap().to_owned();

        let (status, headers, csv) = get_raw(
            &app,
            &app.accountant,
            "/v1/exports/1c?day=2026-11-30&branch_id=msk-1",
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{csv}");
        assert_eq!(headers["content-type"], "text/csv; charset=utf-8");
        assert_eq!(
            headers["content-disposition"],
            "attachment; filename=\"1c-payments-msk-1-2026-11-30.csv\""
        );
        let expected = format!(
            "datetime;document_no;operation;method;amount;refund_of;invoice_no;service_codes;branch_id;cashier_id;shift_id\r\n\
         2026-11-30T10:45:00+03:00;{p1};payment;card;3150.50;;{inv_a};B01.047.001,A09.05.003;msk-1;{cashier_id};{shift}\r\n\
         2026-11-30T11:05:00+03:00;{r1};refund;card;650.50;{p1};{inv_a};B01.047.001,A09.05.003;msk-1;{cashier_id};{shift}\r\n\
         2026-11-30T23:59:00+03:00;{p2};payment;cash;500.00;;{inv_b};B01.047.001;msk-1;{cashier_id};{shift}\r\n",
            p1 = id(&p1),
            r1 = id(&r1),
            p2 = id(&p2),
        );
        assert_eq!(csv, expected);
        assert!(!csv.contains(&id(&p3)), "the next day's payment is not in");
        assert!(!csv.contains("pt_") && !csv.contains(&token), "no token");
        assert!(!csv.contains(SURNAME) && !csv.contains("Ульяна"), "no name");

        let (status, _, csv) = get_raw(
            &app,
            &app.admin,
            "/v1/exports/1c?day=2026-12-01&branch_id=msk-1",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(csv.lines().count(), 2, "{csv}");
        let (status, _, csv) = get_raw(
            &app,
            &app.accountant,
            "/v1/exports/1c?day=2026-12-05&branch_id=msk-1",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            csv,
            format!("{}\r\n", expected.lines().next().unwrap()),
            "header only"
        );

        let (status, _, _) = get_raw(
            &app,
            &app.cashier,
            "/v1/exports/1c?day=2026-11-30&branch_id=msk-1",
        )
        .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "a cashier does not export");
        let (status, _, body) = get_raw(
            &app,
            &app.accountant,
            "/v1/exports/1c?day=30.11.2026&branch_id=msk-1",
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    }
);

on_both_backends!(
    the_tax_certificate_prints_names_from_the_vault_and_the_years_sum,
    |backend| async move {
        let app = TestApp::spawn(backend).await;
        let parent = app
            .register(SURNAME, "Ульяна", "+79161234567", "112-233-445 95")
            .await;
        let (child, appointment) =
            visit(&app, CHILD_SURNAME, "156-921-789 03", "+79161234568", 0, 10).await;

        // The vault releases name, birth date and INN to clinic-app for this purpose.
        let people = app
            .state
            .clinic
            .vault
            .tax_people(&[parent.parse().unwrap(), child.parse().unwrap()])
            .await
            .unwrap();
        let p = &people[&parent.parse().unwrap()];
        assert_eq!((p.surname.as_str(), p.name.as_str()), (SURNAME, "Ульяна"));
        assert_eq!(p.patronymic.as_deref(), Some("Тестовна"));
        assert_eq!(p.inn.as_deref(), Some("500100732259"), "INN released");
        assert_eq!(
            p.birth_date.as_deref(),
            Some("1980-05-17"),
            "birth date released"
        );

        let (status, inv) = app
            .post(
                &app.cashier,
                "/v1/invoices",
                json!({"appointment_id": appointment, "payer_token": parent}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{inv}");
        open_shift(&app, &app.cashier).await;
        let (_, paid) = pay(
            &app,
            inv["invoice_id"].as_str().unwrap(),
            "card",
            "2500",
            &key(),
        )
        .await;

        let path = format!(
            "/v1/tax-certificates?payer_token={parent}&patient_token={child}&year=2026&relation=child"
        );
        let (status, headers, html) = get_raw(&app, &app.accountant, &path).await;
        assert_eq!(status, StatusCode::OK, "{html}");
        assert_eq!(headers["content-type"], "text/html; charset=utf-8");
        assert_eq!(headers["cache-control"], "no-store");
        assert!(html.contains("КНД 1151156"));
        assert!(
            html.contains("7707083893 / 770701001"),
            "clinic INN and KPP"
        );
        assert!(html.contains("Л041-01137-77/00000000"), "licence");
        assert!(html.contains("Скворцова Ульяна Тестовна"), "the taxpayer");
        assert!(html.contains("500100732259"), "the taxpayer's INN");
        assert!(
            html.contains(&format!("{CHILD_SURNAME} Ульяна Тестовна")),
            "the patient"
        );
        assert!(html.contains("17.05.1980"), "the patient's birth date");
        assert!(html.contains("0 — нет"), "not the same person");
        assert!(html.contains("ребёнок"), "relation");
        assert!(
            html.contains("<td class=\"sum\">2500,00</td>"),
            "code 1 sum"
        );
        assert!(html.contains("<td class=\"sum\">0,00</td>"), "code 2 sum");
        assert!(html.contains("<tr><th>Номер справки</th><td>1</td></tr>"));
        assert!(html.contains("<tr><th>Номер корректировки</th><td>0</td></tr>"));
        assert!(!html.contains("pt_"), "no token on paper");

        // The same figures print the same certificate; a refund since gives a correction.
        let (_, _, again) = get_raw(&app, &app.cashier, &path).await;
        assert_eq!(again, html);
        assert_eq!(rows(&app, "tax_certificates").await, 1);
        refund(&app, paid["payment_id"].as_str().unwrap(), "500", &key()).await;
        let (status, _, corrected) = get_raw(&app, &app.cashier, &path).await;
        assert_eq!(status, StatusCode::OK);
        assert!(corrected.contains("<td class=\"sum\">2000,00</td>"));
        assert!(corrected.contains("<tr><th>Номер справки</th><td>1</td></tr>"));
        assert!(corrected.contains("<tr><th>Номер корректировки</th><td>1</td></tr>"));

        // Nothing paid that year; relation that does not fit; a doctor.
        let (status, body) = app
            .get(
                &app.accountant,
                &format!("/v1/tax-certificates?payer_token={parent}&patient_token={child}&year=2025&relation=child"),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["code"], "nothing_paid");
        let (status, body) = app
            .get(
                &app.accountant,
                &format!(
                    "/v1/tax-certificates?payer_token={parent}&patient_token={child}&year=2026"
                ),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(body["field"], "relation");
        let (status, body) = app
            .get(
                &app.accountant,
                &format!("/v1/tax-certificates?payer_token={child}&year=2026"),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(
            body["code"], "nothing_paid",
            "the child paid nothing themselves"
        );
        let doctor = app.login("doctor").await;
        let (status, _) = app.get(&doctor, &path).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
);

on_both_backends!(
    with_the_vault_down_only_the_certificate_stops,
    |backend| async move {
        let mut app = TestApp::spawn(backend).await;
        let (token, a) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
        let (_, b) = visit(&app, "Иволгина", "156-921-789 03", "+79161234568", 0, 11).await;
        let inv_a = invoice(&app, &a).await["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        open_shift(&app, &app.cashier).await;
        pay(&app, &inv_a, "cash", "2500", &key()).await;

        app.vault.stop().await;
        let (status, body) = app
            .get(
                &app.cashier,
                &format!("/v1/tax-certificates?payer_token={token}&year=2026"),
            )
            .await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["code"], "vault_unavailable");
        assert_eq!(rows(&app, "tax_certificates").await, 0, "nothing issued");

        // Billing itself does not need the vault.
        let inv_b = invoice(&app, &b).await["invoice_id"]
            .as_str()
            .unwrap()
            .to_owned();
        let (status, paid) = pay(&app, &inv_b, "card", "2500", &key()).await;
        assert_eq!(status, StatusCode::CREATED, "{paid}");
        let (status, _) = app
            .get(
                &app.cashier,
                &format!(
                    "/v1/payments/{}/receipt",
                    paid["payment_id"].as_str().unwrap()
                ),
            )
            .await;
        assert_eq!(status, StatusCode::OK);
        let (status, _, _) = get_raw(
            &app,
            &app.accountant,
            "/v1/exports/1c?day=2026-11-30&branch_id=msk-1",
        )
        .await;
        assert_eq!(status, StatusCode::OK);
    }
);

on_both_backends!(who_may_take_money_and_who_may_not, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let (_, appointment) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
    let doctor = app.login("doctor").await;
    for session in [&doctor, &app.accountant] {
        let (status, body) = app
            .post(
                session,
                "/v1/invoices",
                json!({"appointment_id": appointment}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{body}");
        let (status, _) = app.post(session, "/v1/shifts", json!({})).await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    // A receptionist bills and takes money too.
    let (status, inv) = app
        .post(
            &app.reception,
            "/v1/invoices",
            json!({"appointment_id": appointment}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{inv}");
    let id = inv["invoice_id"].as_str().unwrap();
    open_shift(&app, &app.reception).await;
    let (status, paid) = app
        .post(
            &app.reception,
            &format!("/v1/invoices/{id}/payments"),
            json!({"method": "cash", "amount": "2500", "idempotency_key": key()}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let payment = paid["payment_id"].as_str().unwrap();
    for session in [&doctor, &app.accountant] {
        let (status, _) = app
            .post(
                session,
                &format!("/v1/invoices/{id}/payments"),
                json!({"method": "cash", "amount": "1", "idempotency_key": key()}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
        let (status, _) = app
            .post(
                session,
                &format!("/v1/payments/{payment}/refunds"),
                json!({"amount": "1", "idempotency_key": key()}),
            )
            .await;
        assert_eq!(status, StatusCode::FORBIDDEN);
    }
    let (status, _) = app
        .get(&doctor, &format!("/v1/payments/{payment}/receipt"))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _, _) = get_raw(
        &app,
        &doctor,
        "/v1/exports/1c?day=2026-11-30&branch_id=msk-1",
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert_eq!(rows(&app, "payments").await, 1);
});

on_both_backends!(a_patient_sees_only_their_own_bills, |backend| async move {
    let app = TestApp::spawn(backend).await;
    let (mine, a) = visit(&app, SURNAME, "112-233-445 95", "+79161234567", 0, 10).await;
    let (theirs, b) = visit(&app, "Иволгина", "156-921-789 03", "+79161234568", 0, 11).await;
    let (child, c) = visit(&app, CHILD_SURNAME, "987-654-321 83", "+79161234571", 0, 12).await;
    let inv_a = invoice(&app, &a).await["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let inv_b = invoice(&app, &b).await["invoice_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (_, inv_c) = app
        .post(
            &app.cashier,
            "/v1/invoices",
            json!({"appointment_id": c, "payer_token": mine}),
        )
        .await;
    let inv_c = inv_c["invoice_id"].as_str().unwrap().to_owned();
    open_shift(&app, &app.cashier).await;
    let (_, pa) = pay(&app, &inv_a, "card", "1000", &key()).await;
    let (_, pb) = pay(&app, &inv_b, "cash", "2500", &key()).await;
    pay(&app, &inv_c, "card", "2500", &key()).await;

    let session = app.patient_session(&mine).await;
    let (status, list) = app.get(&session, "/v1/me/invoices").await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let list = list.as_array().unwrap();
    let ids: Vec<&str> = list
        .iter()
        .map(|i| i["invoice_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert!(ids.contains(&inv_a.as_str()) && ids.contains(&inv_c.as_str()));
    let own = list
        .iter()
        .find(|i| i["invoice_id"] == json!(inv_a))
        .unwrap();
    assert_eq!(own["you_are_the_patient"], true);
    assert_eq!(own["status"], "partially_paid");
    assert_eq!(own["outstanding_kopecks"], 150_000);
    assert_eq!(
        own["payments"][0]["receipt_url"],
        json!(format!(
            "/v1/payments/{}/receipt",
            pa["payment_id"].as_str().unwrap()
        ))
    );
    let for_child = list
        .iter()
        .find(|i| i["invoice_id"] == json!(inv_c))
        .unwrap();
    assert_eq!(for_child["you_are_the_patient"], false);
    assert_eq!(for_child["you_are_the_payer"], true);
    let text = serde_json::to_string(&list).unwrap();
    assert!(
        !text.contains(&theirs) && !text.contains(&child),
        "no other token"
    );

    let (status, receipt) = app
        .get(
            &session,
            &format!(
                "/v1/payments/{}/receipt",
                pa["payment_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    let (status, _) = app
        .get(
            &session,
            &format!(
                "/v1/payments/{}/receipt",
                pb["payment_id"].as_str().unwrap()
            ),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "another patient's receipt does not exist for them"
    );
    let (status, _) = app.get(&session, &format!("/v1/invoices/{inv_b}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, _) = app.get(&app.cashier, "/v1/me/invoices").await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "staff have no own bills here"
    );
    let (status, _) = app
        .post(&session, "/v1/invoices", json!({"appointment_id": a}))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "a patient does not bill");
});

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn billing_is_in_the_openapi_document() {
    let doc = clinic_app::http::openapi::json();
    for operation in [
        "createInvoice",
        "recordPayment",
        "refundPayment",
        "shiftTotals",
        "export1c",
        "taxCertificate",
        "myInvoices",
        "paymentReceipt",
    ] {
        assert!(doc.contains(&format!("\"{operation}\"")), "{operation}");
    }
}
