//! Messages to patients: booking confirmations, day-before reminders, waitlist offers and
//! sign-in codes.
//!
//! The outbox holds a token and a kind, never an address or a text: contact data is resolved
//! from the vault at send time with purpose `reminder`, and the text is composed then. Texts
//! name the date, time and branch, never the doctor, the specialty, the service or anything
//! that would hint at a diagnosis (323-FZ art. 13: the fact of seeking care is a medical
//! secret; a message can be read by somebody else on a locked screen).

use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use serde::Serialize;
use thiserror::Error;
use vault_wire::PatientToken;
use zeroize::Zeroizing;

use super::Clinic;
use super::appointments::CARE_END;
use super::error::ClinicError;
use super::schedule;
use crate::store::{self, directory, outbox};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Channel {
    Sms,
    Email,
}

impl Channel {
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
        }
    }
}

/// One message ready to go. `Debug` hides the address.
pub struct Outgoing {
    pub channel: Channel,
    pub to: Zeroizing<String>,
    pub text: String,
}

impl std::fmt::Debug for Outgoing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("channel", &self.channel)
            .field("to", &"<redacted>")
            .finish_non_exhaustive()
    }
}

#[derive(Debug, Error)]
#[error("the message could not be handed over: {0}")]
pub struct SendError(pub String);

/// Where messages go: an SMS or e-mail gateway in production, a file in development.
pub trait MessageSender: Send + Sync {
    fn send<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>>;
}

/// The development sink: appends each message as a JSON line to a file. The file holds
/// addresses, as a gateway would; it is not a log and is not for production.
pub struct FileSender {
    path: PathBuf,
    lock: Mutex<()>,
}

#[derive(Serialize)]
struct SinkLine<'a> {
    channel: Channel,
    to: &'a str,
    text: &'a str,
}

impl FileSender {
    pub fn shared(path: &Path) -> Arc<dyn MessageSender> {
        Arc::new(Self {
            path: path.to_owned(),
            lock: Mutex::new(()),
        })
    }

    fn append(&self, message: &Outgoing) -> Result<(), SendError> {
        let _turn = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| SendError(e.kind().to_string()))?;
        }
        let line = serde_json::to_string(&SinkLine {
            channel: message.channel,
            to: &message.to,
            text: &message.text,
        })
        .map_err(|_| SendError("encoding".into()))?;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
            .map_err(|e| SendError(e.kind().to_string()))?;
        writeln!(file, "{line}").map_err(|e| SendError(e.kind().to_string()))
    }
}

impl MessageSender for FileSender {
    fn send<'a>(
        &'a self,
        message: &'a Outgoing,
    ) -> Pin<Box<dyn Future<Output = Result<(), SendError>> + Send + 'a>> {
        Box::pin(async move { self.append(message) })
    }
}

/// How many due messages one round sends at most.
const ROUND: u64 = 200;
/// A claimed message is retried after this if its sender died.
const LEASE_SECONDS: i64 = 600;
/// Retry a failed message after this long; give up after `MAX_ATTEMPTS` (never for the end of a
/// care relationship, which is retried until the vault takes it).
pub const RETRY_SECONDS: i64 = 300;
const MAX_ATTEMPTS: i64 = 12;
/// Why a message was dropped when the patient has no consent to messages (`outbox.last_error`).
pub const NO_CONSENT: &str = "no_consent";

/// The text of a message. Deliberately without doctor, specialty or service.
fn compose(kind: &str, when: Option<(String, String, String)>) -> Option<String> {
    let text = match (kind, when) {
        ("booking_confirmation", Some((date, time, branch))) => format!(
            "Медикаменте: вы записаны на {date} в {time}, {branch}. Отменить или перенести запись можно в приложении клиники."
        ),
        ("day_before", Some((date, time, branch))) => format!(
            "Медикаменте: напоминаем о записи {date} в {time}, {branch}. Если планы изменились, отмените запись в приложении."
        ),
        ("waitlist_offer", _) => "Медикаменте: освободилось время на день, который вы ждали. Запишитесь в приложении клиники.".to_owned(),
        _ => return None,
    };
    Some(text)
}

