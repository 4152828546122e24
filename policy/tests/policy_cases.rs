//! Hand-written rows for the cases that matter most, with the reasons a reviewer or the
//! security officer will read in the audit trail.

use policy::{
    AccessRequest, Action, ConsumerDomain, Decision, FieldClass, Obligation, PolicyEngine, Purpose,
    Role,
};

use std::sync::LazyLock;

use ConsumerDomain::{ClinicApp, VaultStaff};

/// Loaded once for all cases, as the vault does at start-up.
static ENGINE: LazyLock<PolicyEngine> = LazyLock::new(|| match PolicyEngine::new() {
    Ok(engine) => engine,
    Err(e) => panic!("the embedded policies do not load: {e}"),
});

fn decide(request: AccessRequest) -> Decision {
    ENGINE.decide(&request)
}

fn doctor() -> AccessRequest {
    AccessRequest::staff(Role::Doctor, "st-17", "msk-1")
}

fn staff(role: Role) -> AccessRequest {
    AccessRequest::staff(role, "st-99", "msk-1")
}

fn clinic_app() -> AccessRequest {
    AccessRequest::service(ClinicApp)
}

/// A medical read for treatment by staff, before the facts are set.
fn read_record(who: AccessRequest) -> AccessRequest {
    who.action(Action::ReadRecord)
        .patient("pt_case", VaultStaff)
        .purpose(Purpose::Treatment)
}

/// A staff member resolves a token of the staff domain.
fn resolve(who: AccessRequest, purpose: Purpose, class: FieldClass) -> AccessRequest {
    who.action(Action::Resolve)
        .patient("pt_case", VaultStaff)
        .purpose(purpose)
        .field_class(class)
}

/// clinic-app resolves one of its own tokens.
fn app_resolve(purpose: Purpose, class: FieldClass) -> AccessRequest {
    clinic_app()
        .action(Action::Resolve)
        .patient("pt_case", ClinicApp)
        .purpose(purpose)
        .field_class(class)
}

#[track_caller]
fn assert_denied_by(d: &Decision, reason: &str) {
    assert!(!d.allowed, "expected a deny by {reason}, got {d:?}");
    assert!(d.obligations.is_empty(), "{d:?}");
    assert!(
        d.reasons.iter().any(|r| r == reason),
        "expected reason {reason}, got {d:?}"
    );
}

#[track_caller]
fn assert_allowed(d: &Decision, reasons: &[&str], obligations: &[Obligation]) {
    assert!(d.allowed, "expected an allow, got {d:?}");
    assert_eq!(d.reasons, reasons, "{d:?}");
    assert_eq!(d.obligations, obligations, "{d:?}");
}

#[test]
fn doctor_with_care_relationship_reads_the_record() {
    let d = decide(read_record(doctor()).care_relationship(true));
    assert_allowed(&d, &["doctor-care-read"], &[]);
}

#[test]
fn doctor_without_care_relationship_is_denied_medical_reads() {
    let d = decide(read_record(doctor()));
    assert_denied_by(&d, "medical-needs-care-or-break-glass");
    let d = decide(resolve(doctor(), Purpose::Treatment, FieldClass::Medical));
    assert_denied_by(&d, "medical-needs-care-or-break-glass");
}

#[test]
fn break_glass_read_is_allowed_and_alerts_the_security_officer() {
    let d = decide(read_record(doctor()).break_glass(true));
    assert_allowed(
        &d,
        &["doctor-break-glass-read"],
        &[Obligation::NotifySecurityOfficer],
    );
    let d = decide(
        doctor()
            .action(Action::ListRecords)
            .patient("pt_case", VaultStaff)
            .purpose(Purpose::Treatment)
            .break_glass(true),
    );
    assert!(d.allowed && d.obligations == [Obligation::NotifySecurityOfficer]);
}

#[test]
fn break_glass_does_not_allow_writing() {
    for action in [Action::CreateRecord, Action::CreateAttachment] {
        let d = decide(
            doctor()
                .action(action)
                .patient("pt_case", VaultStaff)
                .purpose(Purpose::Treatment)
                .break_glass(true),
        );
        assert_denied_by(&d, "break-glass-is-read-only");
    }
}

#[test]
fn treating_doctor_writes_records() {
    let d = decide(
        doctor()
            .action(Action::CreateRecord)
            .patient("pt_case", VaultStaff)
            .purpose(Purpose::Treatment)
            .care_relationship(true),
    );
    assert_allowed(&d, &["doctor-care-write"], &[]);
}

#[test]
fn reading_a_colleagues_record_alerts_the_security_officer() {
    let d = decide(
        read_record(doctor())
            .care_relationship(true)
            .patient_is_staff_colleague(true),
    );
    assert_allowed(
        &d,
        &["doctor-care-read-colleague"],
        &[Obligation::NotifySecurityOfficer],
    );
}

