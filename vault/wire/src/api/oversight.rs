//! The security officer's tools: audit search and counts, the break-glass review queue,
//! incidents (152-FZ art. 21 part 3.1), and a patient's access report.
//!
//! Query strings are parsed here, into checked values; an unknown parameter is refused.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use super::access::BreakGlassReason;
use crate::error::ParseError;
use crate::ids::PatientToken;
use crate::{Purpose, redacted_debug, string_wire_type};

/// The most events one page of a search or an access report holds.
pub const MAX_PAGE: u32 = 500;
/// A page's size when `limit` is not given.
pub const DEFAULT_PAGE: u32 = 100;

/// 1 to `max` characters, none of them whitespace or control characters.
fn label(value: String, what: &'static str, max: usize) -> Result<String, ParseError> {
    let ok = (1..=max).contains(&value.chars().count())
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if ok {
        Ok(value)
    } else {
        Err(ParseError::new(
            what,
            "expected 1 to 128 characters without spaces or control characters",
        ))
    }
}

fn page_limit(limit: Option<u32>) -> Result<Option<u32>, ParseError> {
    match limit {
        Some(n) if !(1..=MAX_PAGE).contains(&n) => {
            Err(ParseError::new("limit", "expected 1 to 500"))
        }
        other => Ok(other),
    }
}

fn time_window(from: Option<i64>, until: Option<i64>) -> Result<(), ParseError> {
    match (from, until) {
        (Some(f), Some(u)) if f >= u => Err(ParseError::new("until", "must be later than from")),
        _ => Ok(()),
    }
}

/// How an audit event was decided.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditDecision {
    Permit,
    Deny,
    Success,
    Failure,
}

impl AuditDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            AuditDecision::Permit => "permit",
            AuditDecision::Deny => "deny",
            AuditDecision::Success => "success",
            AuditDecision::Failure => "failure",
        }
    }
}

/// Which end of the audit a page starts from.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AuditOrder {
    /// Highest sequence number first (the default).
    #[default]
    Newest,
    Oldest,
}

/// `GET /v1/audit/events` and `GET /v1/audit/counts`: every filter is optional and they combine
/// with AND. Times are Unix seconds, `from` inclusive and `until` exclusive. Paging (`after_seq`,
/// `limit`, `order`) is for the search only; `auditCounts` refuses it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(try_from = "AuditQueryWire")]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Events at or after this time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    /// Events before this time (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// A staff id, `service:<domain>` or `unknown` (failed sign-ins).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub principal: Option<String>,
    /// The token as the event recorded it (any domain).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(value_type = Option<String>)]
    pub patient_token: Option<PatientToken>,
    /// An action name, e.g. `read_record`, `start_break_glass`, `signed_in`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<AuditDecision>,
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "option_purpose::serialize"
    )]
    #[param(value_type = Option<String>)]
    pub purpose: Option<Purpose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// The last `seq` of the previous page: the next page continues after it, in `order`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<i64>,
    /// 1 to 500; default 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order: Option<AuditOrder>,
}

/// Serde for an optional purpose through `as_str`/`FromStr`.
mod option_purpose {
    use policy::Purpose;
    use serde::{Serializer, de::Error as _};

