//! Booking, cancelling, rescheduling, visit statuses, the waitlist and the day's schedule.
//!
//! A booking is one transaction that serialises on the doctor, the room and the patient (an
//! advisory lock on PostgreSQL, the write lock on SQLite), checks that none of them is taken
//! at that time, inserts, reports the care relationship to the vault, queues the confirmation
//! and the day-before reminder, and commits. Two unique indexes (doctor and start, room and
//! start, over live appointments) back this up in the database itself.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;
use utoipa::ToSchema;
use vault_wire::PatientToken;

use super::Clinic;
use super::auth::{Capability, Principal, Role};
use super::error::ClinicError;
use super::reminders;
use super::schedule::{self, Slot};
use crate::store::appointments::{self as rows, AppointmentRow, WaitlistRow};
use crate::store::outbox::{self, MessageRow};
use crate::store::{self, StoreError, directory};
use crate::vault::ShownName;

/// Cancelling later than this before the start counts as a late cancellation.
pub const LATE_CANCEL_SECONDS: i64 = 24 * 3600;
/// The care relationship reported to the vault runs from booking until this long after the
/// visit, so the doctor can prepare and write up; a cancellation ends it at once.
pub const CARE_AFTER_VISIT_SECONDS: i64 = 3 * 24 * 3600;
/// The day-before reminder goes out this long before the start.
pub const REMINDER_BEFORE_SECONDS: i64 = 24 * 3600;
/// The outbox kind of a care relationship's end that the vault did not take at once.
pub const CARE_END: &str = "care_end";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, serde::Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Booked,
    Arrived,
    InProgress,
    Completed,
    Cancelled,
    NoShow,
    /// Moved to another appointment (`rescheduled_to`).
    Rescheduled,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Booked => "booked",
            Status::Arrived => "arrived",
            Status::InProgress => "in_progress",
            Status::Completed => "completed",
            Status::Cancelled => "cancelled",
            Status::NoShow => "no_show",
            Status::Rescheduled => "rescheduled",
        }
    }

    pub fn parse(s: &str) -> Result<Self, StoreError> {
        Ok(match s {
            "booked" => Status::Booked,
            "arrived" => Status::Arrived,
            "in_progress" => Status::InProgress,
            "completed" => Status::Completed,
            "cancelled" => Status::Cancelled,
            "no_show" => Status::NoShow,
            "rescheduled" => Status::Rescheduled,
            _ => return Err(StoreError::Corrupt("appointments.status".into())),
        })
    }

    /// Whether an appointment in this status keeps its slot.
    pub fn holds_slot(self) -> bool {
        !matches!(self, Status::Cancelled | Status::Rescheduled)
    }

    /// The transitions `setAppointmentStatus` allows (cancel and reschedule have their own).
    fn may_become(self, to: Status) -> bool {
        matches!(
            (self, to),
            (Status::Booked, Status::Arrived)
                | (Status::Booked, Status::NoShow)
                | (Status::Arrived, Status::InProgress)
                | (Status::Arrived, Status::NoShow)
                | (Status::InProgress, Status::Completed)
        )
    }
}

/// An appointment as the API shows it.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct Appointment {
    pub appointment_id: String,
    pub doctor_id: String,
    pub branch_id: String,
    pub room_id: String,
    #[schema(value_type = String)]
    pub patient_token: PatientToken,
    pub service_code: String,
    pub starts_at: i64,
    pub ends_at: i64,
    pub status: Status,
    /// `reception` or `patient_app`.
    pub booked_via: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cancelled_by: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub late_cancel: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rescheduled_to: Option<String>,
}

impl TryFrom<AppointmentRow> for Appointment {
    type Error = StoreError;
    fn try_from(r: AppointmentRow) -> Result<Self, StoreError> {
        Ok(Appointment {
            patient_token: r
                .patient_token
                .parse()
                .map_err(|_| StoreError::Corrupt("appointments.patient_token".into()))?,
            status: Status::parse(&r.status)?,
            appointment_id: r.appointment_id,
            doctor_id: r.doctor_id,
            branch_id: r.branch_id,
            room_id: r.room_id,
            service_code: r.service_code,
            starts_at: r.starts_at,
            ends_at: r.ends_at,
            booked_via: r.booked_via,
            cancelled_by: r.cancelled_by,
            late_cancel: r.late_cancel,
            rescheduled_to: r.rescheduled_to,
        })
    }
}

