//! Made-up data for the embedded demo, so a first start has people and records to look at.
//! Everything here is invented; the credentials are printed because it is a demo.

use std::sync::Arc;

use policy::{ConsumerDomain, Role};
use vault_wire::{BirthDate, PatientIdentity, PersonName, PhoneE164, Sex, Snils};

use crate::domain::identity;
use crate::domain::principal::{Principal, RequestMeta};
use crate::startup::AppState;
use crate::store;

/// Demo staff: username, role, branch. The password is the same for all (demo only).
const DEMO_STAFF: [(&str, Role); 3] = [
    ("dr.demo", Role::Doctor),
    ("reception.demo", Role::Receptionist),
    ("security.demo", Role::SecurityOfficer),
];
pub const DEMO_PASSWORD: &str = "demo-password-not-for-real-use";

fn demo_identity(
    surname: &str,
    name: &str,
    birth: &str,
    phone: &str,
    snils: &str,
) -> Option<PatientIdentity> {
    Some(PatientIdentity {
        surname: surname.parse::<PersonName>().ok()?,
        name: name.parse::<PersonName>().ok()?,
        patronymic: None,
        birth_date: birth.parse::<BirthDate>().ok()?,
        sex: Sex::Female,
        phones: vec![phone.parse::<PhoneE164>().ok()?],
        email: None,
        snils: Some(snils.parse::<Snils>().ok()?),
        passport: None,
        address: None,
        inn: None,
    })
}

/// Seeds staff, a clinic-app credential and patients once; returns lines to show the user
/// (empty when data exists already).
pub async fn seed(state: &Arc<AppState>) -> Result<Vec<String>, String> {
    let db = &state.db;
    if store::keys::count_patients(db)
        .await
        .map_err(|e| e.to_string())?
        > 0
    {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    for (username, role) in DEMO_STAFF {
        let (staff_id, totp) = state
            .auth
            .add_staff(username, DEMO_PASSWORD, role, "demo-branch")
            .await
            .map_err(|e| e.to_string())?;
        lines.push(format!(
            "demo staff {username} ({role}, staff id {staff_id}), password {DEMO_PASSWORD}"
        ));
        if let Some(uri) = totp {
            lines.push(format!("  TOTP for {username}: {uri}"));
        }
    }
    let clinic = state
        .auth
        .put_service(ConsumerDomain::ClinicApp)
        .await
        .map_err(|e| e.to_string())?;
    lines.push(format!("demo clinic-app credential: {}", clinic.as_str()));
    let reception = Principal::Service {
        domain: ConsumerDomain::ClinicApp,
    };
    let meta = RequestMeta {
        request_id: "demo-seed".into(),
        client_addr: None,
    };
    let people = [
        (
            "Демова",
            "Анна",
            "1985-03-14",
            "+79000000001",
            "112-233-445 95",
        ),
        (
            "Примерова",
            "Елена",
            "1990-07-02",
            "+79000000002",
            "001-001-998 00",
        ),
    ];
    for (surname, name, birth, phone, snils) in people {
        let Some(id) = demo_identity(surname, name, birth, phone, snils) else {
            continue;
        };
        state
            .patients
            .register(&reception, &meta, identity::for_register(&id))
            .await
            .map_err(|e| e.to_string())?;
    }
    lines.push(format!(
        "demo patients registered: {} (made up)",
        people.len()
    ));
    Ok(lines)
}
