//! Patients as the vault's consumers see them: registered with an identity, known by pseudonym
//! tokens per consumer domain, found by blind index, resolved field by field under policy.
//!
//! Every decision is written to the audit before any data leaves: the audit rows are committed
//! (in the same transaction as a write, or on their own before a read is decrypted), and a
//! failed commit fails the request.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use policy::{Action, FieldClass, Obligation, PolicyEngine, Purpose};
use thiserror::Error;

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::crypto::SealContext;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::identity;
use crate::domain::principal::{Principal, RequestMeta};
use crate::domain::sealing::{SealedData, VaultError};
use crate::ids::{PatientId, RecordId};
use crate::keys::PatientKeys;
use crate::keys::dek::SubkeyPurpose;
use crate::keys::system::{BlindKind, VaultKeys};
use crate::store::{self, StoreError};

/// The identity fields, their class, and nothing else: an unknown field cannot be stored.
pub const FIELDS: [(&str, FieldClass); 12] = [
    ("surname", FieldClass::Identity),
    ("name", FieldClass::Identity),
    ("patronymic", FieldClass::Identity),
    ("birth_date", FieldClass::Identity),
    ("sex", FieldClass::Identity),
    ("phones", FieldClass::Contact),
    ("email", FieldClass::Contact),
    ("address", FieldClass::Contact),
    ("snils", FieldClass::Document),
    ("passport", FieldClass::Document),
    ("inn", FieldClass::Document),
    ("full_name", FieldClass::Identity),
];

/// The fields `full_name` is made of, in its order.
const NAME_PARTS: [&str; 3] = ["surname", "name", "patronymic"];

pub fn field_class(field: &str) -> Option<FieldClass> {
    FIELDS.iter().find(|(f, _)| *f == field).map(|(_, c)| *c)
}

/// Identity fields sealed under the patient's DEK share this record id in their AAD, with the
/// field name and its version.
const IDENTITY_RECORD: RecordId = RecordId::nil();

/// Already validated identity data, as the domain takes it: field values as JSON, and the
/// normalised values to index.
#[derive(Default)]
pub struct IdentityInput {
    /// `Some(value)` sets a field; `None` clears an optional one.
    pub fields: Vec<(&'static str, Option<serde_json::Value>)>,
    /// Blind-index kinds to replace, with their normalised values (empty: remove the index).
    pub blind: Vec<(BlindKind, Vec<String>)>,
    /// The parts of the name and the birth date an update changes: the combined index and
    /// `full_name` are recomputed with the stored values of the others.
    pub name_change: Option<NameChange>,
}

/// New values of the parts `full_name` and the surname/name/birth index are made of; `None`
/// keeps the stored one.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct NameChange {
    pub surname: Option<String>,
    pub name: Option<String>,
    pub patronymic: Option<String>,
    pub birth_date: Option<String>,
}

#[derive(Debug, Error)]
pub enum PatientError {
    #[error("the policy does not allow this")]
    Forbidden { reasons: Vec<String> },
    #[error("no such patient token in your domain")]
    UnknownToken,
    #[error("someone else changed this at the same moment; read it again and retry")]
    Conflict,
    #[error("a correction must keep the record's kind")]
    KindMismatch,
    #[error("doctor_staff_id names no active doctor")]
    UnknownDoctor,
    #[error("a care relationship may cover at most 90 days")]
    WindowTooLong,
    #[error(transparent)]
    Vault(#[from] VaultError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a resolve gives for one field.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldAnswer {
    Shown(serde_json::Value),
    Masked(serde_json::Value),
    Withheld(String),
}

pub struct ResolvedPatient {
    pub token: String,
    pub found: bool,
    pub fields: BTreeMap<String, FieldAnswer>,
}

pub struct Patients {
    sealed: Arc<SealedData>,
    audit: AuditWriter,
    /// Token to patient, per domain. A mapping never changes while it exists; unlinking a
    /// domain (patient rights) must clear it here.
    token_cache: std::sync::Mutex<lru::LruCache<(policy::ConsumerDomain, String), PatientId>>,
    keys: Arc<VaultKeys>,
    policy: Arc<PolicyEngine>,
    clock: Arc<dyn Clock>,
}

fn new_token() -> Result<String, PatientError> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes).map_err(|_| PatientError::Vault(VaultError::Seal))?;
    Ok(vault_wire::PatientToken::from_random(bytes).to_string())
}

