//! The policy decision point: the embedded schema and policies, validated once at start-up.

use std::collections::{BTreeSet, HashMap};
use std::str::FromStr;

use cedar_policy::{
    Authorizer, Decision as CedarDecision, Effect, PolicyId, PolicySet, Schema, ValidationMode,
    Validator,
};

use crate::cedar::to_cedar;
use crate::decision::needs_mask;
use crate::memo::{DecisionKey, DecisionMemo};
use crate::{AccessRequest, Decision, Obligation, PolicyError};

/// The Cedar schema, compiled into the binary so the vault cannot start with another one.
pub const SCHEMA_SOURCE: &str = include_str!("../policies/schema.cedarschema");
/// The Cedar policies, compiled in for the same reason.
pub const POLICY_SOURCE: &str = include_str!("../policies/vault.cedar");

/// Annotation naming a policy; it becomes the Cedar policy id and the decision's reason.
const ID: &str = "id";
/// Annotation attaching an [`Obligation`] to every decision a permit allows.
const OBLIGATION: &str = "obligation";

/// Decides access requests. Build once at start-up and share (`Send + Sync`, immutable).
///
/// Obligations come from two places, on purpose:
/// - `NotifySecurityOfficer` from `@obligation("notify_security_officer")` on the permits that
///   allowed the request, so the alert travels with the rule that used break-glass (or opened a
///   colleague's record) and a reviewer sees it next to that rule in `vault.cedar`;
/// - `Mask` in Rust from purpose and field class (see `decision::needs_mask`), a table-like
///   fact like `Purpose::field_classes`, which Cedar could only express by splitting permits.
#[derive(Debug)]
pub struct PolicyEngine {
    schema: Schema,
    policies: PolicySet,
    obligations: HashMap<PolicyId, Obligation>,
    authorizer: Authorizer,
    memo: DecisionMemo,
}

impl PolicyEngine {
    /// Parses the embedded schema and policies and validates them in strict mode; any error or
    /// warning fails start-up, naming the policy and the problem.
    pub fn new() -> Result<Self, PolicyError> {
        Self::from_sources(SCHEMA_SOURCE, POLICY_SOURCE)
    }

    pub(crate) fn from_sources(schema_src: &str, policy_src: &str) -> Result<Self, PolicyError> {
        let (schema, warnings) = Schema::from_cedarschema_str(schema_src)
            .map_err(|e| PolicyError::Schema(e.to_string()))?;
        let warnings: Vec<String> = warnings.map(|w| w.to_string()).collect();
        if !warnings.is_empty() {
            return Err(PolicyError::Schema(warnings.join("; ")));
        }

        let (policies, obligations) = load_policies(policy_src)?;

        let result = Validator::new(schema.clone()).validate(&policies, ValidationMode::Strict);
        let problems: Vec<String> = result
            .validation_errors()
            .map(ToString::to_string)
            .chain(result.validation_warnings().map(ToString::to_string))
            .collect();
        if !problems.is_empty() {
            return Err(PolicyError::Invalid(problems));
        }

        Ok(PolicyEngine {
            schema,
            policies,
            obligations,
            authorizer: Authorizer::new(),
            memo: DecisionMemo::default(),
        })
    }

    /// Decides one request. Total: a malformed request or an evaluation error is a deny with
    /// a reason, never a panic or an error the caller could forget to treat as a deny.
    /// A request with the same [`DecisionKey`] as one decided before (the same role, branch,
    /// action, purpose, field class and facts; any staff member, any patient) gets the decision
    /// remembered then, without asking Cedar again.
    pub fn decide(&self, request: &AccessRequest) -> Decision {
        let key = match request.checked() {
            Ok(checked) => DecisionKey::of(&checked),
            Err(reason) => return Decision::deny(vec![reason]),
        };
        if let Some(decision) = self.memo.get(&key) {
            return decision;
        }
        let decision = self.evaluate(&key);
        self.memo.put(key, decision.clone());
        decision
    }

    /// Asks Cedar, every time.
    fn evaluate(&self, key: &DecisionKey) -> Decision {
        let cedar = match to_cedar(key, &self.schema) {
            Ok(cedar) => cedar,
            Err(reason) => return Decision::deny(vec![reason]),
        };
        let response =
            self.authorizer
                .is_authorized(&cedar.request, &self.policies, &cedar.entities);
        let diagnostics = response.diagnostics();

        // A policy that failed to evaluate might have been a forbid: never allow past one.
        let errors: BTreeSet<String> = diagnostics
            .errors()
            .map(|e| match e {
                cedar_policy::AuthorizationError::PolicyEvaluationError(e) => {
                    format!("evaluation-error: {}", e.policy_id())
                }
            })
            .collect();
        if !errors.is_empty() {
            return Decision::deny(errors.into_iter().collect());
        }

        let determining: BTreeSet<&PolicyId> = diagnostics.reason().collect();
        let reasons: Vec<String> = determining.iter().map(ToString::to_string).collect();
        match response.decision() {
            CedarDecision::Deny if reasons.is_empty() => {
                Decision::deny(vec!["default-deny".to_owned()])
            }
            CedarDecision::Deny => Decision::deny(reasons),
            CedarDecision::Allow => {
                let mut obligations: BTreeSet<Obligation> = determining
                    .iter()
                    .filter_map(|id| self.obligations.get(*id).copied())
                    .collect();
                if needs_mask(key.purpose, key.field_class) {
                    obligations.insert(Obligation::Mask);
                }
                Decision {
                    allowed: true,
                    reasons,
                    obligations: obligations.into_iter().collect(),
                }
            }
        }
    }

    /// The `@id`s of all loaded policies, sorted (for documentation and tests).
    pub fn policy_ids(&self) -> Vec<String> {
        let mut ids: Vec<String> = self
            .policies
            .policies()
            .map(|p| p.id().to_string())
            .collect();
        ids.sort();
        ids
    }

    #[cfg(test)]
    pub(crate) fn schema(&self) -> &Schema {
        &self.schema
    }
}

/// Parses the policies, renames each to its `@id` and reads its `@obligation`.
fn load_policies(src: &str) -> Result<(PolicySet, HashMap<PolicyId, Obligation>), PolicyError> {
    let parsed = PolicySet::from_str(src).map_err(|e| PolicyError::Policies(e.to_string()))?;
    if let Some(template) = parsed.templates().next() {
        return Err(PolicyError::Policies(format!(
            "`{}` is a template; the vault uses static policies only",
            template.id()
        )));
    }
    let mut policies = PolicySet::new();
    let mut obligations = HashMap::new();
    for policy in parsed.policies() {
        let id = policy
            .annotation(ID)
            .filter(|id| !id.is_empty())
            .ok_or_else(|| PolicyError::MissingId(policy.id().to_string()))?;
        let id = PolicyId::new(id);
        if let Some(value) = policy.annotation(OBLIGATION) {
            let obligation =
                Obligation::from_str(value).map_err(|_| PolicyError::UnknownObligation {
                    policy: id.to_string(),
                    value: value.to_owned(),
                })?;
            if policy.effect() == Effect::Forbid {
                return Err(PolicyError::ObligationOnForbid(id.to_string()));
            }
            obligations.insert(id.clone(), obligation);
        }
        policies
            .add(policy.new_id(id.clone()))
            .map_err(|_| PolicyError::DuplicateId(id.to_string()))?;
    }
    Ok((policies, obligations))
}

#[cfg(test)]
mod tests;