#[test]
fn only_doctors_may_start_break_glass_and_the_start_alerts() {
    let d = decide(
        doctor()
            .action(Action::StartBreakGlass)
            .patient("pt_case", VaultStaff),
    );
    assert_allowed(
        &d,
        &["doctor-start-break-glass"],
        &[Obligation::NotifySecurityOfficer],
    );
    for role in [Role::Nurse, Role::Receptionist, Role::SecurityOfficer] {
        let d = decide(
            staff(role)
                .action(Action::StartBreakGlass)
                .patient("pt_case", VaultStaff),
        );
        assert!(!d.allowed, "{role}: {d:?}");
    }
}

#[test]
fn clinic_app_never_reaches_medical_data() {
    for purpose in Purpose::ALL {
        let d = decide(
            app_resolve(purpose, FieldClass::Medical)
                .care_relationship(true)
                .break_glass(true),
        );
        assert!(!d.allowed, "{purpose}: {d:?}");
    }
    let d = decide(app_resolve(
        Purpose::PatientSelfService,
        FieldClass::Medical,
    ));
    assert_denied_by(&d, "service-never-medical");
    let d = decide(
        clinic_app()
            .action(Action::ReadRecord)
            .patient("pt_case", ClinicApp)
            .purpose(Purpose::Treatment)
            .care_relationship(true),
    );
    assert_denied_by(&d, "service-never-medical");
}

#[test]
fn clinic_app_resolves_names_and_phones_for_scheduling() {
    for class in [FieldClass::Identity, FieldClass::Contact] {
        let d = decide(app_resolve(Purpose::Scheduling, class));
        assert_allowed(&d, &["clinic-app-resolve"], &[]);
    }
}

#[test]
fn clinic_app_uses_only_its_own_domains_tokens() {
    let d = decide(
        clinic_app()
            .action(Action::Resolve)
            .patient("pt_other", ConsumerDomain::Analytics)
            .purpose(Purpose::Scheduling)
            .field_class(FieldClass::Identity),
    );
    assert_denied_by(&d, "service-only-own-domain");
}

#[test]
fn staff_use_only_staff_domain_tokens() {
    let d = decide(
        doctor()
            .action(Action::ReadRecord)
            .patient("pt_app", ClinicApp)
            .purpose(Purpose::Treatment)
            .care_relationship(true),
    );
    assert_denied_by(&d, "staff-only-staff-domain");
}

#[test]
fn no_service_acts_as_the_staff_domain() {
    let d = decide(
        AccessRequest::service(VaultStaff)
            .action(Action::Resolve)
            .patient("pt_case", VaultStaff)
            .purpose(Purpose::Scheduling)
            .field_class(FieldClass::Identity),
    );
    assert_denied_by(&d, "vault-staff-is-not-a-service");
}

#[test]
fn analytics_gets_nothing() {
    let d = decide(
        AccessRequest::service(ConsumerDomain::Analytics)
            .action(Action::Resolve)
            .patient("pt_own", ConsumerDomain::Analytics)
            .purpose(Purpose::Scheduling)
            .field_class(FieldClass::Identity),
    );
    assert_eq!(d.reasons, ["default-deny"]);
    let d = decide(
        AccessRequest::service(ConsumerDomain::Analytics)
            .action(Action::Search)
            .purpose(Purpose::Scheduling),
    );
    assert_eq!(d.reasons, ["default-deny"]);
}

#[test]
fn document_numbers_are_masked_outside_care_tax_and_legal_disclosure() {
    let d = decide(app_resolve(
        Purpose::PatientSelfService,
        FieldClass::Document,
    ));
    assert_allowed(&d, &["clinic-app-resolve"], &[Obligation::Mask]);
    let d = decide(app_resolve(Purpose::TaxCertificate, FieldClass::Document));
    assert_allowed(&d, &["clinic-app-resolve"], &[]);
    let d =
        decide(resolve(doctor(), Purpose::Treatment, FieldClass::Document).care_relationship(true));
    assert_allowed(&d, &["doctor-care-read"], &[]);
}

#[test]
fn security_officer_reads_the_audit_trail_but_never_resolves() {
    for action in [Action::ReadAudit, Action::ReviewBreakGlass] {
        let d = decide(staff(Role::SecurityOfficer).action(action));
        assert_allowed(&d, &["security-officer-audit"], &[]);
    }
    for class in FieldClass::ALL {
        let d = decide(
            resolve(staff(Role::SecurityOfficer), Purpose::Treatment, class)
                .care_relationship(true),
        );
        assert!(!d.allowed, "{class}: {d:?}");
    }
    let d = decide(resolve(
        staff(Role::SecurityOfficer),
        Purpose::Scheduling,
        FieldClass::Identity,
    ));
    assert_denied_by(&d, "security-and-admin-no-patient-data");
}

#[test]
fn administrator_gets_no_patient_data() {
    let d = decide(staff(Role::Administrator).action(Action::Search));
    assert_denied_by(&d, "security-and-admin-no-patient-data");
    let d = decide(staff(Role::Administrator).action(Action::ReadAudit));
    assert_eq!(d.reasons, ["default-deny"]);
}

