//! The wire types document themselves: an OpenAPI document built from the top-level request and
//! response types holds every schema they refer to, with the string rules of the newtypes.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests stop at the first fault

use serde_json::Value;
use utoipa::OpenApi;
use vault_wire::*;

#[derive(OpenApi)]
#[openapi(components(schemas(
    ApiError,
    RegisterPatientRequest,
    RegisterPatientResponse,
    UpdatePatientRequest,
    UpdatePatientResponse,
    SearchPatientsRequest,
    SearchPatientsResponse,
    ResolveRequest,
    ResolveResponse,
    CreateRecordRequest,
    CreateRecordResponse,
    CorrectRecordRequest,
    ListRecordsResponse,
    RecordView,
    CareRelationshipRequest,
    StartBreakGlassRequest,
    BreakGlassGrant,
    LoginRequest,
    LoginResponse,
)))]
struct Doc;

fn doc() -> Value {
    serde_json::to_value(Doc::openapi()).unwrap()
}

fn collect_refs(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::Object(map) => {
            if let Some(Value::String(r)) = map.get("$ref") {
                out.push(r.clone());
            }
            map.values().for_each(|v| collect_refs(v, out));
        }
        Value::Array(items) => items.iter().for_each(|v| collect_refs(v, out)),
        _ => {}
    }
}

#[test]
fn every_reference_resolves() {
    let doc = doc();
    let schemas = doc["components"]["schemas"].as_object().unwrap();
    let mut refs = Vec::new();
    collect_refs(&doc, &mut refs);
    assert!(!refs.is_empty());
    for r in refs {
        let name = r.strip_prefix("#/components/schemas/").unwrap();
        assert!(schemas.contains_key(name), "{r} has no schema");
    }
    for name in [
        "PatientToken",
        "Snils",
        "PhoneE164",
        "BirthDate",
        "RecordBody",
        "FieldName",
    ] {
        assert!(schemas.contains_key(name), "{name}");
    }
}

#[test]
fn newtypes_are_strings_with_their_rules() {
    let doc = doc();
    let s = &doc["components"]["schemas"];
    assert_eq!(s["PatientToken"]["type"], "string");
    assert_eq!(s["PatientToken"]["pattern"], "^pt_[a-z2-7]{26}$");
    assert_eq!(s["Snils"]["examples"][0], "112-233-445 95");
    assert_eq!(s["PersonName"]["maxLength"], 100);
    let purposes = &s["ResolveRequest"]["properties"]["purpose"]["enum"];
    assert_eq!(purposes.as_array().unwrap().len(), 9);
    assert!(
        purposes
            .as_array()
            .unwrap()
            .contains(&Value::from("tax_certificate"))
    );
    assert_eq!(s["ResolveRequest"]["properties"]["tokens"]["maxItems"], 500);
    assert_eq!(
        s["BreakGlassReason"]["enum"],
        serde_json::json!(["BTG", "ETREAT"])
    );
    assert_eq!(
        s["LoginRequest"]["properties"]["password"]["format"],
        "password"
    );
}
