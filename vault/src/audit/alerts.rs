//! Alert rules over the audit stream, and the scanner that runs them.
//!
//! The scanner follows the committed audit by sequence number (so it sees every replica's
//! events, including those written inside data transactions), evaluates the rules over the
//! new events and, for the rate rules, each one's window of the principals that acted, stores
//! each alert and hands it to the notifier. A scan reads the new events and those windows
//! only, through the `(principal, at)` index, and skips the window of a rate rule that is
//! quiet for that principal: its cost follows the events, not the length of the audit (ADR
//! 0022). The rules are pure functions of events and thresholds: tests drive them with fixed
//! times.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
use crate::store::alerts::{self, AlertRow, RuleEvents};
use crate::store::audit::ChainedRow;
use crate::store::{Database, StoreError};

/// Thresholds, from config `[alerts]`.
#[derive(Clone, Debug)]
pub struct AlertRules {
    /// A member of staff opening more distinct patients than this in an hour.
    pub patients_per_hour: usize,
    /// This many denials of one principal within ten minutes.
    pub denials_per_10_minutes: usize,
    /// A service resolving more tokens than this in a minute.
    pub service_tokens_per_minute: usize,
    /// Working hours, minutes after local midnight, Monday to Saturday; Sunday is off.
    pub working_from: u32,
    pub working_until: u32,
    /// The clinic's offset from UTC in minutes (Moscow: 180).
    pub utc_offset_minutes: i32,
}

impl Default for AlertRules {
    fn default() -> Self {
        Self {
            patients_per_hour: 30,
            denials_per_10_minutes: 5,
            service_tokens_per_minute: 3000,
            working_from: 8 * 60,
            working_until: 21 * 60,
            utc_offset_minutes: 180,
        }
    }
}

/// Actions that read a patient's personal or medical data.
const READS: [&str; 5] = [
    "resolve",
    "read_record",
    "list_records",
    "read_attachment",
    "read_justification",
];

/// A rule that counts one principal's events over a horizon and, once fired, stays quiet for
/// that principal for a while. The scanner reads a rule's window only for principals that
/// acted since the last scan and for whom the rule is not quiet.
struct RateRule {
    rule: &'static str,
    /// Seconds before the newest event that the rule counts.
    horizon: i64,
    quiet_for: i64,
    events: RuleEvents,
    /// Whether the rule is about this principal, judged by one of its events.
    applies: fn(&ChainedRow) -> bool,
}

/// Staff opening more distinct patients in an hour than `patients_per_hour`.
const PATIENT_VOLUME: RateRule = RateRule {
    rule: "patient_volume",
    horizon: 3600,
    quiet_for: 3600,
    events: RuleEvents::Permitted(&READS),
    applies: is_staff,
};

/// `denials_per_10_minutes` denials of one principal.
const REPEATED_DENIALS: RateRule = RateRule {
    rule: "repeated_denials",
    horizon: 600,
    quiet_for: 600,
    events: RuleEvents::Denied,
    applies: |_| true,
};

/// A service resolving more than `service_tokens_per_minute` tokens in a minute.
const SERVICE_RESOLVE_RATE: RateRule = RateRule {
    rule: "service_resolve_rate",
    horizon: 60,
    quiet_for: 600,
    events: RuleEvents::ByService("resolve"),
    applies: |e| e.row.role == "service",
};

const RATE_RULES: [&RateRule; 3] = [&PATIENT_VOLUME, &REPEATED_DENIALS, &SERVICE_RESOLVE_RATE];

/// The most events one rate rule's window reads (the newest; see `store::alerts::rule_window`).
const WINDOW_LIMIT: u64 = 100_000;

/// A rule that fired: what, who, which events, and the window in which it fires only once.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Finding {
    pub rule: &'static str,
    pub principal: String,
    pub seq_first: i64,
    pub seq_last: i64,
    pub details: String,
    /// Seconds during which the same rule does not fire again for the same principal.
    pub quiet_for: i64,
}

fn is_staff(e: &ChainedRow) -> bool {
    !matches!(e.row.role.as_str(), "service" | "none")
}