/// What to book.
pub struct BookingRequest {
    pub doctor_id: String,
    pub service_code: String,
    pub starts_at: i64,
    pub patient: PatientToken,
}

/// Who acts, as stored in `booked_by` / `cancelled_by`: a staff id or `patient`.
fn actor_label(principal: &Principal) -> String {
    match principal {
        Principal::Staff(s) => s.staff_id.clone(),
        Principal::Patient(_) => "patient".into(),
    }
}

/// Staff need the capability; a patient may act only on their own token.
fn authorise(
    principal: &Principal,
    capability: Capability,
    patient: &PatientToken,
) -> Result<(), ClinicError> {
    match principal {
        Principal::Staff(s) => s.require(capability),
        Principal::Patient(own) if own == patient => Ok(()),
        Principal::Patient(_) => Err(ClinicError::NotFound("appointment")),
    }
}

fn message(kind: &str, token: &PatientToken, appointment_id: &str, due_at: i64) -> MessageRow {
    MessageRow {
        message_id: store::new_id(),
        kind: kind.into(),
        patient_token: token.as_str().to_owned(),
        appointment_id: Some(appointment_id.to_owned()),
        due_at,
        attempts: 0,
    }
}

impl Clinic {
    /// Checks what a booking at `starts_at` needs, short of the conflict check: not in the
    /// past, a live service that fits the slot, a doctor who works then.
    async fn bookable_slot(
        &self,
        doctor_id: &str,
        service_code: &str,
        starts_at: i64,
    ) -> Result<(Slot, String), ClinicError> {
        let now = self.clock.now();
        if starts_at <= now {
            return Err(ClinicError::invalid(
                "in_the_past",
                "starts_at",
                "starts_at: this time has passed; choose a later slot",
            ));
        }
        let service = directory::service(&self.db, service_code)
            .await?
            .filter(|s| s.deleted_at.is_none())
            .ok_or_else(|| {
                ClinicError::invalid(
                    "service_unavailable",
                    "service_code",
                    "service_code: no such service, or it was withdrawn from the price list",
                )
            })?;
        let doctor = store::staff::staff_by_id(&self.db, doctor_id)
            .await?
            .filter(|d| d.role == Role::Doctor.as_str() && d.disabled_at.is_none())
            .ok_or_else(|| {
                ClinicError::invalid("unknown_doctor", "doctor_id", "doctor_id: no such doctor")
            })?;
        let vault_id = doctor.vault_staff_id.ok_or_else(|| {
            ClinicError::conflict(
                "doctor_not_linked",
                "this doctor has no vault account linked; an administrator must link it before booking",
            )
        })?;
        let slot = schedule::slot_at(&self.db, doctor_id, starts_at)
            .await?
            .ok_or_else(|| {
                ClinicError::invalid(
                    "outside_working_hours",
                    "starts_at",
                    "starts_at: the doctor has no slot starting then (outside working hours, on leave, or not on the slot grid); list free slots first",
                )
            })?;
        if service.duration_minutes * 60 > slot.ends_at - slot.starts_at {
            return Err(ClinicError::invalid(
                "service_too_long",
                "service_code",
                format!(
                    "service_code: the service takes {} minutes, longer than this doctor's slot",
                    service.duration_minutes
                ),
            ));
        }
        Ok((slot, vault_id))
    }

    /// Refuses with the first conflict found among live appointments.
    async fn check_free(
        tx: &mut store::Transaction,
        slot: &Slot,
        patient: &PatientToken,
        except: Option<&str>,
    ) -> Result<(), ClinicError> {
        let clashes = rows::overlapping(
            tx,
            &slot.doctor_id,
            &slot.room_id,
            patient.as_str(),
            slot.starts_at,
            slot.ends_at,
            except,
        )
        .await?;
        if let Some(c) = clashes.first() {
            let (code, message) = if c.doctor_id == slot.doctor_id {
                (
                    "slot_taken",
                    "this slot of the doctor was just taken; choose another",
                )
            } else if c.patient_token == patient.as_str() {
                (
                    "patient_double_booked",
                    "the patient already has an appointment at this time",
                )
            } else {
                (
                    "room_taken",
                    "the room is taken at this time; choose another slot",
                )
            };
            return Err(ClinicError::conflict(code, message));
        }
        Ok(())
    }