    pub fn serialize<S: Serializer>(purpose: &Option<Purpose>, s: S) -> Result<S::Ok, S::Error> {
        match purpose {
            Some(p) => s.serialize_str(p.as_str()),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: serde::Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Purpose>, D::Error> {
        let s: Option<String> = serde::Deserialize::deserialize(d)?;
        s.map(|s| {
            s.parse()
                .map_err(|_| D::Error::custom("invalid purpose: expected a purpose of the policy"))
        })
        .transpose()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AuditQueryWire {
    from: Option<i64>,
    until: Option<i64>,
    principal: Option<String>,
    patient_token: Option<PatientToken>,
    action: Option<String>,
    decision: Option<AuditDecision>,
    #[serde(with = "option_purpose", default)]
    purpose: Option<Purpose>,
    branch: Option<String>,
    after_seq: Option<i64>,
    limit: Option<u32>,
    order: Option<AuditOrder>,
}

impl TryFrom<AuditQueryWire> for AuditQuery {
    type Error = ParseError;
    fn try_from(w: AuditQueryWire) -> Result<Self, ParseError> {
        time_window(w.from, w.until)?;
        Ok(Self {
            from: w.from,
            until: w.until,
            principal: w
                .principal
                .map(|p| label(p, "principal", 128))
                .transpose()?,
            patient_token: w.patient_token,
            action: w.action.map(|a| label(a, "action", 128)).transpose()?,
            decision: w.decision,
            purpose: w.purpose,
            branch: w.branch.map(|b| label(b, "branch", 128)).transpose()?,
            after_seq: w.after_seq,
            limit: page_limit(w.limit)?,
            order: w.order,
        })
    }
}

impl AuditQuery {
    /// The names of the filters given (not their values): what the audit of a search records.
    pub fn keys_used(&self) -> Vec<&'static str> {
        [
            ("from", self.from.is_some()),
            ("until", self.until.is_some()),
            ("principal", self.principal.is_some()),
            ("patient_token", self.patient_token.is_some()),
            ("action", self.action.is_some()),
            ("decision", self.decision.is_some()),
            ("purpose", self.purpose.is_some()),
            ("branch", self.branch.is_some()),
            ("after_seq", self.after_seq.is_some()),
            ("limit", self.limit.is_some()),
            ("order", self.order.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, used)| used.then_some(k))
        .collect()
    }

    /// The page size, the default applied.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_PAGE)
    }

    /// Whether any paging parameter is set (the counts refuse them).
    pub fn has_paging(&self) -> bool {
        self.after_seq.is_some() || self.limit.is_some() || self.order.is_some()
    }
}

/// One audit event as the chain holds it. Tokens and codes only, never personal data.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditEvent {
    /// Position in the hash chain, from 1.
    pub seq: i64,
    /// Unix seconds.
    pub at: i64,
    /// Staff id, `service:<domain>` or `unknown`.
    pub principal: String,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_token: Option<String>,
    /// The tokens of an event about many patients (one decision of a resolve shared by all of
    /// them); `patient_token` is then absent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patient_tokens: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    /// `permit`, `deny`, `success` or `failure`.
    pub decision: String,
    /// Policy ids and facts, `; `-separated.
    pub reasons: String,
    pub request_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_addr: Option<String>,
    /// SHA-256 chain hash of the event, hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_hash: Option<String>,
}

/// One page of an audit search.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditSearchResponse {
    pub events: Vec<AuditEvent>,
    /// Pass as `after_seq` for the next page; absent on the last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_seq: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DayCount {
    /// UTC date, `YYYY-MM-DD`.
    pub date: String,
    pub count: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrincipalCount {
    pub principal: String,
    pub role: String,
    pub count: i64,
}

/// Matching events per UTC day (oldest day first) and per principal (most events first).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AuditCountsResponse {
    pub total: i64,
    pub per_day: Vec<DayCount>,
    pub per_principal: Vec<PrincipalCount>,
}

/// Where a break-glass grant stands in the review queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewState {
    /// Not reviewed yet.
    Pending,
    Justified,
    /// The reviewer asked the doctor for more; a final decision is still due.
    NeedsInfo,
    /// Unlawful access: an incident is open.
    Unjustified,
}

/// A reviewer's decision. `justified` and `unjustified` are final.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ReviewDecision {
    Justified,
    NeedsInfo,
    Unjustified,
}

impl ReviewDecision {
    pub fn as_str(self) -> &'static str {
        match self {
            ReviewDecision::Justified => "justified",
            ReviewDecision::NeedsInfo => "needs_info",
            ReviewDecision::Unjustified => "unjustified",
        }
    }

    pub fn is_final(self) -> bool {
        !matches!(self, ReviewDecision::NeedsInfo)
    }
}

impl FromStr for ReviewDecision {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        match s {
            "justified" => Ok(ReviewDecision::Justified),
            "needs_info" => Ok(ReviewDecision::NeedsInfo),
            "unjustified" => Ok(ReviewDecision::Unjustified),
            _ => Err(ParseError::new(
                "decision",
                "expected justified, needs_info or unjustified",
            )),
        }
    }
}

/// `GET /v1/break-glass/reviews`: grants in one state (all without `state`), oldest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(try_from = "ReviewsQueryWire")]
#[into_params(parameter_in = Query)]
pub struct ReviewsQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub state: Option<ReviewState>,
    /// 1 to 500; default 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReviewsQueryWire {
    state: Option<ReviewState>,
    limit: Option<u32>,
}

impl ReviewsQuery {
    /// The page size, the default applied.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_PAGE)
    }
}

impl TryFrom<ReviewsQueryWire> for ReviewsQuery {
    type Error = ParseError;
    fn try_from(w: ReviewsQueryWire) -> Result<Self, ParseError> {
        Ok(Self {
            state: w.state,
            limit: page_limit(w.limit)?,
        })
    }
}

/// The reads a doctor did under a grant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct GrantReads {
    pub count: u64,
    /// Their audit sequence numbers, oldest first.
    pub seqs: Vec<i64>,
}

/// One review of a grant, as recorded (reviews are never changed, only added).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReviewEntry {
    pub review_id: Uuid,
    pub decision: ReviewDecision,
    pub reviewer_staff_id: String,
    /// The reviewer's comment; absent when the patient's data was destroyed (or the stored
    /// comment does not open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub reviewed_at: i64,
}

