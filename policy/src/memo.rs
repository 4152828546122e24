//! Decisions remembered by what Cedar is shown of a request.
//!
//! A decision is a pure function of the request (no I/O, no clock), and Cedar is shown the
//! request without the staff member's id and the patient's token (see [`DecisionKey`]). So two
//! requests with the same key get the same decision, and the engine answers a key it decided
//! before from memory: a Cedar evaluation of these policies costs tens of microseconds, a
//! lookup well under one (`cargo bench -p policy --bench decide`).

use std::collections::HashMap;
use std::sync::RwLock;

use crate::principal::Principal;
use crate::request::{Checked, Facts};
use crate::{Action, ConsumerDomain, Decision, FieldClass, Purpose, Role};

/// Everything a decision is made from: the request as Cedar sees it. Holds no staff id and no
/// token, so it can be kept and printed.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct DecisionKey {
    pub(crate) principal: KeyPrincipal,
    pub(crate) action: Action,
    /// The domain that issued the patient's token, when the action targets a patient.
    pub(crate) patient_domain: Option<ConsumerDomain>,
    pub(crate) purpose: Option<Purpose>,
    pub(crate) field_class: Option<FieldClass>,
    pub(crate) facts: Facts,
}

/// Who asks, without the staff member's id.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum KeyPrincipal {
    Staff { role: Role, branch: String },
    Service(ConsumerDomain),
}

impl DecisionKey {
    pub(crate) fn of(checked: &Checked<'_>) -> Self {
        let req = checked.request;
        DecisionKey {
            principal: match &req.principal {
                Principal::Staff { role, branch, .. } => KeyPrincipal::Staff {
                    role: *role,
                    branch: branch.clone(),
                },
                Principal::Service(domain) => KeyPrincipal::Service(*domain),
            },
            action: checked.action,
            patient_domain: req.patient.as_ref().map(|p| p.domain),
            purpose: req.purpose,
            field_class: checked.field_class,
            facts: req.facts.clone(),
        }
    }
}

/// The remembered decisions, at most [`DecisionMemo::CAPACITY`] of them.
#[derive(Debug, Default)]
pub(crate) struct DecisionMemo {
    decisions: RwLock<HashMap<DecisionKey, Decision>>,
}

impl DecisionMemo {
    /// Far more than the combinations a clinic's day produces (a few hundred: role, branch,
    /// action, purpose, class and facts); when full it starts again empty, so memory stays
    /// bounded whatever mix of requests arrives.
    pub(crate) const CAPACITY: usize = 4096;

    pub(crate) fn get(&self, key: &DecisionKey) -> Option<Decision> {
        // A poisoned lock only means a panic elsewhere while it was held; the map itself is
        // always whole (inserts are single calls), so it stays usable.
        self.decisions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .cloned()
    }

    pub(crate) fn put(&self, key: DecisionKey, decision: Decision) {
        let mut map = self.decisions.write().unwrap_or_else(|e| e.into_inner());
        if map.len() >= Self::CAPACITY {
            map.clear();
        }
        map.insert(key, decision);
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.decisions
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .len()
    }
}
