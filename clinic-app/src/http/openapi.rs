//! The OpenAPI document: served at `/openapi.json` and printed by `clinic-app openapi`.

use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{appointments, auth, directory, patients};

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "a staff session from /v1/staff/login (cs_...) or a patient app session from /v1/patient/login/verify (cp_...)",
                    ))
                    .build(),
            ),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(title = "Medikamente clinic-app", description = "Scheduling, billing and the patient app's back end. Patients appear only as vault tokens."),
    paths(
        auth::login, auth::logout,
        directory::add_branch, directory::branches, directory::add_room, directory::add_service,
        directory::services, directory::delete_service, directory::set_price, directory::price_list, directory::doctors,
        directory::add_template, directory::add_exception,
        appointments::day_schedule, appointments::free_slots, appointments::book,
        appointments::cancel, appointments::reschedule, appointments::set_status,
        appointments::join_waitlist,
        patients::search, patients::register,
    ),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

/// The whole document: the paths above and those of the billing, patient app and patient
/// rights areas.
pub fn document() -> utoipa::openapi::OpenApi {
    let mut doc = ApiDoc::openapi();
    doc.merge(super::billing::AreaApi::openapi());
    doc.merge(super::patient_app::AreaApi::openapi());
    doc.merge(super::rights::AreaApi::openapi());
    doc
}

/// The document as pretty JSON.
pub fn json() -> String {
    document().to_pretty_json().unwrap_or_else(|_| "{}".into())
}
