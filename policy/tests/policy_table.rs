//! The policy table: every principal × action × purpose × field class × live facts, decided by
//! the Cedar engine and by `oracle`, a plain-Rust statement of the rules written from the brief
//! (not from vault.cedar). A disagreement names the row.

use policy::{
    AccessRequest, Action, ConsentPurpose, ConsumerDomain, Decision, FieldClass, Obligation,
    PolicyEngine, Purpose, Role,
};

#[derive(Clone, Copy, Debug)]
enum Who {
    Staff(Role),
    Service(ConsumerDomain),
}

/// The facts of one row.
#[derive(Clone, Copy, Debug)]
struct Row {
    who: Who,
    action: Action,
    /// Domain of the patient's token (patient actions only).
    patient_domain: ConsumerDomain,
    purpose: Option<Purpose>,
    /// The class touched: named for `resolve`, medical for records, none otherwise.
    class: Option<FieldClass>,
    care: bool,
    break_glass: bool,
    colleague: bool,
    /// `false`: the patient holds no consent; `true`: all of them.
    consents: bool,
    /// The patient asked for deletion; only data the law makes us keep is left.
    retention_only: bool,
}

#[derive(Debug, PartialEq, Eq)]
struct Expected {
    allowed: bool,
    notify: bool,
    mask: bool,
}

const DENY: Expected = Expected {
    allowed: false,
    notify: false,
    mask: false,
};

/// The rules, in words turned into code.
fn oracle(r: Row) -> Expected {
    use Action::*;
    use FieldClass::*;
    use Purpose::*;

    let reads = matches!(
        r.action,
        Resolve | ReadRecord | ListRecords | ReadAttachment
    );
    let writes = matches!(r.action, CreateRecord | CreateAttachment | UpdatePatient);
    let on_patient = on_patient(r.action);
    let purpose_is = |ps: &[Purpose]| r.purpose.is_some_and(|p| ps.contains(&p));
    let class_is = |cs: &[FieldClass]| r.class.is_some_and(|c| cs.contains(&c));

    // Invariants, whoever asks.
    // Tokens are per domain: staff use the staff domain's, a service its own.
    let own_domain = match r.who {
        Who::Staff(_) => ConsumerDomain::VaultStaff,
        Who::Service(domain) => domain,
    };
    if on_patient && r.patient_domain != own_domain {
        return DENY;
    }
    if let Some(class) = r.class
        && !r.purpose.is_some_and(|p| p.allows(class))
    {
        return DENY; // the purpose table
    }
    if r.class == Some(Medical) && !(r.care || r.break_glass) {
        return DENY;
    }
    if writes && r.break_glass && !r.care {
        return DENY; // break-glass is read-only
    }
    // Reminders, the patient app and marketing rest on the patient's consent; nothing else does.
    if purpose_is(&[Reminder, PatientSelfService, Marketing]) && !r.consents {
        return DENY;
    }
    // Data kept only because the law says so: read for care, money and the law, never changed,
    // no new relationship or break-glass. Data requests and consents stay open.
    if r.retention_only {
        if reads && !purpose_is(&[Treatment, Billing, TaxCertificate, DisclosureLegal]) {
            return DENY;
        }
        if writes || matches!(r.action, ReportCareRelationship | StartBreakGlass) {
            return DENY;
        }
    }

    let (allowed, notify) = match r.who {
        Who::Staff(Role::Doctor) => match r.action {
            _ if reads => {
                let ok = purpose_is(&[Treatment]) && (r.care || r.break_glass);
                (ok, r.break_glass || (r.care && r.colleague))
            }
            CreateRecord | CreateAttachment => (purpose_is(&[Treatment]) && r.care, false),
            StartBreakGlass => (true, true),
            Search => (true, false),
            _ => (false, false),
        },
        // Conservative: identity and contact only, never medical.
        Who::Staff(Role::Nurse) => (
            r.action == Resolve
                && r.care
                && purpose_is(&[Treatment])
                && class_is(&[Identity, Contact]),
            false,
        ),
        Who::Staff(Role::Receptionist) => match r.action {
            Resolve => (
                purpose_is(&[Scheduling]) && class_is(&[Identity, Contact, Document]),
                false,
            ),
            Search | RegisterPatient | UpdatePatient => (true, false),
            FileDataRequest | ManageConsent => (true, false),
            _ => (false, false),
        },
        Who::Staff(Role::Cashier) => match r.action {
            Resolve => (
                purpose_is(&[Billing, Receipt, TaxCertificate]) && class_is(&[Identity, Financial]),
                false,
            ),
            Search => (true, false),
            _ => (false, false),
        },
        Who::Staff(Role::Accountant) => (
            r.action == Resolve
                && purpose_is(&[TaxCertificate])
                && class_is(&[Identity, Financial]),
            false,
        ),
        Who::Staff(Role::SecurityOfficer) => (
            matches!(r.action, ReadAudit | ReviewBreakGlass | ManageDataRequests),
            false,
        ),
        Who::Staff(Role::Administrator) => (false, false),
        Who::Service(ConsumerDomain::ClinicApp) => match r.action {
            Resolve => {
                let operational = purpose_is(&[
                    Scheduling,
                    Reminder,
                    Billing,
                    Receipt,
                    TaxCertificate,
                    PatientSelfService,
                ]);
                let contact_ok = r.class != Some(Contact)
                    || purpose_is(&[Scheduling, Reminder, PatientSelfService]);
                let marketing = purpose_is(&[Marketing]) && r.class == Some(Contact);
                (
                    (operational && r.class != Some(Medical) && contact_ok) || marketing,
                    false,
                )
            }
            Search | RegisterPatient | ReportCareRelationship => (true, false),
            FileDataRequest | ManageConsent => (true, false),
            _ => (false, false),
        },
        Who::Service(ConsumerDomain::Analytics | ConsumerDomain::VaultStaff) => (false, false),
    };
    if !allowed {
        return DENY;
    }
    let mask =
        r.class == Some(Document) && !purpose_is(&[Treatment, TaxCertificate, DisclosureLegal]);
    Expected {
        allowed,
        notify,
        mask,
    }
}

