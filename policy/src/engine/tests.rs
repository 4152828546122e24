//! Loading and validation of the policy files; CI relies on the first test.

use std::collections::BTreeSet;

use super::*;
use crate::Action;

/// CI's gate: "the policy files are validated against the schema". Fails, printing every
/// validation error with its policy id, if an edit of `policies/` breaks the schema contract.
#[test]
fn embedded_policies_validate_against_the_schema_in_strict_mode() {
    match PolicyEngine::new() {
        Ok(engine) => assert!(engine.policy_ids().len() >= 20),
        Err(e) => panic!("{e}"),
    }
}

#[test]
fn every_policy_has_a_unique_readable_id() {
    let engine = PolicyEngine::new().unwrap();
    for id in engine.policy_ids() {
        assert!(
            id.chars().all(|c| c.is_ascii_lowercase() || c == '-'),
            "{id}"
        );
    }
}

#[test]
fn rust_actions_are_exactly_the_schema_actions() {
    let engine = PolicyEngine::new().unwrap();
    let schema = engine.schema();
    let groups: BTreeSet<String> = schema
        .action_groups()
        .map(|a| a.id().unescaped().to_owned())
        .collect();
    let in_schema: BTreeSet<String> = schema
        .actions()
        .map(|a| a.id().unescaped().to_owned())
        .filter(|a| !groups.contains(a))
        .collect();
    let in_rust: BTreeSet<String> = Action::ALL.iter().map(|a| a.as_str().to_owned()).collect();
    assert_eq!(in_schema, in_rust);
}

#[test]
fn engine_can_be_shared_across_threads() {
    fn shared<T: Send + Sync>() {}
    shared::<PolicyEngine>();
}

fn load_with(policies: &str) -> PolicyError {
    PolicyEngine::from_sources(SCHEMA_SOURCE, policies).unwrap_err()
}

#[test]
fn a_misspelt_role_fails_validation_naming_the_policy() {
    let err = load_with(
        r#"@id("typo")
        permit (principal is Staff, action == Action::"read_audit", resource)
        when { principal.role == Role::"secruity_officer" };"#,
    );
    let text = err.to_string();
    assert!(matches!(err, PolicyError::Invalid(_)), "{text}");
    assert!(
        text.contains("`typo`") && text.contains("secruity_officer"),
        "{text}"
    );
}

#[test]
fn an_unguarded_optional_attribute_fails_strict_validation() {
    let err = load_with(
        r#"@id("no-has")
        permit (principal, action == Action::"resolve", resource)
        when { context.purpose == Purpose::"treatment" };"#,
    );
    assert!(matches!(err, PolicyError::Invalid(_)), "{err}");
    assert!(err.to_string().contains("`no-has`"), "{err}");
}