/// Whether the reviewer could read the doctor's justification.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JustificationStatus {
    Shown,
    /// The patient's data was destroyed (crypto-shredded): it can never be read again.
    Destroyed,
    /// The stored envelope did not open: it was altered or moved. Treat the grant as suspect.
    Unreadable,
}

/// A break-glass grant in the review queue. Listing it opens the doctor's justification for the
/// reviewer, and that opening is audited (`read_justification`).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct BreakGlassReview {
    pub grant_id: Uuid,
    pub doctor_staff_id: String,
    /// The patient's token in the staff domain (`vault-staff`), as the audit names them.
    pub patient_token: PatientToken,
    pub reason_code: BreakGlassReason,
    pub started_at: i64,
    pub expires_at: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<i64>,
    /// Three working days (Monday to Friday, UTC) after `started_at`.
    pub review_deadline: i64,
    /// No final decision and the deadline has passed.
    pub overdue: bool,
    pub state: ReviewState,
    pub reads: GrantReads,
    /// The doctor's free-text justification, when `justification_status` is `shown`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub justification: Option<String>,
    pub justification_status: JustificationStatus,
    pub reviews: Vec<ReviewEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<Uuid>,
}

redacted_debug!(ReviewEntry, BreakGlassReview);

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListReviewsResponse {
    pub reviews: Vec<BreakGlassReview>,
}

/// The reviewer's comment: 1 to 2000 characters after trimming; line breaks kept.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ReviewComment(String);

impl ReviewComment {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for ReviewComment {
    type Err = ParseError;
    fn from_str(s: &str) -> Result<Self, ParseError> {
        let s = s.trim().replace("\r\n", "\n").replace('\r', "\n");
        if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(ParseError::new(
                "comment",
                "no control characters other than line breaks and tabs",
            ));
        }
        if !(1..=2000).contains(&s.chars().count()) {
            return Err(ParseError::new("comment", "expected 1 to 2000 characters"));
        }
        Ok(Self(s))
    }
}

impl fmt::Display for ReviewComment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

string_wire_type!(
    ReviewComment,
    description = "1 to 2000 characters after trimming.",
    example = "Пациент доставлен без сознания; доступ обоснован.",
    min_length = 1,
    max_length = 2000
);
redacted_debug!(ReviewComment);

/// `POST /v1/break-glass/reviews/{grant_id}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReviewRequest {
    pub decision: ReviewDecision,
    pub comment: ReviewComment,
}

/// The deadlines of an incident that a review opened.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentOpened {
    pub incident_id: Uuid,
    pub detected_at: i64,
    /// detected_at + 24 h.
    pub notify_roskomnadzor_by: i64,
    /// detected_at + 72 h.
    pub results_by: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ReviewResponse {
    pub review_id: Uuid,
    pub grant_id: Uuid,
    pub decision: ReviewDecision,
    pub state: ReviewState,
    pub reviewed_at: i64,
    /// Present when this review was `unjustified`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<IncidentOpened>,
}

/// Where an incident stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum IncidentStatus {
    /// Roskomnadzor not notified yet.
    Open,
    /// Notified; the investigation's results are not sent yet.
    Notified,
    /// Results sent.
    Closed,
}

/// `GET /v1/incidents`: all incidents, or those in one status; newest first.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct IncidentsQuery {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<IncidentStatus>,
}

/// One audit event taken as evidence: its place in the chain and its hash at detection.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceEvent {
    pub seq: i64,
    /// Hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entry_hash: Option<String>,
}

/// A signed chain head whose sequence number covers every evidence event.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct EvidenceCheckpoint {
    pub seq: i64,
    /// Hex.
    pub head_hash: String,
    /// The token's MAC over the head, hex.
    pub mac: String,
    pub created_at: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct IncidentEvidence {
    /// The window searched: the grant's start to its end (or expiry, or revocation).
    pub from: i64,
    pub until: i64,
    pub events: Vec<EvidenceEvent>,
    /// The newest checkpoint, when it covers the last evidence event; absent until one does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<EvidenceCheckpoint>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Incident {
    pub incident_id: Uuid,
    pub grant_id: Uuid,
    pub review_id: Uuid,
    pub doctor_staff_id: String,
    /// The patient's vault-staff token.
    pub patient_token: PatientToken,
    pub detected_at: i64,
    pub notify_roskomnadzor_by: i64,
    pub results_by: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub results_sent_at: Option<i64>,
    pub status: IncidentStatus,
    /// Not notified, and the 24-hour deadline has passed.
    pub overdue_24h: bool,
    /// Results not sent, and the 72-hour deadline has passed.
    pub overdue_72h: bool,
    pub evidence: IncidentEvidence,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ListIncidentsResponse {
    pub incidents: Vec<Incident>,
}

/// Records when a step of an incident happened: `at` (Unix seconds, default now) may not be in
/// the future or before the incident's detection.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IncidentMilestoneRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at: Option<i64>,
}