fn on_patient(action: Action) -> bool {
    !matches!(
        action,
        Action::Search
            | Action::RegisterPatient
            | Action::ReadAudit
            | Action::ReviewBreakGlass
            | Action::ManageDataRequests
    )
}

fn request(r: Row) -> AccessRequest {
    let base = match r.who {
        Who::Staff(role) => AccessRequest::staff(role, "st-42", "msk-1"),
        Who::Service(domain) => AccessRequest::service(domain),
    };
    let mut req = base
        .action(r.action)
        .care_relationship(r.care)
        .break_glass(r.break_glass)
        .patient_is_staff_colleague(r.colleague)
        .retention_only(r.retention_only);
    if r.consents {
        req = req.consents(ConsentPurpose::ALL);
    }
    if on_patient(r.action) {
        req = req.patient("pt_table", r.patient_domain);
    }
    if let Some(p) = r.purpose {
        req = req.purpose(p);
    }
    if r.action == Action::Resolve
        && let Some(c) = r.class
    {
        req = req.field_class(c);
    }
    req
}

fn rows() -> Vec<Row> {
    let mut who: Vec<Who> = Role::ALL.iter().map(|r| Who::Staff(*r)).collect();
    who.extend(ConsumerDomain::ALL.iter().map(|d| Who::Service(*d)));
    let purposes: Vec<Option<Purpose>> = std::iter::once(None)
        .chain(Purpose::ALL.map(Some))
        .collect();

    let mut rows = Vec::new();
    for &who in &who {
        for &action in Action::ALL {
            let classes: Vec<Option<FieldClass>> = match action {
                Action::Resolve => FieldClass::ALL.map(Some).to_vec(),
                Action::ReadRecord
                | Action::ListRecords
                | Action::ReadAttachment
                | Action::CreateRecord
                | Action::CreateAttachment => vec![Some(FieldClass::Medical)],
                _ => vec![None],
            };
            // The token's domain matters only to actions on a patient: the principal's own
            // domain, and one foreign domain (a token used across domains).
            let own = match who {
                Who::Staff(_) => ConsumerDomain::VaultStaff,
                Who::Service(domain) => domain,
            };
            let foreign = match own {
                ConsumerDomain::ClinicApp => ConsumerDomain::VaultStaff,
                _ => ConsumerDomain::ClinicApp,
            };
            let domains = if on_patient(action) {
                vec![own, foreign]
            } else {
                vec![own]
            };
            for &patient_domain in &domains {
                for &purpose in &purposes {
                    for &class in &classes {
                        rows.extend(every_fact_combination(Row {
                            who,
                            action,
                            patient_domain,
                            purpose,
                            class,
                            care: false,
                            break_glass: false,
                            colleague: false,
                            consents: false,
                            retention_only: false,
                        }));
                    }
                }
            }
        }
    }
    rows
}

