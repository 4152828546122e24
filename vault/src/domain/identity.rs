//! From validated wire identities to what the domain stores: field values and the normalised
//! values of their blind indexes.

use serde::Serialize;
use vault_wire::{NameAndBirth, PatientIdentity, SearchCriterion, UpdatePatientRequest};

use crate::domain::patients::{IdentityInput, NameChange};
use crate::keys::system::BlindKind;

fn json<T: Serialize>(v: &T) -> Option<serde_json::Value> {
    serde_json::to_value(v).ok()
}

/// `surname|name|YYYY-MM-DD`, case-folded, so reception finds "ИВАНОВ" as "Иванов".
pub fn name_birth_key(surname: &str, name: &str, birth_date: &str) -> String {
    format!(
        "{}|{}|{}",
        surname.to_lowercase(),
        name.to_lowercase(),
        birth_date
    )
}

/// The name as schedules show it: surname, name and, when there is one, patronymic, spaced.
/// Sealed as its own field (`full_name`) so that a day view opens one field per patient.
pub fn full_name(surname: &str, name: &str, patronymic: Option<&str>) -> String {
    match patronymic {
        Some(p) if !p.is_empty() => format!("{surname} {name} {p}"),
        _ => format!("{surname} {name}"),
    }
}

fn text<T: Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}

/// A new patient's fields and all four blind indexes.
pub fn for_register(id: &PatientIdentity) -> IdentityInput {
    let fields = vec![
        ("surname", json(&id.surname)),
        ("name", json(&id.name)),
        ("patronymic", id.patronymic.as_ref().and_then(json)),
        ("birth_date", json(&id.birth_date)),
        ("sex", json(&id.sex)),
        ("phones", json(&id.phones)),
        ("email", id.email.as_ref().and_then(json)),
        ("snils", id.snils.as_ref().and_then(json)),
        ("passport", id.passport.as_ref().and_then(json)),
        ("address", id.address.as_ref().and_then(json)),
        ("inn", id.inn.as_ref().and_then(json)),
        (
            "full_name",
            Some(serde_json::Value::String(full_name(
                &text(&id.surname),
                &text(&id.name),
                id.patronymic.as_ref().map(text).as_deref(),
            ))),
        ),
    ];
    let blind = vec![
        (BlindKind::Phone, id.phones.iter().map(text).collect()),
        (BlindKind::Snils, id.snils.iter().map(text).collect()),
        (BlindKind::Passport, id.passport.iter().map(text).collect()),
        (
            BlindKind::NameBirth,
            vec![name_birth_key(
                &text(&id.surname),
                &text(&id.name),
                &text(&id.birth_date),
            )],
        ),
    ];
    // Absent optional fields are simply not written.
    IdentityInput {
        fields: fields.into_iter().filter(|(_, v)| v.is_some()).collect(),
        blind,
        name_change: None,
    }
}

/// The fields an update sets, and the indexes it changes. A change of surname, name,
/// patronymic or birth date is marked: the domain merges the new parts with the stored ones to
/// recompute the combined surname/name/birth index and the `full_name` field.
pub fn for_update(req: &UpdatePatientRequest) -> IdentityInput {
    let mut input = IdentityInput::default();
    let mut set = |name: &'static str, v: Option<serde_json::Value>| {
        if let Some(v) = v {
            input.fields.push((name, Some(v)));
        }
    };
    set("surname", req.surname.as_ref().and_then(json));
    set("name", req.name.as_ref().and_then(json));
    set("patronymic", req.patronymic.as_ref().and_then(json));
    set("birth_date", req.birth_date.as_ref().and_then(json));
    set("sex", req.sex.as_ref().and_then(json));
    set("phones", req.phones.as_ref().and_then(json));
    set("email", req.email.as_ref().and_then(json));
    set("snils", req.snils.as_ref().and_then(json));
    set("passport", req.passport.as_ref().and_then(json));
    set("address", req.address.as_ref().and_then(json));
    set("inn", req.inn.as_ref().and_then(json));
    if let Some(phones) = &req.phones {
        input
            .blind
            .push((BlindKind::Phone, phones.iter().map(text).collect()));
    }
    if let Some(s) = &req.snils {
        input.blind.push((BlindKind::Snils, vec![text(s)]));
    }
    if let Some(p) = &req.passport {
        input.blind.push((BlindKind::Passport, vec![text(p)]));
    }
    let change = NameChange {
        surname: req.surname.as_ref().map(text),
        name: req.name.as_ref().map(text),
        patronymic: req.patronymic.as_ref().map(text),
        birth_date: req.birth_date.as_ref().map(text),
    };
    if change != NameChange::default() {
        input.name_change = Some(change);
    }
    input
}

/// The blind-index kind and normalised value of a search criterion.
pub fn search_key(c: &SearchCriterion) -> (BlindKind, String) {
    match c {
        SearchCriterion::Phone(p) => (BlindKind::Phone, text(p)),
        SearchCriterion::Snils(s) => (BlindKind::Snils, text(s)),
        SearchCriterion::Passport(p) => (BlindKind::Passport, text(p)),
        SearchCriterion::SurnameNameBirth(NameAndBirth {
            surname,
            name,
            birth_date,
        }) => (
            BlindKind::NameBirth,
            name_birth_key(&text(surname), &text(name), &text(birth_date)),
        ),
    }
}
