//! Sign-in: staff passwords (argon2id) with a TOTP second factor for roles that read medical
//! data, short-lived revocable sessions, login throttling, and service credentials.
//!
//! Bearer secrets are random 256-bit values; only their SHA-256 is stored, so a copy of the
//! database lets nobody act as a session or a service. Staff passwords are low-entropy, so they
//! get argon2id instead.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use thiserror::Error;
use totp_rs::{Algorithm, Builder, Secret, Totp};
use zeroize::Zeroizing;

use crate::audit::AuditWriter;
use crate::clock::Clock;
use crate::domain::audit::{AuditTrail, Outcome};
use crate::domain::principal::{
    ConsumerDomain, Principal, RequestMeta, Role, StaffPrincipal, needs_totp,
};
use crate::ids::RecordId;
use crate::keys::system::VaultKeys;
use crate::store::staff::StaffRow;
use crate::store::{self, Database, StoreError};

pub const SESSION_PREFIX: &str = "vs_";
pub const SERVICE_PREFIX: &str = "svc.";
const FAILURES_BEFORE_LOCK: u32 = 5;
/// How long a checked credential is reused without asking the database.
const CREDENTIAL_CACHE_SECONDS: i64 = 5;
const THROTTLE_WINDOW: Duration = Duration::from_secs(15 * 60);

#[derive(Debug, Error)]
pub enum AuthError {
    /// Wrong user, password or TOTP code; deliberately one answer for all three.
    #[error("sign-in failed: wrong username, password or one-time code")]
    InvalidCredentials,
    #[error("this account needs a one-time code (TOTP)")]
    TotpRequired,
    #[error("too many failed sign-ins; try again in {0} seconds")]
    Throttled(u64),
    #[error("missing or invalid credentials")]
    Unauthenticated,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// A new session: the bearer secret is shown once, to the caller.
pub struct NewSession {
    pub secret: Zeroizing<String>,
    pub expires_at: i64,
    pub role: Role,
}

/// Failed sign-ins per username within the window.
#[derive(Default)]
struct Throttle {
    failures: HashMap<String, (u32, i64)>,
}

pub struct Auth {
    db: Database,
    audit: AuditWriter,
    keys: Arc<VaultKeys>,
    clock: Arc<dyn Clock>,
    session_ttl: Duration,
    throttle: Mutex<Throttle>,
    /// Credentials checked in the last CREDENTIAL_CACHE_SECONDS: SHA-256 of the bearer value to
    /// the principal, until when it may be reused, and the session's own expiry.
    recent: Mutex<lru::LruCache<Vec<u8>, (Principal, i64, i64)>>,
    /// The last TOTP time step accepted per staff member, so a code works once.
    totp_steps: Mutex<HashMap<String, u64>>,
    /// A valid hash to verify against when the username is unknown, so timing does not tell
    /// which usernames exist.
    decoy_hash: String,
}

fn sha256(bytes: &[u8]) -> Vec<u8> {
    Sha256::digest(bytes).to_vec()
}

fn random_secret() -> Result<Zeroizing<String>, AuthError> {
    let mut bytes = Zeroizing::new([0u8; 32]);
    getrandom::fill(bytes.as_mut())
        .map_err(|_| AuthError::Invalid("the random source failed".into()))?;
    Ok(Zeroizing::new(hex::encode(bytes.as_ref())))
}

pub fn hash_password(password: &str) -> Result<String, AuthError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|_| AuthError::Invalid("password could not be hashed".into()))
}

fn totp_for(seed: &[u8]) -> Result<Totp, AuthError> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(Secret::from(seed.to_vec()))
        .build()
        .map_err(|_| AuthError::Invalid("stored TOTP seed is unusable".into()))
}

fn owner_of(staff_id: &str) -> Result<RecordId, AuthError> {
    staff_id
        .parse()
        .map_err(|_| AuthError::Store(StoreError::Corrupt("staff_id is not an id".into())))
}

impl Auth {
    pub fn new(
        db: Database,
        audit: AuditWriter,
        keys: Arc<VaultKeys>,
        clock: Arc<dyn Clock>,
        session_ttl: Duration,
    ) -> Result<Self, AuthError> {
        let decoy_hash = hash_password("decoy password that matches nothing")?;
        Ok(Self {
            db,
            audit,
            keys,
            clock,
            session_ttl,
            throttle: Mutex::new(Throttle::default()),
            totp_steps: Mutex::new(HashMap::new()),
            recent: Mutex::new(lru::LruCache::new(
                std::num::NonZeroUsize::new(10_000).unwrap_or(std::num::NonZeroUsize::MIN),
            )),
            decoy_hash,
        })
    }