    fn lock_keys(slot: &Slot, patient: &PatientToken) -> Vec<String> {
        vec![
            format!("doctor:{}", slot.doctor_id),
            format!("room:{}", slot.room_id),
            format!("patient:{}", patient.as_str()),
        ]
    }

    /// Books a slot. Reception books for anybody; a patient only for themselves.
    pub async fn book(
        &self,
        principal: &Principal,
        req: BookingRequest,
    ) -> Result<Appointment, ClinicError> {
        authorise(principal, Capability::ManageAppointments, &req.patient)?;
        let (slot, vault_id) = self
            .bookable_slot(&req.doctor_id, &req.service_code, req.starts_at)
            .await?;
        let now = self.clock.now();
        let row = AppointmentRow {
            appointment_id: store::new_id(),
            doctor_id: slot.doctor_id.clone(),
            branch_id: slot.branch_id.clone(),
            room_id: slot.room_id.clone(),
            patient_token: req.patient.as_str().to_owned(),
            service_code: req.service_code,
            starts_at: slot.starts_at,
            ends_at: slot.ends_at,
            status: Status::Booked.as_str().into(),
            booked_by: actor_label(principal),
            booked_via: match principal {
                Principal::Staff(_) => "reception".into(),
                Principal::Patient(_) => "patient_app".into(),
            },
            cancelled_by: None,
            cancelled_at: None,
            late_cancel: None,
            rescheduled_to: None,
        };
        let mut tx = self.db.begin().await?;
        tx.lock_keys(&Self::lock_keys(&slot, &req.patient)).await?;
        Self::check_free(&mut tx, &slot, &req.patient, None).await?;
        rows::insert(&mut tx, &row, now)
            .await
            .map_err(|e| match e {
                // The unique indexes caught a race the check did not (another process on SQLite).
                StoreError::Conflict => {
                    ClinicError::conflict("slot_taken", "this slot was just taken; choose another")
                }
                other => other.into(),
            })?;
        self.queue_booking_messages(&mut tx, &req.patient, &row, now)
            .await?;
        // Last before commit: the vault also tells an unknown token apart, and if it cannot be
        // reached nothing is booked.
        self.report_care(&vault_id, &req.patient, now, slot.ends_at)
            .await?;
        tx.commit().await?;
        tracing::info!(appointment_id = %row.appointment_id, "appointment booked");
        Ok(Appointment::try_from(row)?)
    }

    async fn report_care(
        &self,
        vault_id: &str,
        patient: &PatientToken,
        now: i64,
        ends_at: i64,
    ) -> Result<(), ClinicError> {
        self.vault
            .put_care(vault_id, patient, now.min(ends_at - 1), ends_at + CARE_AFTER_VISIT_SECONDS)
            .await
            .map_err(|e| match e {
                ClinicError::VaultRefused { status: 404, .. }
                | ClinicError::VaultRefused { status: 422, .. } => ClinicError::invalid(
                    "unknown_patient",
                    "patient_token",
                    "patient_token: the vault does not know this patient; find or register them first",
                ),
                other => other,
            })
    }

    async fn queue_booking_messages(
        &self,
        tx: &mut store::Transaction,
        patient: &PatientToken,
        row: &AppointmentRow,
        now: i64,
    ) -> Result<(), ClinicError> {
        outbox::enqueue(
            tx,
            &message("booking_confirmation", patient, &row.appointment_id, now),
            now,
        )
        .await?;
        let reminder_at = row.starts_at - REMINDER_BEFORE_SECONDS;
        if reminder_at > now {
            outbox::enqueue(
                tx,
                &message("day_before", patient, &row.appointment_id, reminder_at),
                now,
            )
            .await?;
        }
        Ok(())
    }

    async fn appointment_for(
        &self,
        principal: &Principal,
        capability: Capability,
        appointment_id: &str,
    ) -> Result<AppointmentRow, ClinicError> {
        let row = rows::get(&self.db, appointment_id)
            .await?
            .ok_or(ClinicError::NotFound("appointment"))?;
        let token: PatientToken = row
            .patient_token
            .parse()
            .map_err(|_| StoreError::Corrupt("appointments.patient_token".into()))?;
        authorise(principal, capability, &token)?;
        Ok(row)
    }

    async fn doctor_vault_id(&self, doctor_id: &str) -> Result<Option<String>, ClinicError> {
        Ok(store::staff::staff_by_id(&self.db, doctor_id)
            .await?
            .and_then(|d| d.vault_staff_id))
    }

