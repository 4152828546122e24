//! Billing: invoices, cash-register shifts, payments and refunds, receipts, the 1C export, tax
//! certificates and the patient's own bills. Formats are in `docs/billing.md`.

use std::sync::Arc;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use service_kit::http::json::ApiJson;
use utoipa::{IntoParams, OpenApi};

use super::caller::{Caller, PatientCaller, StaffCaller};
use super::error::ApiError;
use crate::domain::billing::invoices::{NewInvoice, OwnInvoice};
use crate::domain::billing::payments::{NewPayment, NewRefund, Recorded};
use crate::domain::billing::receipt::Receipt;
use crate::domain::billing::shifts::{NewShift, Shift, ShiftTotals};
use crate::domain::billing::tax_certificate::CertificateRequest;
use crate::domain::billing::{Invoice, Payment};
use crate::startup::AppState;

/// The routes of this area, merged into the main router.
pub fn routes() -> Router<Arc<AppState>> {
    Router::new()
        .route("/v1/invoices", post(create_invoice))
        .route("/v1/invoices/{invoice_id}", get(get_invoice))
        .route("/v1/invoices/{invoice_id}/payments", post(record_payment))
        .route("/v1/payments/{payment_id}/refunds", post(refund_payment))
        .route("/v1/payments/{payment_id}/receipt", get(receipt))
        .route("/v1/shifts", post(open_shift))
        .route("/v1/shifts/current", get(current_shift))
        .route("/v1/shifts/{shift_id}/close", post(close_shift))
        .route("/v1/shifts/{shift_id}/totals", get(shift_totals))
        .route("/v1/exports/1c", get(export_1c))
        .route("/v1/tax-certificates", get(tax_certificate))
        .route("/v1/me/invoices", get(own_invoices))
}

/// The OpenAPI paths of this area, merged into the main document.
#[derive(OpenApi)]
#[openapi(paths(
    create_invoice,
    get_invoice,
    record_payment,
    refund_payment,
    receipt,
    open_shift,
    current_shift,
    close_shift,
    shift_totals,
    export_1c,
    tax_certificate,
    own_invoices
))]
pub struct AreaApi;

/// 201 for a new payment or refund, 200 for a repeat of its idempotency key.
fn recorded(r: Recorded) -> (StatusCode, Json<Payment>) {
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    (status, Json(r.payment))
}

/// Bills a visit from the price list of its day.
#[utoipa::path(post, path = "/v1/invoices", operation_id = "createInvoice", tag = "billing",
    request_body = NewInvoice,
    responses((status = 201, body = Invoice), (status = 403, body = vault_wire::ApiError),
        (status = 404, body = vault_wire::ApiError), (status = 409, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn create_invoice(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(body): ApiJson<NewInvoice>,
) -> Result<(StatusCode, Json<Invoice>), ApiError> {
    let invoice = state.clinic.create_invoice(&who, body).await?;
    Ok((StatusCode::CREATED, Json(invoice)))
}

/// An invoice with its lines, payments, refunds and what is outstanding.
#[utoipa::path(get, path = "/v1/invoices/{invoice_id}", operation_id = "getInvoice", tag = "billing",
    params(("invoice_id" = String, Path)),
    responses((status = 200, body = Invoice), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn get_invoice(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(invoice_id): Path<String>,
) -> Result<Json<Invoice>, ApiError> {
    Ok(Json(state.clinic.invoice(&who, &invoice_id).await?))
}

/// Takes money for an invoice in the caller's open shift. Repeating the request with the same
/// `idempotency_key` answers the same payment (200) instead of taking the money twice.
#[utoipa::path(post, path = "/v1/invoices/{invoice_id}/payments", operation_id = "recordPayment", tag = "billing",
    params(("invoice_id" = String, Path)), request_body = NewPayment,
    responses((status = 201, body = Payment, description = "recorded"),
        (status = 200, body = Payment, description = "a repeat of the same idempotency key: the payment already recorded"),
        (status = 404, body = vault_wire::ApiError),
        (status = 409, body = vault_wire::ApiError, description = "no_open_shift, idempotency_key_reused"),
        (status = 422, body = vault_wire::ApiError, description = "invalid_amount, amount_exceeds_outstanding")),
    security(("bearer" = [])))]
pub async fn record_payment(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(invoice_id): Path<String>,
    ApiJson(body): ApiJson<NewPayment>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    Ok(recorded(
        state.clinic.record_payment(&who, &invoice_id, body).await?,
    ))
}

/// Returns part or all of a payment by the same method, from the caller's open shift.
#[utoipa::path(post, path = "/v1/payments/{payment_id}/refunds", operation_id = "refundPayment", tag = "billing",
    params(("payment_id" = String, Path)), request_body = NewRefund,
    responses((status = 201, body = Payment, description = "recorded"),
        (status = 200, body = Payment, description = "a repeat of the same idempotency key"),
        (status = 404, body = vault_wire::ApiError),
        (status = 409, body = vault_wire::ApiError, description = "no_open_shift, idempotency_key_reused, not_a_payment"),
        (status = 422, body = vault_wire::ApiError, description = "invalid_amount, refund_exceeds_paid")),
    security(("bearer" = [])))]
pub async fn refund_payment(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(payment_id): Path<String>,
    ApiJson(body): ApiJson<NewRefund>,
) -> Result<(StatusCode, Json<Payment>), ApiError> {
    Ok(recorded(
        state.clinic.refund_payment(&who, &payment_id, body).await?,
    ))
}