    fn throttled(&self, username: &str) -> Option<u64> {
        let now = self.clock.unix_seconds();
        let t = self.throttle.lock().unwrap_or_else(|p| p.into_inner());
        let window = THROTTLE_WINDOW.as_secs() as i64;
        match t.failures.get(username) {
            Some(&(n, since)) if n >= FAILURES_BEFORE_LOCK && now - since < window => {
                Some(u64::try_from(window - (now - since)).unwrap_or(0))
            }
            _ => None,
        }
    }

    fn note_failure(&self, username: &str) {
        let now = self.clock.unix_seconds();
        let mut t = self.throttle.lock().unwrap_or_else(|p| p.into_inner());
        let window = THROTTLE_WINDOW.as_secs() as i64;
        let entry = t.failures.entry(username.to_owned()).or_insert((0, now));
        if now - entry.1 >= window {
            *entry = (0, now);
        }
        entry.0 += 1;
    }

    fn note_success(&self, username: &str) {
        self.throttle
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .failures
            .remove(username);
    }

    /// Creates a staff account. Returns the staff id and, for roles that need it, the
    /// `otpauth://` URI of the new TOTP seed (shown once).
    pub async fn add_staff(
        &self,
        username: &str,
        password: &str,
        role: Role,
        branch: &str,
    ) -> Result<(String, Option<String>), AuthError> {
        // A plain charset keeps usernames out of trouble in URIs, logs and shells.
        let plain =
            |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-');
        if username.is_empty() || username.len() > 64 || !username.chars().all(plain) {
            return Err(AuthError::Invalid(
                "username must be 1 to 64 characters of a-z, 0-9, '.', '_' or '-'".into(),
            ));
        }
        if password.chars().count() < 12 {
            return Err(AuthError::Invalid(
                "password must be at least 12 characters".into(),
            ));
        }
        let staff_id = RecordId::random().to_string();
        let (totp_envelope, uri) = if needs_totp(role) {
            let mut seed = Zeroizing::new([0u8; 20]);
            getrandom::fill(seed.as_mut())
                .map_err(|_| AuthError::Invalid("the random source failed".into()))?;
            let sealed = self
                .keys
                .seal_staff_secret(&owner_of(&staff_id)?, "totp", seed.as_ref())
                .map_err(|_| AuthError::Invalid("TOTP seed could not be sealed".into()))?;
            let b32 = Secret::from(seed.to_vec()).to_base32();
            let uri = format!(
                "otpauth://totp/Medikamente:{username}?secret={b32}&issuer=Medikamente&algorithm=SHA1&digits=6&period=30"
            );
            (Some(sealed), Some(uri))
        } else {
            (None, None)
        };
        let row = StaffRow {
            staff_id: staff_id.clone(),
            username: username.to_owned(),
            password_hash: hash_password(password)?,
            role: role.as_str().to_owned(),
            branch: branch.to_owned(),
            totp_envelope,
            disabled_at: None,
            expires_at: None,
        };
        store::staff::insert_staff(&self.db, &row, self.clock.unix_seconds()).await?;
        // A change of rights: recorded like every access (FSTEC order 21, RSB).
        self.audit_rights(
            "add_staff",
            &[
                format!("staff:{staff_id}"),
                format!("role:{role}"),
                format!("branch:{branch}"),
            ],
        )
        .await?;
        Ok((staff_id, uri))
    }

    /// Issues a new secret for a service domain (replacing any earlier one). Shown once.
    pub async fn put_service(
        &self,
        domain: ConsumerDomain,
    ) -> Result<Zeroizing<String>, AuthError> {
        if domain == ConsumerDomain::VaultStaff {
            return Err(AuthError::Invalid(
                "vault-staff is the staff's own token domain, not a service: issue clinic-app or analytics"
                    .into(),
            ));
        }
        let secret = random_secret()?;
        let domain = domain.as_str();
        store::staff::put_service_credential(
            &self.db,
            domain,
            &sha256(secret.as_bytes()),
            self.clock.unix_seconds(),
        )
        .await?;
        // The old secret stops working in this process at once (elsewhere within the cache window).
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clear();
        self.audit_rights("issue_service_credential", &[format!("domain:{domain}")])
            .await?;
        Ok(Zeroizing::new(format!(
            "{SERVICE_PREFIX}{domain}.{}",
            secret.as_str()
        )))
    }

