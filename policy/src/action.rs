//! What is asked for. Each action knows which resource it targets and which field class it
//! touches, so a caller cannot pair an action with the wrong facts.

use serde::{Deserialize, Serialize};

use crate::FieldClass;
use crate::names::closed_names;

/// An operation the vault authorises. Names are the Cedar action ids.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Read personal fields (one field class) of a pseudonym.
    Resolve,
    /// Blind-index search; answers tokens, not personal data.
    Search,
    RegisterPatient,
    UpdatePatient,
    ReadRecord,
    ListRecords,
    CreateRecord,
    ReadAttachment,
    CreateAttachment,
    /// clinic-app reports that a doctor treats a patient (an appointment was booked).
    ReportCareRelationship,
    /// A doctor asks for a break-glass grant.
    StartBreakGlass,
    ReadAudit,
    ReviewBreakGlass,
    /// File an access or deletion request for a patient (152-FZ art. 14), or read the state
    /// of that patient's requests. Names no field class: what the patient is sent is put
    /// together by the vault's request workflow, not read by the caller.
    FileDataRequest,
    /// Record, withdraw or list a patient's consents.
    ManageConsent,
    /// The security officer's work on the queue of data requests: list them all, extend, answer,
    /// legal holds, destruction acts. Targets the audit log: it is not patient data.
    ManageDataRequests,
}

closed_names!(Action, "action", {
    Resolve => "resolve",
    Search => "search",
    RegisterPatient => "register_patient",
    UpdatePatient => "update_patient",
    ReadRecord => "read_record",
    ListRecords => "list_records",
    CreateRecord => "create_record",
    ReadAttachment => "read_attachment",
    CreateAttachment => "create_attachment",
    ReportCareRelationship => "report_care_relationship",
    StartBreakGlass => "start_break_glass",
    ReadAudit => "read_audit",
    ReviewBreakGlass => "review_break_glass",
    FileDataRequest => "file_data_request",
    ManageConsent => "manage_consent",
    ManageDataRequests => "manage_data_requests",
});

/// The resource an action targets, mirroring the `appliesTo` blocks of the schema.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// One patient, named by a token.
    Patient,
    /// The patient index (`Registry::"patients"`).
    Registry,
    /// The audit chain, the break-glass review queue and the data-request queue
    /// (`AuditLog::"vault"`).
    AuditLog,
}

/// How an action relates to field classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fields {
    /// The caller names the class it reads (`resolve`).
    Named,
    /// Always this class (records and attachments are medical).
    Always(FieldClass),
    /// No field class (searches, registrations, audit, data requests, consents).
    None,
}

impl Action {
    pub(crate) fn target(self) -> Target {
        match self {
            Action::Search | Action::RegisterPatient => Target::Registry,
            Action::ReadAudit | Action::ReviewBreakGlass | Action::ManageDataRequests => {
                Target::AuditLog
            }
            _ => Target::Patient,
        }
    }

    pub(crate) fn fields(self) -> Fields {
        match self {
            Action::Resolve => Fields::Named,
            Action::ReadRecord
            | Action::ListRecords
            | Action::CreateRecord
            | Action::ReadAttachment
            | Action::CreateAttachment => Fields::Always(FieldClass::Medical),
            _ => Fields::None,
        }
    }
}