fn seal_field(
    keys: &PatientKeys,
    suite: crate::crypto::Suite,
    patient: PatientId,
    field: &str,
    version: u32,
    value: &serde_json::Value,
) -> Result<Vec<u8>, VaultError> {
    let bytes = zeroize::Zeroizing::new(serde_json::to_vec(value).map_err(|_| VaultError::Seal)?);
    let ctx = SealContext {
        patient: &patient,
        record: &IDENTITY_RECORD,
        record_version: version,
        field,
    };
    keys.seal(suite, SubkeyPurpose::RecordSealing, &ctx, &bytes)
        .map_err(|_| VaultError::Seal)
}

/// Shows the last four characters of a document number; the rest becomes `*`.
pub fn mask(value: &serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::String(s) => {
            let chars: Vec<char> = s.chars().collect();
            let keep = chars.len().saturating_sub(4);
            let masked: String = chars
                .iter()
                .enumerate()
                .map(|(i, c)| {
                    if i < keep && c.is_ascii_alphanumeric() {
                        '*'
                    } else {
                        *c
                    }
                })
                .collect();
            serde_json::Value::String(masked)
        }
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.iter().map(mask).collect())
        }
        _ => serde_json::Value::String("****".into()),
    }
}

impl Patients {
    pub fn new(
        sealed: Arc<SealedData>,
        audit: AuditWriter,
        keys: Arc<VaultKeys>,
        policy: Arc<PolicyEngine>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self {
            sealed,
            audit,
            token_cache: std::sync::Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(100_000).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            keys,
            policy,
            clock,
        }
    }

    fn trail<'a>(&self, principal: &'a Principal, meta: &'a RequestMeta) -> AuditTrail<'a> {
        AuditTrail::now(principal, meta, &*self.clock)
    }

    /// Records a denial and returns the error to give the caller.
    async fn deny(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        action: Action,
        token: Option<&str>,
        reasons: Vec<String>,
    ) -> PatientError {
        let row = self.trail(principal, meta).event(
            action.as_str(),
            token,
            None,
            None,
            Outcome::Deny,
            &reasons,
        );
        let written = self.audit.record(vec![row]).await;
        match written {
            Ok(()) => PatientError::Forbidden { reasons },
            Err(e) => PatientError::Store(e),
        }
    }

    /// Registers a patient: DEK, sealed fields, blind indexes, a token in the caller's domain and
    /// the audit event, all in one transaction.
    pub async fn register(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        identity: IdentityInput,
    ) -> Result<String, PatientError> {
        let decision = self
            .policy
            .decide(&principal.access_request().action(Action::RegisterPatient));
        if !decision.allowed {
            return Err(self
                .deny(
                    principal,
                    meta,
                    Action::RegisterPatient,
                    None,
                    decision.reasons,
                )
                .await);
        }
        let new = self.sealed.prepare_patient().await?;
        let token = new_token()?;
        let now = self.clock.unix_seconds();
        let db = self.sealed.db();
        let mut tx = db.begin().await?;
        store::keys::insert_patient(&mut tx, new.patient, new.dek_version, &new.wrapped, now)
            .await?;
        for (field, value) in &identity.fields {
            if let Some(value) = value {
                let envelope =
                    seal_field(&new.keys, self.sealed.suite(), new.patient, field, 1, value)?;
                let row = store::patients::StoredField {
                    patient: new.patient,
                    field: (*field).to_owned(),
                    version: 1,
                    envelope,
                };
                store::patients::upsert_field(&mut tx, &row, now).await?;
            }
        }
        self.write_blind(&mut tx, new.patient, &identity.blind)
            .await?;
        store::patients::insert_token(
            &mut tx,
            &token,
            principal.token_domain().as_str(),
            new.patient,
            now,
        )
        .await?;
        let row = self.trail(principal, meta).event(
            Action::RegisterPatient.as_str(),
            Some(&token),
            None,
            None,
            Outcome::Permit,
            &decision.reasons,
        );
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        self.sealed.remember(&new);
        Ok(token)
    }

