//! Medical records: create, correct (a new version), list and read.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ParseError;
use crate::text::{RecordText, ShortText};
use crate::{redacted_debug, string_wire_type};

/// An ICD-10 code: a letter, two digits and optionally `.` and one or two digits (`J06.9`,
/// `K35`). Trimmed and uppercased.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Icd10Code(String);

impl Icd10Code {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Icd10Code {
    type Err = ParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim().to_ascii_uppercase();
        let b = s.as_bytes();
        let head_ok = b.len() >= 3
            && b[0].is_ascii_uppercase()
            && b[1].is_ascii_digit()
            && b[2].is_ascii_digit();
        let tail_ok = match &b[b.len().min(3)..] {
            [] => true,
            [b'.', rest @ ..] => {
                (1..=2).contains(&rest.len()) && rest.iter().all(u8::is_ascii_digit)
            }
            _ => false,
        };
        if !(head_ok && tail_ok) {
            return Err(ParseError::new(
                "ICD-10 code",
                "expected a letter, two digits and optionally '.' with one or two digits, as J06.9",
            ));
        }
        Ok(Self(s))
    }
}

impl fmt::Display for Icd10Code {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    Icd10Code,
    description = "ICD-10 code.",
    example = "J06.9",
    pattern = "^[A-Z][0-9]{2}(\\.[0-9]{1,2})?$"
);

redacted_debug!(Icd10Code);

/// The kind of a medical record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RecordKind {
    VisitNote,
    Diagnosis,
    Prescription,
    LabResult,
}

/// The content of a record, tagged with its kind: `{"kind": "diagnosis", "icd10": "J06.9",
/// "text": "..."}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum RecordBody {
    VisitNote {
        text: RecordText,
    },
    Diagnosis {
        icd10: Icd10Code,
        text: RecordText,
    },
    Prescription {
        drug: ShortText,
        dosage: ShortText,
        instructions: RecordText,
    },
    LabResult {
        test: ShortText,
        value: ShortText,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        unit: Option<ShortText>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reference_range: Option<ShortText>,
    },
}

impl RecordBody {
    pub fn kind(&self) -> RecordKind {
        match self {
            RecordBody::VisitNote { .. } => RecordKind::VisitNote,
            RecordBody::Diagnosis { .. } => RecordKind::Diagnosis,
            RecordBody::Prescription { .. } => RecordKind::Prescription,
            RecordBody::LabResult { .. } => RecordKind::LabResult,
        }
    }
}

/// Creates a record for a patient. `kind` must equal `body.kind`; deserialization refuses a
/// mismatch, and [`CreateRecordRequest::new`] takes the kind from the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "CreateRecordRequestWire")]
pub struct CreateRecordRequest {
    kind: RecordKind,
    body: RecordBody,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateRecordRequestWire {
    kind: RecordKind,
    body: RecordBody,
}

impl TryFrom<CreateRecordRequestWire> for CreateRecordRequest {
    type Error = ParseError;
    fn try_from(w: CreateRecordRequestWire) -> Result<Self, ParseError> {
        if w.kind != w.body.kind() {
            return Err(ParseError::new("kind", "must equal body.kind"));
        }
        Ok(Self::new(w.body))
    }
}

impl CreateRecordRequest {
    pub fn new(body: RecordBody) -> Self {
        Self {
            kind: body.kind(),
            body,
        }
    }

    pub fn kind(&self) -> RecordKind {
        self.kind
    }

    pub fn body(&self) -> &RecordBody {
        &self.body
    }

    pub fn into_body(self) -> RecordBody {
        self.body
    }
}

/// Answer to creating or correcting a record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CreateRecordResponse {
    pub record_id: Uuid,
    pub version: u32,
}

/// Corrects a record: stores `body` as its next version (earlier versions stay). The body's kind
/// must be the record's kind; the vault checks that against what it holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CorrectRecordRequest {
    pub body: RecordBody,
}

/// What is known about a record version without opening it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordMeta {
    pub record_id: Uuid,
    pub version: u32,
    pub kind: RecordKind,
    /// When this version was written, in Unix seconds (UTC).
    pub created_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_staff_id: Option<String>,
}

/// A patient's records (latest version of each).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListRecordsResponse {
    pub records: Vec<RecordMeta>,
}