    /// Cancels a booked (or arrived) appointment. Late when within 24 h of the start. The
    /// care relationship is ended in the vault; if the vault cannot be reached the
    /// cancellation still stands, the answer says so, and the end is retried from the outbox.
    pub async fn cancel(
        &self,
        principal: &Principal,
        appointment_id: &str,
    ) -> Result<CancelOutcome, ClinicError> {
        let row = self
            .appointment_for(principal, Capability::ManageAppointments, appointment_id)
            .await?;
        self.release(row, &actor_label(principal)).await
    }

    /// Cancels an appointment as `cancelled_by` (a staff id, `patient`, or `patient_request`
    /// when a deletion request cancels the patient's future visits): releases the slot, drops
    /// the unsent reminders, offers the slot to the waitlist, ends the care relationship.
    pub(crate) async fn release(
        &self,
        row: AppointmentRow,
        cancelled_by: &str,
    ) -> Result<CancelOutcome, ClinicError> {
        let appointment_id = row.appointment_id.clone();
        let appointment_id = appointment_id.as_str();
        let status = Status::parse(&row.status)?;
        if !matches!(status, Status::Booked | Status::Arrived) {
            return Err(ClinicError::conflict(
                "not_cancellable",
                format!(
                    "the appointment is {}; only booked or arrived ones can be cancelled",
                    status.as_str()
                ),
            ));
        }
        let now = self.clock.now();
        let late = now > row.starts_at - LATE_CANCEL_SECONDS;
        let mut tx = self.db.begin().await?;
        if !rows::cancel(
            &mut tx,
            appointment_id,
            status.as_str(),
            cancelled_by,
            late,
            now,
        )
        .await?
        {
            return Err(ClinicError::conflict(
                "changed_meanwhile",
                "the appointment changed meanwhile; reload it",
            ));
        }
        outbox::drop_for_appointment(&mut tx, appointment_id, now).await?;
        self.offer_to_waitlist(&mut tx, &row, now).await?;
        tx.commit().await?;
        let care_ended = self.end_care_or_retry(&row).await?;
        let mut appointment = Appointment::try_from(row)?;
        appointment.status = Status::Cancelled;
        appointment.cancelled_by = Some(cancelled_by.to_owned());
        appointment.late_cancel = Some(late);
        Ok(CancelOutcome {
            appointment,
            care_relationship_ended: care_ended,
        })
    }

    /// Ends the care relationship in the vault. If the vault cannot be told now, the end is
    /// queued in the outbox and retried by the sender every 5 minutes until the vault takes it,
    /// so a doctor does not keep access to a patient whose visit was cancelled. Returns whether
    /// it ended now.
    async fn end_care_or_retry(&self, row: &AppointmentRow) -> Result<bool, ClinicError> {
        let Some(vault_id) = self.doctor_vault_id(&row.doctor_id).await? else {
            return Ok(false);
        };
        let token: PatientToken = row
            .patient_token
            .parse()
            .map_err(|_| StoreError::Corrupt("appointments.patient_token".into()))?;
        match self.vault.end_care(&vault_id, &token).await {
            Ok(()) => Ok(true),
            Err(e) => {
                tracing::warn!(appointment_id = %row.appointment_id, error = %e, "care relationship not ended in the vault; queued for retry");
                let now = self.clock.now();
                let mut tx = self.db.begin().await?;
                outbox::enqueue(
                    &mut tx,
                    &message(
                        CARE_END,
                        &token,
                        &row.appointment_id,
                        now + reminders::RETRY_SECONDS,
                    ),
                    now,
                )
                .await?;
                tx.commit().await?;
                Ok(false)
            }
        }
    }

    /// Ends the care relationship of a released appointment (the outbox's retry of
    /// [`Clinic::end_care_or_retry`]).
    pub(crate) async fn end_care_of(&self, appointment_id: &str) -> Result<(), ClinicError> {
        let Some(row) = rows::get(&self.db, appointment_id).await? else {
            return Ok(());
        };
        let Some(vault_id) = self.doctor_vault_id(&row.doctor_id).await? else {
            return Ok(());
        };
        let token: PatientToken = row
            .patient_token
            .parse()
            .map_err(|_| StoreError::Corrupt("appointments.patient_token".into()))?;
        self.vault.end_care(&vault_id, &token).await
    }

