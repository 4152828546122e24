//! Patient rights (152-FZ art. 14, 20, 21): access and deletion requests, the consent registry,
//! legal holds and destruction acts (Roskomnadzor order 179).

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::error::ParseError;
use crate::ids::PatientToken;
use crate::text::ShortText;

pub use policy::ConsentPurpose;

/// What the patient asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataRequestKind {
    /// What the clinic holds on me (art. 14): answered within 10 working days, +5 with a reason.
    Access,
    /// Delete my data / I withdraw my consent (art. 21 part 5): what rests on consent is
    /// destroyed within 30 days, what the law keeps is put under retention.
    Deletion,
}

impl DataRequestKind {
    pub fn as_str(self) -> &'static str {
        match self {
            DataRequestKind::Access => "access",
            DataRequestKind::Deletion => "deletion",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [DataRequestKind::Access, DataRequestKind::Deletion]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// How a request or a consent reached the clinic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    /// The patient, signed in to the mobile app (clinic-app forwards it).
    PatientApp,
    /// At the front desk, entered by a receptionist.
    Reception,
    /// A signed paper form, entered by a receptionist.
    Paper,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::PatientApp => "patient_app",
            Channel::Reception => "reception",
            Channel::Paper => "paper",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Channel::PatientApp, Channel::Reception, Channel::Paper]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Where a request stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DataRequestState {
    /// Filed; the deadline runs.
    Open,
    /// An access request whose deadline was extended by 5 working days, with a reason.
    Extended,
    /// An access request the security officer answered.
    Answered,
    /// A deletion request carried out: consent-held data destroyed, the rest under retention.
    Completed,
}

impl DataRequestState {
    pub fn as_str(self) -> &'static str {
        match self {
            DataRequestState::Open => "open",
            DataRequestState::Extended => "extended",
            DataRequestState::Answered => "answered",
            DataRequestState::Completed => "completed",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [
            DataRequestState::Open,
            DataRequestState::Extended,
            DataRequestState::Answered,
            DataRequestState::Completed,
        ]
        .into_iter()
        .find(|k| k.as_str() == s)
    }

    /// Whether the request still waits for the clinic.
    pub fn is_pending(self) -> bool {
        matches!(self, DataRequestState::Open | DataRequestState::Extended)
    }
}

/// `POST /v1/data-requests` (fileDataRequest).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileDataRequest {
    pub patient: PatientToken,
    pub kind: DataRequestKind,
    pub channel: Channel,
    /// Access requests from the patient app: the X25519 public key of the patient's phone (64
    /// hex digits). The export then carries the records' contents sealed to it (RFC 9180
    /// HPKE), so that nothing between the vault and the phone can read them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recipient_key: Option<String>,
}

/// One item of a deletion answer: data destroyed now.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletedData {
    /// What it was, in words ("consent to SMS reminders", "the clinic-app pseudonym").
    pub data: String,
    /// Why it could go: it rested on the patient's consent.
    pub basis: String,
}

/// One item of a deletion answer: data the law requires to keep, and until when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RetainedData {
    pub data: String,
    /// The law that requires it kept.
    pub basis: String,
    /// The end of the retention (Unix seconds); afterwards it is destroyed with an act.
    pub until: i64,
    /// The only purposes it may still be read for.
    pub readable_for: Vec<String>,
}

/// The answer the patient receives to a deletion request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeletionAnswer {
    pub deleted: Vec<DeletedData>,
    pub kept: Vec<RetainedData>,
}

/// A request as the caller sees it. `patient` is the caller's own token for the patient; the
/// security officer, who holds no tokens, sees none.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DataRequestView {
    pub request_id: Uuid,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientToken>,
    pub kind: DataRequestKind,
    pub channel: Channel,
    pub state: DataRequestState,
    pub filed_at: i64,
    /// Principal who filed it (a service name or a staff id).
    pub filed_by: String,
    /// The legal deadline, extension included.
    pub due_at: i64,
    /// Past `due_at` and still pending.
    pub overdue: bool,
    /// The security officer answering for it (152-FZ art. 22.1).
    pub responsible_officer: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extension_reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    /// For a completed deletion: what went, what stays and why.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionAnswer>,
    /// Legal holds in force (a court request, an open incident): destruction waits.
    #[serde(default)]
    pub legal_holds: Vec<LegalHoldView>,
    /// Set once the retention scheduler destroyed what was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destruction_act_id: Option<Uuid>,
}

/// `GET /v1/data-requests` (listDataRequests). Patient-side callers must name `patient`; the
/// security officer lists the whole queue.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams, ToSchema)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct DataRequestsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient: Option<PatientToken>,
    /// Only pending (open or extended) requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending: Option<bool>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListDataRequestsResponse {
    pub requests: Vec<DataRequestView>,
}

/// `POST /v1/data-requests/{id}/extend`: once, by 5 working days, with the reason the patient
/// is told (152-FZ art. 14 part 3).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtendDataRequest {
    pub reason: ShortText,
}

/// Why destruction must wait.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LegalHoldReason {
    /// A court, investigator or prosecutor asked for the data.
    CourtRequest,
    /// An open personal-data incident concerns the patient.
    Incident,
}

