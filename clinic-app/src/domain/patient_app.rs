//! The patient app's back end: sign-in by a one-time code sent to the phone on file, and the
//! patient's own appointments. Consents and data requests are in [`super::rights`].
//!
//! Sign-in never tells a known phone from an unknown one: both get a challenge, the same
//! answer and the same rate limits; only a known phone (exactly one patient in the vault) gets
//! an SMS, handed to the sender in the background so the answer's timing does not tell either.
//! The database holds a keyed digest of the phone (for the per-phone limit) and a keyed hash of
//! the code; the keys are derived from the clinic-app vault credential and never stored. See
//! `docs/patient-app.md`.

use std::collections::HashMap;

use hmac::{KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use thiserror::Error;
use tracing::Instrument;
use utoipa::ToSchema;
use vault_wire::{ConsentPurpose, PatientToken, PhoneE164, SearchCriterion};
use zeroize::Zeroizing;

use super::Clinic;
use super::appointments::Appointment;
use super::auth::Auth;
use super::error::ClinicError;
use super::reminders::{Channel, Outgoing};
use super::schedule;
use crate::store::patients::{self as rows, ChallengeRow, Subject};
use crate::store::{self, StoreError, directory};

/// A code is valid for five minutes.
pub const CODE_TTL_SECONDS: i64 = 5 * 60;
/// Wrong codes a challenge takes before it is dead.
pub const MAX_ATTEMPTS: i64 = 5;
/// Codes per phone per [`PHONE_WINDOW_SECONDS`] and per patient per [`TOKEN_WINDOW_SECONDS`].
pub const CODES_PER_WINDOW: i64 = 3;
pub const PHONE_WINDOW_SECONDS: i64 = 15 * 60;
pub const TOKEN_WINDOW_SECONDS: i64 = 60 * 60;
/// Challenges older than this are deleted (they serve no limit any more).
const KEEP_CHALLENGES_SECONDS: i64 = 24 * 60 * 60;

/// Labels of the keys derived from the vault credential (change the version to rotate).
const PHONE_KEY_LABEL: &[u8] = b"medikamente/clinic-app/patient-login/phone-digest/v1";
const CODE_KEY_LABEL: &[u8] = b"medikamente/clinic-app/patient-login/code-hash/v1";

/// The two HMAC-SHA256 keys of sign-in. Never `Debug`, `Clone` or `Serialize`; zeroed on drop.
pub struct LoginKeys {
    phone: Zeroizing<[u8; 32]>,
    code: Zeroizing<[u8; 32]>,
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    #[allow(clippy::expect_used)]
    // Invariant: HMAC accepts keys of any length (RFC 2104), so this cannot fail.
    let mut mac = <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    for part in parts {
        // Length-prefixed, so no two different part lists feed the same bytes.
        mac.update(&(part.len() as u64).to_be_bytes());
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

impl LoginKeys {
    /// Derives the keys from the clinic-app vault credential: every replica has them, the
    /// database does not, and nothing new has to be provisioned.
    pub fn derive(vault_secret: &str) -> Self {
        Self {
            phone: Zeroizing::new(hmac_sha256(vault_secret.as_bytes(), &[PHONE_KEY_LABEL])),
            code: Zeroizing::new(hmac_sha256(vault_secret.as_bytes(), &[CODE_KEY_LABEL])),
        }
    }

    fn phone_digest(&self, phone: &PhoneE164) -> [u8; 32] {
        hmac_sha256(self.phone.as_ref(), &[phone.as_str().as_bytes()])
    }

    fn code_hash(&self, challenge_id: &str, code: &str) -> [u8; 32] {
        hmac_sha256(
            self.code.as_ref(),
            &[challenge_id.as_bytes(), code.as_bytes()],
        )
    }
}

/// Why a sign-in step was refused, beyond the common errors.
#[derive(Debug, Error)]
pub enum LoginError {
    #[error("too many codes were asked for; try again in {} minutes", (retry_after_seconds + 59) / 60)]
    TooManyCodes { retry_after_seconds: i64 },
    #[error("the code is wrong; {attempts_left} attempts left")]
    WrongCode { attempts_left: i64 },
    /// Unknown, expired, used up or dead: one answer for all.
    #[error("this sign-in is no longer valid; ask for a new code")]
    ChallengeInvalid,
    /// The code is right, but the patient has not accepted the app's terms (the consent the
    /// app rests on, `patient_app`). The challenge stays open for the same code.
    #[error(
        "to use the app, accept its terms (your consent to the processing of your data in the patient app): send the same code again with accept_terms: true; it stays valid until it expires"
    )]
    TermsNotAccepted,
    #[error(transparent)]
    Clinic(#[from] ClinicError),
}

impl From<StoreError> for LoginError {
    fn from(e: StoreError) -> Self {
        LoginError::Clinic(e.into())
    }
}

/// The answer to a sign-in start, the same whether the phone is known or not.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct LoginChallenge {
    pub challenge_id: String,
    /// When the code stops working, Unix seconds.
    pub expires_at: i64,
}

/// A patient app session (`cp_...`). `Debug` hides it.
pub struct PatientSession {
    pub session: Zeroizing<String>,
    pub expires_at: i64,
}

impl std::fmt::Debug for PatientSession {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PatientSession")
            .field("expires_at", &self.expires_at)
            .finish_non_exhaustive()
    }
}

