//! The embedded demo: a made-up clinic next to `vault demo`. Everything is invented; the
//! demo passwords are printed because it is a demo.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use crate::config::{ClinicIdentity, Config, ConfigError};
use crate::domain::auth::{Role, StaffPrincipal};
use crate::domain::directory::{NewBranch, NewPrice, NewRoom, NewService, NewTemplate};
use crate::startup::AppState;
use crate::store;

pub const DEMO_PASSWORD: &str = "demo-password-not-for-real-use";
const HANDOFF_FILE: &str = "vault-demo-handoff.json";

/// The demo configuration, with the vault credential and doctor id that `vault demo` left in
/// the data directory. Returns the doctor's vault staff id too.
pub fn config(
    data_dir: &Path,
    listen: SocketAddr,
    vault_url: &str,
) -> Result<(Config, String), ConfigError> {
    let path = data_dir.join(HANDOFF_FILE);
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError(format!(
            "cannot read {} ({e}): start `vault demo --data-dir {}` first (scripts/demo.sh does both)",
            path.display(),
            data_dir.display()
        ))
    })?;
    let handoff: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        ConfigError(format!(
            "{} is not the vault's demo hand-off",
            path.display()
        ))
    })?;
    let field = |name: &str| {
        handoff[name]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| ConfigError(format!("{} lacks {name}", path.display())))
    };
    let credential = field("clinic_app_credential")?;
    let doctor = field("doctor_staff_id")?;
    let toml = format!(
        "listen = \"{listen}\"\ndata_dir = \"{}\"\n[vault]\nurl = \"{vault_url}\"\ncredential_env = \"CLINIC_DEMO_CREDENTIAL\"\n",
        data_dir.display()
    );
    let config = Config::parse(&toml, |name| {
        (name == "CLINIC_DEMO_CREDENTIAL").then(|| credential.clone())
    })?;
    Ok((config, doctor))
}

/// Seeds the directory and staff once; returns lines to show (empty when data exists).
pub async fn seed(state: &Arc<AppState>, doctor_vault_id: &str) -> Result<Vec<String>, String> {
    let clinic = &state.clinic;
    let e = |e: crate::domain::ClinicError| e.to_string();
    if store::staff::count_staff(&clinic.db)
        .await
        .map_err(|e| e.to_string())?
        > 0
    {
        return Ok(Vec::new());
    }
    let mut lines = Vec::new();
    let admin_id = state
        .auth
        .add_staff(
            "admin.demo",
            "Администратор (demo)",
            Role::Administrator,
            None,
            None,
            None,
            Some(DEMO_PASSWORD),
        )
        .await
        .map_err(e)?;
    let admin = StaffPrincipal {
        staff_id: admin_id,
        role: Role::Administrator,
        branch_id: None,
    };
    clinic
        .add_branch(
            &admin,
            Some("msk-1"),
            NewBranch {
                name: "Медикаменте на Примерной".into(),
                address: ClinicIdentity::default().address,
                utc_offset_minutes: 180,
            },
        )
        .await
        .map_err(e)?;
    let room = clinic
        .add_room(
            &admin,
            Some("msk-1-101"),
            NewRoom {
                branch_id: "msk-1".into(),
                name: "Кабинет 101".into(),
            },
        )
        .await
        .map_err(e)?;
    let doctor_id = state
        .auth
        .add_staff(
            "dr.demo",
            "Докторова В. В. (demo)",
            Role::Doctor,
            Some("msk-1"),
            Some("терапевт"),
            Some(doctor_vault_id),
            Some(DEMO_PASSWORD),
        )
        .await
        .map_err(e)?;
    for (username, name, role) in [
        ("reception.demo", "Регистратор (demo)", Role::Receptionist),
        ("cashier.demo", "Кассир (demo)", Role::Cashier),
        ("accountant.demo", "Бухгалтер (demo)", Role::Accountant),
    ] {
        state
            .auth
            .add_staff(
                username,
                name,
                role,
                Some("msk-1"),
                None,
                None,
                Some(DEMO_PASSWORD),
            )
            .await
            .map_err(e)?;
        lines.push(format!(
            "demo staff {username} ({role}), password {DEMO_PASSWORD}"
        ));
    }
    lines.push(format!(
        "demo staff admin.demo (administrator) and dr.demo (doctor), password {DEMO_PASSWORD}"
    ));
    for (code, name, minutes, price) in [
        ("B01.047.001", "Приём врача-терапевта первичный", 30, "2500"),
        ("B01.047.002", "Приём врача-терапевта повторный", 30, "1800"),
        ("A09.05.003", "Общий анализ крови", 15, "650"),
    ] {
        clinic
            .add_service(
                &admin,
                NewService {
                    code: code.into(),
                    name: name.into(),
                    duration_minutes: minutes,
                    vat_exempt: true,
                },
            )
            .await
            .map_err(e)?;
        clinic
            .set_price(
                &admin,
                code,
                NewPrice {
                    valid_from: "2026-01-01".into(),
                    amount: price.into(),
                },
            )
            .await
            .map_err(e)?;
    }
    for weekday in 1..=6 {
        clinic
            .add_template(
                &admin,
                NewTemplate {
                    doctor_id: doctor_id.clone(),
                    room_id: room.clone(),
                    weekday,
                    start: "09:00".into(),
                    end: "18:00".into(),
                    slot_minutes: 30,
                    valid_from: "2026-01-01".into(),
                    valid_until: None,
                },
            )
            .await
            .map_err(e)?;
    }
    lines.push(
        "demo directory: branch msk-1, room msk-1-101, 3 services, dr.demo Mon-Sat 09:00-18:00"
            .into(),
    );
    Ok(lines)
}