impl Clinic {
    /// Sends the messages that are due. Safe on several replicas: each message is claimed
    /// before it is sent. Returns how many went out.
    pub async fn send_due_messages(&self) -> Result<usize, ClinicError> {
        let now = self.clock.now();
        let mut sent = 0;
        for m in outbox::due(&self.db, now, ROUND).await? {
            if !outbox::claim(&self.db, &m.message_id, m.due_at, now + LEASE_SECONDS).await? {
                continue;
            }
            let Ok(token) = m.patient_token.parse::<PatientToken>() else {
                outbox::drop_message(&self.db, &m.message_id, "bad_token", now).await?;
                continue;
            };
            if m.kind == CARE_END {
                let appointment = m.appointment_id.as_deref().unwrap_or_default();
                match self.end_care_of(appointment).await {
                    Ok(()) => {
                        outbox::mark_sent(&self.db, &m.message_id, "vault", now).await?;
                    }
                    Err(ClinicError::VaultRefused { .. }) => {
                        outbox::drop_message(&self.db, &m.message_id, "vault_refused", now).await?;
                    }
                    Err(ClinicError::VaultUnavailable(_)) => {
                        outbox::mark_failed(
                            &self.db,
                            &m.message_id,
                            "vault_unavailable",
                            now + RETRY_SECONDS,
                        )
                        .await?;
                    }
                    Err(other) => return Err(other),
                }
                continue;
            }
            let when = match &m.appointment_id {
                Some(id) => self.appointment_when(id).await?,
                None => None,
            };
            let Some(text) = compose(&m.kind, when) else {
                outbox::drop_message(&self.db, &m.message_id, "unknown_kind", now).await?;
                continue;
            };
            let contacts = match self.vault.contacts(&token).await {
                Ok(c) => c,
                Err(ClinicError::VaultUnavailable(_)) => {
                    // Leave this and the rest for the next round.
                    outbox::mark_failed(
                        &self.db,
                        &m.message_id,
                        "vault_unavailable",
                        now + RETRY_SECONDS,
                    )
                    .await?;
                    break;
                }
                Err(ClinicError::VaultRefused { .. }) => {
                    outbox::drop_message(&self.db, &m.message_id, "vault_refused", now).await?;
                    continue;
                }
                Err(other) => return Err(other),
            };
            if contacts.no_consent {
                // The patient has not consented to messages (or withdrew it): a terminal state,
                // never retried. A consent given later reaches the messages still waiting, since
                // contacts are resolved when a message is due.
                outbox::drop_message(&self.db, &m.message_id, NO_CONSENT, now).await?;
                continue;
            }
            let outgoing = match (contacts.phone, contacts.email) {
                (Some(phone), _) => Outgoing {
                    channel: Channel::Sms,
                    to: phone,
                    text,
                },
                (None, Some(email)) => Outgoing {
                    channel: Channel::Email,
                    to: email,
                    text,
                },
                (None, None) => {
                    outbox::drop_message(&self.db, &m.message_id, "no_contact", now).await?;
                    continue;
                }
            };
            match self.sender.send(&outgoing).await {
                Ok(()) => {
                    outbox::mark_sent(&self.db, &m.message_id, outgoing.channel.as_str(), now)
                        .await?;
                    sent += 1;
                }
                Err(e) if m.attempts + 1 >= MAX_ATTEMPTS => {
                    tracing::warn!(message_id = %m.message_id, error = %e, "message given up");
                    outbox::drop_message(&self.db, &m.message_id, "send_failed", now).await?;
                }
                Err(e) => {
                    tracing::warn!(message_id = %m.message_id, error = %e, "message not sent; will retry");
                    outbox::mark_failed(
                        &self.db,
                        &m.message_id,
                        "send_failed",
                        now + RETRY_SECONDS,
                    )
                    .await?;
                }
            }
        }
        Ok(sent)
    }

    /// Date, time and branch line of an appointment that still holds its slot.
    async fn appointment_when(
        &self,
        appointment_id: &str,
    ) -> Result<Option<(String, String, String)>, ClinicError> {
        let Some(a) = store::appointments::get(&self.db, appointment_id).await? else {
            return Ok(None);
        };
        if !matches!(a.status.as_str(), "booked" | "arrived") {
            return Ok(None);
        }
        let Some(branch) = directory::branch(&self.db, &a.branch_id).await? else {
            return Ok(None);
        };
        let offset = branch.utc_offset_minutes;
        Ok(Some((
            schedule::local_day(a.starts_at, offset)
                .format("%d.%m.%Y")
                .to_string(),
            schedule::local_hhmm(a.starts_at, offset),
            format!("{}, {}", branch.name, branch.address),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_name_time_and_place_only() {
        let when = Some((
            "01.12.2026".into(),
            "09:30".into(),
            "Филиал на Тверской, ул. Тверская, 1".into(),
        ));
        let text = compose("day_before", when).unwrap();
        assert!(text.contains("01.12.2026") && text.contains("09:30"));
        assert!(
            compose("booking_confirmation", None).is_none(),
            "no appointment, no text"
        );
        assert!(compose("diagnosis", None).is_none());
    }
}