/// Six random decimal digits, uniformly (rejection sampling removes the modulo bias).
fn new_code() -> Result<Zeroizing<String>, ClinicError> {
    const LIMIT: u32 = u32::MAX - u32::MAX % 1_000_000;
    loop {
        let mut bytes = Zeroizing::new([0u8; 4]);
        getrandom::fill(bytes.as_mut())
            .map_err(|_| ClinicError::VaultUnavailable("the system random source failed".into()))?;
        let n = u32::from_le_bytes(*bytes);
        if n < LIMIT {
            return Ok(Zeroizing::new(format!("{:06}", n % 1_000_000)));
        }
    }
}

fn random_bytes() -> Result<[u8; 32], ClinicError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)
        .map_err(|_| ClinicError::VaultUnavailable("the system random source failed".into()))?;
    Ok(bytes)
}

/// The SMS: the clinic's name and the code, nothing about care.
fn code_text(code: &str) -> String {
    format!(
        "Медикаменте: код для входа в приложение {code}. Действует 5 минут. Никому его не сообщайте."
    )
}

/// Refuses when the subject already started [`CODES_PER_WINDOW`] challenges in the window.
async fn check_limit(
    tx: &mut store::Transaction,
    subject: &Subject<'_>,
    window: i64,
    now: i64,
) -> Result<(), LoginError> {
    let w = rows::started_since(tx, subject, now - window).await?;
    if w.count >= CODES_PER_WINDOW {
        let oldest = w.oldest.unwrap_or(now);
        return Err(LoginError::TooManyCodes {
            retry_after_seconds: (oldest + window - now).max(1),
        });
    }
    Ok(())
}

impl Clinic {
    /// Starts a sign-in: asks the vault which patient has this phone, and if exactly one
    /// does, sends them a code. Answers alike for known and unknown phones.
    pub async fn start_login(&self, phone: &str) -> Result<LoginChallenge, LoginError> {
        let phone: PhoneE164 = phone.parse().map_err(|e: vault_wire::ParseError| {
            ClinicError::invalid("invalid_phone", "phone", format!("phone: {}", e.rule()))
        })?;
        let now = self.clock.now();
        let digest = self.login_keys.phone_digest(&phone);
        let phone_key = format!("login-phone:{}", hex::encode(digest));
        // A cheap look before asking the vault, so a flood stops here.
        {
            let mut tx = self.db.begin().await?;
            check_limit(&mut tx, &Subject::Phone(&digest), PHONE_WINDOW_SECONDS, now).await?;
        }
        let matches = self
            .vault
            .search(SearchCriterion::Phone(phone.clone()))
            .await?;
        let token = match matches.as_slice() {
            [one] => Some(one.clone()),
            _ => None,
        };
        let challenge_id = store::new_id();
        let code = token.as_ref().map(|_| new_code()).transpose()?;
        // An unknown phone's challenge gets a hash nobody can hit: no code exists for it.
        let code_hash = match &code {
            Some(code) => self.login_keys.code_hash(&challenge_id, code),
            None => random_bytes()?,
        };
        let row = ChallengeRow {
            challenge_id: challenge_id.clone(),
            patient_token: token.as_ref().map(|t| t.as_str().to_owned()),
            phone_digest: digest.to_vec(),
            code_hash: code_hash.to_vec(),
            created_at: now,
            expires_at: now + CODE_TTL_SECONDS,
            attempts: 0,
            used_at: None,
        };
        let mut tx = self.db.begin().await?;
        let mut keys = vec![phone_key];
        if let Some(t) = &token {
            keys.push(format!("login-token:{}", t.as_str()));
        }
        tx.lock_keys(&keys).await?;
        rows::purge_challenges(&mut tx, now - KEEP_CHALLENGES_SECONDS).await?;
        let phone_subject = Subject::Phone(&digest);
        check_limit(&mut tx, &phone_subject, PHONE_WINDOW_SECONDS, now).await?;
        // The hourly limit is per patient; an unknown phone gets it per phone, so that the
        // limits do not tell a known phone from an unknown one.
        match &token {
            Some(t) => {
                check_limit(
                    &mut tx,
                    &Subject::Token(t.as_str()),
                    TOKEN_WINDOW_SECONDS,
                    now,
                )
                .await?
            }
            None => check_limit(&mut tx, &phone_subject, TOKEN_WINDOW_SECONDS, now).await?,
        }
        rows::insert_challenge(&mut tx, &row).await?;
        tx.commit().await?;
        tracing::info!(challenge_id = %challenge_id, known = code.is_some(), "patient sign-in started");
        if let Some(code) = code {
            let outgoing = Outgoing {
                channel: Channel::Sms,
                to: Zeroizing::new(phone.as_str().to_owned()),
                text: code_text(&code),
            };
            let sender = self.sender.clone();
            tokio::spawn(
                async move {
                    if let Err(e) = sender.send(&outgoing).await {
                        tracing::warn!(error = %e, "sign-in code not handed over; the patient can ask again");
                    }
                }
                .instrument(tracing::Span::current()),
            );
        }
        Ok(LoginChallenge {
            challenge_id,
            expires_at: now + CODE_TTL_SECONDS,
        })
    }

