//! Translation of a decision key into Cedar's principal, action, resource, context and
//! entities. The only place that knows the schema's type and attribute names.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;

use cedar_policy::{
    Context, Entities, Entity, EntityId, EntityTypeName, EntityUid, Request, RestrictedExpression,
    Schema,
};

use crate::action::Target;
use crate::memo::{DecisionKey, KeyPrincipal};

/// Cedar's view of one request, validated against the schema.
pub(crate) struct CedarRequest {
    pub(crate) request: Request,
    pub(crate) entities: Entities,
}

/// The id Cedar knows every member of staff by. No policy tells one person from another: a
/// rule about "this doctor and this patient" is a fact the vault supplies (care relationship,
/// grant, colleague), so Cedar never sees a staff id or a token, and a decision is the same
/// for every request with the same [`DecisionKey`].
const STAFF_ID: &str = "staff";
/// The id Cedar knows every patient by, for the same reason.
const PATIENT_ID: &str = "patient";

/// Builds the Cedar request. `Err` is a fixed deny reason, never Cedar's own message.
pub(crate) fn to_cedar(req: &DecisionKey, schema: &Schema) -> Result<CedarRequest, String> {
    let mut entities = Vec::new();

    let principal = match &req.principal {
        KeyPrincipal::Staff { role, branch } => {
            let staff = uid("Staff", STAFF_ID)?;
            let attrs = HashMap::from([
                (
                    "role".to_owned(),
                    RestrictedExpression::new_entity_uid(uid("Role", role.as_str())?),
                ),
                (
                    "branch".to_owned(),
                    RestrictedExpression::new_string(branch.clone()),
                ),
            ]);
            entities.push(entity(staff.clone(), attrs)?);
            staff
        }
        // Enumerated entity: no entity data needed.
        KeyPrincipal::Service(domain) => uid("Service", domain.as_str())?,
    };

    let resource = match (req.action.target(), req.patient_domain) {
        (Target::Patient, Some(domain)) => {
            let patient_uid = uid("Patient", PATIENT_ID)?;
            let attrs = HashMap::from([(
                "domain".to_owned(),
                RestrictedExpression::new_entity_uid(uid("Service", domain.as_str())?),
            )]);
            entities.push(entity(patient_uid.clone(), attrs)?);
            patient_uid
        }
        (Target::Registry, _) => uid("Registry", "patients")?,
        (Target::AuditLog, _) => uid("AuditLog", "vault")?,
        // `checked` guarantees a patient for patient actions.
        (Target::Patient, None) => return Err("request-incomplete: no patient".to_owned()),
    };

    let purpose_classes = req
        .purpose
        .map(|p| p.field_classes())
        .unwrap_or_default()
        .iter()
        .map(|c| uid("FieldClass", c.as_str()).map(RestrictedExpression::new_entity_uid))
        .collect::<Result<Vec<_>, _>>()?;
    let consents = req
        .facts
        .consents
        .iter()
        .map(|c| uid("ConsentPurpose", c.as_str()).map(RestrictedExpression::new_entity_uid))
        .collect::<Result<Vec<_>, _>>()?;
    let mut context = vec![
        (
            "purpose_field_classes".to_owned(),
            RestrictedExpression::new_set(purpose_classes),
        ),
        flag("care_relationship", req.facts.care_relationship),
        flag("break_glass", req.facts.break_glass),
        flag(
            "patient_is_staff_colleague",
            req.facts.patient_is_staff_colleague,
        ),
        (
            "consents".to_owned(),
            RestrictedExpression::new_set(consents),
        ),
        flag("retention_only", req.facts.retention_only),
    ];
    if let Some(purpose) = req.purpose {
        let value = RestrictedExpression::new_entity_uid(uid("Purpose", purpose.as_str())?);
        context.push(("purpose".to_owned(), value));
    }
    // The consent table, like the field-class table, travels with the request.
    if let Some(consent) = req.purpose.and_then(|p| p.required_consent()) {
        let value = RestrictedExpression::new_entity_uid(uid("ConsentPurpose", consent.as_str())?);
        context.push(("required_consent".to_owned(), value));
    }
    if let Some(class) = req.field_class {
        let value = RestrictedExpression::new_entity_uid(uid("FieldClass", class.as_str())?);
        context.push(("field_class".to_owned(), value));
    }
    let context =
        Context::from_pairs(context).map_err(|_| "invalid-request: context".to_owned())?;

    let action = uid("Action", req.action.as_str())?;
    let request = Request::new(principal, action, resource, context, Some(schema))
        .map_err(|_| "invalid-request: does not match the schema".to_owned())?;
    let entities = Entities::from_entities(entities, Some(schema))
        .map_err(|_| "invalid-request: entities do not match the schema".to_owned())?;
    Ok(CedarRequest { request, entities })
}

fn uid(type_name: &str, id: &str) -> Result<EntityUid, String> {
    let type_name = EntityTypeName::from_str(type_name)
        .map_err(|_| format!("invalid-request: entity type {type_name}"))?;
    Ok(EntityUid::from_type_name_and_id(
        type_name,
        EntityId::new(id),
    ))
}

fn entity(uid: EntityUid, attrs: HashMap<String, RestrictedExpression>) -> Result<Entity, String> {
    Entity::new(uid, attrs, HashSet::new()).map_err(|_| "invalid-request: entity".to_owned())
}

fn flag(name: &str, value: bool) -> (String, RestrictedExpression) {
    (name.to_owned(), RestrictedExpression::new_bool(value))
}
