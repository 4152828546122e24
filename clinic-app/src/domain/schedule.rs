//! Slots: what the weekly templates offer on a day, less leave and sick days, less what is
//! booked. Days and minutes are branch-local; slot times are Unix seconds.

use std::collections::{HashMap, HashSet};

use chrono::{Datelike, NaiveDate};

use super::error::ClinicError;
use crate::store::directory::{self, BranchRow, TemplateRow};
use crate::store::{self, Database};

/// The price list is one for the whole clinic, dated in Moscow time (where it is published).
pub const PRICE_LIST_UTC_OFFSET_MINUTES: i64 = 180;

/// A bookable slot of a doctor in a room.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub doctor_id: String,
    pub branch_id: String,
    pub room_id: String,
    pub starts_at: i64,
    pub ends_at: i64,
}

/// Parses `YYYY-MM-DD`, naming the field when it is not a date.
pub fn parse_day(value: &str, field: &'static str) -> Result<NaiveDate, ClinicError> {
    NaiveDate::parse_from_str(value, "%Y-%m-%d").map_err(|_| {
        ClinicError::invalid(
            "invalid_date",
            field,
            format!("{field}: expected a date like 2026-12-01"),
        )
    })
}

/// Unix seconds of a branch-local day's midnight.
pub fn local_midnight(day: NaiveDate, utc_offset_minutes: i64) -> i64 {
    day.and_hms_opt(0, 0, 0)
        .map_or(0, |dt| dt.and_utc().timestamp())
        - utc_offset_minutes * 60
}

/// The branch-local day of an instant.
pub fn local_day(at: i64, utc_offset_minutes: i64) -> NaiveDate {
    chrono::DateTime::from_timestamp(at + utc_offset_minutes * 60, 0)
        .map_or(NaiveDate::MIN, |dt| dt.date_naive())
}

/// `HH:MM` of an instant in branch-local time.
pub fn local_hhmm(at: i64, utc_offset_minutes: i64) -> String {
    chrono::DateTime::from_timestamp(at + utc_offset_minutes * 60, 0)
        .map_or_else(String::new, |dt| dt.format("%H:%M").to_string())
}

/// The slots templates offer on a day, for one doctor or one branch, skipping doctors on leave.
pub async fn offered_slots(
    db: &Database,
    day: NaiveDate,
    doctor_id: Option<&str>,
    branch_id: Option<&str>,
) -> Result<Vec<Slot>, ClinicError> {
    let day_text = day.format("%Y-%m-%d").to_string();
    let weekday = i64::from(day.weekday().number_from_monday());
    let templates = directory::templates_on(db, &day_text, weekday, doctor_id, branch_id).await?;
    let away: HashSet<String> = directory::exceptions_on(db, &day_text, doctor_id)
        .await?
        .into_iter()
        .map(|e| e.doctor_id)
        .collect();
    let branches: HashMap<String, BranchRow> = directory::branches(db)
        .await?
        .into_iter()
        .map(|b| (b.branch_id.clone(), b))
        .collect();
    let mut slots = Vec::new();
    for t in templates.iter().filter(|t| !away.contains(&t.doctor_id)) {
        let offset = branches
            .get(&t.branch_id)
            .map(|b| b.utc_offset_minutes)
            .ok_or_else(|| store::StoreError::Corrupt("schedule_templates.branch_id".into()))?;
        slots.extend(template_slots(t, local_midnight(day, offset)));
    }
    slots.sort_by(|a, b| (a.starts_at, &a.doctor_id).cmp(&(b.starts_at, &b.doctor_id)));
    Ok(slots)
}

/// Whole slots of a template on the day starting at `midnight`.
fn template_slots(t: &TemplateRow, midnight: i64) -> impl Iterator<Item = Slot> + '_ {
    let step = t.slot_minutes.max(1);
    (t.start_minute..t.end_minute)
        .step_by(usize::try_from(step).unwrap_or(1))
        .filter(move |m| m + step <= t.end_minute)
        .map(move |m| Slot {
            doctor_id: t.doctor_id.clone(),
            branch_id: t.branch_id.clone(),
            room_id: t.room_id.clone(),
            starts_at: midnight + m * 60,
            ends_at: midnight + (m + step) * 60,
        })
}

/// Offered slots that nobody holds and that start after `now`.
pub async fn free_slots(
    db: &Database,
    day: NaiveDate,
    doctor_id: Option<&str>,
    branch_id: Option<&str>,
    now: i64,
) -> Result<Vec<Slot>, ClinicError> {
    let offered = offered_slots(db, day, doctor_id, branch_id).await?;
    let (Some(first), Some(last)) = (
        offered.iter().map(|s| s.starts_at).min(),
        offered.iter().map(|s| s.ends_at).max(),
    ) else {
        return Ok(offered);
    };
    let held =
        store::appointments::between(db, first - 86_400, last, None, doctor_id, false).await?;
    Ok(offered
        .into_iter()
        .filter(|s| s.starts_at > now)
        .filter(|s| {
            !held.iter().any(|a| {
                (a.doctor_id == s.doctor_id || a.room_id == s.room_id)
                    && a.starts_at < s.ends_at
                    && a.ends_at > s.starts_at
            })
        })
        .collect())
}

/// The template slot of a doctor that starts exactly at `starts_at`, if the doctor works then.
pub async fn slot_at(
    db: &Database,
    doctor_id: &str,
    starts_at: i64,
) -> Result<Option<Slot>, ClinicError> {
    let offsets: HashSet<i64> = directory::branches(db)
        .await?
        .into_iter()
        .map(|b| b.utc_offset_minutes)
        .collect();
    for offset in offsets {
        let day = local_day(starts_at, offset);
        if let Some(slot) = offered_slots(db, day, Some(doctor_id), None)
            .await?
            .into_iter()
            .find(|s| s.starts_at == starts_at)
        {
            return Ok(Some(slot));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_template_gives_whole_slots_only() {
        let t = TemplateRow {
            template_id: "t".into(),
            doctor_id: "d".into(),
            branch_id: "b".into(),
            room_id: "r".into(),
            weekday: 1,
            start_minute: 9 * 60,
            end_minute: 10 * 60 + 50,
            slot_minutes: 30,
            valid_from: "2026-01-01".into(),
            valid_until: None,
        };
        let starts: Vec<i64> = template_slots(&t, 0).map(|s| s.starts_at / 60).collect();
        assert_eq!(
            starts,
            vec![540, 570, 600],
            "10:30-11:00 would overrun 10:50"
        );
    }

    #[test]
    fn local_days_follow_the_branch_offset() {
        let day = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let midnight_msk = local_midnight(day, 180);
        assert_eq!(local_day(midnight_msk, 180), day);
        assert_eq!(local_day(midnight_msk - 1, 180), day.pred_opt().unwrap());
        assert_eq!(local_hhmm(midnight_msk + 9 * 3600, 180), "09:00");
    }
}