    /// Checks a code and opens a patient session. A code works once; five wrong codes kill
    /// the challenge. The app rests on the patient's `patient_app` consent: without it in force
    /// the right code answers [`LoginError::TermsNotAccepted`] unless `accept_terms` is set,
    /// which records the consent (channel `patient_app`) before the session opens.
    pub async fn verify_login(
        &self,
        auth: &Auth,
        challenge_id: &str,
        code: &str,
        accept_terms: bool,
    ) -> Result<PatientSession, LoginError> {
        let code = code.trim();
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ClinicError::invalid(
                "invalid_code",
                "code",
                "code: the 6 digits from the SMS",
            )
            .into());
        }
        if challenge_id.is_empty() || challenge_id.len() > 64 {
            return Err(LoginError::ChallengeInvalid);
        }
        let now = self.clock.now();
        let row = rows::challenge(&self.db, challenge_id)
            .await?
            .filter(|c| c.used_at.is_none() && c.expires_at > now && c.attempts < MAX_ATTEMPTS)
            .ok_or(LoginError::ChallengeInvalid)?;
        let expected = self.login_keys.code_hash(&row.challenge_id, code);
        let right: bool = expected.as_slice().ct_eq(row.code_hash.as_slice()).into();
        let token = row
            .patient_token
            .as_deref()
            .map(str::parse::<PatientToken>)
            .transpose()
            .map_err(|_| StoreError::Corrupt("login_challenges.patient_token".into()))?;
        match (right, token) {
            (true, Some(token)) => {
                // Before the challenge is used up: a patient told to accept the terms signs in
                // with the same code, and a vault that cannot answer now costs no code either.
                // If the consent is recorded and the challenge was used meanwhile by a parallel
                // request, the consent still stands: it was given by whoever held the code.
                self.ensure_app_consent(&token, accept_terms).await?;
                if !rows::mark_used(&self.db, challenge_id, now, MAX_ATTEMPTS).await? {
                    return Err(LoginError::ChallengeInvalid);
                }
                let (session, expires_at) = auth.open_patient_session(&token).await?;
                tracing::info!(challenge_id = %row.challenge_id, "patient signed in");
                Ok(PatientSession {
                    session,
                    expires_at,
                })
            }
            _ => {
                let attempts = rows::count_wrong_attempt(&self.db, challenge_id, now, MAX_ATTEMPTS)
                    .await?
                    .ok_or(LoginError::ChallengeInvalid)?;
                tracing::info!(challenge_id = %row.challenge_id, attempts, "wrong sign-in code");
                Err(LoginError::WrongCode {
                    attempts_left: (MAX_ATTEMPTS - attempts).max(0),
                })
            }
        }
    }

    /// Makes sure the `patient_app` consent is in force, recording it when the patient
    /// accepts the terms now.
    async fn ensure_app_consent(
        &self,
        token: &PatientToken,
        accept_terms: bool,
    ) -> Result<(), LoginError> {
        let gone = |e: ClinicError| match e {
            // The token was unlinked since the code went out (a deletion request).
            ClinicError::VaultRefused { status: 404, .. } => LoginError::ChallengeInvalid,
            other => LoginError::Clinic(other),
        };
        let consents = self.vault.consents(token).await.map_err(gone)?;
        if consents.in_force.contains(&ConsentPurpose::PatientApp) {
            return Ok(());
        }
        if !accept_terms {
            return Err(LoginError::TermsNotAccepted);
        }
        self.vault
            .set_consent(
                token,
                ConsentPurpose::PatientApp,
                true,
                vault_wire::Channel::PatientApp,
            )
            .await
            .map_err(gone)?;
        tracing::info!("patient accepted the app's terms at sign-in");
        Ok(())
    }

    /// The patient's own appointments with the doctor's, service's and branch's names:
    /// upcoming soonest first, past newest first.
    pub async fn my_appointments(
        &self,
        patient: &PatientToken,
    ) -> Result<MyAppointments, ClinicError> {
        let now = self.clock.now();
        let mut doctors: HashMap<String, String> = HashMap::new();
        let mut services: HashMap<String, String> = HashMap::new();
        let mut branches: HashMap<String, directory::BranchRow> = HashMap::new();
        let mut out = MyAppointments::default();
        for a in self.appointments_of(patient).await? {
            if !doctors.contains_key(&a.doctor_id) {
                let name = store::staff::staff_by_id(&self.db, &a.doctor_id)
                    .await?
                    .map(|d| d.display_name)
                    .unwrap_or_default();
                doctors.insert(a.doctor_id.clone(), name);
            }
            if !services.contains_key(&a.service_code) {
                let name = directory::service(&self.db, &a.service_code)
                    .await?
                    .map(|s| s.name)
                    .unwrap_or_default();
                services.insert(a.service_code.clone(), name);
            }
            if !branches.contains_key(&a.branch_id) {
                let branch = directory::branch(&self.db, &a.branch_id)
                    .await?
                    .ok_or_else(|| StoreError::Corrupt("appointments.branch_id".into()))?;
                branches.insert(a.branch_id.clone(), branch);
            }
            let branch = &branches[&a.branch_id];
            let entry = MyAppointment {
                date: schedule::local_day(a.starts_at, branch.utc_offset_minutes)
                    .format("%Y-%m-%d")
                    .to_string(),
                time: schedule::local_hhmm(a.starts_at, branch.utc_offset_minutes),
                doctor_name: doctors[&a.doctor_id].clone(),
                service_name: services[&a.service_code].clone(),
                branch_name: branch.name.clone(),
                branch_address: branch.address.clone(),
                appointment: a,
            };
            if entry.appointment.starts_at >= now {
                out.upcoming.push(entry);
            } else {
                out.past.push(entry);
            }
        }
        // `appointments_of` is newest first.
        out.upcoming.reverse();
        Ok(out)
    }
}

