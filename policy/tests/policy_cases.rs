//! Hand-written rows for the cases that matter most, with the reasons a reviewer or the
//! security officer will read in the audit trail.

use policy::{
    AccessRequest, Action, ConsentPurpose, ConsumerDomain, Decision, FieldClass, Obligation,
    PolicyEngine, Purpose, Role,
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

/// A staff member acts on a patient of the staff domain, naming no purpose or fields.
fn staff_act(role: Role, action: Action) -> AccessRequest {
    staff(role).action(action).patient("pt_case", VaultStaff)
}

/// clinic-app acts on one of its own patients, naming no purpose or fields.
fn app_act(action: Action) -> AccessRequest {
    clinic_app().action(action).patient("pt_case", ClinicApp)
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
    let d = decide(
        app_resolve(Purpose::PatientSelfService, FieldClass::Document)
            .consents([ConsentPurpose::PatientApp]),
    );
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

// ---------------------------------------------------------------------------------------------
// Patient rights: consents, deletion with legal retention, data requests (152-FZ)
// ---------------------------------------------------------------------------------------------

#[test]
fn reminders_need_the_sms_consent_and_no_other() {
    let d = decide(app_resolve(Purpose::Reminder, FieldClass::Contact));
    assert_denied_by(&d, "consent-required");
    let others = [
        ConsentPurpose::Marketing,
        ConsentPurpose::PatientApp,
        ConsentPurpose::Analytics,
    ];
    let d = decide(app_resolve(Purpose::Reminder, FieldClass::Contact).consents(others));
    assert_denied_by(&d, "consent-required");
    let d = decide(
        app_resolve(Purpose::Reminder, FieldClass::Contact)
            .consents([ConsentPurpose::SmsReminders]),
    );
    assert_allowed(&d, &["clinic-app-resolve"], &[]);
}

#[test]
fn the_patient_app_needs_the_patient_app_consent() {
    let d = decide(app_resolve(
        Purpose::PatientSelfService,
        FieldClass::Identity,
    ));
    assert_denied_by(&d, "consent-required");
    let d = decide(
        app_resolve(Purpose::PatientSelfService, FieldClass::Identity)
            .consents([ConsentPurpose::PatientApp]),
    );
    assert_allowed(&d, &["clinic-app-resolve"], &[]);
}

#[test]
fn purposes_resting_on_a_contract_or_the_law_need_no_consent() {
    let d = decide(app_resolve(Purpose::Scheduling, FieldClass::Contact));
    assert_allowed(&d, &["clinic-app-resolve"], &[]);
    let d = decide(read_record(doctor()).care_relationship(true));
    assert_allowed(&d, &["doctor-care-read"], &[]);
}

#[test]
fn marketing_reaches_contacts_through_clinic_app_only_with_the_marketing_consent() {
    let d = decide(app_resolve(Purpose::Marketing, FieldClass::Contact));
    assert_denied_by(&d, "consent-required");
    let d = decide(
        app_resolve(Purpose::Marketing, FieldClass::Contact)
            .consents([ConsentPurpose::SmsReminders]),
    );
    assert_denied_by(&d, "consent-required");
    let d = decide(
        app_resolve(Purpose::Marketing, FieldClass::Contact).consents([ConsentPurpose::Marketing]),
    );
    assert_allowed(&d, &["clinic-app-marketing"], &[]);
    // An offer needs no name, whatever the patient agreed to.
    let d =
        decide(app_resolve(Purpose::Marketing, FieldClass::Identity).consents(ConsentPurpose::ALL));
    assert_denied_by(&d, "purpose-limits-field-class");
    // Nobody on staff markets from the vault.
    let d = decide(
        resolve(
            staff(Role::Receptionist),
            Purpose::Marketing,
            FieldClass::Contact,
        )
        .consents(ConsentPurpose::ALL),
    );
    assert_eq!(d.reasons, ["default-deny"]);
}

#[test]
fn retained_data_is_read_only_for_care_money_and_the_law() {
    let d = decide(
        resolve(
            staff(Role::Receptionist),
            Purpose::Scheduling,
            FieldClass::Contact,
        )
        .retention_only(true),
    );
    assert_denied_by(&d, "retained-data-legal-purposes-only");
    let d = decide(
        read_record(doctor())
            .care_relationship(true)
            .retention_only(true),
    );
    assert_allowed(&d, &["doctor-care-read"], &[]);
    let d = decide(
        resolve(
            staff(Role::Cashier),
            Purpose::Billing,
            FieldClass::Financial,
        )
        .retention_only(true),
    );
    assert_allowed(&d, &["cashier-resolve"], &[]);
    // The patient app shows nothing more: the patient asks what is kept by a data request.
    let d = decide(
        app_resolve(Purpose::PatientSelfService, FieldClass::Identity)
            .consents([ConsentPurpose::PatientApp])
            .retention_only(true),
    );
    assert_eq!(d.reasons, ["retained-data-legal-purposes-only"]);
}

#[test]
fn retained_data_is_never_changed() {
    let d = decide(
        staff_act(Role::Doctor, Action::CreateRecord)
            .purpose(Purpose::Treatment)
            .care_relationship(true)
            .retention_only(true),
    );
    assert_denied_by(&d, "retained-data-legal-purposes-only");
    let d = decide(staff_act(Role::Receptionist, Action::UpdatePatient).retention_only(true));
    assert_denied_by(&d, "retained-data-legal-purposes-only");
    let d = decide(staff_act(Role::Doctor, Action::StartBreakGlass).retention_only(true));
    assert_denied_by(&d, "retained-data-legal-purposes-only");
}

#[test]
fn clinic_app_cannot_report_care_for_a_patient_whose_data_is_only_retained() {
    let d = decide(app_act(Action::ReportCareRelationship));
    assert_allowed(&d, &["clinic-app-registry"], &[]);
    let d = decide(app_act(Action::ReportCareRelationship).retention_only(true));
    assert_denied_by(&d, "retained-data-legal-purposes-only");
}

#[test]
fn reception_and_clinic_app_file_data_requests_and_manage_consents() {
    for action in [Action::FileDataRequest, Action::ManageConsent] {
        let d = decide(staff_act(Role::Receptionist, action));
        assert_allowed(&d, &["reception-patient-rights"], &[]);
        let d = decide(app_act(action));
        assert_allowed(&d, &["clinic-app-patient-rights"], &[]);
        // A patient whose data is only retained may still ask what is kept.
        let d = decide(app_act(action).retention_only(true));
        assert_allowed(&d, &["clinic-app-patient-rights"], &[]);
        // clinic-app files only for its own patients.
        let d = decide(clinic_app().action(action).patient("pt_other", VaultStaff));
        assert_denied_by(&d, "service-only-own-domain");
    }
}

#[test]
fn nobody_else_files_data_requests_or_manages_consents() {
    for action in [Action::FileDataRequest, Action::ManageConsent] {
        for role in [Role::Doctor, Role::Nurse, Role::Cashier, Role::Accountant] {
            let d = decide(staff_act(role, action));
            assert_eq!(d.reasons, ["default-deny"], "{role} {action}");
        }
        for role in [Role::SecurityOfficer, Role::Administrator] {
            let d = decide(staff_act(role, action));
            assert_denied_by(&d, "security-and-admin-no-patient-data");
        }
        let d = decide(
            AccessRequest::service(ConsumerDomain::Analytics)
                .action(action)
                .patient("pt_own", ConsumerDomain::Analytics),
        );
        assert_eq!(d.reasons, ["default-deny"], "analytics {action}");
    }
}

#[test]
fn the_security_officer_works_the_request_queue_but_files_no_requests() {
    let d = decide(staff(Role::SecurityOfficer).action(Action::ManageDataRequests));
    assert_allowed(&d, &["security-officer-data-requests"], &[]);
    let d = decide(staff_act(Role::SecurityOfficer, Action::FileDataRequest));
    assert_denied_by(&d, "security-and-admin-no-patient-data");
    for role in [Role::Receptionist, Role::Administrator, Role::Doctor] {
        let d = decide(staff(role).action(Action::ManageDataRequests));
        assert_eq!(d.reasons, ["default-deny"], "{role}");
    }
    let d = decide(clinic_app().action(Action::ManageDataRequests));
    assert_eq!(d.reasons, ["default-deny"]);
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
        (
            staff(Role::Receptionist).action(Action::FileDataRequest),
            "request-incomplete: file_data_request needs a patient",
        ),
        (
            staff(Role::SecurityOfficer)
                .action(Action::ManageDataRequests)
                .patient("pt_case", VaultStaff),
            "request-inconsistent: manage_data_requests takes no patient",
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
