//! The retention job (`vault retention run`, daily): crypto-shreds patients whose every
//! retention has ended, writes a signed destruction act (Roskomnadzor order 179) with its log
//! extract in the audit chain, and raises the alerts of overdue data requests.
//!
//! Idempotent and safe on two replicas at once: each patient is destroyed in one transaction
//! that first takes the patient's lock (a PostgreSQL advisory lock; SQLite's `BEGIN
//! IMMEDIATE`) and re-reads whether the patient is shredded already. Stopping half-way loses
//! nothing: the next run continues with the patients left.

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use vault_wire::DestructionAct;

use super::{ActIssuer, RightsError};
use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::domain::calendar::{add_years, utc_date};
use crate::domain::sealing::SealedData;
use crate::ids::PatientId;
use crate::keys::custody::blocking;
use crate::keys::provider::KeyProvider;
use crate::store::alerts::AlertRow;
use crate::store::audit::AuditRow;
use crate::store::rights::{self as rs, ActRow};
use crate::store::{self, Database, StoreError};

/// Order 179 item 5: the act and the log extract are kept for 3 years.
pub const ACT_KEPT_YEARS: i64 = 3;
/// The audit action of a destruction; the act's log extract is that event.
pub const DESTROY_ACTION: &str = "destroy_patient_data";
/// Domain separation: the audit key also signs checkpoints.
const ACT_MAC_CONTEXT: &[u8] = b"medikamente destruction act v1\n";
const METHOD: &str = "crypto-shredding: the patient's data-encryption keys deleted (their KEK versions are destroyed in the token on the backup schedule, docs/operations.md), then every ciphertext, blind index and pseudonym of the patient deleted from the database";

/// The signed part of an act: every field order 179 asks for that can exist after destruction.
/// Field order is fixed, so the JSON is canonical.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct ActDocument {
    act_id: Uuid,
    operator: String,
    system: String,
    subject: String,
    data: Vec<String>,
    method: String,
    reason: String,
    request_id: Uuid,
    destroyed_at: i64,
    performed_by: String,
    kept_until: i64,
    /// The `request_id` of the audit event that is the act's log extract.
    log_extract: String,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RetentionReport {
    /// Patients destroyed by this run, with their acts.
    pub destroyed: Vec<(PatientId, Uuid)>,
    /// Patients whose retention ended but a legal hold or open incident stops destruction.
    pub held: Vec<PatientId>,
    /// Patients still under retention, with the day it ends.
    pub waiting: Vec<(PatientId, i64)>,
    /// Overdue data requests that raised their alert in this run.
    pub overdue_alerts: Vec<AlertRow>,
}

/// One run of the job at the clock's `now`.
pub async fn run(
    sealed: &SealedData,
    audit: &AuditWriter,
    clock: &dyn Clock,
    issuer: &ActIssuer,
    performed_by: &str,
) -> Result<RetentionReport, RightsError> {
    let db = sealed.db();
    let now = clock.unix_seconds();
    let mut report = RetentionReport::default();
    for patient in rs::restricted_unshredded(db).await? {
        let retentions = rs::retentions_of(db, patient).await?;
        let ends = retentions.iter().map(|r| r.until).max().unwrap_or(i64::MAX);
        if ends > now {
            report.waiting.push((patient, ends));
            continue;
        }
        let Some(request_id) = retentions.first().map(|r| r.request_id.clone()) else {
            continue;
        };
        match destroy(
            sealed,
            audit,
            patient,
            &request_id,
            now,
            issuer,
            performed_by,
        )
        .await?
        {
            Destruction::Done(act) => report.destroyed.push((patient, act)),
            Destruction::Held => report.held.push(patient),
            Destruction::AlreadyDone => {}
        }
    }
    report.overdue_alerts = raise_overdue_alerts(db, now).await?;
    Ok(report)
}

enum Destruction {
    Done(Uuid),
    Held,
    AlreadyDone,
}

async fn destroy(
    sealed: &SealedData,
    audit: &AuditWriter,
    patient: PatientId,
    request_id: &str,
    now: i64,
    issuer: &ActIssuer,
    performed_by: &str,
) -> Result<Destruction, RightsError> {
    let mut tx = sealed.db().begin().await?;
    tx.lock_keys(&[format!("rights:{patient}")]).await?;
    if rs::is_shredded(&mut tx, patient).await? {
        return Ok(Destruction::AlreadyDone);
    }
    if rs::holds_in_force(&mut tx, patient).await? > 0 {
        return Ok(Destruction::Held);
    }
    let destroyed = rs::destroy_patient_data(&mut tx, patient).await?;
    store::keys::shred_patient(&mut tx, patient, now).await?;

    let act_id = Uuid::new_v4();
    let log_extract = Uuid::new_v4().to_string();
    let doc = ActDocument {
        act_id,
        operator: issuer.operator.clone(),
        system: issuer.system.clone(),
        subject: format!("patient {patient} (internal identifier of the vault)"),
        data: vec![
            "identity: surname, name, patronymic, birth date, sex, address, SNILS, passport, INN"
                .into(),
            "medical records of every kind, all versions, and their attachments".into(),
            "consent history, care relationships, blind indexes and pseudonyms".into(),
        ],
        method: METHOD.into(),
        reason: format!(
            "deletion request {request_id}: consent withdrawn (152-FZ art. 21 part 5) and every retention period ended"
        ),
        request_id: store::parse_id(request_id, "request_id")?,
        destroyed_at: now,
        performed_by: performed_by.to_owned(),
        kept_until: add_years(now, ACT_KEPT_YEARS),
        log_extract: log_extract.clone(),
    };
    let document = serde_json::to_string(&doc)
        .map_err(|e| StoreError::Corrupt(format!("destruction act: {e}")))?;
    let mac = sign(sealed.custody().provider(), &document).await?;
    rs::insert_act(
        &mut tx,
        &ActRow {
            act_id: act_id.to_string(),
            patient_id: patient.to_string(),
            request_id: request_id.to_owned(),
            document,
            mac,
            destroyed_at: now,
            kept_until: doc.kept_until,
        },
    )
    .await?;
    let counts: Vec<String> = destroyed
        .tables
        .iter()
        .map(|(t, n)| format!("{t}={n}"))
        .collect();
    let event = AuditRow {
        at: now,
        request_id: log_extract,
        principal: format!("system:{performed_by}"),
        role: "system".into(),
        branch: None,
        action: DESTROY_ACTION.into(),
        patient_token: None,
        patient_tokens: None,
        purpose: None,
        reason_code: Some("retention_ended".into()),
        decision: "success".into(),
        reasons: format!(
            "request:{request_id}; act:{act_id}; rows:{}",
            counts.join(",")
        ),
        client_addr: None,
    };
    audit.append_in(&mut tx, &[event]).await?;
    tx.commit().await?;
    sealed.custody().forget(patient);
    Ok(Destruction::Done(act_id))
}

