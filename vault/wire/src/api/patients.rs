//! Patients: register, update, search, resolve tokens to fields.

use std::collections::{BTreeMap, BTreeSet};

use policy::Purpose;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};
use thiserror::Error;
use utoipa::ToSchema;

use crate::error::ParseError;
use crate::identity::{
    Address, BirthDate, Email, FieldName, Inn, Passport, PersonName, PhoneE164, Sex, Snils,
};
use crate::ids::PatientToken;

/// A patient's identity card. `phones` may be empty (and may be left out of the JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PatientIdentity {
    pub surname: PersonName,
    pub name: PersonName,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<PersonName>,
    pub birth_date: BirthDate,
    pub sex: Sex,
    #[serde(default, deserialize_with = "at_most_max_phones")]
    #[schema(max_items = 10)]
    pub phones: Vec<PhoneE164>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snils: Option<Snils>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<Passport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<Inn>,
}

/// The most phone numbers one patient may have. Enough for anyone, and it bounds the sealed
/// `phones` field, which the vault's PostgreSQL key index carries (ADR 0021).
pub const MAX_PHONES: usize = 10;

fn at_most_max_phones<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<PhoneE164>, D::Error> {
    no_more_than_max_phones(Vec::deserialize(d)?)
}

fn maybe_at_most_max_phones<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<PhoneE164>>, D::Error> {
    Option::<Vec<PhoneE164>>::deserialize(d)?
        .map(no_more_than_max_phones)
        .transpose()
}

fn no_more_than_max_phones<E: serde::de::Error>(
    phones: Vec<PhoneE164>,
) -> Result<Vec<PhoneE164>, E> {
    if phones.len() > MAX_PHONES {
        return Err(E::invalid_length(phones.len(), &"at most 10 phone numbers"));
    }
    Ok(phones)
}

/// `POST /v1/patients`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPatientRequest {
    pub identity: PatientIdentity,
}

/// Answer to `POST /v1/patients`: the new patient's token in the caller's consumer domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct RegisterPatientResponse {
    pub token: PatientToken,
}

/// `PATCH /v1/patients/{token}`: the fields present are replaced, the absent ones kept.
/// `phones` replaces the whole list (`[]` removes all phones). An optional field cannot be
/// cleared through this request (absent and `null` both mean "keep").
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpdatePatientRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<PersonName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<PersonName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patronymic: Option<PersonName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub birth_date: Option<BirthDate>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sex: Option<Sex>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "maybe_at_most_max_phones"
    )]
    #[schema(max_items = 10)]
    pub phones: Option<Vec<PhoneE164>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<Email>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snils: Option<Snils>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<Passport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<Address>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inn: Option<Inn>,
}

impl UpdatePatientRequest {
    /// The fields this request sets, in [`FieldName::ALL`] order.
    pub fn fields(&self) -> Vec<FieldName> {
        let present = [
            self.surname.is_some(),
            self.name.is_some(),
            self.patronymic.is_some(),
            self.birth_date.is_some(),
            self.sex.is_some(),
            self.phones.is_some(),
            self.email.is_some(),
            self.snils.is_some(),
            self.passport.is_some(),
            self.address.is_some(),
            self.inn.is_some(),
            false, // full_name is derived from surname, name and patronymic, never set
        ];
        FieldName::ALL
            .into_iter()
            .zip(present)
            .filter_map(|(f, p)| p.then_some(f))
            .collect()
    }

    /// True when the request sets nothing.
    pub fn is_empty(&self) -> bool {
        self.fields().is_empty()
    }
}

/// Answer to `PATCH /v1/patients/{token}`: the fields whose stored value changed, `full_name`
/// among them when a part of it (surname, name, patronymic) did.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct UpdatePatientResponse {
    pub token: PatientToken,
    pub updated_fields: Vec<FieldName>,
}

/// Surname, name and birth date: the one search criterion made of several fields.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NameAndBirth {
    pub surname: PersonName,
    pub name: PersonName,
    pub birth_date: BirthDate,
}

/// `POST /v1/patients/search`: exactly one of the fields must be set (see
/// [`SearchPatientsRequest::criterion`]). The answer holds tokens, never personal data.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SearchPatientsRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<PhoneE164>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snils: Option<Snils>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passport: Option<Passport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname_name_birth: Option<NameAndBirth>,
}