/// Each live fact of a row, set.
const FACTS: [fn(&mut Row); 5] = [
    |r| r.care = true,
    |r| r.break_glass = true,
    |r| r.colleague = true,
    |r| r.consents = true,
    |r| r.retention_only = true,
];

/// `row` with every combination of the live facts (2^5 rows).
fn every_fact_combination(row: Row) -> Vec<Row> {
    let mut rows = vec![row];
    for set in FACTS {
        let with_fact: Vec<Row> = rows
            .iter()
            .map(|r| {
                let mut r = *r;
                set(&mut r);
                r
            })
            .collect();
        rows.extend(with_fact);
    }
    rows
}

fn observed(d: &Decision) -> Expected {
    Expected {
        allowed: d.allowed,
        notify: d.obligations.contains(&Obligation::NotifySecurityOfficer),
        mask: d.obligations.contains(&Obligation::Mask),
    }
}

#[test]
fn every_role_action_purpose_and_fact_combination_matches_the_oracle() {
    let engine = PolicyEngine::new().unwrap();
    let rows = rows();
    let mut failures = Vec::new();
    let mut allowed = 0;
    for row in &rows {
        let decision = engine.decide(&request(*row));
        assert!(
            !decision.reasons.is_empty(),
            "a decision without reasons: {row:?}"
        );
        for reason in &decision.reasons {
            assert!(
                !reason.starts_with("invalid-request")
                    && !reason.starts_with("evaluation-error")
                    && !reason.starts_with("request-"),
                "the table builds only well-formed requests: {row:?} -> {reason}"
            );
        }
        if let (true, Some(class), Some(purpose)) = (decision.allowed, row.class, row.purpose) {
            assert!(purpose.allows(class), "purpose table widened: {row:?}");
        }
        if decision.allowed && row.class == Some(FieldClass::Medical) {
            assert!(
                matches!(row.who, Who::Staff(Role::Doctor)) && (row.care || row.break_glass),
                "medical data beyond a doctor with care or break-glass: {row:?}"
            );
        }
        if decision.allowed && row.purpose.and_then(Purpose::required_consent).is_some() {
            assert!(row.consents, "a consent purpose without consent: {row:?}");
        }
        allowed += usize::from(decision.allowed);
        let expected = oracle(*row);
        if observed(&decision) != expected {
            failures.push(format!(
                "{row:?}\n  expected {expected:?}\n  got {decision:?}"
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows disagree:\n{}",
        failures.len(),
        rows.len(),
        failures
            .iter()
            .take(20)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
    // Guard against a vacuous table (e.g. everything denied because requests were malformed).
    assert!(
        allowed > 100,
        "only {allowed} of {} rows allowed",
        rows.len()
    );
    println!("{} rows, {allowed} allowed", rows.len());
}
