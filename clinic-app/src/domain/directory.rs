//! The directory: branches, rooms, doctors, services, the price list, weekly templates and
//! exceptions. Only an administrator changes it; anybody signed in (and the patient app) reads
//! the public parts: doctors, services and current prices.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::Clinic;
use super::auth::{Capability, StaffPrincipal};
use super::error::ClinicError;
use super::schedule;
use crate::money::Kopecks;
use crate::store::directory::{
    self as rows, BranchRow, ExceptionRow, PriceRow, RoomRow, ServiceRow, TemplateRow,
};
use crate::store::{self, StoreError};

fn text(value: &str, field: &'static str, max: usize) -> Result<String, ClinicError> {
    let v = value.trim();
    if v.is_empty() || v.chars().count() > max {
        return Err(ClinicError::invalid(
            "invalid_field",
            field,
            format!("{field}: 1 to {max} characters"),
        ));
    }
    Ok(v.to_owned())
}

fn conflict_as(code: &'static str, message: &'static str) -> impl Fn(StoreError) -> ClinicError {
    move |e| match e {
        StoreError::Conflict => ClinicError::conflict(code, message),
        other => other.into(),
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewBranch {
    pub name: String,
    pub address: String,
    /// Minutes east of UTC (Moscow: 180).
    pub utc_offset_minutes: i64,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Branch {
    pub branch_id: String,
    pub name: String,
    pub address: String,
    pub utc_offset_minutes: i64,
}

impl From<BranchRow> for Branch {
    fn from(b: BranchRow) -> Self {
        Branch {
            branch_id: b.branch_id,
            name: b.name,
            address: b.address,
            utc_offset_minutes: b.utc_offset_minutes,
        }
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewRoom {
    pub branch_id: String,
    pub name: String,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewService {
    /// The clinic's code, e.g. `B01.047.001` (Minzdrav nomenclature).
    pub code: String,
    pub name: String,
    pub duration_minutes: i64,
    /// Medical services are exempt from VAT (Tax Code art. 149 part 2 item 2).
    #[serde(default = "yes")]
    pub vat_exempt: bool,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPrice {
    /// `YYYY-MM-DD`; the price holds from this day until the next price of the service.
    pub valid_from: String,
    /// Roubles, e.g. `2500` or `2500.50`.
    pub amount: String,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Service {
    pub code: String,
    pub name: String,
    pub duration_minutes: i64,
    pub vat_exempt: bool,
    /// Today's price in kopecks; absent when the service has no price yet.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub price_kopecks: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PricePeriod {
    pub valid_from: String,
    /// The last day of this price; absent for the price in force now and on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub valid_until: Option<String>,
    pub kopecks: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct PriceListEntry {
    pub code: String,
    pub name: String,
    pub duration_minutes: i64,
    pub vat_exempt: bool,
    pub prices: Vec<PricePeriod>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct Doctor {
    pub doctor_id: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub specialty: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch_id: Option<String>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewTemplate {
    pub doctor_id: String,
    pub room_id: String,
    /// ISO weekday: 1 = Monday ... 7 = Sunday.
    pub weekday: i64,
    /// `HH:MM`, branch-local.
    pub start: String,
    pub end: String,
    pub slot_minutes: i64,
    pub valid_from: String,
    #[serde(default)]
    pub valid_until: Option<String>,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ExceptionKind {
    Leave,
    SickDay,
    Training,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewException {
    pub doctor_id: String,
    pub first_day: String,
    pub last_day: String,
    pub kind: ExceptionKind,
}

fn minutes(hhmm: &str, field: &'static str) -> Result<i64, ClinicError> {
    let bad = || {
        ClinicError::invalid(
            "invalid_time",
            field,
            format!("{field}: expected HH:MM, e.g. 09:00"),
        )
    };
    let (h, m) = hhmm.split_once(':').ok_or_else(bad)?;
    let (h, m): (i64, i64) = (h.parse().map_err(|_| bad())?, m.parse().map_err(|_| bad())?);
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || h * 60 + m > 1440 {
        return Err(bad());
    }
    Ok(h * 60 + m)
}

/// The id of a new row: a readable id given by the administrator, or a random one.
fn id_or_new(given: Option<&str>) -> String {
    given.map_or_else(store::new_id, str::to_owned)
}

impl Clinic {
    pub async fn add_branch(
        &self,
        who: &StaffPrincipal,
        branch_id: Option<&str>,
        b: NewBranch,
    ) -> Result<Branch, ClinicError> {
        who.require(Capability::EditDirectory)?;
        if !(-720..=840).contains(&b.utc_offset_minutes) {
            return Err(ClinicError::invalid(
                "invalid_field",
                "utc_offset_minutes",
                "utc_offset_minutes: between -720 and 840 (Moscow is 180)",
            ));
        }
        let row = BranchRow {
            branch_id: id_or_new(branch_id),
            name: text(&b.name, "name", 200)?,
            address: text(&b.address, "address", 500)?,
            utc_offset_minutes: b.utc_offset_minutes,
        };
        rows::insert_branch(&self.db, &row, self.clock.now())
            .await
            .map_err(conflict_as("branch_exists", "a branch with this id exists"))?;
        Ok(row.into())
    }

    pub async fn branches(&self) -> Result<Vec<Branch>, ClinicError> {
        Ok(rows::branches(&self.db)
            .await?
            .into_iter()
            .map(Branch::from)
            .collect())
    }

    pub async fn add_room(
        &self,
        who: &StaffPrincipal,
        room_id: Option<&str>,
        r: NewRoom,
    ) -> Result<String, ClinicError> {
        who.require(Capability::EditDirectory)?;
        rows::branch(&self.db, &r.branch_id).await?.ok_or_else(|| {
            ClinicError::invalid("unknown_branch", "branch_id", "branch_id: no such branch")
        })?;
        let row = RoomRow {
            room_id: id_or_new(room_id),
            branch_id: r.branch_id,
            name: text(&r.name, "name", 100)?,
        };
        rows::insert_room(&self.db, &row)
            .await
            .map_err(conflict_as("room_exists", "a room with this id exists"))?;
        Ok(row.room_id)
    }

    pub async fn add_service(
        &self,
        who: &StaffPrincipal,
        s: NewService,
    ) -> Result<(), ClinicError> {
        who.require(Capability::EditDirectory)?;
        if !(5..=480).contains(&s.duration_minutes) {
            return Err(ClinicError::invalid(
                "invalid_field",
                "duration_minutes",
                "duration_minutes: 5 to 480",
            ));
        }
        let code = text(&s.code, "code", 40)?;
        if !code
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
        {
            return Err(ClinicError::invalid(
                "invalid_field",
                "code",
                "code: letters, digits, '.', '-' or '_'",
            ));
        }
        rows::insert_service(
            &self.db,
            &ServiceRow {
                code,
                name: text(&s.name, "name", 300)?,
                duration_minutes: s.duration_minutes,
                vat_exempt: s.vat_exempt,
                deleted_at: None,
            },
        )
        .await
        .map_err(conflict_as(
            "service_exists",
            "a service with this code exists",
        ))?;
        Ok(())
    }

    /// Withdraws a service: no new bookings or invoices; history stays.
    pub async fn delete_service(
        &self,
        who: &StaffPrincipal,
        code: &str,
    ) -> Result<(), ClinicError> {
        who.require(Capability::EditDirectory)?;
        if rows::delete_service(&self.db, code, self.clock.now()).await? == 0 {
            return Err(ClinicError::NotFound("service"));
        }
        Ok(())
    }

    pub async fn set_price(
        &self,
        who: &StaffPrincipal,
        service_code: &str,
        p: NewPrice,
    ) -> Result<(), ClinicError> {
        who.require(Capability::EditDirectory)?;
        let day = schedule::parse_day(&p.valid_from, "valid_from")?;
        let amount: Kopecks = p.amount.parse().map_err(|e: crate::money::AmountError| {
            ClinicError::invalid("invalid_amount", "amount", e.to_string())
        })?;
        rows::service(&self.db, service_code)
            .await?
            .ok_or(ClinicError::NotFound("service"))?;
        let kopecks = i64::try_from(amount.get())
            .map_err(|_| ClinicError::invalid("invalid_amount", "amount", "amount: too large"))?;
        rows::insert_price(
            &self.db,
            &PriceRow {
                service_code: service_code.to_owned(),
                valid_from: day.format("%Y-%m-%d").to_string(),
                kopecks,
            },
        )
        .await
        .map_err(conflict_as(
            "price_exists",
            "this service already has a price from that day; prices are history and are not overwritten",
        ))?;
        Ok(())
    }

    /// The published price list: services that can be booked, with today's prices.
    pub async fn services(&self) -> Result<Vec<Service>, ClinicError> {
        let today = schedule::local_day(self.clock.now(), schedule::PRICE_LIST_UTC_OFFSET_MINUTES)
            .format("%Y-%m-%d")
            .to_string();
        let mut out = Vec::new();
        for s in rows::services(&self.db).await? {
            let price = rows::price_on(&self.db, &s.code, &today).await?;
            out.push(Service {
                price_kopecks: price.map(|p| p.kopecks),
                code: s.code,
                name: s.name,
                duration_minutes: s.duration_minutes,
                vat_exempt: s.vat_exempt,
            });
        }
        Ok(out)
    }

    /// The published price list (a legal duty, shown to anybody): every service that can be
    /// booked, with each dated price and the day before the next one as its end.
    pub async fn price_list(&self) -> Result<Vec<PriceListEntry>, ClinicError> {
        let prices = rows::prices(&self.db).await?;
        let mut out = Vec::new();
        for s in rows::services(&self.db).await? {
            let dated: Vec<&PriceRow> =
                prices.iter().filter(|p| p.service_code == s.code).collect();
            let mut periods = Vec::with_capacity(dated.len());
            for (i, p) in dated.iter().enumerate() {
                let valid_until = match dated.get(i + 1) {
                    Some(next) => Some(
                        schedule::parse_day(&next.valid_from, "valid_from")?
                            .pred_opt()
                            .map_or_else(String::new, |d| d.format("%Y-%m-%d").to_string()),
                    ),
                    None => None,
                };
                periods.push(PricePeriod {
                    valid_from: p.valid_from.clone(),
                    valid_until,
                    kopecks: p.kopecks,
                });
            }
            out.push(PriceListEntry {
                code: s.code,
                name: s.name,
                duration_minutes: s.duration_minutes,
                vat_exempt: s.vat_exempt,
                prices: periods,
            });
        }
        Ok(out)
    }

    pub async fn doctors(&self) -> Result<Vec<Doctor>, ClinicError> {
        Ok(store::staff::staff_with_role(&self.db, "doctor")
            .await?
            .into_iter()
            .map(|d| Doctor {
                doctor_id: d.staff_id,
                display_name: d.display_name,
                specialty: d.specialty,
                branch_id: d.branch_id,
            })
            .collect())
    }

    pub async fn add_template(
        &self,
        who: &StaffPrincipal,
        t: NewTemplate,
    ) -> Result<String, ClinicError> {
        who.require(Capability::EditDirectory)?;
        let room = rows::room(&self.db, &t.room_id).await?.ok_or_else(|| {
            ClinicError::invalid("unknown_room", "room_id", "room_id: no such room")
        })?;
        let doctor = store::staff::staff_by_id(&self.db, &t.doctor_id)
            .await?
            .filter(|d| d.role == "doctor")
            .ok_or_else(|| {
                ClinicError::invalid("unknown_doctor", "doctor_id", "doctor_id: no such doctor")
            })?;
        if !(1..=7).contains(&t.weekday) {
            return Err(ClinicError::invalid(
                "invalid_field",
                "weekday",
                "weekday: 1 (Monday) to 7 (Sunday)",
            ));
        }
        let (start, end) = (minutes(&t.start, "start")?, minutes(&t.end, "end")?);
        if start >= end {
            return Err(ClinicError::invalid(
                "invalid_time",
                "end",
                "end: must be after start",
            ));
        }
        if !(5..=240).contains(&t.slot_minutes) || t.slot_minutes > end - start {
            return Err(ClinicError::invalid(
                "invalid_field",
                "slot_minutes",
                "slot_minutes: 5 to 240, and no longer than the working period",
            ));
        }
        let from = schedule::parse_day(&t.valid_from, "valid_from")?;
        let until = t
            .valid_until
            .as_deref()
            .map(|d| schedule::parse_day(d, "valid_until"))
            .transpose()?;
        if until.is_some_and(|u| u < from) {
            return Err(ClinicError::invalid(
                "invalid_date",
                "valid_until",
                "valid_until: before valid_from",
            ));
        }
        let overlaps = rows::templates_of(&self.db, &doctor.staff_id)
            .await?
            .into_iter()
            .any(|o| {
                o.weekday == t.weekday
                    && o.start_minute < end
                    && o.end_minute > start
                    && o.valid_until
                        .as_deref()
                        .is_none_or(|u| u >= t.valid_from.as_str())
                    && until.is_none_or(|u| o.valid_from <= u.format("%Y-%m-%d").to_string())
            });
        if overlaps {
            return Err(ClinicError::conflict(
                "template_overlaps",
                "the doctor already works at this time on this weekday; end the old template first",
            ));
        }
        let row = TemplateRow {
            template_id: store::new_id(),
            doctor_id: doctor.staff_id,
            branch_id: room.branch_id,
            room_id: room.room_id,
            weekday: t.weekday,
            start_minute: start,
            end_minute: end,
            slot_minutes: t.slot_minutes,
            valid_from: from.format("%Y-%m-%d").to_string(),
            valid_until: until.map(|u| u.format("%Y-%m-%d").to_string()),
        };
        rows::insert_template(&self.db, &row).await?;
        Ok(row.template_id)
    }

    /// Leave or a sick day: no slots on those days. Appointments already booked then are not
    /// cancelled by this; the answer counts them so reception can call the patients.
    pub async fn add_exception(
        &self,
        who: &StaffPrincipal,
        e: NewException,
    ) -> Result<ExceptionAdded, ClinicError> {
        who.require(Capability::EditDirectory)?;
        let first = schedule::parse_day(&e.first_day, "first_day")?;
        let last = schedule::parse_day(&e.last_day, "last_day")?;
        if last < first || (last - first).num_days() > 366 {
            return Err(ClinicError::invalid(
                "invalid_date",
                "last_day",
                "last_day: on or after first_day, at most a year later",
            ));
        }
        store::staff::staff_by_id(&self.db, &e.doctor_id)
            .await?
            .filter(|d| d.role == "doctor")
            .ok_or_else(|| {
                ClinicError::invalid("unknown_doctor", "doctor_id", "doctor_id: no such doctor")
            })?;
        let kind = match e.kind {
            ExceptionKind::Leave => "leave",
            ExceptionKind::SickDay => "sick_day",
            ExceptionKind::Training => "training",
        };
        let row = ExceptionRow {
            exception_id: store::new_id(),
            doctor_id: e.doctor_id.clone(),
            first_day: first.format("%Y-%m-%d").to_string(),
            last_day: last.format("%Y-%m-%d").to_string(),
            kind: kind.into(),
        };
        rows::insert_exception(&self.db, &row, &who.staff_id, self.clock.now()).await?;
        // Booked visits in the period (from the first day's earliest midnight on Earth, UTC+14, to
        // the last day's latest, UTC-12), to be rearranged.
        let from = schedule::local_midnight(first, 840);
        let until = schedule::local_midnight(last, -720) + 86_400;
        let affected = crate::store::appointments::between(
            &self.db,
            from,
            until,
            None,
            Some(&e.doctor_id),
            false,
        )
        .await?
        .into_iter()
        .filter(|a| a.status == "booked")
        .map(|a| a.appointment_id)
        .collect();
        Ok(ExceptionAdded {
            exception_id: row.exception_id,
            booked_appointments_to_move: affected,
        })
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ExceptionAdded {
    pub exception_id: String,
    pub booked_appointments_to_move: Vec<String>,
}