/// The one criterion of a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SearchCriterion {
    Phone(PhoneE164),
    Snils(Snils),
    Passport(Passport),
    SurnameNameBirth(NameAndBirth),
}

/// A search request with no criterion or with more than one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SearchCriterionError {
    #[error("give one search criterion: phone, snils, passport or surname_name_birth")]
    Missing,
    #[error("give only one search criterion: phone, snils, passport or surname_name_birth")]
    Several,
}

impl SearchPatientsRequest {
    pub fn criterion(&self) -> Result<SearchCriterion, SearchCriterionError> {
        let given = [
            self.phone.clone().map(SearchCriterion::Phone),
            self.snils.map(SearchCriterion::Snils),
            self.passport.map(SearchCriterion::Passport),
            self.surname_name_birth
                .clone()
                .map(SearchCriterion::SurnameNameBirth),
        ];
        let mut given = given.into_iter().flatten();
        match (given.next(), given.next()) {
            (Some(c), None) => Ok(c),
            (None, _) => Err(SearchCriterionError::Missing),
            (Some(_), Some(_)) => Err(SearchCriterionError::Several),
        }
    }
}

impl From<SearchCriterion> for SearchPatientsRequest {
    fn from(c: SearchCriterion) -> Self {
        let mut r = Self::default();
        match c {
            SearchCriterion::Phone(p) => r.phone = Some(p),
            SearchCriterion::Snils(s) => r.snils = Some(s),
            SearchCriterion::Passport(p) => r.passport = Some(p),
            SearchCriterion::SurnameNameBirth(n) => r.surname_name_birth = Some(n),
        }
        r
    }
}

/// Answer to `POST /v1/patients/search`: the matching patients' tokens in the caller's domain.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct SearchPatientsResponse {
    pub tokens: Vec<PatientToken>,
}

/// `POST /v1/resolve`: turn tokens into the named fields, for a declared purpose.
///
/// 1 to 500 distinct tokens and 1 to 11 distinct field names; deserialization and
/// [`ResolveRequest::new`] refuse anything else, so the fields are private.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(try_from = "ResolveRequestWire")]
pub struct ResolveRequest {
    #[schema(min_items = 1, max_items = 500)]
    tokens: Vec<PatientToken>,
    #[schema(min_items = 1, max_items = 11)]
    fields: Vec<FieldName>,
    #[serde(with = "super::purpose_serde")]
    #[schema(schema_with = super::purpose_schema)]
    purpose: Purpose,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ResolveRequestWire {
    tokens: Vec<PatientToken>,
    fields: Vec<FieldName>,
    #[serde(with = "super::purpose_serde")]
    purpose: Purpose,
}

impl TryFrom<ResolveRequestWire> for ResolveRequest {
    type Error = ParseError;
    fn try_from(w: ResolveRequestWire) -> Result<Self, ParseError> {
        Self::new(w.tokens, w.fields, w.purpose)
    }
}

impl ResolveRequest {
    pub const MAX_TOKENS: usize = 500;

    pub fn new(
        tokens: Vec<PatientToken>,
        fields: Vec<FieldName>,
        purpose: Purpose,
    ) -> Result<Self, ParseError> {
        let distinct_tokens = tokens.iter().collect::<BTreeSet<_>>().len();
        if tokens.is_empty() || tokens.len() > Self::MAX_TOKENS || distinct_tokens != tokens.len() {
            return Err(ParseError::new(
                "tokens",
                "expected 1 to 500 distinct patient tokens",
            ));
        }
        let distinct_fields = fields.iter().collect::<BTreeSet<_>>().len();
        if fields.is_empty() || distinct_fields != fields.len() {
            return Err(ParseError::new(
                "fields",
                "expected 1 to 11 distinct field names",
            ));
        }
        Ok(Self {
            tokens,
            fields,
            purpose,
        })
    }

    pub fn tokens(&self) -> &[PatientToken] {
        &self.tokens
    }

    pub fn fields(&self) -> &[FieldName] {
        &self.fields
    }

    pub fn purpose(&self) -> Purpose {
        self.purpose
    }
}

/// Answer to `POST /v1/resolve`: one entry per requested token, in request order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolveResponse {
    pub patients: Vec<ResolvedPatient>,
}