impl LegalHoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            LegalHoldReason::CourtRequest => "court_request",
            LegalHoldReason::Incident => "incident",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [LegalHoldReason::CourtRequest, LegalHoldReason::Incident]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// `POST /v1/data-requests/{id}/legal-holds`: stop destruction of this patient's data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlaceLegalHold {
    pub reason: LegalHoldReason,
    /// The reference of the court request or incident.
    pub reference: ShortText,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct LegalHoldView {
    pub hold_id: Uuid,
    pub reason: LegalHoldReason,
    pub reference: String,
    pub placed_by: String,
    pub placed_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub released_at: Option<i64>,
}

/// `PUT /v1/patients/{token}/consents/{purpose}` (setConsent).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetConsentRequest {
    /// `true` gives the consent, `false` withdraws it.
    pub granted: bool,
    pub channel: Channel,
}

/// One entry of the consent history, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentEvent {
    #[schema(value_type = String)]
    pub purpose: ConsentPurpose,
    pub granted: bool,
    pub channel: Channel,
    pub at: i64,
    pub recorded_by: String,
}

/// `GET /v1/patients/{token}/consents` (listConsents): the consents in force and their history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ConsentsResponse {
    #[schema(value_type = Vec<String>)]
    pub in_force: Vec<ConsentPurpose>,
    pub history: Vec<ConsentEvent>,
}

/// A destruction act (Roskomnadzor order 179, item 3): who destroyed what, how and why. It
/// names the patient by the vault's internal id only: after destruction nothing links it to a
/// person, which is the point.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DestructionAct {
    pub act_id: Uuid,
    /// The personal-data operator.
    pub operator: String,
    /// The information system the data was destroyed in.
    pub system: String,
    /// The subject, by the vault's internal patient id.
    pub subject: String,
    /// The data destroyed, by category.
    pub data: Vec<String>,
    /// How: crypto-shredding (the key destroyed in the token) and deletion of ciphertexts.
    pub method: String,
    /// Why: the request and the end of the retention periods.
    pub reason: String,
    pub request_id: Uuid,
    pub destroyed_at: i64,
    /// Who performed it (the retention job, started by an operator).
    pub performed_by: String,
    /// Kept and retrievable until (3 years).
    pub kept_until: i64,
    /// The audit sequence number of the destruction event (the log extract).
    pub audit_seq: Option<i64>,
    /// MAC over the canonical act by the audit key that never leaves the token, hex.
    pub signature: String,
}

/// `GET /v1/destruction-acts`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListDestructionActsResponse {
    pub acts: Vec<DestructionAct>,
}

/// A patient's data as the vault holds it, for an access request (152-FZ art. 14 part 7): no
/// medical contents (those go through a doctor, ADR 0016), everything else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PatientDataExport {
    pub request_id: Uuid,
    pub generated_at: i64,
    /// The identity fields, opened.
    #[schema(value_type = Object)]
    pub identity: serde_json::Map<String, serde_json::Value>,
    /// Medical records by kind and date, without contents.
    pub records: Vec<ExportedRecord>,
    pub consents: ConsentsResponse,
    /// Who accessed the data: role, branch, purpose, time (never names or other patients).
    pub accesses: Vec<ExportedAccess>,
    /// The purposes and legal bases of the processing (art. 14 part 7).
    pub processing: Vec<ProcessingBasis>,
    /// The records' contents (every version) and attachment lists, sealed to the key the
    /// request gave; absent when it gave none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medical_contents: Option<SealedForPatient>,
}

/// Data sealed to the patient's own key with RFC 9180 HPKE in base mode:
/// DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20-Poly1305; `info` is
/// `medikamente access export v1`, the AAD is the request id's 16 bytes. The plaintext is the
/// JSON of [`MedicalContents`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SealedForPatient {
    pub suite: String,
    /// The encapsulated key, hex.
    pub encapped_key: String,
    /// The ciphertext with its tag, hex.
    pub ciphertext: String,
    /// How many record versions it holds.
    pub record_versions: u32,
}

/// What [`SealedForPatient`] opens to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MedicalContents {
    pub records: Vec<MedicalRecordVersion>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MedicalRecordVersion {
    pub record_id: Uuid,
    pub version: u32,
    pub kind: String,
    pub created_at: i64,
    /// The record as the doctor wrote it (the shape of `RecordBody`).
    #[schema(value_type = Object)]
    pub body: serde_json::Value,
    /// Scans and PDFs attached to the record: listed; copies are issued by the clinic.
    pub attachments: Vec<ExportedAttachment>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportedAttachment {
    pub attachment_id: Uuid,
    pub content_type: String,
    pub size_bytes: i64,
}

/// The HPKE `info` of the access export.
pub const EXPORT_HPKE_INFO: &[u8] = b"medikamente access export v1";
/// The HPKE suite of the access export, as [`SealedForPatient::suite`] names it.
pub const EXPORT_HPKE_SUITE: &str = "DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, ChaCha20Poly1305";

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportedRecord {
    pub record_id: Uuid,
    pub kind: String,
    pub versions: i64,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ExportedAccess {
    pub at: i64,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    pub decision: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ProcessingBasis {
    pub data: String,
    pub purpose: String,
    pub basis: String,
}

/// The error for a request id that is not a UUID.
pub fn parse_request_id(s: &str) -> Result<Uuid, ParseError> {
    Uuid::parse_str(s).map_err(|_| ParseError::new("request_id", "expected a UUID"))
}
