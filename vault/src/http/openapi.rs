//! The OpenAPI document: served at `/openapi.json` and printed by `vault openapi`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{alerts, attachments, auth, care, oversight, patients, records, rights};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).description(Some(
                "a staff session from /v1/login (vs_...) or a service credential (svc.<domain>.<secret>)",
            )).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Medikamente vault", description = "The only holder of patient identities and medical records."),
    paths(
        patients::register, patients::update, patients::search, patients::resolve, patients::my_patients,
        records::create, records::list, records::get, records::correct,
        attachments::upload, attachments::list, attachments::download,
        care::put_relationship, care::end_relationship, care::start_break_glass, care::end_break_glass,
        auth::login, auth::logout,
        oversight::search_audit, oversight::audit_counts, oversight::access_report,
        oversight::list_reviews, oversight::review, oversight::list_incidents,
        oversight::incident_notified, oversight::incident_results,
        alerts::list, alerts::export,
        rights::file, rights::list, rights::get, rights::extend, rights::answer, rights::export,
        rights::place_hold, rights::release_hold, rights::set_consent, rights::list_consents,
        rights::list_acts, rights::get_act,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The document as pretty JSON.
pub fn json() -> String {
    ApiDoc::openapi()
        .to_pretty_json()
        .unwrap_or_else(|_| "{}".into())
}
