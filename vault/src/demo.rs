//! Made-up data for the embedded demo, so a first start has people and records to look at.
//! Everything here is invented; the credentials are printed because it is a demo.

use std::path::Path;
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

/// What `clinic-app demo` needs from the demo vault: its service credential and the demo
/// doctor's vault staff id (so bookings report care relationships). Demo only.
pub const HANDOFF_FILE: &str = "vault-demo-handoff.json";

fn write_handoff(data_dir: &Path, credential: &str, doctor_id: &str) -> Result<(), String> {
    let body = serde_json::json!({
        "clinic_app_credential": credential,
        "doctor_staff_id": doctor_id,
    })
    .to_string();
    let path = data_dir.join(HANDOFF_FILE);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    use std::io::Write;
    options
        .open(&path)
        .and_then(|mut f| f.write_all(body.as_bytes()))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))
}

/// Seeds staff, a clinic-app credential and patients once; returns lines to show the user
/// (empty when data exists already).
pub async fn seed(state: &Arc<AppState>, data_dir: &Path) -> Result<Vec<String>, String> {
    let db = &state.db;
    if store::keys::count_patients(db)
        .await
        .map_err(|e| e.to_string())?
        > 0
    {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    let mut doctor_id = String::new();
    for (username, role) in DEMO_STAFF {
        let (staff_id, totp) = state
            .auth
            .add_staff(username, DEMO_PASSWORD, role, "demo-branch")
            .await
            .map_err(|e| e.to_string())?;
        lines.push(format!(
            "demo staff {username} ({role}, staff id {staff_id}), password {DEMO_PASSWORD}"
        ));
        if role == Role::Doctor {
            doctor_id = staff_id.clone();
        }
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
    write_handoff(data_dir, clinic.as_str(), &doctor_id)?;
    lines.push(format!(
        "demo hand-off for `clinic-app demo` written to {}",
        data_dir.join(HANDOFF_FILE).display()
    ));
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
        let token = state
            .patients
            .register(&reception, &meta, identity::for_register(&id))
            .await
            .map_err(|e| e.to_string())?;
        // The demo patients signed the reminder and patient-app consents at the desk.
        let token: vault_wire::PatientToken = token.parse().map_err(|_| "demo token".to_owned())?;
        for purpose in [
            policy::ConsentPurpose::SmsReminders,
            policy::ConsentPurpose::PatientApp,
        ] {
            state
                .rights
                .set_consent(
                    &reception,
                    &meta,
                    &token,
                    purpose,
                    true,
                    vault_wire::Channel::Paper,
                )
                .await
                .map_err(|e| e.to_string())?;
        }
    }
    lines.push(format!(
        "demo patients registered: {} (made up)",
        people.len()
    ));
    Ok(lines)
}