#[test]
fn receptionist_never_reads_medical_data() {
    let d = decide(
        resolve(
            staff(Role::Receptionist),
            Purpose::Treatment,
            FieldClass::Medical,
        )
        .care_relationship(true),
    );
    assert_denied_by(&d, "only-doctors-touch-medical");
    let d = decide(read_record(staff(Role::Receptionist)).care_relationship(true));
    assert_denied_by(&d, "only-doctors-touch-medical");
}

#[test]
fn receptionist_books_registers_and_finds_patients() {
    let d = decide(resolve(
        staff(Role::Receptionist),
        Purpose::Scheduling,
        FieldClass::Contact,
    ));
    assert_allowed(&d, &["reception-resolve"], &[]);
    for action in [Action::Search, Action::RegisterPatient] {
        assert!(decide(staff(Role::Receptionist).action(action)).allowed);
    }
    let d = decide(
        staff(Role::Receptionist)
            .action(Action::UpdatePatient)
            .patient("pt_case", VaultStaff),
    );
    assert_allowed(&d, &["reception-registry"], &[]);
    // Scheduling sees no documents (the purpose table), whatever the role may.
    let d = decide(resolve(
        staff(Role::Receptionist),
        Purpose::Scheduling,
        FieldClass::Document,
    ));
    assert_denied_by(&d, "purpose-limits-field-class");
}

#[test]
fn cashier_gets_no_identity_for_a_receipt_but_does_for_billing() {
    let d = decide(resolve(
        staff(Role::Cashier),
        Purpose::Receipt,
        FieldClass::Identity,
    ));
    assert_denied_by(&d, "purpose-limits-field-class");
    let d = decide(resolve(
        staff(Role::Cashier),
        Purpose::Billing,
        FieldClass::Identity,
    ));
    assert_allowed(&d, &["cashier-resolve"], &[]);
    let d = decide(resolve(
        staff(Role::Cashier),
        Purpose::Billing,
        FieldClass::Medical,
    ));
    assert!(!d.allowed);
}

#[test]
fn accountant_resolves_only_for_tax_certificates() {
    let d = decide(resolve(
        staff(Role::Accountant),
        Purpose::TaxCertificate,
        FieldClass::Financial,
    ));
    assert_allowed(&d, &["accountant-resolve"], &[]);
    let d = decide(resolve(
        staff(Role::Accountant),
        Purpose::Billing,
        FieldClass::Financial,
    ));
    assert_eq!(d.reasons, ["default-deny"]);
}

#[test]
fn nurse_reads_who_and_how_to_reach_but_nothing_medical() {
    let d = decide(
        resolve(staff(Role::Nurse), Purpose::Treatment, FieldClass::Contact)
            .care_relationship(true),
    );
    assert_allowed(&d, &["nurse-care-read"], &[]);
    let d = decide(read_record(staff(Role::Nurse)).care_relationship(true));
    assert_denied_by(&d, "only-doctors-touch-medical");
}

#[test]
fn a_field_read_without_purpose_is_refused() {
    let d = decide(
        doctor()
            .action(Action::Resolve)
            .patient("pt_case", VaultStaff)
            .field_class(FieldClass::Identity)
            .care_relationship(true),
    );
    assert_denied_by(&d, "purpose-limits-field-class");
}

#[test]
fn malformed_requests_are_denied_with_a_reason() {
    let cases = [
        (doctor(), "request-incomplete: no action"),
        (
            doctor().action(Action::ReadRecord),
            "request-incomplete: read_record needs a patient",
        ),
        (
            doctor()
                .action(Action::Resolve)
                .patient("pt_case", VaultStaff)
                .purpose(Purpose::Treatment),
            "request-incomplete: resolve needs a field class",
        ),
        (
            read_record(doctor())
                .field_class(FieldClass::Identity)
                .care_relationship(true),
            "request-inconsistent: read_record touches medical fields, not identity",
        ),
        (
            staff(Role::SecurityOfficer)
                .action(Action::ReadAudit)
                .patient("pt_case", VaultStaff),
            "request-inconsistent: read_audit takes no patient",
        ),
        (
            staff(Role::Receptionist)
                .action(Action::Search)
                .field_class(FieldClass::Identity),
            "request-inconsistent: search reads no fields, yet names identity",
        ),
    ];
    for (request, reason) in cases {
        let d = decide(request);
        assert_eq!(
            d,
            Decision {
                allowed: false,
                reasons: vec![reason.into()],
                obligations: vec![]
            }
        );
    }
}

#[test]
fn reasons_never_contain_tokens_or_staff_ids() {
    let d = decide(
        AccessRequest::staff(Role::Doctor, "st-secret-id", "msk-1")
            .action(Action::ReadRecord)
            .patient("pt_SECRET_TOKEN", VaultStaff)
            .purpose(Purpose::Treatment)
            .break_glass(true),
    );
    let text = format!("{d:?}");
    assert!(
        !text.contains("SECRET") && !text.contains("secret"),
        "{text}"
    );
}

#[test]
fn debug_output_of_a_request_redacts_the_token() {
    let request = doctor().patient("pt_SECRET_TOKEN", VaultStaff);
    assert!(!format!("{request:?}").contains("SECRET"));
}