    /// Queues a "slot freed" message to the first patient waiting for this doctor's day.
    async fn offer_to_waitlist(
        &self,
        tx: &mut store::Transaction,
        row: &AppointmentRow,
        now: i64,
    ) -> Result<(), ClinicError> {
        let Some(branch) = directory::branch(&self.db, &row.branch_id).await? else {
            return Ok(());
        };
        let day = schedule::local_day(row.starts_at, branch.utc_offset_minutes)
            .format("%Y-%m-%d")
            .to_string();
        if let Some(entry) = rows::notify_first_waiting(tx, &row.doctor_id, &day, now).await? {
            outbox::enqueue(
                tx,
                &MessageRow {
                    message_id: store::new_id(),
                    kind: "waitlist_offer".into(),
                    patient_token: entry.patient_token,
                    appointment_id: None,
                    due_at: now,
                    attempts: 0,
                },
                now,
            )
            .await?;
        }
        Ok(())
    }

    /// Moves a booked appointment to another slot (same or another doctor) in one transaction:
    /// the new one is booked and the old one released, or neither.
    pub async fn reschedule(
        &self,
        principal: &Principal,
        appointment_id: &str,
        doctor_id: Option<String>,
        starts_at: i64,
    ) -> Result<Appointment, ClinicError> {
        let old = self
            .appointment_for(principal, Capability::ManageAppointments, appointment_id)
            .await?;
        if old.status != Status::Booked.as_str() {
            return Err(ClinicError::conflict(
                "not_reschedulable",
                "only a booked appointment can be moved",
            ));
        }
        let doctor_id = doctor_id.unwrap_or_else(|| old.doctor_id.clone());
        let (slot, vault_id) = self
            .bookable_slot(&doctor_id, &old.service_code, starts_at)
            .await?;
        let patient: PatientToken = old
            .patient_token
            .parse()
            .map_err(|_| StoreError::Corrupt("appointments.patient_token".into()))?;
        let now = self.clock.now();
        let new = AppointmentRow {
            appointment_id: store::new_id(),
            doctor_id: slot.doctor_id.clone(),
            branch_id: slot.branch_id.clone(),
            room_id: slot.room_id.clone(),
            patient_token: old.patient_token.clone(),
            service_code: old.service_code.clone(),
            starts_at: slot.starts_at,
            ends_at: slot.ends_at,
            status: Status::Booked.as_str().into(),
            booked_by: actor_label(principal),
            booked_via: old.booked_via.clone(),
            cancelled_by: None,
            cancelled_at: None,
            late_cancel: None,
            rescheduled_to: None,
        };
        let mut tx = self.db.begin().await?;
        let mut keys = Self::lock_keys(&slot, &patient);
        keys.push(format!("doctor:{}", old.doctor_id));
        keys.push(format!("room:{}", old.room_id));
        tx.lock_keys(&keys).await?;
        Self::check_free(&mut tx, &slot, &patient, Some(appointment_id)).await?;
        if !rows::mark_rescheduled(
            &mut tx,
            appointment_id,
            &new.appointment_id,
            &actor_label(principal),
            now,
        )
        .await?
        {
            return Err(ClinicError::conflict(
                "changed_meanwhile",
                "the appointment changed meanwhile; reload it",
            ));
        }
        rows::insert(&mut tx, &new, now)
            .await
            .map_err(|e| match e {
                StoreError::Conflict => {
                    ClinicError::conflict("slot_taken", "this slot was just taken; choose another")
                }
                other => other.into(),
            })?;
        outbox::drop_for_appointment(&mut tx, appointment_id, now).await?;
        self.queue_booking_messages(&mut tx, &patient, &new, now)
            .await?;
        self.report_care(&vault_id, &patient, now, slot.ends_at)
            .await?;
        tx.commit().await?;
        if old.doctor_id != new.doctor_id {
            self.end_care_or_retry(&old).await?;
        }
        Ok(Appointment::try_from(new)?)
    }

