//! What one policy decision costs, against a baseline measured in the same run:
//! * `decide/doctor_unseal`: [`PolicyEngine::decide`] for a doctor reading a record of a
//!   patient in their care (the unseal of issue 3), from the typed request to the decision with
//!   its reasons;
//! * `decide/service_resolve_identity`: the same for clinic-app resolving names for a schedule
//!   (the day view of issue 5);
//! * `decide/cedar_floor`: Cedar's `is_authorized` alone on the doctor's request built once
//!   beforehand, the least a Cedar decision of these policies can cost.
//!
//! Run: `cargo bench -p policy --bench decide`; the ratio is `doctor_unseal / cedar_floor`.
#![allow(clippy::unwrap_used, clippy::expect_used)] // a benchmark may stop at the first fault

use std::collections::{HashMap, HashSet};
use std::hint::black_box;
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Context, Entities, Entity, EntityUid, PolicySet, Request, RestrictedExpression,
    Schema,
};
use criterion::{Criterion, criterion_group, criterion_main};
use policy::{
    AccessRequest, Action, ConsumerDomain, FieldClass, POLICY_SOURCE, PolicyEngine, Purpose, Role,
    SCHEMA_SOURCE,
};

fn doctor_request() -> AccessRequest {
    AccessRequest::staff(Role::Doctor, "st-17", "msk-1")
        .action(Action::ReadRecord)
        .patient("pt_7Hq2bench", ConsumerDomain::VaultStaff)
        .purpose(Purpose::Treatment)
        .care_relationship(true)
}

/// The doctor's request as Cedar takes it, spelled out by hand (as `policy::cedar` builds it).
fn cedar_doctor_request(schema: &Schema) -> (Request, Entities) {
    let uid = |s: &str| EntityUid::from_str(s).unwrap();
    let staff = Entity::new(
        uid(r#"Staff::"st-17""#),
        HashMap::from([
            (
                "role".to_owned(),
                RestrictedExpression::new_entity_uid(uid(r#"Role::"doctor""#)),
            ),
            (
                "branch".to_owned(),
                RestrictedExpression::new_string("msk-1".to_owned()),
            ),
        ]),
        HashSet::new(),
    )
    .unwrap();
    let patient = Entity::new(
        uid(r#"Patient::"pt_7Hq2bench""#),
        HashMap::from([(
            "domain".to_owned(),
            RestrictedExpression::new_entity_uid(uid(r#"Service::"vault-staff""#)),
        )]),
        HashSet::new(),
    )
    .unwrap();
    let classes = Purpose::Treatment
        .field_classes()
        .iter()
        .map(|c| {
            RestrictedExpression::new_entity_uid(uid(&format!(r#"FieldClass::"{}""#, c.as_str())))
        })
        .collect::<Vec<_>>();
    let context = Context::from_pairs([
        (
            "purpose_field_classes".to_owned(),
            RestrictedExpression::new_set(classes),
        ),
        (
            "care_relationship".to_owned(),
            RestrictedExpression::new_bool(true),
        ),
        (
            "break_glass".to_owned(),
            RestrictedExpression::new_bool(false),
        ),
        (
            "patient_is_staff_colleague".to_owned(),
            RestrictedExpression::new_bool(false),
        ),
        ("consents".to_owned(), RestrictedExpression::new_set([])),
        (
            "retention_only".to_owned(),
            RestrictedExpression::new_bool(false),
        ),
        (
            "purpose".to_owned(),
            RestrictedExpression::new_entity_uid(uid(r#"Purpose::"treatment""#)),
        ),
    ])
    .unwrap();
    let request = Request::new(
        uid(r#"Staff::"st-17""#),
        uid(r#"Action::"read_record""#),
        uid(r#"Patient::"pt_7Hq2bench""#),
        context,
        Some(schema),
    )
    .unwrap();
    let entities = Entities::from_entities([staff, patient], Some(schema)).unwrap();
    (request, entities)
}

fn decide(c: &mut Criterion) {
    let engine = PolicyEngine::new().unwrap();
    let doctor = doctor_request();
    assert!(
        engine.decide(&doctor).allowed,
        "the bench request is a permit"
    );
    let service = AccessRequest::service(ConsumerDomain::ClinicApp)
        .action(Action::Resolve)
        .patient("pt_7Hq2bench", ConsumerDomain::ClinicApp)
        .purpose(Purpose::Scheduling)
        .field_class(FieldClass::Identity);
    assert!(
        engine.decide(&service).allowed,
        "the bench request is a permit"
    );

    let (schema, _) = Schema::from_cedarschema_str(SCHEMA_SOURCE).unwrap();
    let policies = PolicySet::from_str(POLICY_SOURCE).unwrap();
    let authorizer = Authorizer::new();
    let (request, entities) = cedar_doctor_request(&schema);
    assert_eq!(
        authorizer
            .is_authorized(&request, &policies, &entities)
            .decision(),
        cedar_policy::Decision::Allow,
        "the hand-built request is the same permit"
    );

    let mut g = c.benchmark_group("decide");
    g.bench_function("doctor_unseal", |b| {
        b.iter(|| engine.decide(black_box(&doctor)))
    });
    g.bench_function("service_resolve_identity", |b| {
        b.iter(|| engine.decide(black_box(&service)))
    });
    g.bench_function("cedar_floor", |b| {
        b.iter(|| authorizer.is_authorized(black_box(&request), &policies, &entities))
    });
    g.finish();
}

criterion_group!(benches, decide);
criterion_main!(benches);
