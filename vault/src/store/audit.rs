//! Audit events. Append-only: the vault only ever inserts here.

use sea_query::{Iden, Query};

use super::{StoreError, Transaction};

#[derive(Iden)]
enum AuditEvents {
    Table,
    At,
    RequestId,
    Principal,
    Role,
    Branch,
    Action,
    PatientToken,
    Purpose,
    ReasonCode,
    Decision,
    Reasons,
    ClientAddr,
}

/// One event as stored. Tokens and codes only, never personal data.
pub struct AuditRow {
    pub at: i64,
    pub request_id: String,
    pub principal: String,
    pub role: String,
    pub branch: Option<String>,
    pub action: String,
    pub patient_token: Option<String>,
    pub purpose: Option<String>,
    pub reason_code: Option<String>,
    pub decision: String,
    pub reasons: String,
    pub client_addr: Option<String>,
}

/// Inserts events in the caller's transaction, in order.
pub async fn insert(tx: &mut Transaction, rows: &[AuditRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let mut q = Query::insert();
    q.into_table(AuditEvents::Table).columns([
        AuditEvents::At,
        AuditEvents::RequestId,
        AuditEvents::Principal,
        AuditEvents::Role,
        AuditEvents::Branch,
        AuditEvents::Action,
        AuditEvents::PatientToken,
        AuditEvents::Purpose,
        AuditEvents::ReasonCode,
        AuditEvents::Decision,
        AuditEvents::Reasons,
        AuditEvents::ClientAddr,
    ]);
    for r in rows {
        q.values_panic([
            r.at.into(),
            r.request_id.clone().into(),
            r.principal.clone().into(),
            r.role.clone().into(),
            r.branch.clone().into(),
            r.action.clone().into(),
            r.patient_token.clone().into(),
            r.purpose.clone().into(),
            r.reason_code.clone().into(),
            r.decision.clone().into(),
            r.reasons.clone().into(),
            r.client_addr.clone().into(),
        ]);
    }
    // Whatever the cause (disk full, read-only, a trigger, a lost connection), an event that
    // cannot be written stops the request.
    match tx.execute(&q).await {
        Ok(_) => Ok(()),
        Err(StoreError::Unavailable(e) | StoreError::Other(e) | StoreError::AuditFailed(e)) => {
            Err(StoreError::AuditFailed(e))
        }
        Err(other) => Err(other),
    }
}