    /// Arrived, in progress, completed, no-show. A no-show only after the start.
    pub async fn set_status(
        &self,
        principal: &Principal,
        appointment_id: &str,
        to: Status,
    ) -> Result<Appointment, ClinicError> {
        let Principal::Staff(staff) = principal else {
            return Err(ClinicError::Forbidden(
                "patients cannot change a visit's status".into(),
            ));
        };
        let capability = match to {
            Status::InProgress | Status::Completed => Capability::ConductVisit,
            _ => Capability::ManageAppointments,
        };
        staff.require(capability)?;
        let row = rows::get(&self.db, appointment_id)
            .await?
            .ok_or(ClinicError::NotFound("appointment"))?;
        let from = Status::parse(&row.status)?;
        if !from.may_become(to) {
            return Err(ClinicError::conflict(
                "invalid_transition",
                format!(
                    "an appointment that is {} cannot become {}",
                    from.as_str(),
                    to.as_str()
                ),
            ));
        }
        let now = self.clock.now();
        if to == Status::NoShow && now < row.starts_at {
            return Err(ClinicError::conflict(
                "too_early",
                "a no-show can be recorded only after the appointment's start",
            ));
        }
        let mut tx = self.db.begin().await?;
        if !rows::set_status(
            &mut tx,
            appointment_id,
            from.as_str(),
            to.as_str(),
            to.holds_slot(),
            now,
        )
        .await?
        {
            return Err(ClinicError::conflict(
                "changed_meanwhile",
                "the appointment changed meanwhile; reload it",
            ));
        }
        if to == Status::NoShow {
            outbox::drop_for_appointment(&mut tx, appointment_id, now).await?;
        }
        tx.commit().await?;
        let mut appointment = Appointment::try_from(row)?;
        appointment.status = to;
        Ok(appointment)
    }

    /// Puts a patient on the waitlist of a doctor's full day.
    pub async fn join_waitlist(
        &self,
        principal: &Principal,
        doctor_id: &str,
        day: &str,
        patient: &PatientToken,
    ) -> Result<WaitlistEntry, ClinicError> {
        authorise(principal, Capability::ManageAppointments, patient)?;
        let parsed = schedule::parse_day(day, "day")?;
        let now = self.clock.now();
        let free = schedule::free_slots(&self.db, parsed, Some(doctor_id), None, now).await?;
        if !free.is_empty() {
            return Err(ClinicError::conflict(
                "day_not_full",
                format!(
                    "the doctor still has {} free slots that day; book one instead",
                    free.len()
                ),
            ));
        }
        if schedule::offered_slots(&self.db, parsed, Some(doctor_id), None)
            .await?
            .is_empty()
        {
            return Err(ClinicError::invalid(
                "outside_working_hours",
                "day",
                "day: the doctor does not work that day",
            ));
        }
        let entry = WaitlistRow {
            entry_id: store::new_id(),
            doctor_id: doctor_id.to_owned(),
            day: parsed.format("%Y-%m-%d").to_string(),
            patient_token: patient.as_str().to_owned(),
            created_at: now,
            notified_at: None,
        };
        rows::add_to_waitlist(&self.db, &entry, &actor_label(principal))
            .await
            .map_err(|e| match e {
                StoreError::Conflict => ClinicError::conflict(
                    "already_waiting",
                    "the patient is already on this day's waitlist",
                ),
                other => other.into(),
            })?;
        let position = rows::waitlist(&self.db, doctor_id, &entry.day).await?.len();
        Ok(WaitlistEntry {
            entry_id: entry.entry_id,
            doctor_id: entry.doctor_id,
            day: entry.day,
            position,
        })
    }