fn local_minute_and_weekday(at: i64, offset_minutes: i32) -> (u32, u32) {
    let local = at + i64::from(offset_minutes) * 60;
    let minute = u32::try_from(local.rem_euclid(86_400) / 60).unwrap_or(0);
    // 1970-01-01 was a Thursday (weekday 3 when Monday is 0).
    let weekday = u32::try_from((local.div_euclid(86_400) + 3).rem_euclid(7)).unwrap_or(0);
    (minute, weekday)
}

impl AlertRules {
    fn after_hours(&self, at: i64) -> bool {
        let (minute, weekday) = local_minute_and_weekday(at, self.utc_offset_minutes);
        weekday == 6 || minute < self.working_from || minute >= self.working_until
    }

    /// Evaluates every rule. `new` are the events not seen before; `window` holds, for the
    /// principals of `new`, the events each rate rule counts within its horizon before the
    /// newest event (including `new`; more events do no harm). `staff_tokens` maps the tokens
    /// of patients who are staff to that staff member's id.
    pub fn evaluate(
        &self,
        new: &[ChainedRow],
        window: &[ChainedRow],
        staff_tokens: &HashMap<String, String>,
    ) -> Vec<Finding> {
        let mut found = Vec::new();
        let Some(newest) = new.last() else {
            return found;
        };
        let now = newest.row.at;
        let seqs = |es: &[&ChainedRow]| {
            (
                es.iter().map(|e| e.seq).min().unwrap_or(0),
                es.iter().map(|e| e.seq).max().unwrap_or(0),
            )
        };
        for e in new {
            let r = &e.row;
            if r.action == "start_break_glass" && r.decision == "permit" {
                found.push(Finding {
                    rule: "break_glass_started",
                    principal: r.principal.clone(),
                    seq_first: e.seq,
                    seq_last: e.seq,
                    details: format!(
                        "break-glass grant started, reason {}",
                        r.reason_code.as_deref().unwrap_or("?")
                    ),
                    quiet_for: 0,
                });
            }
            let reads_patient = READS.contains(&r.action.as_str())
                && r.decision == "permit"
                && r.tokens().next().is_some();
            if reads_patient && is_staff(e) && self.after_hours(r.at) {
                found.push(Finding {
                    rule: "after_hours_access",
                    principal: r.principal.clone(),
                    seq_first: e.seq,
                    seq_last: e.seq,
                    details: format!("{} outside working hours", r.action),
                    quiet_for: 3600,
                });
            }
            let colleague = r
                .tokens()
                .filter_map(|t| staff_tokens.get(t))
                .any(|owner| owner != &r.principal);
            if colleague && reads_patient && is_staff(e) {
                found.push(Finding {
                    rule: "colleague_record",
                    principal: r.principal.clone(),
                    seq_first: e.seq,
                    seq_last: e.seq,
                    details: format!("{} of a colleague who is also a patient", r.action),
                    quiet_for: 3600,
                });
            }
        }
        let principals: BTreeSet<&str> = new.iter().map(|e| e.row.principal.as_str()).collect();
        for p in principals {
            let mine: Vec<&ChainedRow> = window.iter().filter(|e| e.row.principal == p).collect();
            let hour: Vec<&ChainedRow> = mine
                .iter()
                .copied()
                .filter(|e| {
                    e.row.at > now - PATIENT_VOLUME.horizon
                        && READS.contains(&e.row.action.as_str())
                        && e.row.decision == "permit"
                })
                .collect();
            let patients: BTreeSet<&str> = hour.iter().flat_map(|e| e.row.tokens()).collect();
            if hour.first().is_some_and(|e| is_staff(e)) && patients.len() > self.patients_per_hour
            {
                let (a, b) = seqs(&hour);
                found.push(Finding {
                    rule: PATIENT_VOLUME.rule,
                    principal: p.to_owned(),
                    seq_first: a,
                    seq_last: b,
                    details: format!(
                        "{} patients opened within an hour (threshold {})",
                        patients.len(),
                        self.patients_per_hour
                    ),
                    quiet_for: PATIENT_VOLUME.quiet_for,
                });
            }
            let denials: Vec<&ChainedRow> = mine
                .iter()
                .copied()
                .filter(|e| e.row.at > now - REPEATED_DENIALS.horizon && e.row.decision == "deny")
                .collect();
            // A refused batch of 50 unknown tokens is 50 denials, though it is one event.
            let denied: usize = denials.iter().map(|e| e.row.weight()).sum();
            if denied >= self.denials_per_10_minutes {
                let (a, b) = seqs(&denials);
                found.push(Finding {
                    rule: REPEATED_DENIALS.rule,
                    principal: p.to_owned(),
                    seq_first: a,
                    seq_last: b,
                    details: format!("{denied} denials within ten minutes"),
                    quiet_for: REPEATED_DENIALS.quiet_for,
                });
            }
            let resolved: Vec<&ChainedRow> = mine
                .iter()
                .copied()
                .filter(|e| {
                    e.row.at > now - SERVICE_RESOLVE_RATE.horizon
                        && e.row.action == "resolve"
                        && e.row.role == "service"
                })
                .collect();
            let tokens: usize = resolved.iter().map(|e| e.row.weight()).sum();
            if tokens > self.service_tokens_per_minute {
                let (a, b) = seqs(&resolved);
                found.push(Finding {
                    rule: SERVICE_RESOLVE_RATE.rule,
                    principal: p.to_owned(),
                    seq_first: a,
                    seq_last: b,
                    details: format!(
                        "{tokens} tokens resolved within a minute (threshold {})",
                        self.service_tokens_per_minute
                    ),
                    quiet_for: SERVICE_RESOLVE_RATE.quiet_for,
                });
            }
        }
        found
    }
}