/// The 54-FZ receipt payload of a payment or refund, for the fiscal register. No buyer data.
#[utoipa::path(get, path = "/v1/payments/{payment_id}/receipt", operation_id = "paymentReceipt", tag = "billing",
    params(("payment_id" = String, Path)),
    responses((status = 200, body = Receipt), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn receipt(
    State(state): State<Arc<AppState>>,
    Caller(who): Caller,
    Path(payment_id): Path<String>,
) -> Result<Json<Receipt>, ApiError> {
    Ok(Json(state.clinic.receipt(&who, &payment_id).await?))
}

/// Opens the caller's cash-register shift (one open shift per cashier).
#[utoipa::path(post, path = "/v1/shifts", operation_id = "openShift", tag = "billing",
    request_body = NewShift,
    responses((status = 201, body = Shift), (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn open_shift(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    ApiJson(body): ApiJson<NewShift>,
) -> Result<(StatusCode, Json<Shift>), ApiError> {
    let shift = state.clinic.open_shift(&who, body).await?;
    Ok((StatusCode::CREATED, Json(shift)))
}

/// The caller's open shift, if any.
#[utoipa::path(get, path = "/v1/shifts/current", operation_id = "currentShift", tag = "billing",
    responses((status = 200, body = Shift), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn current_shift(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
) -> Result<Json<Shift>, ApiError> {
    Ok(Json(state.clinic.current_shift(&who).await?))
}

/// Closes the caller's shift and returns its totals.
#[utoipa::path(post, path = "/v1/shifts/{shift_id}/close", operation_id = "closeShift", tag = "billing",
    params(("shift_id" = String, Path)),
    responses((status = 200, body = ShiftTotals), (status = 403, body = vault_wire::ApiError),
        (status = 409, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn close_shift(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(shift_id): Path<String>,
) -> Result<Json<ShiftTotals>, ApiError> {
    Ok(Json(state.clinic.close_shift(&who, &shift_id).await?))
}

/// A shift's totals per method: payments, refunds, net, the cash drawer's movement.
#[utoipa::path(get, path = "/v1/shifts/{shift_id}/totals", operation_id = "shiftTotals", tag = "billing",
    params(("shift_id" = String, Path)),
    responses((status = 200, body = ShiftTotals), (status = 404, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn shift_totals(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Path(shift_id): Path<String>,
) -> Result<Json<ShiftTotals>, ApiError> {
    Ok(Json(state.clinic.shift_totals(&who, &shift_id).await?))
}

#[derive(Deserialize, IntoParams)]
pub struct ExportQuery {
    /// `YYYY-MM-DD`, branch-local.
    pub day: String,
    pub branch_id: String,
}

/// The day's payments and refunds of a branch for 1C:Accounting, as a CSV file (format in
/// docs/billing.md). No patient data.
#[utoipa::path(get, path = "/v1/exports/1c", operation_id = "export1c", tag = "billing",
    params(ExportQuery),
    responses((status = 200, content_type = "text/csv", body = String),
        (status = 403, body = vault_wire::ApiError), (status = 404, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn export_1c(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Query(q): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let export = state.clinic.export_1c(&who, &q.day, &q.branch_id).await?;
    let disposition =
        HeaderValue::from_str(&format!("attachment; filename=\"{}\"", export.filename))
            .unwrap_or_else(|_| HeaderValue::from_static("attachment"));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/csv; charset=utf-8"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
        ],
        export.csv,
    )
        .into_response())
}

#[derive(Deserialize, IntoParams)]
pub struct CertificateQuery {
    pub payer_token: String,
    /// The payer when left out.
    pub patient_token: Option<String>,
    pub year: i64,
    /// `self`, `child`, `spouse` or `parent`; `self` when left out and the patient is the payer.
    pub relation: Option<String>,
}

/// The tax-deduction certificate (KND 1151156) for a year, as printable HTML. Names come from
/// the vault (purpose tax_certificate) for this response only; 503 when it cannot answer.
#[utoipa::path(get, path = "/v1/tax-certificates", operation_id = "taxCertificate", tag = "billing",
    params(CertificateQuery),
    responses((status = 200, content_type = "text/html", body = String),
        (status = 403, body = vault_wire::ApiError),
        (status = 422, body = vault_wire::ApiError, description = "nothing_paid, invalid_relation, invalid_year, invalid_token"),
        (status = 503, body = vault_wire::ApiError, description = "vault_unavailable")),
    security(("bearer" = [])))]
pub async fn tax_certificate(
    State(state): State<Arc<AppState>>,
    StaffCaller(who): StaffCaller,
    Query(q): Query<CertificateQuery>,
) -> Result<Response, ApiError> {
    let html = state
        .clinic
        .tax_certificate(
            &who,
            CertificateRequest {
                payer_token: q.payer_token,
                patient_token: q.patient_token,
                year: q.year,
                relation: q.relation,
            },
        )
        .await?;
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            ),
            // Personal data: no cache keeps a copy.
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
        ],
        html,
    )
        .into_response())
}

/// The signed-in patient's bills: invoices of their visits and those they pay for, with
/// payments, refunds and links to the receipts.
#[utoipa::path(get, path = "/v1/me/invoices", operation_id = "myInvoices", tag = "patient-app",
    responses((status = 200, body = [OwnInvoice]), (status = 403, body = vault_wire::ApiError)),
    security(("bearer" = [])))]
pub async fn own_invoices(
    State(state): State<Arc<AppState>>,
    PatientCaller(own): PatientCaller,
) -> Result<Json<Vec<OwnInvoice>>, ApiError> {
    Ok(Json(state.clinic.own_invoices(&own).await?))
}