    /// Signs a staff member in. Every attempt, failed or not, is audited in the same call.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        totp: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<NewSession, AuthError> {
        if let Some(wait) = self.throttled(username) {
            self.audit_login(None, meta, Outcome::Failure, "throttled")
                .await?;
            return Err(AuthError::Throttled(wait));
        }
        let row = store::staff::staff_by_username(&self.db, username).await?;
        let hash = row
            .as_ref()
            .map_or_else(|| self.decoy_hash.clone(), |r| r.password_hash.clone());
        // argon2id is deliberately slow: run it off the async workers.
        let given = Zeroizing::new(password.to_owned());
        let password_ok = tokio::task::spawn_blocking(move || {
            Argon2::default()
                .verify_password(given.as_bytes(), hash.as_str())
                .is_ok()
        })
        .await
        .unwrap_or(false);
        let Some(row) = row.filter(|r| password_ok && r.disabled_at.is_none()) else {
            self.note_failure(username);
            self.audit_login(None, meta, Outcome::Failure, "bad_credentials")
                .await?;
            return Err(AuthError::InvalidCredentials);
        };
        let role: Role = row
            .role
            .parse()
            .map_err(|_| StoreError::Corrupt("staff.role".into()))?;
        let principal = Principal::Staff(StaffPrincipal {
            staff_id: row.staff_id.clone(),
            role,
            branch: row.branch.clone(),
        });
        if needs_totp(role) {
            let Some(code) = totp else {
                self.audit_login(Some(&principal), meta, Outcome::Failure, "totp_required")
                    .await?;
                return Err(AuthError::TotpRequired);
            };
            let sealed = row
                .totp_envelope
                .as_deref()
                .ok_or(AuthError::InvalidCredentials)?;
            let seed = self
                .keys
                .open_staff_secret(&owner_of(&row.staff_id)?, "totp", sealed)
                .map_err(|_| AuthError::Invalid("stored TOTP seed could not be opened".into()))?;
            let now = u64::try_from(self.clock.unix_seconds()).unwrap_or(0);
            // RFC 6238 section 5.2: a code is accepted once; a replay within its window fails.
            let fresh = totp_for(&seed)?.check(code, now).is_some_and(|step| {
                let mut used = self.totp_steps.lock().unwrap_or_else(|p| p.into_inner());
                let last = used.entry(row.staff_id.clone()).or_insert(0);
                let fresh = step > *last;
                if fresh {
                    *last = step;
                }
                fresh
            });
            if !fresh {
                self.note_failure(username);
                self.audit_login(Some(&principal), meta, Outcome::Failure, "bad_totp")
                    .await?;
                return Err(AuthError::InvalidCredentials);
            }
        }
        let secret = random_secret()?;
        let bearer = Zeroizing::new(format!("{SESSION_PREFIX}{}", secret.as_str()));
        let now = self.clock.unix_seconds();
        let expires_at = now + i64::try_from(self.session_ttl.as_secs()).unwrap_or(i64::MAX / 2);
        store::staff::insert_session(
            &self.db,
            &sha256(bearer.as_bytes()),
            &row.staff_id,
            now,
            expires_at,
        )
        .await?;
        self.note_success(username);
        self.audit_login(Some(&principal), meta, Outcome::Success, "signed_in")
            .await?;
        Ok(NewSession {
            secret: bearer,
            expires_at,
            role,
        })
    }

    async fn audit_login(
        &self,
        principal: Option<&Principal>,
        meta: &RequestMeta,
        outcome: Outcome,
        reason: &str,
    ) -> Result<(), StoreError> {
        // An unknown or failed user is recorded without the typed username, which may be a
        // mistyped password.
        let at = self.clock.unix_seconds();
        let row = match principal {
            Some(p) => AuditTrail {
                principal: p,
                meta,
                at,
            }
            .event("login", None, None, None, outcome, &[reason.to_owned()]),
            None => crate::store::audit::AuditRow {
                at,
                request_id: meta.request_id.clone(),
                principal: "unknown".into(),
                role: "none".into(),
                branch: None,
                action: "login".into(),
                patient_token: None,
                patient_tokens: None,
                purpose: None,
                reason_code: None,
                decision: outcome.as_str().into(),
                reasons: reason.into(),
                client_addr: meta.client_addr.clone(),
            },
        };
        self.audit.record(vec![row]).await
    }

    /// Records a change of accounts or rights made by the operator (the CLI on the vault host).
    pub async fn audit_rights(&self, action: &str, reasons: &[String]) -> Result<(), StoreError> {
        let row = crate::store::audit::AuditRow {
            at: self.clock.unix_seconds(),
            request_id: uuid::Uuid::new_v4().to_string(),
            principal: "operator".into(),
            role: "operator".into(),
            branch: None,
            action: action.into(),
            patient_token: None,
            patient_tokens: None,
            purpose: None,
            reason_code: None,
            decision: Outcome::Success.as_str().into(),
            reasons: reasons.join("; "),
            client_addr: None,
        };
        self.audit.record(vec![row]).await
    }

    /// The principal behind an `Authorization: Bearer` value.
    pub async fn authenticate(&self, bearer: &str) -> Result<Principal, AuthError> {
        // Recently checked credentials skip the database: a revocation or expiry on another
        // replica takes effect within CREDENTIAL_CACHE (this replica's logout at once).
        let hash = sha256(bearer.as_bytes());
        let now = self.clock.unix_seconds();
        let cached = self
            .recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&hash)
            .filter(|(_, until, expires)| now < *until && now < *expires)
            .map(|(principal, _, _)| principal.clone());
        if let Some(principal) = cached {
            return Ok(principal);
        }
        let (principal, expires) = self.authenticate_in_db(bearer).await?;
        let mut recent = self.recent.lock().unwrap_or_else(|p| p.into_inner());
        recent.put(
            hash,
            (principal.clone(), now + CREDENTIAL_CACHE_SECONDS, expires),
        );
        Ok(principal)
    }

    async fn authenticate_in_db(&self, bearer: &str) -> Result<(Principal, i64), AuthError> {
        if let Some(rest) = bearer.strip_prefix(SERVICE_PREFIX) {
            let (domain, secret) = rest.split_once('.').ok_or(AuthError::Unauthenticated)?;
            let stored = store::staff::service_secret_hash(&self.db, domain)
                .await?
                .ok_or(AuthError::Unauthenticated)?;
            let given = sha256(secret.as_bytes());
            if bool::from(given.ct_eq(&stored)) {
                let domain: ConsumerDomain =
                    domain.parse().map_err(|_| AuthError::Unauthenticated)?;
                return Ok((Principal::Service { domain }, i64::MAX));
            }
            return Err(AuthError::Unauthenticated);
        }
        if bearer.starts_with(SESSION_PREFIX) {
            let row = store::staff::staff_by_session(
                &self.db,
                &sha256(bearer.as_bytes()),
                self.clock.unix_seconds(),
            )
            .await?
            .ok_or(AuthError::Unauthenticated)?;
            let role = row
                .role
                .parse()
                .map_err(|_| StoreError::Corrupt("staff.role".into()))?;
            let expires = row.expires_at.unwrap_or(0);
            return Ok((
                Principal::Staff(StaffPrincipal {
                    staff_id: row.staff_id,
                    role,
                    branch: row.branch,
                }),
                expires,
            ));
        }
        Err(AuthError::Unauthenticated)
    }

    /// Forgets a credential checked recently (logout, reissue).
    fn forget(&self, bearer: &str) {
        self.recent
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop(&sha256(bearer.as_bytes()));
    }

    /// Revokes a session; audited.
    pub async fn logout(
        &self,
        bearer: &str,
        principal: &Principal,
        meta: &RequestMeta,
    ) -> Result<(), AuthError> {
        let now = self.clock.unix_seconds();
        let trail = AuditTrail {
            principal,
            meta,
            at: now,
        };
        // Revoke first: the audit then records a sign-out that happened.
        self.forget(bearer);
        store::staff::revoke_session(&self.db, &sha256(bearer.as_bytes()), now).await?;
        self.audit
            .record(vec![trail.event(
                "logout",
                None,
                None,
                None,
                Outcome::Success,
                &[],
            )])
            .await?;
        Ok(())
    }

    /// The current TOTP code for a seed; for tests and the demo only.
    pub fn totp_code(seed_base32: &str, unix: u64) -> Option<String> {
        let secret = Secret::try_from_base32(seed_base32).ok()?;
        Some(totp_for(secret.as_bytes()).ok()?.generate(unix).to_string())
    }
}
