//! The vault's part of an access request's answer (152-FZ art. 14 part 7): the patient's
//! identity, what records exist (not their contents: ADR 0016), consents, who accessed the
//! data, and the purposes and legal bases of the processing. clinic-app adds appointments and
//! payments and renders the document.

use std::collections::BTreeMap;

use hpke::{Deserializable, Serializable};
use uuid::Uuid;
use vault_wire::{
    DataRequestKind, DataRequestState, EXPORT_HPKE_INFO, EXPORT_HPKE_SUITE, ExportedAccess,
    ExportedAttachment, ExportedRecord, MedicalContents, MedicalRecordVersion, PatientDataExport,
    ProcessingBasis, SealedForPatient,
};
use zeroize::Zeroizing;

use super::{Rights, RightsError, consents_response};
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::sealing::VaultError;
use crate::ids::PatientId;
use crate::store::oversight::{self as ov, AuditFilter, Page};
use crate::store::rights as rs;
use crate::store::{self, StoreError};

/// The identity fields the vault may hold.
const IDENTITY_FIELDS: [&str; 11] = [
    "surname",
    "name",
    "patronymic",
    "birth_date",
    "sex",
    "phones",
    "email",
    "address",
    "snils",
    "passport",
    "inn",
];

/// At most this many access events go into one export (the newest); the security officer's
/// access report pages through the rest.
const MAX_ACCESSES: u64 = 5_000;

impl Rights {
    /// The export of an answered access request, for the patient's side (the patient app).
    pub async fn export(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        request_id: Uuid,
    ) -> Result<PatientDataExport, RightsError> {
        if !matches!(principal, Principal::Service { .. }) {
            // Staff would see the patient's record list and access log: the export goes to
            // the patient, through the patient app.
            let row = self.trail(principal, meta).event(
                "export_patient_data",
                None,
                None,
                None,
                crate::domain::audit::Outcome::Deny,
                &[
                    format!("request:{request_id}"),
                    "export-only-to-the-patient-app".into(),
                ],
            );
            self.audit.record(vec![row]).await?;
            return Err(RightsError::Forbidden {
                reasons: vec!["export-only-to-the-patient-app".into()],
            });
        }
        let (stored, _) = self
            .authorise_on_request(
                principal,
                meta,
                request_id,
                "export_patient_data",
                policy::Action::FileDataRequest,
            )
            .await?;
        if stored.kind != DataRequestKind::Access.as_str() {
            return Err(RightsError::WrongKind("exported"));
        }
        if stored.state != DataRequestState::Answered.as_str() {
            return Err(RightsError::NotAnswered);
        }
        let patient: PatientId = store::parse_id(&stored.patient_id, "patient_id")?;
        let mut export = self.export_of(patient, request_id).await?;
        if let Some(key) = &stored.recipient_key {
            export.medical_contents = Some(self.sealed_contents(patient, request_id, key).await?);
        }
        Ok(export)
    }

    /// Every version of every record, opened and sealed at once to the patient's key: the
    /// contents leave the vault only as ciphertext that clinic-app cannot open.
    async fn sealed_contents(
        &self,
        patient: PatientId,
        request_id: Uuid,
        key: &str,
    ) -> Result<SealedForPatient, RightsError> {
        let db = self.sealed.db();
        let mut records = Vec::new();
        for row in store::records::for_patient(db, patient).await? {
            let body = self.sealed.open_stored(&row).await?;
            let body: serde_json::Value = serde_json::from_slice(&body)
                .map_err(|_| StoreError::Corrupt("record body is not JSON".into()))?;
            let attachments = store::attachments::for_record(db, row.record)
                .await?
                .into_iter()
                .filter(|a| a.patient == patient)
                .map(|a| ExportedAttachment {
                    attachment_id: Uuid::from_bytes(*a.attachment.as_bytes()),
                    content_type: a.content_type,
                    size_bytes: i64::try_from(a.size_bytes).unwrap_or(i64::MAX),
                })
                .collect();
            records.push(MedicalRecordVersion {
                record_id: Uuid::from_bytes(*row.record.as_bytes()),
                version: row.version,
                kind: row.kind.clone(),
                created_at: row.created_at,
                body,
                attachments,
            });
        }
        let count = u32::try_from(records.len()).unwrap_or(u32::MAX);
        let plaintext = Zeroizing::new(
            serde_json::to_vec(&MedicalContents { records })
                .map_err(|e| StoreError::Corrupt(format!("export contents: {e}")))?,
        );
        let recipient = recipient_key(key).map_err(RightsError::RecipientKey)?;
        let (encapped, ciphertext) = hpke::single_shot_seal::<
            hpke::aead::ChaCha20Poly1305,
            hpke::kdf::HkdfSha256,
            hpke::kem::X25519HkdfSha256,
        >(
            &hpke::OpModeS::Base,
            &recipient,
            EXPORT_HPKE_INFO,
            &plaintext,
            request_id.as_bytes(),
        )
        .map_err(|_| RightsError::Vault(VaultError::Seal))?;
        Ok(SealedForPatient {
            suite: EXPORT_HPKE_SUITE.into(),
            encapped_key: hex::encode(encapped.to_bytes()),
            ciphertext: hex::encode(ciphertext),
            record_versions: count,
        })
    }