/// An opened record version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RecordView {
    pub meta: RecordMeta,
    pub body: RecordBody,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn icd10_codes_are_uppercased_and_checked() {
        for (input, out) in [
            ("J06.9", "J06.9"),
            (" k35 ", "K35"),
            ("z00.00", "Z00.00"),
            ("A00", "A00"),
        ] {
            assert_eq!(input.parse::<Icd10Code>().unwrap().as_str(), out);
        }
        for bad in [
            "", "J6", "J06.", "J06.123", "J069", "06.9", "JJ6.9", "J06,9", "Ж06.9", "J06.9 x",
        ] {
            assert!(bad.parse::<Icd10Code>().is_err(), "{bad}");
        }
        let err = serde_json::from_str::<Icd10Code>(r#""J6""#).unwrap_err();
        assert!(err.to_string().starts_with("invalid ICD-10 code"), "{err}");
        assert_eq!(
            format!("{:?}", "J06.9".parse::<Icd10Code>().unwrap()),
            "Icd10Code(redacted)"
        );
    }

    #[test]
    fn record_bodies_are_tagged_by_kind() {
        let body = RecordBody::Diagnosis {
            icd10: "j06.9".parse().unwrap(),
            text: "ОРВИ".parse().unwrap(),
        };
        assert_eq!(
            serde_json::to_value(&body).unwrap(),
            json!({"kind": "diagnosis", "icd10": "J06.9", "text": "ОРВИ"})
        );
        let lab: RecordBody = serde_json::from_value(json!({
            "kind": "lab_result", "test": "Гемоглобин", "value": "135", "unit": "г/л"
        }))
        .unwrap();
        assert_eq!(lab.kind(), RecordKind::LabResult);
        assert_eq!(
            serde_json::to_value(&lab).unwrap(),
            json!({"kind": "lab_result", "test": "Гемоглобин", "value": "135", "unit": "г/л"})
        );
        for bad in [
            json!({"kind": "diagnosis", "icd10": "J6", "text": "ОРВИ"}),
            json!({"kind": "diagnosis", "icd10": "J06.9"}),
            json!({"kind": "diagnosis", "icd10": "J06.9", "text": "ОРВИ", "extra": 1}),
            json!({"kind": "x_ray", "text": "..."}),
            json!({"text": "no kind"}),
            json!({"kind": "visit_note", "text": "   "}),
        ] {
            assert!(
                serde_json::from_value::<RecordBody>(bad.clone()).is_err(),
                "{bad}"
            );
        }
    }

    #[test]
    fn create_request_kind_must_match_the_body() {
        let req = CreateRecordRequest::new(RecordBody::VisitNote {
            text: "Жалобы на кашель".parse().unwrap(),
        });
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "Жалобы на кашель"}})
        );
        assert_eq!(
            serde_json::from_value::<CreateRecordRequest>(json).unwrap(),
            req
        );
        let err = serde_json::from_value::<CreateRecordRequest>(
            json!({"kind": "diagnosis", "body": {"kind": "visit_note", "text": "x"}}),
        )
        .unwrap_err();
        assert!(
            err.to_string()
                .starts_with("invalid kind: must equal body.kind"),
            "{err}"
        );
        assert!(serde_json::from_value::<CreateRecordRequest>(
            json!({"kind": "visit_note", "body": {"kind": "visit_note", "text": "x"}, "patient": "p"})
        )
        .is_err());
        assert!(
            serde_json::from_value::<CorrectRecordRequest>(
                json!({"body": {"kind": "visit_note", "text": "x"}, "version": 2})
            )
            .is_err()
        );
    }

    #[test]
    fn record_views_parse() {
        let id = "6f1c2e0a-8a4b-4c39-9a55-0d6c1f2b3a4d";
        let view: RecordView = serde_json::from_value(json!({
            "meta": {"record_id": id, "version": 2, "kind": "prescription", "created_at": 1_764_201_600, "author_staff_id": "dr-petrov"},
            "body": {"kind": "prescription", "drug": "Амоксициллин", "dosage": "500 мг", "instructions": "3 раза в день, 7 дней"}
        }))
        .unwrap();
        assert_eq!(view.meta.record_id.to_string(), id);
        assert_eq!(view.meta.kind, view.body.kind());
        assert_eq!(view.meta.created_at, 1_764_201_600);
        let list: ListRecordsResponse = serde_json::from_value(json!({"records": [
            {"record_id": id, "version": 1, "kind": "visit_note", "created_at": 0}
        ]}))
        .unwrap();
        assert_eq!(list.records[0].author_staff_id, None);
        let created: CreateRecordResponse =
            serde_json::from_value(json!({"record_id": id, "version": 1})).unwrap();
        assert_eq!(created.version, 1);
    }
}
