//! Request and response bodies of the vault's HTTP API (`/v1`).
//!
//! Every request type denies unknown fields; response types ignore them. Optional fields are
//! left out of JSON when absent (and accept `null` on input). Times are `i64` Unix seconds (UTC).

mod access;
mod alerts;
mod attachments;
mod auth;
mod oversight;
mod patients;
mod records;
mod rights;

pub(crate) use access::check_staff_id;
pub use access::{
    BreakGlassGrant, BreakGlassReason, CareRelationshipRequest, StartBreakGlassRequest,
};
pub use alerts::{AlertView, ListAlertsResponse};
pub use attachments::{AttachmentMeta, ListAttachmentsResponse};
pub use auth::{LoginRequest, LoginResponse};
pub use oversight::{
    AccessReportEntry, AccessReportQuery, AccessReportResponse, AuditCountsResponse, AuditDecision,
    AuditEvent, AuditOrder, AuditQuery, AuditSearchResponse, BreakGlassReview, DayCount,
    EvidenceCheckpoint, EvidenceEvent, GrantReads, Incident, IncidentEvidence,
    IncidentMilestoneRequest, IncidentOpened, IncidentStatus, IncidentsQuery, JustificationStatus,
    ListIncidentsResponse, ListReviewsResponse, PrincipalCount, ReviewComment, ReviewDecision,
    ReviewEntry, ReviewRequest, ReviewResponse, ReviewState, ReviewsQuery,
};
pub use patients::{
    FieldStatus, NameAndBirth, PatientIdentity, RegisterPatientRequest, RegisterPatientResponse,
    ResolveRequest, ResolveResponse, ResolvedField, ResolvedPatient, SearchCriterion,
    SearchCriterionError, SearchPatientsRequest, SearchPatientsResponse, UpdatePatientRequest,
    UpdatePatientResponse,
};
pub use records::{
    CorrectRecordRequest, CreateRecordRequest, CreateRecordResponse, Icd10Code,
    ListRecordsResponse, RecordBody, RecordKind, RecordMeta, RecordView,
};
pub use rights::{
    Channel, ConsentEvent, ConsentPurpose, ConsentsResponse, DataRequestKind, DataRequestState,
    DataRequestView, DataRequestsQuery, DeletedData, DeletionAnswer, DestructionAct,
    ExportedAccess, ExportedRecord, ExtendDataRequest, FileDataRequest, LegalHoldReason,
    LegalHoldView, ListDataRequestsResponse, ListDestructionActsResponse, PatientDataExport,
    PlaceLegalHold, ProcessingBasis, RetainedData, SetConsentRequest, parse_request_id,
};
pub use rights::{
    EXPORT_HPKE_INFO, EXPORT_HPKE_SUITE, ExportedAttachment, MedicalContents, MedicalRecordVersion,
    SealedForPatient,
};

/// Serde for [`policy::Purpose`] through its `as_str`/`FromStr` (`"treatment"`,
/// `"tax_certificate"`, ...), independent of whether `policy` derives serde itself. Use with
/// `#[serde(with = "vault_wire::api::purpose_serde")]`.
pub mod purpose_serde {
    use policy::Purpose;
    use serde::{Deserialize, Deserializer, Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(purpose: &Purpose, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(purpose.as_str())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Purpose, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(D::Error::custom)
    }
}

/// The OpenAPI schema of a purpose: a string enum of [`policy::Purpose::ALL`].
pub fn purpose_schema() -> utoipa::openapi::Object {
    utoipa::openapi::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some(
            "Why the data is asked for; a closed list, an unknown purpose is refused.",
        ))
        .enum_values(Some(policy::Purpose::ALL.map(policy::Purpose::as_str)))
        .build()
}