    async fn write_blind(
        &self,
        tx: &mut store::Transaction,
        patient: PatientId,
        blind: &[(BlindKind, Vec<String>)],
    ) -> Result<(), StoreError> {
        for (kind, values) in blind {
            store::patients::delete_blind_indexes(tx, kind.as_str(), patient).await?;
            for value in values {
                let digest = self.keys.blind_index(*kind, value);
                store::patients::insert_blind_index(tx, kind.as_str(), &digest, patient).await?;
            }
        }
        Ok(())
    }

    /// The patient behind a token of the caller's domain.
    pub async fn patient_of(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<PatientId, PatientError> {
        let domain = principal.token_domain();
        let key = (domain, token.to_owned());
        if let Some(p) = self
            .token_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
        {
            return Ok(*p);
        }
        let found = self.lookup_token(principal, token).await?;
        self.token_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .put(key, found);
        Ok(found)
    }

    /// Whether the patient behind `token` asked for deletion, so only what the law keeps is
    /// left. False for an unknown token: the caller's own lookup reports that.
    pub async fn retention_only(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<bool, PatientError> {
        match self.patient_of(principal, token).await {
            Ok(p) => Ok(!store::rights::restricted_among(self.sealed.db(), &[p])
                .await?
                .is_empty()),
            Err(PatientError::UnknownToken) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// Forgets every cached token mapping: after tokens were unlinked (a deletion request), a
    /// cached mapping must not outlive them in this process.
    pub fn forget_tokens(&self) {
        self.token_cache
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clear();
    }

    async fn lookup_token(
        &self,
        principal: &Principal,
        token: &str,
    ) -> Result<PatientId, PatientError> {
        let found = store::patients::patients_by_tokens(
            self.sealed.db(),
            principal.token_domain().as_str(),
            &[token.to_owned()],
        )
        .await?;
        found
            .into_iter()
            .next()
            .map(|(_, p)| p)
            .ok_or(PatientError::UnknownToken)
    }

    /// Updates some fields; each changed field gets the next version. Returns the fields changed.
    pub async fn update(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        token: &str,
        identity: IdentityInput,
    ) -> Result<Vec<String>, PatientError> {
        let request = principal
            .access_request()
            .action(Action::UpdatePatient)
            .patient(token, principal.token_domain())
            .retention_only(self.retention_only(principal, token).await?);
        let decision = self.policy.decide(&request);
        if !decision.allowed {
            return Err(self
                .deny(
                    principal,
                    meta,
                    Action::UpdatePatient,
                    Some(token),
                    decision.reasons,
                )
                .await);
        }
        let patient = self.patient_of(principal, token).await?;
        let keys = self.sealed.current_keys(patient).await?;
        let mut identity = identity;
        if let Some(change) = identity.name_change.take() {
            let stored = self
                .open_fields(
                    &keys,
                    patient,
                    &["surname", "name", "patronymic", "birth_date"],
                )
                .await?;
            let part = |new: &Option<String>, field: &str| {
                new.clone().or_else(|| {
                    stored
                        .get(field)
                        .and_then(|v| v.as_str())
                        .map(str::to_owned)
                })
            };
            let (surname, name) = (part(&change.surname, "surname"), part(&change.name, "name"));
            let patronymic = part(&change.patronymic, "patronymic");
            let birth_date = part(&change.birth_date, "birth_date");
            let renamed = change.surname.is_some() || change.name.is_some();
            if (renamed || change.birth_date.is_some())
                && let (Some(s), Some(n), Some(b)) = (&surname, &name, &birth_date)
            {
                let key = identity::name_birth_key(s, n, b);
                identity.blind.push((BlindKind::NameBirth, vec![key]));
            }
            if (renamed || change.patronymic.is_some())
                && let (Some(s), Some(n)) = (&surname, &name)
            {
                let full = identity::full_name(s, n, patronymic.as_deref());
                identity
                    .fields
                    .push(("full_name", Some(serde_json::Value::String(full))));
            }
        }
        let now = self.clock.unix_seconds();
        let mut tx = self.sealed.db().begin().await?;
        let versions: HashMap<String, u32> = store::patients::field_versions(&mut tx, patient)
            .await?
            .into_iter()
            .collect();
        let mut changed = Vec::new();
        for (field, value) in &identity.fields {
            match value {
                Some(value) => {
                    let version = versions.get(*field).copied().unwrap_or(0) + 1;
                    let envelope =
                        seal_field(&keys, self.sealed.suite(), patient, field, version, value)?;
                    let row = store::patients::StoredField {
                        patient,
                        field: (*field).to_owned(),
                        version,
                        envelope,
                    };
                    store::patients::upsert_field(&mut tx, &row, now).await?;
                }
                None => store::patients::delete_field(&mut tx, patient, field).await?,
            }
            changed.push((*field).to_owned());
        }
        self.write_blind(&mut tx, patient, &identity.blind).await?;
        let row = self.trail(principal, meta).event(
            Action::UpdatePatient.as_str(),
            Some(token),
            None,
            None,
            Outcome::Permit,
            &decision.reasons,
        );
        self.audit.append_in(&mut tx, &[row]).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Exact-match search on one blind index; answers tokens of the caller's domain, issuing a
    /// token where the patient has none there yet.
    pub async fn search(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        kind: BlindKind,
        normalised: &str,
    ) -> Result<Vec<String>, PatientError> {
        let decision = self
            .policy
            .decide(&principal.access_request().action(Action::Search));
        if !decision.allowed {
            return Err(self
                .deny(principal, meta, Action::Search, None, decision.reasons)
                .await);
        }
        let db = self.sealed.db();
        let digest = self.keys.blind_index(kind, normalised);
        let found = store::patients::find_by_blind_index(db, kind.as_str(), &digest).await?;
        let mut live = Vec::with_capacity(found.len());
        for p in found {
            if !matches!(
                store::keys::patient_dek(db, p, 1).await?,
                store::keys::PatientKeyState::Shredded | store::keys::PatientKeyState::Unknown
            ) {
                live.push(p);
            }
        }
        self.issue_tokens(principal, meta, &live, &decision.reasons)
            .await
    }

    /// The caller-domain tokens of these patients, issuing the missing ones, with one audit
    /// row per token (or one `no_match` row), committed before the tokens leave.
    async fn issue_tokens(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patients: &[PatientId],
        reasons: &[String],
    ) -> Result<Vec<String>, PatientError> {
        // Two searches for the same new patient can race to issue its token: the loser reads
        // the winner's token and goes on.
        match self
            .issue_tokens_once(principal, meta, patients, reasons)
            .await
        {
            Err(PatientError::Store(StoreError::Conflict)) => {
                self.issue_tokens_once(principal, meta, patients, reasons)
                    .await
            }
            other => other,
        }
    }

    async fn issue_tokens_once(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        patients: &[PatientId],
        reasons: &[String],
    ) -> Result<Vec<String>, PatientError> {
        let db = self.sealed.db();
        let domain = principal.token_domain();
        let known = store::patients::tokens_of(db, domain.as_str(), patients).await?;
        let now = self.clock.unix_seconds();
        let mut tx = db.begin().await?;
        let mut tokens: Vec<String> = Vec::with_capacity(patients.len());
        for p in patients {
            match known.iter().find(|(_, q)| q == p) {
                Some((t, _)) => tokens.push(t.clone()),
                None => {
                    let t = new_token()?;
                    store::patients::insert_token(&mut tx, &t, domain.as_str(), *p, now).await?;
                    tokens.push(t);
                }
            }
        }
        let trail = self.trail(principal, meta);
        let mut rows: Vec<_> = tokens
            .iter()
            .map(|t| {
                trail.event(
                    Action::Search.as_str(),
                    Some(t),
                    None,
                    None,
                    Outcome::Permit,
                    reasons,
                )
            })
            .collect();
        if rows.is_empty() {
            rows.push(trail.event(
                Action::Search.as_str(),
                None,
                None,
                None,
                Outcome::Permit,
                &["no_match".into()],
            ));
        }
        self.audit.append_in(&mut tx, &rows).await?;
        tx.commit().await?;
        Ok(tokens)
    }

    /// Resolves many tokens at once: per token and field class a policy decision, all audited
    /// in one commit before anything is decrypted.
    pub async fn resolve(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
        tokens: &[String],
        fields: &[&'static str],
        purpose: Purpose,
    ) -> Result<Vec<ResolvedPatient>, PatientError> {
        let db = self.sealed.db();
        let domain = principal.token_domain();
        // One statement reads every token's patient, key state and sealed fields; nothing is
        // opened before the decisions are audited.
        let mut found = store::patients::resolve_batch(
            db,
            domain.as_str(),
            tokens,
            fields,
            self.sealed.current_dek_version(),
        )
        .await?;
        if fields.contains(&"full_name") {
            self.read_name_parts_where_no_full_name(domain.as_str(), tokens, &mut found)
                .await?;
        }
        let classes: Vec<FieldClass> = {
            let mut c: Vec<FieldClass> = fields.iter().filter_map(|f| field_class(f)).collect();
            c.sort();
            c.dedup();
            c
        };
        // A purpose that rests on consent (reminders, the patient app, marketing) needs the
        // patient's consent in force: one query for the whole batch.
        let consenting: HashSet<PatientId> = match purpose.required_consent() {
            None => HashSet::new(),
            Some(needed) => {
                let ids: Vec<PatientId> = found.iter().flatten().map(|e| e.patient).collect();
                store::rights::consents_in_force(db, &ids)
                    .await?
                    .into_iter()
                    .filter(|(_, held)| held.contains(needed.as_str()))
                    .map(|(p, _)| p)
                    .collect()
            }
        };
        let trail = self.trail(principal, meta);
        // Tokens with the same outcome and reasons share one audit event that lists them.
        let mut shared = SharedEvents::default();
        // The decisions depend on the facts, not on which token: a batch of a service's tokens
        // (the same facts for all) costs one decision per class, and its audit reasons are
        // written out once.
        let mut decided: HashMap<FactKey, BatchDecision> = HashMap::new();
        let mut decision_of: Vec<Option<FactKey>> = Vec::with_capacity(tokens.len());
        for (token, entry) in tokens.iter().zip(&found) {
            let Some(entry) = entry else {
                shared.add(token, Outcome::Deny, None, "unknown_token".into());
                decision_of.push(None);
                continue;
            };
            let facts = self.facts(principal, entry.patient).await?;
            let consented =
                purpose.required_consent().is_some() && consenting.contains(&entry.patient);
            let key = FactKey {
                care: facts.care,
                break_glass: facts.break_glass,
                retention_only: facts.retention_only,
                consented,
            };
            let d = decided.entry(key).or_insert_with(|| {
                BatchDecision::decide(&classes, |class| {
                    let request = principal
                        .access_request()
                        .action(Action::Resolve)
                        .patient(token.clone(), domain)
                        .purpose(purpose)
                        .field_class(class)
                        .care_relationship(facts.care)
                        .break_glass(facts.break_glass)
                        .retention_only(facts.retention_only)
                        .consents(purpose.required_consent().filter(|_| consented));
                    self.policy.decide(&request)
                })
            });
            let grant = facts.under_break_glass();
            let reasons = match grant {
                Some(g) => format!("{}; grant:{}", d.reasons, g.grant_id),
                None => d.reasons.clone(),
            };
            if d.notify {
                tracing::warn!(target: "security", action = "resolve", "break-glass access to a patient's identity");
            }
            shared.add(
                token,
                if d.any {
                    Outcome::Permit
                } else {
                    Outcome::Deny
                },
                grant.map(|g| g.reason_code.clone()),
                reasons,
            );
            decision_of.push(Some(key));
        }
        let rows = shared
            .groups
            .iter()
            .map(|((outcome, reason_code, reasons), tokens)| {
                trail.shared_event(
                    Action::Resolve.as_str(),
                    tokens,
                    Some(purpose.as_str()),
                    reason_code.as_deref(),
                    *outcome,
                    std::slice::from_ref(reasons),
                )
            })
            .collect();
        self.audit.record(rows).await?;

        // Only now open what was allowed.
        let mut out = Vec::with_capacity(tokens.len());
        for ((token, entry), key) in tokens.iter().zip(&found).zip(decision_of) {
            let not_found = || ResolvedPatient {
                token: token.clone(),
                found: false,
                fields: BTreeMap::new(),
            };
            let (Some(entry), Some(d)) = (entry, key.and_then(|k| decided.get(&k))) else {
                out.push(not_found());
                continue;
            };
            let keys = if d.any {
                match self.sealed.keys_from(entry.patient, &entry.keys).await {
                    Ok(k) => Some(k),
                    // One destroyed patient does not fail the whole batch.
                    Err(VaultError::PatientShredded) => {
                        out.push(not_found());
                        continue;
                    }
                    Err(e) => return Err(e.into()),
                }
            } else {
                None
            };
            let mut answers = BTreeMap::new();
            for field in fields {
                let Some(class) = field_class(field) else {
                    continue;
                };
                let Some((_, decision, withheld)) = d.per_class.iter().find(|(c, ..)| *c == class)
                else {
                    continue;
                };
                let value = match (&keys, decision.allowed) {
                    (Some(keys), true) => open_resolved(keys, entry, field)?,
                    _ => None,
                };
                let answer = match value {
                    _ if !decision.allowed => FieldAnswer::Withheld(withheld.clone()),
                    Some(value) if decision.obligations.contains(&Obligation::Mask) => {
                        FieldAnswer::Masked(mask(&value))
                    }
                    Some(value) => FieldAnswer::Shown(value),
                    None => FieldAnswer::Withheld("not_recorded".into()),
                };
                answers.insert((*field).to_owned(), answer);
            }
            out.push(ResolvedPatient {
                token: token.clone(),
                found: true,
                fields: answers,
            });
        }
        Ok(out)
    }

    /// Patients registered before `full_name` was sealed have none: for those found without it,
    /// one more statement reads the parts it is made of, and the answer composes it from them.
    /// Nothing is read for a batch where every patient has it.
    async fn read_name_parts_where_no_full_name(
        &self,
        domain: &str,
        tokens: &[String],
        found: &mut [Option<store::patients::ResolveEntry>],
    ) -> Result<(), PatientError> {
        let without: Vec<usize> = found
            .iter()
            .enumerate()
            .filter(|(_, e)| {
                e.as_ref()
                    .is_some_and(|e| !e.fields.iter().any(|f| f.field == "full_name"))
            })
            .map(|(i, _)| i)
            .collect();
        if without.is_empty() {
            return Ok(());
        }
        let asked: Vec<String> = without.iter().map(|&i| tokens[i].clone()).collect();
        let parts = store::patients::resolve_batch(
            self.sealed.db(),
            domain,
            &asked,
            &NAME_PARTS,
            self.sealed.current_dek_version(),
        )
        .await?;
        for (i, part) in without.into_iter().zip(parts) {
            if let (Some(entry), Some(part)) = (found[i].as_mut(), part) {
                let missing: Vec<_> = part
                    .fields
                    .into_iter()
                    .filter(|p| !entry.fields.iter().any(|f| f.field == p.field))
                    .collect();
                entry.fields.extend(missing);
            }
        }
        Ok(())
    }

    /// A doctor's patients: those with a live care relationship, as the doctor's tokens.
    pub async fn in_my_care(
        &self,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<Vec<String>, PatientError> {
        let Principal::Staff(staff) = principal else {
            let reasons = vec!["only staff have patients in care".to_owned()];
            return Err(self
                .deny(principal, meta, Action::Search, None, reasons)
                .await);
        };
        let decision = self
            .policy
            .decide(&principal.access_request().action(Action::Search));
        if !decision.allowed {
            return Err(self
                .deny(principal, meta, Action::Search, None, decision.reasons)
                .await);
        }
        let patients = store::care::patients_in_care(
            self.sealed.db(),
            &staff.staff_id,
            self.clock.unix_seconds(),
        )
        .await?;
        self.issue_tokens(principal, meta, &patients, &decision.reasons)
            .await
    }

    /// Opens some stored fields of one patient, for the vault's own use (index upkeep).
    pub(crate) async fn open_fields(
        &self,
        keys: &PatientKeys,
        patient: PatientId,
        fields: &[&str],
    ) -> Result<HashMap<String, serde_json::Value>, PatientError> {
        let mut out = HashMap::new();
        for row in store::patients::fields_of(self.sealed.db(), &[patient], fields).await? {
            let ctx = SealContext {
                patient: &patient,
                record: &IDENTITY_RECORD,
                record_version: row.version,
                field: &row.field,
            };
            let bytes = keys
                .open(SubkeyPurpose::RecordSealing, &ctx, &row.envelope)
                .map_err(VaultError::from)?;
            let value = serde_json::from_slice(&bytes)
                .map_err(|_| StoreError::Corrupt("identity field is not JSON".into()))?;
            out.insert(row.field, value);
        }
        Ok(out)
    }

    /// The live facts the policy needs about this principal and patient.
    pub async fn facts(
        &self,
        principal: &Principal,
        patient: PatientId,
    ) -> Result<Facts, StoreError> {
        let Principal::Staff(staff) = principal else {
            return Ok(Facts::default());
        };
        let db = self.sealed.db();
        let now = self.clock.unix_seconds();
        let f = store::care::staff_facts(db, &staff.staff_id, patient, now).await?;
        Ok(Facts::of_staff(f))
    }
}

/// One identity field of a resolved patient, opened: `None` when the patient has none.
/// `full_name` of a patient registered before it was sealed is composed from its parts.
fn open_resolved(
    keys: &PatientKeys,
    entry: &store::patients::ResolveEntry,
    field: &str,
) -> Result<Option<serde_json::Value>, PatientError> {
    let open = |field: &str| -> Result<Option<serde_json::Value>, PatientError> {
        let Some(row) = entry.fields.iter().find(|r| r.field == field) else {
            return Ok(None);
        };
        let ctx = SealContext {
            patient: &entry.patient,
            record: &IDENTITY_RECORD,
            record_version: row.version,
            field,
        };
        let bytes = keys
            .open(SubkeyPurpose::RecordSealing, &ctx, &row.envelope)
            .map_err(VaultError::from)?;
        let value = serde_json::from_slice(&bytes)
            .map_err(|_| StoreError::Corrupt("identity field is not JSON".into()))?;
        Ok(Some(value))
    };
    match open(field)? {
        None if field == "full_name" => {
            let text =
                |field: &str| open(field).map(|v| v.and_then(|v| v.as_str().map(str::to_owned)));
            Ok(match (text(NAME_PARTS[0])?, text(NAME_PARTS[1])?) {
                (Some(surname), Some(name)) => {
                    let patronymic = text(NAME_PARTS[2])?;
                    Some(serde_json::Value::String(identity::full_name(
                        &surname,
                        &name,
                        patronymic.as_deref(),
                    )))
                }
                _ => None,
            })
        }
        value => Ok(value),
    }
}

/// A resolve's audit events, one per distinct (outcome, reason code, reasons), each with the
/// tokens it covers in the order they were asked for.
#[derive(Default)]
struct SharedEvents<'t> {
    groups: Vec<(SharedDecision, Vec<&'t str>)>,
}

/// What the tokens of one shared event have in common: outcome, reason code, reasons.
type SharedDecision = (Outcome, Option<String>, String);

impl<'t> SharedEvents<'t> {
    fn add(
        &mut self,
        token: &'t str,
        outcome: Outcome,
        reason_code: Option<String>,
        reasons: String,
    ) {
        let key = (outcome, reason_code, reasons);
        // A handful of groups at most (unknown, permitted, refused for want of consent; a
        // grant's id makes its own): a scan is cheaper than hashing the reasons.
        match self.groups.iter_mut().find(|(k, _)| *k == key) {
            Some((_, tokens)) => tokens.push(token),
            None => self.groups.push((key, vec![token])),
        }
    }
}

/// The facts a resolve decision rests on; tokens that share them share the decision.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct FactKey {
    care: bool,
    break_glass: bool,
    retention_only: bool,
    consented: bool,
}

/// One set of facts decided for every class a resolve asked for.
struct BatchDecision {
    /// Per class: the decision and, when it denies, the reason the answer gives.
    per_class: Vec<(FieldClass, policy::Decision, String)>,
    /// The audit reasons, `class:permit(...)` per class.
    reasons: String,
    /// Whether any class is allowed (the event's outcome, and whether keys are needed).
    any: bool,
    /// A break-glass read: the security officer is told.
    notify: bool,
}

impl BatchDecision {
    fn decide(classes: &[FieldClass], decide: impl Fn(FieldClass) -> policy::Decision) -> Self {
        let per_class: Vec<_> = classes
            .iter()
            .map(|&class| {
                let d = decide(class);
                let withheld = format!("policy: {}", d.reasons.join(","));
                (class, d, withheld)
            })
            .collect();
        let notify = per_class
            .iter()
            .any(|(_, d, _)| d.obligations.contains(&Obligation::NotifySecurityOfficer));
        let reasons = per_class
            .iter()
            .map(|(class, d, _)| {
                format!(
                    "{}:{}({})",
                    class.as_str(),
                    if d.allowed { "permit" } else { "deny" },
                    d.reasons.join(",")
                )
            })
            .chain(notify.then(|| "obligation:notify_security_officer".to_owned()))
            .collect::<Vec<_>>()
            .join("; ");
        Self {
            any: per_class.iter().any(|(_, d, _)| d.allowed),
            notify,
            per_class,
            reasons,
        }
    }
}

#[derive(Debug, Default, Clone)]
pub struct Facts {
    pub care: bool,
    pub break_glass: bool,
    /// The live grant, when there is one.
    pub grant: Option<store::care::LiveGrant>,
    /// The patient asked for deletion; what is left is kept by law (staff only: a service's
    /// tokens of such a patient are unlinked).
    pub retention_only: bool,
}

impl Facts {
    /// A member of staff's facts as the store read them.
    pub fn of_staff(f: store::care::StaffFacts) -> Self {
        Facts {
            care: f.care,
            break_glass: f.grant.is_some(),
            grant: f.grant,
            retention_only: f.restricted,
        }
    }

    /// The grant is what allows the access (no care relationship): the audit row carries its
    /// reason code and id, and the security officer is told.
    pub fn under_break_glass(&self) -> Option<&store::care::LiveGrant> {
        self.grant.as_ref().filter(|_| !self.care)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masking_keeps_the_last_four() {
        assert_eq!(
            mask(&serde_json::json!("112-233-445 95")),
            serde_json::json!("***-***-**5 95")
        );
        assert_eq!(
            mask(&serde_json::json!("4506 123456")),
            serde_json::json!("**** **3456")
        );
        assert_eq!(
            mask(&serde_json::json!(["+79123456789"])),
            serde_json::json!(["+*******6789"])
        );
    }
}