/// Where alerts go besides the database.
#[derive(Clone)]
pub enum Notifier {
    /// A `security` warning line in the log (always on).
    Log,
    /// The log line, and a JSON POST to this URL (a chat or paging bridge); best effort.
    Webhook {
        url: String,
        client: reqwest::Client,
    },
}

impl Notifier {
    pub async fn notify(&self, alert: &AlertRow) {
        tracing::warn!(target: "security", rule = %alert.rule, alert_id = %alert.alert_id, seq_first = alert.seq_first, seq_last = alert.seq_last, "security alert");
        if let Notifier::Webhook { url, client } = self {
            let body = serde_json::json!({
                "alert_id": alert.alert_id, "rule": alert.rule, "principal": alert.principal,
                "raised_at": alert.raised_at, "seq_first": alert.seq_first, "seq_last": alert.seq_last,
                "details": alert.details,
            });
            if let Err(e) = client
                .post(url)
                .json(&body)
                .timeout(Duration::from_secs(5))
                .send()
                .await
            {
                tracing::error!(error = %e.without_url(), alert_id = %alert.alert_id, "alert webhook failed; the alert is stored");
            }
        }
    }
}

pub struct AlertScanner {
    db: Database,
    rules: AlertRules,
    notifier: Notifier,
    clock: Arc<dyn Clock>,
}

impl AlertScanner {
    pub fn new(db: Database, rules: AlertRules, notifier: Notifier, clock: Arc<dyn Clock>) -> Self {
        Self {
            db,
            rules,
            notifier,
            clock,
        }
    }