async fn sign(
    provider: &std::sync::Arc<dyn KeyProvider>,
    document: &str,
) -> Result<Vec<u8>, RightsError> {
    let mut data = ACT_MAC_CONTEXT.to_vec();
    data.extend_from_slice(document.as_bytes());
    let p = provider.clone();
    Ok(blocking(move || p.audit_mac(&data))
        .await
        .map_err(crate::domain::sealing::VaultError::from)?)
}

/// The act as the API shows it.
pub(crate) fn act_view(row: &ActRow) -> Result<DestructionAct, StoreError> {
    let doc: ActDocument = serde_json::from_str(&row.document)
        .map_err(|_| StoreError::Corrupt("destruction act document".into()))?;
    Ok(DestructionAct {
        act_id: doc.act_id,
        operator: doc.operator,
        system: doc.system,
        subject: doc.subject,
        data: doc.data,
        method: doc.method,
        reason: doc.reason,
        request_id: doc.request_id,
        destroyed_at: doc.destroyed_at,
        performed_by: doc.performed_by,
        kept_until: doc.kept_until,
        audit_seq: None,
        signature: hex::encode(&row.mac),
    })
}

/// The `request_id` of the act's log extract in the audit chain.
pub(crate) fn log_extract(row: &ActRow) -> Result<String, StoreError> {
    serde_json::from_str::<ActDocument>(&row.document)
        .map(|d| d.log_extract)
        .map_err(|_| StoreError::Corrupt("destruction act document".into()))
}

/// The result of checking one act.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActCheck {
    pub act_id: String,
    /// `None` when the act verifies; otherwise what is wrong.
    pub problem: Option<String>,
    /// The audit event that is its log extract.
    pub audit_seq: Option<i64>,
}

/// `vault act verify`: every act's (or one act's) signature by the token's audit key, its
/// columns against its signed document, and its log extract in the audit chain.
pub async fn verify_acts(
    db: &Database,
    provider: &std::sync::Arc<dyn KeyProvider>,
    act_id: Option<&str>,
) -> Result<Vec<ActCheck>, RightsError> {
    let mut out = Vec::new();
    for row in rs::acts(db, act_id, None).await? {
        let mut check = ActCheck {
            act_id: row.act_id.clone(),
            problem: None,
            audit_seq: None,
        };
        let expected = sign(provider, &row.document).await?;
        if !bool::from(expected.ct_eq(&row.mac)) {
            check.problem = Some("the signature does not match the document".into());
            out.push(check);
            continue;
        }
        let Ok(doc) = serde_json::from_str::<ActDocument>(&row.document) else {
            check.problem = Some("the document is not a destruction act".into());
            out.push(check);
            continue;
        };
        if doc.act_id.to_string() != row.act_id
            || doc.request_id.to_string() != row.request_id
            || doc.destroyed_at != row.destroyed_at
            || !doc.subject.contains(&row.patient_id)
        {
            check.problem = Some("the act's columns differ from its signed document".into());
            out.push(check);
            continue;
        }
        check.audit_seq = rs::audit_event_seq(db, &doc.log_extract, DESTROY_ACTION).await?;
        if check.audit_seq.is_none() {
            check.problem = Some("its log extract is missing from the audit chain".into());
        }
        out.push(check);
    }
    if let Some(id) = act_id
        && out.is_empty()
    {
        out.push(ActCheck {
            act_id: id.to_owned(),
            problem: Some("no such act".into()),
            audit_seq: None,
        });
    }
    Ok(out)
}

/// Raises one alert per pending data request past its deadline (once per request; safe on
/// two replicas: the claim is a conditional update).
pub async fn raise_overdue_alerts(db: &Database, now: i64) -> Result<Vec<AlertRow>, StoreError> {
    let mut raised = Vec::new();
    for r in rs::overdue_unalerted(db, now).await? {
        let mut tx = db.begin().await?;
        if !rs::claim_overdue_alert(&mut tx, &r.request_id, now).await? {
            continue;
        }
        let alert = AlertRow {
            alert_id: Uuid::new_v4().to_string(),
            raised_at: now,
            rule: "data_request_overdue".into(),
            principal: r.responsible_officer.clone(),
            seq_first: 0,
            seq_last: 0,
            details: format!(
                "{} request {} was due {} and is unanswered",
                r.kind,
                r.request_id,
                utc_date(r.due_at.div_euclid(86_400))
            ),
        };
        store::alerts::insert(&mut tx, &alert).await?;
        tx.commit().await?;
        raised.push(alert);
    }
    Ok(raised)
}