    async fn export_of(
        &self,
        patient: PatientId,
        request_id: Uuid,
    ) -> Result<PatientDataExport, RightsError> {
        let db = self.sealed.db();
        let keys = self.sealed.current_keys(patient).await?;
        let identity: serde_json::Map<String, serde_json::Value> = self
            .patients
            .open_fields(&keys, patient, &IDENTITY_FIELDS)
            .await?
            .into_iter()
            .collect::<BTreeMap<_, _>>()
            .into_iter()
            .collect();
        let mut records: BTreeMap<String, ExportedRecord> = BTreeMap::new();
        for r in store::records::for_patient(db, patient).await? {
            let e = records
                .entry(r.record.to_string())
                .or_insert_with(|| ExportedRecord {
                    record_id: Uuid::from_bytes(*r.record.as_bytes()),
                    kind: r.kind.clone(),
                    versions: 0,
                    created_at: r.created_at,
                });
            e.versions += 1;
            e.created_at = e.created_at.min(r.created_at);
        }
        let filter = AuditFilter {
            patient_tokens: Some(ov::tokens_of_patient(db, patient).await?),
            ..AuditFilter::default()
        };
        let page = Page {
            after_seq: None,
            limit: MAX_ACCESSES,
            newest_first: true,
        };
        let accesses = ov::search_events(db, &filter, page)
            .await?
            .into_iter()
            .map(|e| ExportedAccess {
                at: e.at,
                role: e.role,
                branch: e.branch,
                action: e.action,
                purpose: e.purpose,
                decision: e.decision,
            })
            .collect();
        let consents = consents_response(&rs::consent_history(db, patient).await?)?;
        Ok(PatientDataExport {
            request_id,
            generated_at: self.clock.unix_seconds(),
            identity,
            records: records.into_values().collect(),
            consents,
            accesses,
            processing: processing_bases(),
            medical_contents: None,
        })
    }
}

/// A recipient key as the request gives it: an X25519 public key, 64 hex digits.
fn recipient_key(
    hex_key: &str,
) -> Result<<hpke::kem::X25519HkdfSha256 as hpke::Kem>::PublicKey, &'static str> {
    let bytes = hex::decode(hex_key).map_err(|_| "expected 64 hex digits")?;
    if bytes.len() != 32 {
        return Err("expected 64 hex digits (an X25519 public key)");
    }
    <hpke::kem::X25519HkdfSha256 as hpke::Kem>::PublicKey::from_bytes(&bytes)
        .map_err(|_| "not an X25519 public key")
}

/// Checks a recipient key when the request is filed, so a bad one is refused then, not when
/// the answer is fetched.
pub(super) fn check_recipient_key(hex_key: &str) -> Result<(), &'static str> {
    recipient_key(hex_key).map(|_| ())
}

/// What the clinic processes, why, and on what basis: the statement art. 14 part 7 requires.
fn processing_bases() -> Vec<ProcessingBasis> {
    let row = |data: &str, purpose: &str, basis: &str| ProcessingBasis {
        data: data.into(),
        purpose: purpose.into(),
        basis: basis.into(),
    };
    vec![
        row(
            "identity, documents and medical records",
            "medical care (treatment)",
            "152-FZ art. 10 part 2 item 4; 323-FZ art. 22; medical card form 025/u kept 25 years",
        ),
        row(
            "identity and payments",
            "contracts, billing, receipts and tax-deduction certificates",
            "contract (152-FZ art. 6 part 1 item 5); 54-FZ; 402-FZ art. 29 (5 years); Tax Code art. 219",
        ),
        row(
            "phone numbers and e-mail",
            "appointment reminders, the patient app, marketing",
            "the patient's consent (152-FZ art. 9), withdrawable at any time",
        ),
        row(
            "pseudonymous data",
            "analytics",
            "the patient's consent (152-FZ art. 9), withdrawable at any time",
        ),
        row(
            "the access log",
            "security of personal data",
            "152-FZ art. 19; FSTEC order 21",
        ),
    ]
}