/// One token's answer. An unknown token (or one of another domain) has `found: false` and no
/// fields. A found one has an entry for every requested field.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedPatient {
    pub token: PatientToken,
    pub found: bool,
    #[serde(default)]
    pub fields: BTreeMap<FieldName, ResolvedField>,
}

/// What the policy let through for one field.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FieldStatus {
    /// `value` is the field as stored: the same JSON the identity card uses (a string, an array
    /// of strings for `phones`), or `null` when the patient has none.
    Shown,
    /// `value` is a masked string (e.g. `+7 *** ***-**-89`), `reason` says why.
    Masked,
    /// No value; `reason` says why (purpose, role, no care relationship, ...).
    Withheld,
}

/// One resolved field. `value` is absent when withheld.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResolvedField {
    pub status: FieldStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl ResolvedField {
    /// The value as a parsed type when the field is shown and not null, e.g.
    /// `field.shown_as::<PersonName>()`. A shown value that does not parse is an error.
    pub fn shown_as<T: DeserializeOwned>(&self) -> Result<Option<T>, serde_json::Error> {
        match (&self.status, &self.value) {
            (FieldStatus::Shown, Some(v)) if !v.is_null() => T::deserialize(v).map(Some),
            _ => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn token(b: u8) -> PatientToken {
        PatientToken::from_random([b; 16])
    }

    fn identity_json() -> serde_json::Value {
        json!({
            "surname": "Иванова",
            "name": "Мария",
            "patronymic": "Петровна",
            "birth_date": "1984-02-29",
            "sex": "female",
            "phones": ["+7 912 345-67-89", "8 (495) 123-45-67"],
            "email": "Maria@Example.RU",
            "snils": "11223344595",
            "passport": "45 06 123456",
            "address": "г. Москва, ул. Тверская, д. 1",
            "inn": "500100732259"
        })
    }

    #[test]
    fn register_request_parses_and_normalises_every_field() {
        let req: RegisterPatientRequest =
            serde_json::from_value(json!({ "identity": identity_json() })).unwrap();
        let out = serde_json::to_value(&req).unwrap();
        assert_eq!(
            out,
            json!({"identity": {
                "surname": "Иванова",
                "name": "Мария",
                "patronymic": "Петровна",
                "birth_date": "1984-02-29",
                "sex": "female",
                "phones": ["+79123456789", "+74951234567"],
                "email": "Maria@example.ru",
                "snils": "112-233-445 95",
                "passport": "4506 123456",
                "address": "г. Москва, ул. Тверская, д. 1",
                "inn": "500100732259"
            }})
        );
    }

    #[test]
    fn a_patient_has_at_most_ten_phones() {
        let phones =
            |n: usize| -> Vec<String> { (0..n).map(|i| format!("+7912345670{i:01}")).collect() };
        let mut card = identity_json();
        card["phones"] = json!(phones(MAX_PHONES));
        let ten: PatientIdentity = serde_json::from_value(card.clone()).unwrap();
        assert_eq!(ten.phones.len(), 10);
        card["phones"] = json!(phones(MAX_PHONES + 1));
        let err = serde_json::from_value::<PatientIdentity>(card)
            .unwrap_err()
            .to_string();
        assert!(err.contains("at most 10 phone numbers"), "{err}");

        let update: UpdatePatientRequest =
            serde_json::from_value(json!({"phones": phones(MAX_PHONES)})).unwrap();
        assert_eq!(update.phones.map(|p| p.len()), Some(10));
        let err = serde_json::from_value::<UpdatePatientRequest>(
            json!({"phones": phones(MAX_PHONES + 1)}),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("at most 10 phone numbers"), "{err}");
        // Absent and null still mean "keep".
        let keep: UpdatePatientRequest = serde_json::from_value(json!({"phones": null})).unwrap();
        assert!(keep.phones.is_none());
        let keep: UpdatePatientRequest = serde_json::from_value(json!({})).unwrap();
        assert!(keep.phones.is_none());
    }

    #[test]
    fn identity_optional_fields_may_be_absent_or_null() {
        let min: PatientIdentity = serde_json::from_value(json!({
            "surname": "Ли", "name": "Вэй", "birth_date": "2001-01-01", "sex": "male",
            "email": null
        }))
        .unwrap();
        assert!(min.phones.is_empty() && min.email.is_none() && min.patronymic.is_none());
        assert_eq!(
            serde_json::to_value(&min).unwrap(),
            json!({"surname": "Ли", "name": "Вэй", "birth_date": "2001-01-01", "sex": "male", "phones": []})
        );
    }

    #[test]
    fn a_bad_field_or_an_unknown_field_refuses_the_whole_request() {
        let mut bad = identity_json();
        bad["snils"] = json!("112-233-445 96");
        let err = serde_json::from_value::<PatientIdentity>(bad).unwrap_err();
        assert!(
            err.to_string().contains("invalid SNILS: the check number"),
            "{err}"
        );

        let mut extra = identity_json();
        extra["diagnosis"] = json!("J06.9");
        let err = serde_json::from_value::<PatientIdentity>(extra).unwrap_err();
        assert!(
            err.to_string().contains("unknown field `diagnosis`"),
            "{err}"
        );

        let err = serde_json::from_value::<RegisterPatientRequest>(
            json!({"identity": identity_json(), "token": "x"}),
        )
        .unwrap_err();
        assert!(err.to_string().contains("unknown field `token`"), "{err}");
    }

    #[test]
    fn identity_debug_shows_no_personal_data() {
        let id: PatientIdentity = serde_json::from_value(identity_json()).unwrap();
        let dbg = format!("{id:?}");
        for pii in [
            "Иванова",
            "1984",
            "912",
            "example",
            "445",
            "123456",
            "Тверская",
            "500100",
        ] {
            assert!(!dbg.contains(pii), "{pii} leaked: {dbg}");
        }
    }

    #[test]
    fn update_lists_the_fields_it_sets() {
        let req: UpdatePatientRequest =
            serde_json::from_value(json!({"phones": [], "email": "a@b.ru", "surname": "Петрова"}))
                .unwrap();
        assert_eq!(
            req.fields(),
            [FieldName::Surname, FieldName::Phones, FieldName::Email]
        );
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"surname": "Петрова", "phones": [], "email": "a@b.ru"})
        );
        let empty: UpdatePatientRequest = serde_json::from_value(json!({})).unwrap();
        assert!(empty.is_empty());
        assert!(
            serde_json::from_value::<UpdatePatientRequest>(json!({"phone": "+79123456789"}))
                .is_err()
        );
        let resp: UpdatePatientResponse = serde_json::from_value(
            json!({"token": token(1).to_string(), "updated_fields": ["surname", "phones"]}),
        )
        .unwrap();
        assert_eq!(resp.updated_fields, [FieldName::Surname, FieldName::Phones]);
    }

    #[test]
    fn search_takes_exactly_one_criterion() {
        let by_phone: SearchPatientsRequest =
            serde_json::from_value(json!({"phone": "8 912 345 67 89"})).unwrap();
        assert_eq!(
            by_phone.criterion().unwrap(),
            SearchCriterion::Phone("+79123456789".parse().unwrap())
        );
        let by_name: SearchPatientsRequest = serde_json::from_value(json!({
            "surname_name_birth": {"surname": "Иванова", "name": "Мария", "birth_date": "1984-02-29"}
        }))
        .unwrap();
        assert!(matches!(
            by_name.criterion(),
            Ok(SearchCriterion::SurnameNameBirth(_))
        ));
        let none = SearchPatientsRequest::default();
        assert_eq!(none.criterion(), Err(SearchCriterionError::Missing));
        let two: SearchPatientsRequest =
            serde_json::from_value(json!({"phone": "+79123456789", "passport": "4506123456"}))
                .unwrap();
        assert_eq!(two.criterion(), Err(SearchCriterionError::Several));

        let req =
            SearchPatientsRequest::from(SearchCriterion::Snils("11223344595".parse().unwrap()));
        assert_eq!(
            serde_json::to_value(&req).unwrap(),
            json!({"snils": "112-233-445 95"})
        );
        assert!(serde_json::from_value::<SearchPatientsRequest>(
            json!({"surname_name_birth": {"surname": "И", "name": "М", "birth_date": "1984-02-29", "sex": "female"}})
        )
        .is_err());
    }

    #[test]
    fn resolve_request_shape_and_bounds() {
        let req = ResolveRequest::new(
            vec![token(1), token(2)],
            vec![FieldName::Surname, FieldName::Phones],
            Purpose::Scheduling,
        )
        .unwrap();
        let json = serde_json::to_value(&req).unwrap();
        assert_eq!(
            json,
            json!({
                "tokens": [token(1).to_string(), token(2).to_string()],
                "fields": ["surname", "phones"],
                "purpose": "scheduling"
            })
        );
        assert_eq!(serde_json::from_value::<ResolveRequest>(json).unwrap(), req);

        let err = |v| {
            serde_json::from_value::<ResolveRequest>(v)
                .unwrap_err()
                .to_string()
        };
        let t = token(1).to_string();
        assert!(
            err(json!({"tokens": [], "fields": ["name"], "purpose": "billing"}))
                .starts_with("invalid tokens: expected 1 to 500")
        );
        assert!(
            err(json!({"tokens": [t, t], "fields": ["name"], "purpose": "billing"}))
                .starts_with("invalid tokens")
        );
        assert!(
            err(json!({"tokens": [t], "fields": [], "purpose": "billing"}))
                .starts_with("invalid fields: expected 1 to 11")
        );
        assert!(
            err(json!({"tokens": [t], "fields": ["name", "name"], "purpose": "billing"}))
                .starts_with("invalid fields")
        );
        let unknown = err(json!({"tokens": [t], "fields": ["name"], "purpose": "research"}));
        assert!(unknown.contains("unknown purpose: use one of"), "{unknown}");
        assert!(
            !unknown.contains("research"),
            "the value is not echoed: {unknown}"
        );
        assert!(
            err(json!({"tokens": [t], "fields": ["name"]})).contains("missing field `purpose`")
        );
        assert!(
            err(json!({"tokens": [t], "fields": ["name"], "purpose": "billing", "x": 1}))
                .contains("unknown field `x`")
        );

        let many: Vec<_> = (0..=500u32)
            .map(|i| {
                let mut b = [0u8; 16];
                b[..4].copy_from_slice(&i.to_be_bytes());
                PatientToken::from_random(b)
            })
            .collect();
        assert!(
            ResolveRequest::new(
                many[..500].to_vec(),
                vec![FieldName::Name],
                Purpose::Treatment
            )
            .is_ok()
        );
        assert!(ResolveRequest::new(many, vec![FieldName::Name], Purpose::Treatment).is_err());
        assert!(
            ResolveRequest::new(vec![token(1)], FieldName::ALL.to_vec(), Purpose::Treatment)
                .is_ok()
        );
    }

    #[test]
    fn resolve_response_parses_shown_masked_withheld_and_not_found() {
        let resp: ResolveResponse = serde_json::from_value(json!({
            "patients": [
                {
                    "token": token(1).to_string(),
                    "found": true,
                    "fields": {
                        "surname": {"status": "shown", "value": "Иванова"},
                        "phones": {"status": "masked", "value": ["+7 *** ***-**-89"], "reason": "mask_contact"},
                        "snils": {"status": "withheld", "reason": "purpose_scheduling"},
                        "email": {"status": "shown", "value": null}
                    }
                },
                {"token": token(2).to_string(), "found": false, "fields": {}},
                {"token": token(3).to_string(), "found": false}
            ]
        }))
        .unwrap();
        let p = &resp.patients[0];
        assert!(p.found);
        let surname = &p.fields[&FieldName::Surname];
        assert_eq!(
            surname
                .shown_as::<PersonName>()
                .unwrap()
                .map(|n| n.as_str().to_owned()),
            Some("Иванова".to_owned())
        );
        assert_eq!(p.fields[&FieldName::Phones].status, FieldStatus::Masked);
        assert_eq!(
            p.fields[&FieldName::Phones]
                .shown_as::<Vec<PhoneE164>>()
                .unwrap(),
            None
        );
        assert_eq!(p.fields[&FieldName::Snils].status, FieldStatus::Withheld);
        assert_eq!(p.fields[&FieldName::Snils].value, None);
        assert_eq!(
            p.fields[&FieldName::Email].shown_as::<Email>().unwrap(),
            None
        );
        assert!(!resp.patients[1].found && resp.patients[2].fields.is_empty());

        let bad = ResolvedField {
            status: FieldStatus::Shown,
            value: Some(json!("x")),
            reason: None,
        };
        assert!(bad.shown_as::<BirthDate>().is_err());

        // Map keys serialise as the snake_case field names.
        let back = serde_json::to_value(&resp).unwrap();
        assert_eq!(
            back["patients"][0]["fields"]["snils"],
            json!({"status": "withheld", "reason": "purpose_scheduling"})
        );
    }
}
