//! The typed request: everything a decision may use, supplied by the caller.
//!
//! The policy looks nothing up. The vault states who asks, what for, about which patient, and
//! the live facts it holds (care relationship, break-glass grant, colleague, the patient's
//! consents, a deletion that left only retained data), and the engine decides from those alone,
//! so the same request always gets the same decision.

use std::collections::BTreeSet;
use std::fmt;

use crate::action::{Fields, Target};
use crate::principal::Principal;
use crate::{Action, ConsentPurpose, ConsumerDomain, FieldClass, Purpose, Role};

/// A patient as the caller named them: a pseudonym token and the domain that issued it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct PatientRef {
    pub(crate) token: String,
    pub(crate) domain: ConsumerDomain,
}

/// Tokens stay out of logs (STYLE 11), even through a stray `{:?}`.
impl fmt::Debug for PatientRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PatientRef")
            .field("token", &"<redacted>")
            .field("domain", &self.domain)
            .finish()
    }
}

/// One access request, built step by step:
///
/// ```
/// use policy::{AccessRequest, Action, FieldClass, Purpose, Role, ConsumerDomain};
/// let request = AccessRequest::staff(Role::Doctor, "st-17", "msk-1")
///     .action(Action::Resolve)
///     .patient("pt_7Hq2", ConsumerDomain::ClinicApp)
///     .purpose(Purpose::Treatment)
///     .field_class(FieldClass::Identity)
///     .care_relationship(true);
/// ```
///
/// Live facts default to the safe side: no care relationship, no break-glass grant, no consent
/// held. The one exception is `retention_only`, which defaults to `false`: it narrows access,
/// so the vault must state it for every patient whose deletion left only retained data. An
/// incomplete or self-contradictory request is denied with a `request-...` reason rather than
/// guessed at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    pub(crate) principal: Principal,
    pub(crate) action: Option<Action>,
    pub(crate) patient: Option<PatientRef>,
    pub(crate) purpose: Option<Purpose>,
    pub(crate) field_class: Option<FieldClass>,
    pub(crate) facts: Facts,
}

/// The live facts a request carries, as the vault read them. Part of the decision key as a
/// whole (`memo.rs`): a fact added here is remembered by, and shown to Cedar, with the rest.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub(crate) struct Facts {
    pub(crate) care_relationship: bool,
    pub(crate) break_glass: bool,
    pub(crate) patient_is_staff_colleague: bool,
    pub(crate) consents: BTreeSet<ConsentPurpose>,
    pub(crate) retention_only: bool,
}

impl AccessRequest {
    fn new(principal: Principal) -> Self {
        AccessRequest {
            principal,
            action: None,
            patient: None,
            purpose: None,
            field_class: None,
            facts: Facts::default(),
        }
    }

    /// A request by a member of staff in their own session.
    pub fn staff(role: Role, staff_id: impl Into<String>, branch: impl Into<String>) -> Self {
        Self::new(Principal::Staff {
            role,
            staff_id: staff_id.into(),
            branch: branch.into(),
        })
    }

    /// A request by a consumer service, authenticated as its domain.
    pub fn service(domain: ConsumerDomain) -> Self {
        Self::new(Principal::Service(domain))
    }

    #[must_use]
    pub fn action(mut self, action: Action) -> Self {
        self.action = Some(action);
        self
    }

    /// The patient, by the token the caller used and the domain that issued that token.
    #[must_use]
    pub fn patient(mut self, token: impl Into<String>, domain: ConsumerDomain) -> Self {
        self.patient = Some(PatientRef {
            token: token.into(),
            domain,
        });
        self
    }

    #[must_use]
    pub fn purpose(mut self, purpose: Purpose) -> Self {
        self.purpose = Some(purpose);
        self
    }

    /// The class of fields read; required for `resolve`. Record and attachment actions are
    /// medical by definition, so naming another class for them is refused.
    #[must_use]
    pub fn field_class(mut self, class: FieldClass) -> Self {
        self.field_class = Some(class);
        self
    }

    /// A live care relationship between this principal and this patient now.
    #[must_use]
    pub fn care_relationship(mut self, live: bool) -> Self {
        self.facts.care_relationship = live;
        self
    }

    /// A live break-glass grant of this principal for this patient.
    #[must_use]
    pub fn break_glass(mut self, live: bool) -> Self {
        self.facts.break_glass = live;
        self
    }

    /// The patient also works at the clinic.
    #[must_use]
    pub fn patient_is_staff_colleague(mut self, colleague: bool) -> Self {
        self.facts.patient_is_staff_colleague = colleague;
        self
    }

    /// The consents the patient holds now (withdrawn ones left out), replacing any given
    /// before. None by default, so a purpose that rests on consent is refused unless the vault
    /// read the consent registry and found it.
    #[must_use]
    pub fn consents(mut self, held: impl IntoIterator<Item = ConsentPurpose>) -> Self {
        self.facts.consents = held.into_iter().collect();
        self
    }

    /// The patient asked for deletion, and what is left is kept only because the law requires
    /// it: it may then be read only for treatment, billing, tax certificates and legal
    /// disclosure, and no longer changed.
    #[must_use]
    pub fn retention_only(mut self, restricted: bool) -> Self {
        self.facts.retention_only = restricted;
        self
    }

    /// The request with its shape checked: an action, a patient exactly when the action targets
    /// one, and the field class the action implies. `Err` is the deny reason.
    pub(crate) fn checked(&self) -> Result<Checked<'_>, String> {
        let action = self
            .action
            .ok_or_else(|| "request-incomplete: no action".to_owned())?;
        let needs_patient = action.target() == Target::Patient;
        match (&self.patient, needs_patient) {
            (None, true) => return Err(format!("request-incomplete: {action} needs a patient")),
            (Some(_), false) => {
                return Err(format!("request-inconsistent: {action} takes no patient"));
            }
            _ => {}
        }
        let field_class = match (action.fields(), self.field_class) {
            (Fields::Named, Some(class)) => Some(class),
            (Fields::Named, None) => {
                return Err(format!("request-incomplete: {action} needs a field class"));
            }
            (Fields::Always(class), None) => Some(class),
            (Fields::Always(class), Some(given)) if given == class => Some(class),
            (Fields::Always(class), Some(given)) => {
                return Err(format!(
                    "request-inconsistent: {action} touches {class} fields, not {given}"
                ));
            }
            (Fields::None, None) => None,
            (Fields::None, Some(given)) => {
                return Err(format!(
                    "request-inconsistent: {action} reads no fields, yet names {given}"
                ));
            }
        };
        Ok(Checked {
            request: self,
            action,
            field_class,
        })
    }
}

/// A request whose shape [`AccessRequest::checked`] accepted.
pub(crate) struct Checked<'a> {
    pub(crate) request: &'a AccessRequest,
    pub(crate) action: Action,
    /// The class actually touched: named for `resolve`, implied for records.
    pub(crate) field_class: Option<FieldClass>,
}