/// `GET /v1/patients/{token}/access-report`: newest first; times in Unix seconds.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, IntoParams)]
#[serde(try_from = "AccessReportQueryWire")]
#[into_params(parameter_in = Query)]
pub struct AccessReportQuery {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
    /// The last `seq` of the previous page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after_seq: Option<i64>,
    /// 1 to 500; default 100.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccessReportQueryWire {
    from: Option<i64>,
    until: Option<i64>,
    after_seq: Option<i64>,
    limit: Option<u32>,
}

impl TryFrom<AccessReportQueryWire> for AccessReportQuery {
    type Error = ParseError;
    fn try_from(w: AccessReportQueryWire) -> Result<Self, ParseError> {
        time_window(w.from, w.until)?;
        Ok(Self {
            from: w.from,
            until: w.until,
            after_seq: w.after_seq,
            limit: page_limit(w.limit)?,
        })
    }
}

impl AccessReportQuery {
    /// The page size, the default applied.
    pub fn page_size(&self) -> u32 {
        self.limit.unwrap_or(DEFAULT_PAGE)
    }

    pub fn keys_used(&self) -> Vec<&'static str> {
        [
            ("from", self.from.is_some()),
            ("until", self.until.is_some()),
            ("after_seq", self.after_seq.is_some()),
            ("limit", self.limit.is_some()),
        ]
        .into_iter()
        .filter_map(|(k, used)| used.then_some(k))
        .collect()
    }
}

/// One access to the patient's data: who (by role and branch), what, why and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessReportEntry {
    pub seq: i64,
    pub at: i64,
    /// `doctor`, `receptionist`, ..., or `service`.
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branch: Option<String>,
    /// For a service: its domain, e.g. `clinic-app`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service: Option<String>,
    pub action: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason_code: Option<String>,
    pub decision: String,
    /// The staff id; given to the security officer only, never to the patient.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staff_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AccessReportResponse {
    pub entries: Vec<AccessReportEntry>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_after_seq: Option<i64>,
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn query(q: &str) -> Result<AuditQuery, String> {
        let pairs: Vec<(String, String)> = q
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (k, v) = p.split_once('=').unwrap_or((p, ""));
                (k.to_owned(), v.to_owned())
            })
            .collect();
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .into_iter()
            .map(|(k, v)| {
                let v = v.parse::<i64>().map_or(json!(v), |n| json!(n));
                (k, v)
            })
            .collect();
        serde_json::from_value(serde_json::Value::Object(map)).map_err(|e| e.to_string())
    }

    #[test]
    fn audit_query_checks_its_values_and_names_keys_only() {
        let q =
            query("from=10&until=20&action=read_record&decision=deny&purpose=treatment&limit=500")
                .unwrap();
        assert_eq!(q.decision, Some(AuditDecision::Deny));
        assert_eq!(q.purpose, Some(Purpose::Treatment));
        assert_eq!(
            q.keys_used(),
            ["from", "until", "action", "decision", "purpose", "limit"]
        );
        for (bad, what) in [
            ("from=20&until=10", "invalid until"),
            ("limit=501", "invalid limit"),
            ("limit=0", "invalid limit"),
            ("purpose=gossip", "invalid purpose"),
            ("patient_token=pt_x", "invalid patient token"),
            ("colour=red", "unknown field"),
        ] {
            let err = query(bad).unwrap_err();
            assert!(err.starts_with(what), "{bad}: {err}");
        }
        assert!(query("principal=two words").is_err());
        assert!(!query("purpose=gossip").unwrap_err().contains("gossip"));
    }

    #[test]
    fn review_comment_and_request() {
        let r: ReviewRequest = serde_json::from_value(
            json!({"decision": "needs_info", "comment": "  Уточните показания \r\n "}),
        )
        .unwrap();
        assert_eq!(r.comment.as_str(), "Уточните показания");
        assert!(!r.decision.is_final());
        assert!(format!("{r:?}").contains("ReviewComment(redacted)"));
        for bad in [
            json!({"decision": "justified", "comment": "   "}),
            json!({"decision": "justified", "comment": "x".repeat(2001)}),
            json!({"decision": "maybe", "comment": "ok"}),
            json!({"decision": "justified", "comment": "ok", "extra": 1}),
        ] {
            assert!(
                serde_json::from_value::<ReviewRequest>(bad.clone()).is_err(),
                "{bad}"
            );
        }
        assert!(
            serde_json::from_value::<ReviewRequest>(
                json!({"decision": "justified", "comment": "x".repeat(2000)})
            )
            .is_ok()
        );
    }
}