    /// The day's schedule of a branch, with every patient's name resolved by the vault in one
    /// call (purpose `scheduling`). If the vault cannot answer, the schedule still shows tokens
    /// and times, and says why the names are missing. `with_names = false` skips the vault.
    pub async fn day_schedule(
        &self,
        principal: &Principal,
        branch_id: &str,
        day: &str,
        with_names: bool,
    ) -> Result<DaySchedule, ClinicError> {
        let Principal::Staff(staff) = principal else {
            return Err(ClinicError::Forbidden(
                "the day schedule is for staff".into(),
            ));
        };
        staff.require(Capability::ViewSchedule)?;
        let parsed = schedule::parse_day(day, "day")?;
        let branch = directory::branch(&self.db, branch_id)
            .await?
            .ok_or(ClinicError::NotFound("branch"))?;
        let midnight = schedule::local_midnight(parsed, branch.utc_offset_minutes);
        // A doctor sees their own day only.
        let only_doctor = (staff.role == Role::Doctor).then_some(staff.staff_id.as_str());
        let appointments = rows::between(
            &self.db,
            midnight,
            midnight + 86_400,
            Some(branch_id),
            only_doctor,
            true,
        )
        .await?;
        let doctors: HashMap<String, String> =
            store::staff::staff_with_role(&self.db, Role::Doctor.as_str())
                .await?
                .into_iter()
                .map(|d| (d.staff_id, d.display_name))
                .collect();
        let services: HashMap<String, String> = directory::services(&self.db)
            .await?
            .into_iter()
            .map(|s| (s.code, s.name))
            .collect();
        // Each row becomes an `Appointment` (parsing its token) once; names are looked up by it.
        let appointments: Vec<Appointment> = appointments
            .into_iter()
            .map(Appointment::try_from)
            .collect::<Result<_, _>>()?;
        let tokens: Vec<PatientToken> = appointments
            .iter()
            .map(|a| a.patient_token.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let (names, names_status) = if !with_names {
            (
                HashMap::new(),
                NamesStatus::withheld("names were not requested"),
            )
        } else if tokens.is_empty() {
            (HashMap::new(), NamesStatus::shown())
        } else {
            match self.vault.names(&tokens).await {
                Ok(names) => (names, NamesStatus::shown()),
                Err(ClinicError::VaultUnavailable(cause)) => {
                    tracing::warn!(error = %cause, "day schedule without names: vault unavailable");
                    (
                        HashMap::new(),
                        NamesStatus::withheld(
                            "the vault is unreachable; names are withheld until it answers, times and tokens are current",
                        ),
                    )
                }
                Err(ClinicError::VaultRefused { code, .. }) => (
                    HashMap::new(),
                    NamesStatus::withheld(&format!("the vault refused to resolve names ({code})")),
                ),
                Err(other) => return Err(other),
            }
        };
        // Which member of staff saw which names: the vault audits the resolve as the clinic-app
        // service; this line (with the request id of its span) says who asked.
        tracing::info!(
            staff_id = %staff.staff_id,
            branch_id = %branch_id,
            appointments = appointments.len(),
            names_shown = names_status.shown,
            "day schedule viewed"
        );
        let mut entries = Vec::with_capacity(appointments.len());
        for a in appointments {
            let shown = names.get(&a.patient_token).cloned();
            let (patient_name, name_withheld) = match shown {
                Some(ShownName::Name(n)) => (Some(n), None),
                Some(ShownName::Withheld(reason)) => (None, Some(reason)),
                None => (None, names_status.reason.clone()),
            };
            entries.push(DayEntry {
                time: schedule::local_hhmm(a.starts_at, branch.utc_offset_minutes),
                doctor_name: doctors.get(&a.doctor_id).cloned().unwrap_or_default(),
                service_name: services.get(&a.service_code).cloned().unwrap_or_default(),
                patient_name,
                name_withheld,
                appointment: a,
            });
        }
        Ok(DaySchedule {
            branch_id: branch.branch_id,
            day: parsed.format("%Y-%m-%d").to_string(),
            names: names_status,
            appointments: entries,
        })
    }

    /// A patient's own appointments, newest first.
    pub async fn appointments_of(
        &self,
        patient: &PatientToken,
    ) -> Result<Vec<Appointment>, ClinicError> {
        rows::of_patient(&self.db, patient.as_str())
            .await?
            .into_iter()
            .map(|r| Appointment::try_from(r).map_err(ClinicError::from))
            .collect()
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CancelOutcome {
    pub appointment: Appointment,
    /// False when the vault could not be told now; the end is then retried from the outbox.
    pub care_relationship_ended: bool,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct WaitlistEntry {
    pub entry_id: String,
    pub doctor_id: String,
    pub day: String,
    /// 1 for the first in line.
    pub position: usize,
}

/// Whether the names in a schedule are shown, and if not, why.
#[derive(Clone, Debug, Serialize, ToSchema)]
pub struct NamesStatus {
    pub shown: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl NamesStatus {
    fn shown() -> Self {
        Self {
            shown: true,
            reason: None,
        }
    }
    fn withheld(reason: &str) -> Self {
        Self {
            shown: false,
            reason: Some(reason.to_owned()),
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DayEntry {
    #[serde(flatten)]
    pub appointment: Appointment,
    /// Branch-local start, `HH:MM`.
    pub time: String,
    pub doctor_name: String,
    pub service_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patient_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name_withheld: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DaySchedule {
    pub branch_id: String,
    pub day: String,
    pub names: NamesStatus,
    pub appointments: Vec<DayEntry>,
}