#[test]
fn an_unknown_action_fails_validation() {
    let err =
        load_with(r#"@id("x") permit (principal, action == Action::"delete_patient", resource);"#);
    assert!(err.to_string().contains("delete_patient"), "{err}");
}

#[test]
fn policies_without_id_duplicate_ids_and_bad_obligations_are_refused() {
    let plain = r#"permit (principal, action == Action::"read_audit", resource);"#;
    assert!(matches!(load_with(plain), PolicyError::MissingId(_)));

    let twice = r#"@id("a") permit (principal, action == Action::"read_audit", resource);
        @id("a") permit (principal, action == Action::"review_break_glass", resource);"#;
    assert_eq!(load_with(twice), PolicyError::DuplicateId("a".into()));

    let unknown = r#"@id("b") @obligation("page_the_ceo")
        permit (principal, action == Action::"read_audit", resource);"#;
    assert!(matches!(
        load_with(unknown),
        PolicyError::UnknownObligation { .. }
    ));

    let on_forbid = r#"@id("c") @obligation("mask")
        forbid (principal, action == Action::"read_audit", resource);"#;
    assert_eq!(
        load_with(on_forbid),
        PolicyError::ObligationOnForbid("c".into())
    );

    let template = r#"@id("t") permit (principal == ?principal, action, resource);"#;
    assert!(matches!(load_with(template), PolicyError::Policies(_)));
}

#[test]
fn a_broken_schema_is_refused() {
    let err =
        PolicyEngine::from_sources("entity Staff = { role: Rol };", POLICY_SOURCE).unwrap_err();
    assert!(matches!(err, PolicyError::Schema(_)), "{err}");
}

fn doctor_reads_record() -> AccessRequest {
    AccessRequest::staff(crate::Role::Doctor, "st-17", "msk-1")
        .action(Action::ReadRecord)
        .patient("pt_first", crate::ConsumerDomain::VaultStaff)
        .purpose(crate::Purpose::Treatment)
        .care_relationship(true)
}

fn key_of(request: &AccessRequest) -> DecisionKey {
    DecisionKey::of(&request.checked().unwrap())
}

/// A remembered decision must be the one Cedar gives for that request: requests that differ
/// from their neighbour in one fact each (care, grant, purpose, role, consent, domain), all
/// decided once, then decided again from the memo. A key that left a fact out would answer a
/// request with its neighbour's decision, and so would a Cedar request built without it.
#[test]
fn a_remembered_decision_is_the_one_cedar_gives() {
    use crate::{ConsentPurpose, ConsumerDomain, FieldClass, Purpose, Role};
    let engine = PolicyEngine::new().unwrap();
    let base = doctor_reads_record();
    let resolve = |p: Purpose, c: FieldClass| {
        AccessRequest::service(ConsumerDomain::ClinicApp)
            .action(Action::Resolve)
            .patient("pt_first", ConsumerDomain::ClinicApp)
            .purpose(p)
            .field_class(c)
    };
    let cases = vec![
        (base.clone(), true),
        (base.clone().care_relationship(false), false),
        (
            base.clone().care_relationship(false).break_glass(true),
            true,
        ),
        (base.clone().retention_only(true), true),
        (base.clone().patient_is_staff_colleague(true), true),
        (base.clone().purpose(Purpose::Billing), false),
        (
            AccessRequest::staff(Role::Receptionist, "st-17", "msk-1")
                .action(Action::ReadRecord)
                .patient("pt_first", ConsumerDomain::VaultStaff)
                .purpose(Purpose::Treatment)
                .care_relationship(true),
            false,
        ),
        (resolve(Purpose::Scheduling, FieldClass::Identity), true),
        (resolve(Purpose::Reminder, FieldClass::Contact), false),
        (
            resolve(Purpose::Reminder, FieldClass::Contact)
                .consents([ConsentPurpose::SmsReminders]),
            true,
        ),
        (
            AccessRequest::service(ConsumerDomain::ClinicApp)
                .action(Action::Resolve)
                .patient("pt_first", ConsumerDomain::Analytics)
                .purpose(Purpose::Scheduling)
                .field_class(FieldClass::Identity),
            false,
        ),
    ];
    for (request, _) in &cases {
        engine.decide(request);
    }
    for (request, allowed) in &cases {
        let remembered = engine.decide(request);
        assert_eq!(remembered.allowed, *allowed, "{request:?}");
        assert_eq!(remembered, engine.evaluate(&key_of(request)), "{request:?}");
    }
    assert_eq!(engine.memo.len(), cases.len());
}

/// Cedar is shown no staff id and no token: two doctors asking about two patients with the
/// same facts get one decision, remembered once.
#[test]
fn decisions_are_the_same_for_every_staff_member_and_patient() {
    let engine = PolicyEngine::new().unwrap();
    let first = engine.decide(&doctor_reads_record());
    let other = AccessRequest::staff(crate::Role::Doctor, "st-99", "msk-1")
        .action(Action::ReadRecord)
        .patient("pt_second", crate::ConsumerDomain::VaultStaff)
        .purpose(crate::Purpose::Treatment)
        .care_relationship(true);
    assert!(first.allowed);
    assert_eq!(engine.decide(&other), first);
    assert_eq!(engine.memo.len(), 1);
}

/// However many different requests arrive, the memo holds at most its capacity, and what it
/// answers after starting again is still right.
#[test]
fn the_memo_stays_bounded() {
    let engine = PolicyEngine::new().unwrap();
    let in_branch = |i: usize| {
        AccessRequest::staff(crate::Role::Doctor, "st-17", format!("branch-{i}"))
            .action(Action::ReadRecord)
            .patient("pt_first", crate::ConsumerDomain::VaultStaff)
            .purpose(crate::Purpose::Treatment)
            .care_relationship(i.is_multiple_of(2))
    };
    for i in 0..DecisionMemo::CAPACITY + 10 {
        engine.decide(&in_branch(i));
        assert!(engine.memo.len() <= DecisionMemo::CAPACITY);
    }
    assert!(engine.decide(&in_branch(2)).allowed);
    assert!(!engine.decide(&in_branch(3)).allowed);
}