    /// Evaluates the events committed since the last scan; returns the alerts raised.
    pub async fn scan_once(&self) -> Result<Vec<AlertRow>, StoreError> {
        let mut tx = self.db.begin().await?;
        let cursor = alerts::cursor(&mut tx).await?;
        let new = crate::store::audit::events_after(&self.db, cursor, 5000).await?;
        let Some(last) = new.last() else {
            tx.commit().await?;
            return Ok(Vec::new());
        };
        let now = self.clock.unix_seconds();
        let window = self.windows(&mut tx, &new, last, now).await?;
        let staff_tokens: HashMap<String, String> = alerts::staff_patient_tokens(&mut tx)
            .await?
            .into_iter()
            .collect();
        let mut raised = Vec::new();
        // A rule with a quiet time raises once per principal; after its first finding in this
        // scan (raised now, or found quiet), the others of the same rule and principal need
        // no query. A night of a doctor's reads is one finding per read: one query each cost
        // the scanner thousands of statements per scan.
        let mut settled: HashSet<(&'static str, String)> = HashSet::new();
        for f in self.rules.evaluate(&new, &window, &staff_tokens) {
            if f.quiet_for > 0 {
                let first_of_pair = settled.insert((f.rule, f.principal.clone()));
                if !first_of_pair
                    || alerts::fired_since(&mut tx, f.rule, &f.principal, now - f.quiet_for).await?
                {
                    continue;
                }
            }
            let row = AlertRow {
                alert_id: uuid::Uuid::new_v4().to_string(),
                raised_at: now,
                rule: f.rule.to_owned(),
                principal: f.principal,
                seq_first: f.seq_first,
                seq_last: f.seq_last,
                details: f.details,
            };
            alerts::insert(&mut tx, &row).await?;
            raised.push(row);
        }
        alerts::set_cursor(&mut tx, last.seq).await?;
        tx.commit().await?;
        for a in &raised {
            self.notifier.notify(a).await;
        }
        Ok(raised)
    }

    /// The rate rules' windows for the principals of `new` (up to `last`), merged in `seq`
    /// order. A rule quiet for a principal (it fired within its quiet time before `now`)
    /// could raise nothing, so its window is not read.
    async fn windows(
        &self,
        tx: &mut crate::store::Transaction,
        new: &[ChainedRow],
        last: &ChainedRow,
        now: i64,
    ) -> Result<Vec<ChainedRow>, StoreError> {
        let mut by_principal: BTreeMap<&str, Vec<&ChainedRow>> = BTreeMap::new();
        for e in new {
            by_principal.entry(&e.row.principal).or_default().push(e);
        }
        let mut window = Vec::new();
        for (principal, events) in by_principal {
            for rate in RATE_RULES {
                if !events.iter().any(|e| (rate.applies)(e))
                    || alerts::fired_since(tx, rate.rule, principal, now - rate.quiet_for).await?
                {
                    continue;
                }
                window.extend(
                    alerts::rule_window(
                        tx,
                        principal,
                        last.row.at - rate.horizon,
                        last.seq,
                        rate.events,
                        WINDOW_LIMIT,
                    )
                    .await?,
                );
            }
        }
        window.sort_by_key(|e| e.seq);
        window.dedup_by_key(|e| e.seq);
        Ok(window)
    }

    /// Raises (and sends) one alert per data request past its legal deadline.
    pub async fn scan_overdue_requests(&self) -> Result<Vec<AlertRow>, StoreError> {
        let raised = crate::domain::rights::retention::raise_overdue_alerts(
            &self.db,
            self.clock.unix_seconds(),
        )
        .await?;
        for a in &raised {
            self.notifier.notify(a).await;
        }
        Ok(raised)
    }

    /// Scans every `every` until the process stops. The first scan is one period after
    /// start, not at once: a scan raises each alert once, so a scan racing one that a caller
    /// runs on demand (the tests, with a period of an hour) would take its findings.
    pub async fn run(self: Arc<Self>, every: Duration) {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tick.tick().await;
            if let Err(e) = self.scan_once().await {
                tracing::error!(error = %e, "alert scan failed; it resumes from the same event next time");
            }
            if let Err(e) = self.scan_overdue_requests().await {
                tracing::error!(error = %e, "overdue data-request check failed; it runs again next time");
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::audit::AuditRow;

    /// 2027-01-15 (a Friday) 12:00 Moscow time.
    const NOON: i64 = 1_800_003_600 - (1_800_003_600 % 86_400) + 9 * 3600;

    fn ev(
        seq: i64,
        at: i64,
        principal: &str,
        role: &str,
        action: &str,
        decision: &str,
        token: Option<&str>,
    ) -> ChainedRow {
        ChainedRow {
            seq,
            row: AuditRow {
                at,
                request_id: format!("r{seq}"),
                principal: principal.into(),
                role: role.into(),
                branch: None,
                action: action.into(),
                patient_token: token.map(str::to_owned),
                patient_tokens: None,
                purpose: None,
                reason_code: Some("ETREAT".into()).filter(|_| action == "start_break_glass"),
                decision: decision.into(),
                reasons: String::new(),
                client_addr: None,
            },
            entry_hash: None,
        }
    }

    fn rules() -> AlertRules {
        AlertRules {
            patients_per_hour: 3,
            denials_per_10_minutes: 3,
            service_tokens_per_minute: 4,
            ..AlertRules::default()
        }
    }

    fn fired(found: &[Finding]) -> Vec<&'static str> {
        found.iter().map(|f| f.rule).collect()
    }

    #[test]
    fn the_fixed_clock_is_what_the_tests_think() {
        let (minute, weekday) = local_minute_and_weekday(NOON, 180);
        assert_eq!((minute, weekday), (12 * 60, 4), "Friday noon in Moscow");
    }

    #[test]
    fn break_glass_start_always_alerts() {
        let e = vec![ev(
            1,
            NOON,
            "st-1",
            "doctor",
            "start_break_glass",
            "permit",
            Some("pt_a"),
        )];
        let found = rules().evaluate(&e, &e, &HashMap::new());
        assert_eq!(fired(&found), ["break_glass_started"]);
        assert!(found[0].details.contains("ETREAT"));
        let denied = vec![ev(
            1,
            NOON,
            "st-1",
            "nurse",
            "start_break_glass",
            "deny",
            Some("pt_a"),
        )];
        assert!(
            rules()
                .evaluate(&denied, &denied, &HashMap::new())
                .is_empty()
        );
    }

    #[test]
    fn access_outside_working_hours_by_staff_alerts_services_do_not() {
        let night = NOON + 11 * 3600; // 23:00
        let e = vec![
            ev(
                1,
                night,
                "st-1",
                "doctor",
                "read_record",
                "permit",
                Some("pt_a"),
            ),
            ev(
                2,
                night,
                "service:clinic-app",
                "service",
                "resolve",
                "permit",
                Some("pt_b"),
            ),
        ];
        assert_eq!(
            fired(&rules().evaluate(&e, &e, &HashMap::new())),
            ["after_hours_access"]
        );
        let day = vec![ev(
            1,
            NOON,
            "st-1",
            "doctor",
            "read_record",
            "permit",
            Some("pt_a"),
        )];
        assert!(rules().evaluate(&day, &day, &HashMap::new()).is_empty());
        let sunday = vec![ev(
            1,
            NOON + 2 * 86_400,
            "st-1",
            "doctor",
            "read_record",
            "permit",
            Some("pt_a"),
        )];
        assert_eq!(
            fired(&rules().evaluate(&sunday, &sunday, &HashMap::new())),
            ["after_hours_access"]
        );
    }

    #[test]
    fn many_patients_in_an_hour_alert_but_one_patient_many_times_does_not() {
        let spread: Vec<_> = (0..4)
            .map(|i| {
                ev(
                    i + 1,
                    NOON + i * 600,
                    "st-1",
                    "doctor",
                    "read_record",
                    "permit",
                    Some(["pt_a", "pt_b", "pt_c", "pt_d"][i as usize]),
                )
            })
            .collect();
        assert_eq!(
            fired(&rules().evaluate(&spread[3..], &spread, &HashMap::new())),
            ["patient_volume"]
        );
        let same: Vec<_> = (0..10)
            .map(|i| {
                ev(
                    i + 1,
                    NOON + i * 60,
                    "st-1",
                    "doctor",
                    "read_record",
                    "permit",
                    Some("pt_a"),
                )
            })
            .collect();
        assert!(
            rules()
                .evaluate(&same[9..], &same, &HashMap::new())
                .is_empty()
        );
        // Outside the hour, older opens do not count.
        let old: Vec<_> = (0..4)
            .map(|i| {
                ev(
                    i + 1,
                    NOON + i * 1300,
                    "st-1",
                    "doctor",
                    "read_record",
                    "permit",
                    Some(["pt_a", "pt_b", "pt_c", "pt_d"][i as usize]),
                )
            })
            .collect();
        assert!(
            rules()
                .evaluate(&old[3..], &old, &HashMap::new())
                .is_empty()
        );
    }

    #[test]
    fn repeated_denials_and_service_rate() {
        let denials: Vec<_> = (0..3)
            .map(|i| {
                ev(
                    i + 1,
                    NOON + i * 60,
                    "st-2",
                    "receptionist",
                    "read_record",
                    "deny",
                    Some("pt_a"),
                )
            })
            .collect();
        assert_eq!(
            fired(&rules().evaluate(&denials[2..], &denials, &HashMap::new())),
            ["repeated_denials"]
        );
        let burst: Vec<_> = (0..5)
            .map(|i| {
                ev(
                    i + 1,
                    NOON + i,
                    "service:clinic-app",
                    "service",
                    "resolve",
                    "permit",
                    Some("pt_x"),
                )
            })
            .collect();
        assert_eq!(
            fired(&rules().evaluate(&burst[4..], &burst, &HashMap::new())),
            ["service_resolve_rate"]
        );
        let slow: Vec<_> = (0..5)
            .map(|i| {
                ev(
                    i + 1,
                    NOON + i * 30,
                    "service:clinic-app",
                    "service",
                    "resolve",
                    "permit",
                    Some("pt_x"),
                )
            })
            .collect();
        assert!(
            rules()
                .evaluate(&slow[4..], &slow, &HashMap::new())
                .is_empty(),
            "five in two minutes is under four a minute"
        );
    }

    #[test]
    fn opening_a_colleagues_record_alerts() {
        let staff_tokens = HashMap::from([("pt_colleague".to_string(), "st-9".to_string())]);
        let e = vec![ev(
            1,
            NOON,
            "st-1",
            "doctor",
            "read_record",
            "permit",
            Some("pt_colleague"),
        )];
        assert_eq!(
            fired(&rules().evaluate(&e, &e, &staff_tokens)),
            ["colleague_record"]
        );
        let own = vec![ev(
            1,
            NOON,
            "st-9",
            "doctor",
            "read_record",
            "permit",
            Some("pt_colleague"),
        )];
        assert!(
            rules().evaluate(&own, &own, &staff_tokens).is_empty(),
            "one's own record is not a colleague's"
        );
    }

    /// An event listing many tokens (a resolve batch's shared decision) counts each token.
    fn listing(
        seq: i64,
        principal: &str,
        role: &str,
        decision: &str,
        tokens: &[&str],
    ) -> ChainedRow {
        let mut e = ev(seq, NOON, principal, role, "resolve", decision, None);
        e.row.patient_tokens = Some(tokens.join(" "));
        e
    }

    #[test]
    fn an_event_listing_many_tokens_counts_each_of_them() {
        let none = HashMap::new();
        let five = [listing(
            1,
            "service:clinic-app",
            "service",
            "permit",
            &["pt_a", "pt_b", "pt_c", "pt_d", "pt_e"],
        )];
        assert_eq!(
            fired(&rules().evaluate(&five, &five, &none)),
            ["service_resolve_rate"],
            "one event of five tokens is five resolves"
        );
        let four = [listing(
            1,
            "service:clinic-app",
            "service",
            "permit",
            &["pt_a", "pt_b", "pt_c", "pt_d"],
        )];
        assert!(
            rules().evaluate(&four, &four, &none).is_empty(),
            "four a minute is the threshold"
        );
        let staff = [listing(
            1,
            "st-1",
            "receptionist",
            "permit",
            &["pt_a", "pt_b", "pt_c", "pt_d"],
        )];
        assert_eq!(
            fired(&rules().evaluate(&staff, &staff, &none)),
            ["patient_volume"],
            "four patients in one event are four patients in the hour"
        );
        let unknown = [listing(
            1,
            "service:clinic-app",
            "service",
            "deny",
            &["pt_x", "pt_y", "pt_z"],
        )];
        assert_eq!(
            fired(&rules().evaluate(&unknown, &unknown, &none)),
            ["repeated_denials"],
            "three refused tokens in one event are three denials"
        );
        let staff_tokens = HashMap::from([("pt_colleague".to_string(), "st-9".to_string())]);
        let among = [listing(
            1,
            "st-1",
            "doctor",
            "permit",
            &["pt_a", "pt_colleague"],
        )];
        assert_eq!(
            fired(&rules().evaluate(&among, &among, &staff_tokens)),
            ["colleague_record"],
            "a colleague's token in a list is found"
        );
    }
}