/// An appointment as the patient app lists it.
#[derive(Debug, Serialize, ToSchema)]
pub struct MyAppointment {
    #[serde(flatten)]
    pub appointment: Appointment,
    /// Branch-local date `YYYY-MM-DD` and start `HH:MM`.
    pub date: String,
    pub time: String,
    pub doctor_name: String,
    pub service_name: String,
    pub branch_name: String,
    pub branch_address: String,
}

#[derive(Debug, Default, Serialize, ToSchema)]
pub struct MyAppointments {
    /// Starting now or later, soonest first (any status).
    pub upcoming: Vec<MyAppointment>,
    /// Started before now, newest first.
    pub past: Vec<MyAppointment>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..200 {
            let code = new_code().unwrap();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }

    #[test]
    fn digests_are_keyed_and_bound_to_the_challenge() {
        let a = LoginKeys::derive("secret-a");
        let b = LoginKeys::derive("secret-b");
        let phone: PhoneE164 = "+79161234567".parse().unwrap();
        let same: PhoneE164 = "8 (916) 123-45-67".parse().unwrap();
        assert_eq!(a.phone_digest(&phone), a.phone_digest(&same));
        assert_ne!(a.phone_digest(&phone), b.phone_digest(&phone));
        assert_ne!(a.code_hash("c1", "123456"), a.code_hash("c2", "123456"));
        assert_ne!(a.code_hash("c1", "123456"), a.phone_digest(&phone));
        // Length prefixes: moving a byte between the parts changes the hash.
        assert_ne!(a.code_hash("c11", "23456"), a.code_hash("c1", "123456"));
    }

    #[test]
    fn the_sms_names_the_clinic_and_the_code_only() {
        let text = code_text("042917");
        assert!(text.starts_with("Медикаменте:") && text.contains("042917"));
    }
}
