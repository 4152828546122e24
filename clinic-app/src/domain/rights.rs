//! A patient's rights as clinic-app serves them (152-FZ art. 9, 14, 21): consents, access and
//! deletion requests, and the answer to an access request.
//!
//! The vault holds the consent registry and the requests: it keeps the deadlines, refuses
//! duplicates, carries a deletion out and lets the security officer answer an access request.
//! clinic-app forwards what the patient (in the app) or reception (at the desk) asks for, keeps
//! a row per request with the vault's id (so the app can list them and fetch an export), and
//! does its own part of a deletion: the patient's future visits are cancelled while the token
//! still works, and their account here is dropped once the vault has unlinked the token.
//! Accounting documents stay (402-FZ art. 29).

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use vault_wire::{
    Channel, ConsentPurpose, ConsentsResponse, DataRequestKind, DataRequestState, DataRequestView,
    DeletedData, DeletionAnswer, PatientDataExport, PatientToken, ProcessingBasis, RetainedData,
};

use super::Clinic;
use super::appointments::{CARE_END, Status};
use super::auth::{Capability, Principal};
use super::billing::invoices::OwnInvoice;
use super::error::ClinicError;
use super::patient_app::MyAppointments;
use crate::store::patients::{self as rows, DataRequestRow};
use crate::store::{self, StoreError, appointments, outbox, staff};

/// `filed_by` of a request the patient filed in the app (otherwise a staff id).
const PATIENT: &str = "patient";
/// `cancelled_by` of the visits a deletion request cancels.
pub const PATIENT_REQUEST: &str = "patient_request";
/// Accounting documents are kept five full years after the reporting year (402-FZ art. 29).
const ACCOUNTING_YEARS_AFTER: i32 = 5;

/// Who filed a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FiledBy {
    /// The patient, in the app.
    Patient,
    /// Reception (or the vault's staff), on the patient's behalf.
    Staff,
}

/// A data request as the app and reception see it.
#[derive(Debug, Serialize, ToSchema)]
pub struct DataRequest {
    /// The vault's id of the request (a UUID). A request filed before requests were forwarded
    /// to the vault keeps clinic-app's own id and the state `filed` or `superseded`.
    pub request_id: String,
    pub kind: DataRequestKind,
    /// The vault's state: `open`, `extended` (an access request given 5 more working days),
    /// `answered` (an access request: the export can be fetched), `completed` (a deletion
    /// carried out). `filed`: filed before forwarding existed, not with the vault;
    /// `superseded`: such a request filed again since.
    pub state: String,
    pub filed_at: i64,
    pub filed_by: FiledBy,
    /// How it reached the clinic: `patient_app`, `reception` or `paper`.
    pub channel: Channel,
    /// The legal deadline (Unix seconds), extension included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub due_at: Option<i64>,
    /// Past the deadline and still pending.
    pub overdue: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub answered_at: Option<i64>,
    /// Why an access request was extended, as the security officer told the patient.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension_reason: Option<String>,
    /// `false` when the vault could not be asked just now: `state` is then as at filing.
    pub current: bool,
    /// For an answered access request: where the app fetches the answer (`?format=html` for
    /// a printable document).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub export_url: Option<String>,
    /// Only in the answer to a deletion request: what was deleted and what is kept, by whom,
    /// on what basis and until when. (The patient's account ends with it, so the app shows it
    /// now; reception hands it over at the desk.)
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deletion: Option<DeletionReport>,
}

/// What a deletion request did, in the vault and in clinic-app.
#[derive(Debug, Serialize, ToSchema)]
pub struct DeletionReport {
    /// The vault's answer: contacts and consents deleted, identity and medical records kept
    /// for their legal periods. Absent only when the vault carried the deletion out but its
    /// answer could not be read back (a lost connection); the security officer has it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault: Option<DeletionAnswer>,
    /// clinic-app's own part.
    pub clinic_app: ClinicDeletion,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicDeletion {
    pub deleted: Vec<DeletedData>,
    pub kept: Vec<RetainedData>,
    /// The patient's future appointments, cancelled for this request (`patient_request`).
    pub cancelled_appointments: Vec<String>,
}

/// The answer to an access request: the vault's part and clinic-app's part. Served, never
/// stored.
#[derive(Debug, Serialize, ToSchema)]
pub struct PatientExport {
    pub request_id: String,
    pub generated_at: i64,
    /// What the vault holds: identity, which medical records exist (their contents go through
    /// a doctor), consents, who accessed the data, and the purposes and legal bases.
    pub vault: PatientDataExport,
    /// What clinic-app holds under the patient's pseudonym.
    pub clinic_app: ClinicExport,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClinicExport {
    /// The pseudonym clinic-app knows the patient by (no name, phone or document here).
    #[schema(value_type = String)]
    pub patient_token: PatientToken,
    pub appointments: MyAppointments,
    pub invoices: Vec<OwnInvoice>,
    pub data_requests: Vec<DataRequest>,
    /// What clinic-app processes, why, and on what basis.
    pub processing: Vec<ProcessingBasis>,
}

/// The patient's registration consents as recorded in the vault.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordedConsents {
    /// The consents in force after registration.
    #[schema(value_type = Vec<String>)]
    pub in_force: Vec<ConsentPurpose>,
    /// Consents the vault did not take (it could not be reached, or refused): the patient is
    /// registered all the same; record them with `PUT /v1/patients/{token}/consents/{purpose}`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<String>)]
    pub not_recorded: Vec<ConsentPurpose>,
}

/// Whether a deletion still has to be forwarded to the vault, or the vault carried it out
/// already and only clinic-app's part is left.
#[derive(Clone, Copy, PartialEq, Eq)]
enum VaultPart {
    Forward,
    Done,
}

/// Who acts on a patient's rights, and through which channel the vault records it.
struct Acting {
    filed_by: String,
    channel: Channel,
}

/// A patient acts on their own token only (anything else does not exist for them); staff need
/// [`Capability::PatientRights`] and file as `reception` (at the desk, the default) or `paper`
/// (a signed form), never as `patient_app`.
fn acting(
    principal: &Principal,
    patient: &PatientToken,
    channel: Option<Channel>,
) -> Result<Acting, ClinicError> {
    match principal {
        Principal::Patient(own) if own == patient => Ok(Acting {
            filed_by: PATIENT.to_owned(),
            channel: Channel::PatientApp,
        }),
        Principal::Patient(_) => Err(ClinicError::NotFound("patient")),
        Principal::Staff(s) => {
            s.require(Capability::PatientRights)?;
            let channel = channel.unwrap_or(Channel::Reception);
            if channel == Channel::PatientApp {
                return Err(ClinicError::invalid(
                    "invalid_channel",
                    "channel",
                    "channel: reception (at the desk) or paper (a signed form); patient_app is for the patient's own actions in the app",
                ));
            }
            Ok(Acting {
                filed_by: s.staff_id.clone(),
                channel,
            })
        }
    }
}

/// The vault's refusals of rights calls, as codes the app and reception can act on.
fn refusal(e: ClinicError) -> ClinicError {
    match e {
        ClinicError::VaultRefused {
            status: 404, code, ..
        } if code == "unknown_token" => ClinicError::Missing {
            code: "unknown_patient",
            message: "the vault does not know this patient token (or the patient's data was deleted); find the patient first".into(),
        },
        ClinicError::VaultRefused {
            status: 404, code, ..
        } if code == "unknown_request" => ClinicError::Missing {
            code: "not_found",
            message: "no such data request of this patient".into(),
        },
        ClinicError::VaultRefused {
            status: 409, code, ..
        } if code == "duplicate_request" => ClinicError::conflict(
            "duplicate_request",
            "the patient already has a pending request of this kind (or a deletion was carried out); it is being handled: see the list of requests",
        ),
        other => other,
    }
}

fn request_view(
    row: &DataRequestRow,
    vault: Option<&DataRequestView>,
    current: bool,
) -> Result<DataRequest, StoreError> {
    let kind = DataRequestKind::parse(&row.kind)
        .ok_or_else(|| StoreError::Corrupt("data_requests.kind".into()))?;
    let channel = Channel::parse(&row.channel)
        .ok_or_else(|| StoreError::Corrupt("data_requests.channel".into()))?;
    let filed_by = if row.filed_by == PATIENT {
        FiledBy::Patient
    } else {
        FiledBy::Staff
    };
    let mut out = DataRequest {
        request_id: row
            .vault_request_id
            .clone()
            .unwrap_or_else(|| row.request_id.clone()),
        kind,
        state: row.state.clone(),
        filed_at: row.filed_at,
        filed_by,
        channel,
        due_at: None,
        overdue: false,
        answered_at: None,
        extension_reason: None,
        current,
        export_url: None,
        deletion: None,
    };
    if let Some(v) = vault {
        apply_vault(&mut out, v);
    }
    Ok(out)
}

/// Takes the vault's current state, deadline and answer time into a request's view.
fn apply_vault(out: &mut DataRequest, v: &DataRequestView) {
    out.state = v.state.as_str().to_owned();
    out.due_at = Some(v.due_at);
    out.overdue = v.overdue;
    out.answered_at = v.answered_at;
    out.extension_reason = v.extension_reason.clone();
    out.current = true;
    if v.kind == DataRequestKind::Access && v.state == DataRequestState::Answered {
        out.export_url = Some(format!("/v1/me/data-requests/{}/export", v.request_id));
    }
}

/// A request the vault holds that clinic-app has no row of (filed at the vault's desk, or a
/// row lost after the vault took it).
fn vault_only_view(v: &DataRequestView) -> DataRequest {
    let mut out = DataRequest {
        request_id: v.request_id.to_string(),
        kind: v.kind,
        state: String::new(),
        filed_at: v.filed_at,
        filed_by: if v.channel == Channel::PatientApp {
            FiledBy::Patient
        } else {
            FiledBy::Staff
        },
        channel: v.channel,
        due_at: None,
        overdue: false,
        answered_at: None,
        extension_reason: None,
        current: true,
        export_url: None,
        deletion: None,
    };
    apply_vault(&mut out, v);
    out
}

/// 1 January, 00:00 UTC, of the year after the accounting retention of documents made at
/// `now` ends (the vault counts the same way, so the patient reads one date for both).
fn accounting_kept_until(now: i64) -> i64 {
    use chrono::{Datelike, NaiveDate, TimeZone, Utc};
    let year = Utc
        .timestamp_opt(now, 0)
        .single()
        .map_or(1970, |t| t.year());
    NaiveDate::from_ymd_opt(year + ACCOUNTING_YEARS_AFTER + 1, 1, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(now, |d| d.and_utc().timestamp())
}

/// clinic-app's part of a deletion answer.
fn clinic_deletion(now: i64, cancelled: Vec<String>) -> ClinicDeletion {
    let consent = "it rested on the patient's consent, withdrawn by this request (152-FZ art. 9 part 2, art. 21 part 5)";
    let until = accounting_kept_until(now);
    let accounting_purposes = || {
        ["billing", "receipt", "disclosure_legal"]
            .map(str::to_owned)
            .to_vec()
    };
    ClinicDeletion {
        deleted: vec![
            DeletedData {
                data: "the patient-app account: its sign-in sessions".into(),
                basis: consent.into(),
            },
            DeletedData {
                data: "sign-in codes and the keyed digests of the phone numbers they were sent to".into(),
                basis: consent.into(),
            },
            DeletedData {
                data: "reminders and messages, queued and sent".into(),
                basis: consent.into(),
            },
            DeletedData {
                data: "waitlist entries".into(),
                basis: "they served future visits, which this request cancels (152-FZ art. 21 part 4: the purpose is achieved)".into(),
            },
        ],
        kept: vec![
            RetainedData {
                data: "invoices, payments, refunds and receipts, under the former pseudonym (no name, phone or document)".into(),
                basis: "accounting documents, 5 years after the reporting year: 402-FZ art. 29; receipts: 54-FZ".into(),
                until,
                readable_for: accounting_purposes(),
            },
            RetainedData {
                data: "appointments (date, doctor, service, status), the future ones cancelled by this request".into(),
                basis: "the services ordered and rendered under the contract, which the invoices rest on: 402-FZ art. 9, 29".into(),
                until,
                readable_for: accounting_purposes(),
            },
            RetainedData {
                data: "the patient's data requests, this one included".into(),
                basis: "proof that the request was received and carried out: 152-FZ art. 18.1, art. 21 part 5".into(),
                until,
                readable_for: ["disclosure_legal".to_owned()].to_vec(),
            },
        ],
        cancelled_appointments: cancelled,
    }
}

/// What clinic-app processes, why and on what basis (its part of art. 14 part 7).
fn clinic_processing() -> Vec<ProcessingBasis> {
    let row = |data: &str, purpose: &str, basis: &str| ProcessingBasis {
        data: data.into(),
        purpose: purpose.into(),
        basis: basis.into(),
    };
    vec![
        row(
            "appointments and the waitlist, under a pseudonym",
            "booking visits",
            "the contract for medical services (152-FZ art. 6 part 1 item 5)",
        ),
        row(
            "invoices, payments, refunds and receipts, under a pseudonym",
            "billing, receipts, tax-deduction certificates",
            "contract; 54-FZ; 402-FZ art. 29 (5 years); Tax Code art. 219",
        ),
        row(
            "messages queued for the patient (no address or text stored)",
            "appointment reminders",
            "the patient's consent to SMS reminders (152-FZ art. 9)",
        ),
        row(
            "sign-in sessions and keyed digests of the phone used to sign in",
            "the patient app",
            "the patient's consent to the patient app (152-FZ art. 9)",
        ),
    ]
}

impl Clinic {
    /// Records the consents a patient signed at registration (channel `paper`). The patient is
    /// registered already: a consent the vault does not take now is reported, never turned
    /// into a failed registration (registering again would make a second card).
    pub(crate) async fn record_registration_consents(
        &self,
        token: &PatientToken,
        consents: &[ConsentPurpose],
    ) -> Result<RecordedConsents, ClinicError> {
        let mut wanted = consents.to_vec();
        wanted.sort();
        wanted.dedup();
        let mut out = RecordedConsents {
            in_force: Vec::new(),
            not_recorded: Vec::new(),
        };
        for purpose in wanted {
            match self
                .vault
                .set_consent(token, purpose, true, Channel::Paper)
                .await
            {
                Ok(now) => out.in_force = now.in_force,
                // Whatever the reason (unreachable, refused), the token must reach reception:
                // the answer lists what to record again.
                Err(e) => {
                    tracing::warn!(purpose = purpose.as_str(), error = %e, "registration consent not recorded");
                    out.not_recorded.push(purpose);
                }
            }
        }
        Ok(out)
    }

    /// The consents in force and their history.
    pub async fn consents(
        &self,
        principal: &Principal,
        patient: &PatientToken,
    ) -> Result<ConsentsResponse, ClinicError> {
        acting(principal, patient, None)?;
        self.vault.consents(patient).await.map_err(refusal)
    }

    /// Gives or withdraws a consent. Withdrawing `patient_app` ends the patient's app sessions
    /// (the app rests on it); signing in again asks for the terms anew.
    pub async fn set_consent(
        &self,
        principal: &Principal,
        patient: &PatientToken,
        purpose: ConsentPurpose,
        granted: bool,
        channel: Option<Channel>,
    ) -> Result<ConsentsResponse, ClinicError> {
        let who = acting(principal, patient, channel)?;
        let consents = self
            .vault
            .set_consent(patient, purpose, granted, who.channel)
            .await
            .map_err(refusal)?;
        if purpose == ConsentPurpose::PatientApp && !granted {
            let ended =
                staff::revoke_patient_sessions(&self.db, patient.as_str(), self.clock.now())
                    .await?;
            tracing::info!(
                sessions = ended,
                "patient app consent withdrawn; sessions ended"
            );
        }
        // The vault records clinic-app as the recorder; this line says who at clinic-app
        // (`patient` or the staff id), with the request id of its span.
        tracing::info!(
            purpose = purpose.as_str(),
            granted,
            channel = who.channel.as_str(),
            by = %who.filed_by,
            "consent recorded"
        );
        Ok(consents)
    }

    /// Files an access or deletion request with the vault: the patient for themselves (channel
    /// `patient_app`), reception for any patient. A deletion is carried out at once; see
    /// [`Clinic::delete_patient`].
    pub async fn file_data_request(
        &self,
        principal: &Principal,
        patient: &PatientToken,
        kind: DataRequestKind,
        channel: Option<Channel>,
        recipient_key: Option<String>,
    ) -> Result<DataRequest, ClinicError> {
        let who = acting(principal, patient, channel)?;
        match kind {
            DataRequestKind::Access => self.file_access(patient, who, recipient_key).await,
            // The vault refuses a key with a deletion; say so here without a round trip.
            DataRequestKind::Deletion if recipient_key.is_some() => Err(ClinicError::invalid(
                "invalid_recipient_key",
                "recipient_key",
                "a deletion request takes no recipient key",
            )),
            DataRequestKind::Deletion => self.delete_patient(patient, who).await,
        }
    }

    /// `recipient_key`: the phone's X25519 public key (hex), to which the vault seals the
    /// records' contents in the export; clinic-app passes it on and never sees the contents.
    async fn file_access(
        &self,
        patient: &PatientToken,
        who: Acting,
        recipient_key: Option<String>,
    ) -> Result<DataRequest, ClinicError> {
        let view = self
            .vault
            .file_request(patient, DataRequestKind::Access, who.channel, recipient_key)
            .await
            .map_err(refusal)?;
        let row = self.request_row(patient, &who, &view);
        let mut tx = self.db.begin().await?;
        rows::insert_data_request(&mut tx, &row).await?;
        rows::supersede_unforwarded(&mut tx, patient.as_str(), &row.kind).await?;
        // If this commit fails, the vault still has the request (its deadline runs) and the
        // app's list shows it from the vault: nothing is lost.
        tx.commit().await?;
        tracing::info!(request_id = %view.request_id, kind = "access", "data request forwarded to the vault");
        Ok(request_view(&row, Some(&view), true)?)
    }

    fn request_row(
        &self,
        patient: &PatientToken,
        who: &Acting,
        view: &DataRequestView,
    ) -> DataRequestRow {
        DataRequestRow {
            request_id: store::new_id(),
            patient_token: patient.as_str().to_owned(),
            kind: view.kind.as_str().to_owned(),
            filed_by: who.filed_by.clone(),
            filed_at: view.filed_at,
            state: view.state.as_str().to_owned(),
            vault_request_id: Some(view.request_id.to_string()),
            channel: who.channel.as_str().to_owned(),
        }
    }

    /// Carries out a deletion request.
    ///
    /// 1. The vault is asked first, read-only, whether it knows the token and whether a
    ///    deletion exists; if not, or if it cannot answer, nothing at all changes.
    /// 2. The patient's future appointments are cancelled (`patient_request`), so the care
    ///    relationships end while the token still resolves; ends the vault did not take are
    ///    retried now, since after the unlink they could never be delivered.
    /// 3. One transaction, locked on the patient: the account rows go (sessions, sign-in
    ///    challenges and phone digests, waitlist, messages), the vault carries the deletion out
    ///    (last before commit, as a booking reports its care relationship), the request row is
    ///    written, commit. Invoices, payments, refunds and appointments stay (accounting).
    ///
    /// If the vault fails in step 3 (or in step 2's retries), the transaction rolls back and the
    /// account stays; the appointments cancelled in step 2 stay cancelled (a cancellation is
    /// never undone, and the patient asked for the deletion anyway): the request can be filed
    /// again, and it then finds nothing left to cancel. A lost answer (the vault did it, the
    /// connection broke) is recognised by asking again: the token is then unknown to the
    /// vault, and clinic-app finishes its part (also on a later attempt, see step 1).
    async fn delete_patient(
        &self,
        patient: &PatientToken,
        who: Acting,
    ) -> Result<DataRequest, ClinicError> {
        if let Some(done) = rows::deletion_of(&self.db, patient.as_str()).await? {
            return Err(ClinicError::conflict(
                "duplicate_request",
                format!(
                    "this patient's data was deleted already (request {}); there is nothing left to delete",
                    done.vault_request_id.as_deref().unwrap_or(&done.request_id)
                ),
            ));
        }
        match self.vault.requests_of(patient).await {
            Ok(existing) => {
                if existing.iter().any(|r| r.kind == DataRequestKind::Deletion) {
                    return Err(ClinicError::conflict(
                        "duplicate_request",
                        "the vault holds a deletion request of this patient already; see the list of requests",
                    ));
                }
            }
            Err(ClinicError::VaultRefused { status: 404, .. })
                if self.holds_account(patient).await? =>
            {
                // Unknown to the vault but known here: a deletion the vault carried out whose
                // local part did not finish (its answer was lost, or it was filed in a vault
                // session at the desk, which clinic-app does not hear of). Finish that part
                // now; the visits are cancelled here only, as the vault no longer takes the
                // token (their queued care ends go with the messages).
                tracing::warn!(
                    "deletion: the vault no longer knows the token; finishing clinic-app's part"
                );
                let cancelled = self.cancel_future_visits(patient).await?;
                return self
                    .finish_deletion(patient, &who, VaultPart::Done, cancelled)
                    .await;
            }
            Err(e) => return Err(refusal(e)),
        }
        let cancelled = self.cancel_future_visits(patient).await?;
        self.settle_care_ends(patient).await?;
        self.finish_deletion(patient, &who, VaultPart::Forward, cancelled)
            .await
    }

    /// Step 3 of [`Clinic::delete_patient`].
    async fn finish_deletion(
        &self,
        patient: &PatientToken,
        who: &Acting,
        vault_part: VaultPart,
        cancelled: Vec<String>,
    ) -> Result<DataRequest, ClinicError> {
        let now = self.clock.now();
        let mut tx = self.db.begin().await?;
        tx.lock_keys(&[format!("patient:{}", patient.as_str())])
            .await?;
        if vault_part == VaultPart::Forward
            && !appointments::live_after(&mut tx, patient.as_str(), now)
                .await?
                .is_empty()
        {
            // Booked between the cancellations and this lock: its care relationship would
            // outlive the token. The request can simply be filed again.
            return Err(ClinicError::conflict(
                "changed_meanwhile",
                "an appointment was booked for this patient meanwhile; file the deletion request again and it will be cancelled too",
            ));
        }
        let sessions = staff::delete_patient_sessions(&mut tx, patient.as_str()).await?;
        let challenges = rows::delete_challenges_of(&mut tx, patient.as_str()).await?;
        let waitlist = appointments::delete_waitlist_of(&mut tx, patient.as_str()).await?;
        let messages = outbox::delete_of_patient(&mut tx, patient.as_str()).await?;
        let view = match vault_part {
            VaultPart::Done => None,
            VaultPart::Forward => self.forward_deletion(patient, who.channel).await?,
        };
        let row = match &view {
            Some(v) => self.request_row(patient, who, v),
            None => DataRequestRow {
                request_id: store::new_id(),
                patient_token: patient.as_str().to_owned(),
                kind: DataRequestKind::Deletion.as_str().to_owned(),
                filed_by: who.filed_by.clone(),
                filed_at: now,
                state: DataRequestState::Completed.as_str().to_owned(),
                vault_request_id: None,
                channel: who.channel.as_str().to_owned(),
            },
        };
        rows::insert_data_request(&mut tx, &row).await?;
        rows::supersede_unforwarded(&mut tx, patient.as_str(), &row.kind).await?;
        if let Err(e) = tx.commit().await {
            // The vault has carried the deletion out; the account rows are still here. The
            // next deletion request for this token finds it unknown to the vault and finishes
            // this part (step 1 of `delete_patient`).
            tracing::error!(request_id = ?row.vault_request_id, error = %e, "deletion carried out in the vault but clinic-app's part failed; filing it again finishes it");
            return Err(e.into());
        }
        tracing::info!(
            request_id = ?row.vault_request_id,
            sessions,
            challenges,
            waitlist,
            messages,
            cancelled = cancelled.len(),
            "deletion request carried out"
        );
        let mut out = request_view(&row, view.as_ref(), true)?;
        out.deletion = Some(DeletionReport {
            vault: view.and_then(|v| v.deletion),
            clinic_app: clinic_deletion(now, cancelled),
        });
        Ok(out)
    }

    /// Files the deletion with the vault. When the call fails without an answer (a timeout,
    /// a broken connection), the vault may have carried it out anyway: it is asked again, and
    /// a token it no longer knows means it did (`Ok(None)`: the answer was lost).
    async fn forward_deletion(
        &self,
        patient: &PatientToken,
        channel: Channel,
    ) -> Result<Option<DataRequestView>, ClinicError> {
        match self
            .vault
            .file_request(patient, DataRequestKind::Deletion, channel, None)
            .await
        {
            Ok(view) => Ok(Some(view)),
            Err(ClinicError::VaultUnavailable(cause)) => {
                match self.vault.requests_of(patient).await {
                    Err(ClinicError::VaultRefused { status: 404, .. }) => Ok(None),
                    Ok(list) => list
                        .into_iter()
                        .find(|r| r.kind == DataRequestKind::Deletion)
                        .map(Some)
                        .ok_or(ClinicError::VaultUnavailable(cause)),
                    Err(_) => Err(ClinicError::VaultUnavailable(cause)),
                }
            }
            Err(e) => Err(refusal(e)),
        }
    }

    /// Whether clinic-app holds anything of this token (so it was a real patient's).
    async fn holds_account(&self, patient: &PatientToken) -> Result<bool, ClinicError> {
        Ok(!appointments::of_patient(&self.db, patient.as_str())
            .await?
            .is_empty()
            || staff::has_patient_sessions(&self.db, patient.as_str()).await?)
    }

    /// Cancels the patient's booked (or arrived) appointments that have not started.
    async fn cancel_future_visits(
        &self,
        patient: &PatientToken,
    ) -> Result<Vec<String>, ClinicError> {
        let now = self.clock.now();
        let mut cancelled = Vec::new();
        for row in appointments::of_patient(&self.db, patient.as_str()).await? {
            let status = Status::parse(&row.status)?;
            if row.starts_at <= now || !matches!(status, Status::Booked | Status::Arrived) {
                continue;
            }
            let id = row.appointment_id.clone();
            match self.release(row, PATIENT_REQUEST).await {
                Ok(_) => cancelled.push(id),
                // Changed meanwhile (cancelled or moved by somebody else): re-read below.
                Err(ClinicError::Conflict { .. }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(cancelled)
    }

    /// Delivers the queued ends of this patient's care relationships now; the vault
    /// unreachable stops the deletion (they stay queued).
    async fn settle_care_ends(&self, patient: &PatientToken) -> Result<(), ClinicError> {
        let now = self.clock.now();
        for m in outbox::pending_of_patient(&self.db, patient.as_str(), CARE_END).await? {
            let appointment = m.appointment_id.as_deref().unwrap_or_default();
            match self.end_care_of(appointment).await {
                Ok(()) => {
                    outbox::mark_sent(&self.db, &m.message_id, "vault", now).await?;
                }
                Err(ClinicError::VaultRefused { .. }) => {
                    outbox::drop_message(&self.db, &m.message_id, "vault_refused", now).await?;
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// The patient's data requests, newest first, with the vault's current state. Requests the
    /// vault holds without a row here (filed at the vault's desk) are listed too. If the vault
    /// cannot be asked, the list still answers, marked `current: false`.
    pub async fn data_requests_of(
        &self,
        patient: &PatientToken,
    ) -> Result<Vec<DataRequest>, ClinicError> {
        let local = rows::data_requests_of(&self.db, patient.as_str()).await?;
        let (mut vault, current): (HashMap<String, DataRequestView>, bool) =
            match self.vault.requests_of(patient).await {
                Ok(list) => (
                    list.into_iter()
                        .map(|v| (v.request_id.to_string(), v))
                        .collect(),
                    true,
                ),
                Err(ClinicError::VaultUnavailable(cause)) => {
                    tracing::warn!(error = %cause, "data requests listed without the vault");
                    (HashMap::new(), false)
                }
                // Unknown to the vault (its data deleted): the rows here are all there is.
                Err(ClinicError::VaultRefused { status: 404, .. }) => (HashMap::new(), true),
                Err(e) => return Err(e),
            };
        let mut out = Vec::with_capacity(local.len() + vault.len());
        for row in &local {
            let v = row
                .vault_request_id
                .as_ref()
                .and_then(|id| vault.remove(id));
            // Rows never forwarded have nothing to look up: their state is final here.
            let fresh = current || row.vault_request_id.is_none();
            out.push(request_view(row, v.as_ref(), fresh)?);
        }
        out.extend(vault.values().map(vault_only_view));
        out.sort_by(|a, b| {
            b.filed_at
                .cmp(&a.filed_at)
                .then_with(|| a.request_id.cmp(&b.request_id))
        });
        Ok(out)
    }

    /// The answer to the patient's access request: the vault's export once the security
    /// officer answered it, with what clinic-app holds of the patient. 404 for a request that
    /// is not this patient's; 409 `not_answered` until it is answered.
    pub async fn export_data(
        &self,
        own: &PatientToken,
        request_id: &str,
    ) -> Result<PatientExport, ClinicError> {
        let not_found = || ClinicError::Missing {
            code: "not_found",
            message: "no such data request of yours; list them with GET /v1/me/data-requests"
                .into(),
        };
        let id = Uuid::parse_str(request_id).map_err(|_| not_found())?;
        let view = self.vault.request(id).await.map_err(|e| match refusal(e) {
            ClinicError::Missing { .. } => not_found(),
            other => other,
        })?;
        // The vault answers clinic-app for any of its patients: only the caller's own request
        // is theirs to see.
        if view.patient.as_ref() != Some(own) {
            return Err(not_found());
        }
        if view.kind != DataRequestKind::Access {
            return Err(ClinicError::conflict(
                "not_an_access_request",
                "this is a deletion request; only an access request is answered with your data",
            ));
        }
        if view.state != DataRequestState::Answered {
            return Err(ClinicError::conflict(
                "not_answered",
                format!(
                    "the clinic has not answered this access request yet; it must by {} (Moscow time): try again then",
                    super::export::moscow_date(view.due_at)
                ),
            ));
        }
        let vault = self.vault.export(id).await.map_err(refusal)?;
        let clinic_app = ClinicExport {
            patient_token: own.clone(),
            appointments: self.my_appointments(own).await?,
            invoices: self.own_invoices(own).await?,
            data_requests: self.data_requests_of(own).await?,
            processing: clinic_processing(),
        };
        tracing::info!(request_id = %id, "access request answer served");
        Ok(PatientExport {
            request_id: id.to_string(),
            generated_at: self.clock.now(),
            vault,
            clinic_app,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accounting_documents_are_kept_five_full_years_after_the_reporting_year() {
        // 2026-11-30 04:00 UTC: the reporting year 2026 ends, five more years, so until
        // 2032-01-01.
        assert_eq!(accounting_kept_until(1_796_011_200), 1_956_528_000);
    }

    #[test]
    fn every_deletion_item_names_its_basis() {
        let d = clinic_deletion(1_796_011_200, vec!["a1".into()]);
        assert!(d.deleted.iter().all(|x| !x.basis.is_empty()));
        assert!(d.kept.iter().all(|x| x.basis.contains("art.")));
        assert!(d.kept.iter().any(|x| x.basis.contains("402-FZ")));
    }
}
