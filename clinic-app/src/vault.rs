//! The vault, as clinic-app uses it: through the typed client of `vault-wire`, with the
//! clinic-app service credential, one purpose per call. clinic-app keeps no answer: names and
//! contacts live in memory for the request that asked and are dropped with it.

use std::collections::HashMap;
use std::time::Duration;

use uuid::Uuid;
use vault_wire::{
    CareRelationshipRequest, Channel, ConsentPurpose, ConsentsResponse, ConsumerDomain, Credential,
    DataRequestKind, DataRequestView, FieldName, FieldStatus, FileDataRequest, PatientDataExport,
    PatientIdentity, PatientToken, Purpose, RegisterPatientRequest, ResolveRequest,
    ResolvedPatient, SearchCriterion, SearchPatientsRequest, SetConsentRequest, VaultClient,
};
use zeroize::Zeroizing;

use crate::domain::error::ClinicError;

/// The fields each clinic-app purpose asks for; the vault's policy may still mask or withhold.
/// A schedule shows the name as the vault composes it: one sealed field per patient to open.
pub const NAME_FIELDS: [FieldName; 1] = [FieldName::FullName];
pub const CONTACT_FIELDS: [FieldName; 2] = [FieldName::Phones, FieldName::Email];
pub const TAX_FIELDS: [FieldName; 5] = [
    FieldName::Surname,
    FieldName::Name,
    FieldName::Patronymic,
    FieldName::BirthDate,
    FieldName::Inn,
];

/// A patient's name as the schedule shows it, or why it is not shown.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ShownName {
    Name(String),
    Withheld(String),
}

/// Contact data for one message, resolved at send time.
#[derive(Debug, Default)]
pub struct Contacts {
    pub phone: Option<Zeroizing<String>>,
    pub email: Option<Zeroizing<String>>,
    /// The vault withheld the contacts because the patient has not given (or withdrew) the
    /// consent the purpose rests on: no message may go, now or on a retry.
    pub no_consent: bool,
}

/// The policy id the vault names when a purpose's consent is missing (policy/vault.cedar).
const CONSENT_REQUIRED: &str = "consent-required";

/// Data for a tax certificate; dropped after rendering.
#[derive(Debug, Default, Clone)]
pub struct TaxPerson {
    pub surname: String,
    pub name: String,
    pub patronymic: Option<String>,
    pub birth_date: Option<String>,
    pub inn: Option<String>,
}

/// The consumer domain whose tokens clinic-app holds.
pub const CLINIC_APP_DOMAIN: &str = "clinic-app";

#[derive(Clone, Debug)]
pub struct Vault {
    client: VaultClient,
}

fn shown_str(p: &ResolvedPatient, field: FieldName) -> Option<String> {
    p.fields
        .get(&field)
        .filter(|f| f.status == FieldStatus::Shown)
        .and_then(|f| f.value.as_ref())
        .and_then(|v| v.as_str())
        .map(str::to_owned)
}

fn withheld_reason(p: &ResolvedPatient) -> String {
    if !p.found {
        return "the vault does not know this patient".into();
    }
    p.fields
        .values()
        .filter(|f| f.status == FieldStatus::Withheld)
        .find_map(|f| f.reason.clone())
        .unwrap_or_else(|| "withheld by the vault's policy".into())
}

impl Vault {
    pub fn new(base_url: &str, secret: &str, timeout: Duration) -> Result<Self, ClinicError> {
        let credential = Credential::Service {
            domain: CLINIC_APP_DOMAIN
                .parse::<ConsumerDomain>()
                .map_err(|e| ClinicError::VaultUnavailable(e.to_string()))?,
            secret: secret.to_owned(),
        };
        let client = VaultClient::with_timeout(base_url, credential, timeout)?;
        Ok(Self { client })
    }

    /// Whether the vault answers (for `/readyz`, which reports it without failing).
    pub async fn reachable(&self) -> bool {
        self.client.healthz().await.is_ok()
    }

    /// Tokens of the patients matching one criterion (phone, SNILS, passport, name + birth).
    pub async fn search(
        &self,
        criterion: SearchCriterion,
    ) -> Result<Vec<PatientToken>, ClinicError> {
        let req = SearchPatientsRequest::from(criterion);
        Ok(self.client.search_patients(&req).await?.tokens)
    }

    pub async fn register(&self, identity: PatientIdentity) -> Result<PatientToken, ClinicError> {
        let req = RegisterPatientRequest { identity };
        Ok(self.client.register_patient(&req).await?.token)
    }

    async fn resolve(
        &self,
        tokens: Vec<PatientToken>,
        fields: &[FieldName],
        purpose: Purpose,
    ) -> Result<Vec<ResolvedPatient>, ClinicError> {
        let req = ResolveRequest::new(tokens, fields.to_vec(), purpose)
            .map_err(|e| ClinicError::invalid("invalid_field", "tokens", e.to_string()))?;
        Ok(self.client.resolve(&req).await?.patients)
    }

    /// Names for a schedule, purpose `scheduling`: one call for every token given (up to the
    /// vault's 500 per call; a larger view takes one call per 500).
    pub async fn names(
        &self,
        tokens: &[PatientToken],
    ) -> Result<HashMap<PatientToken, ShownName>, ClinicError> {
        let mut out = HashMap::with_capacity(tokens.len());
        for chunk in tokens.chunks(ResolveRequest::MAX_TOKENS) {
            for p in self
                .resolve(chunk.to_vec(), &NAME_FIELDS, Purpose::Scheduling)
                .await?
            {
                let shown = match shown_str(&p, FieldName::FullName) {
                    Some(full) => ShownName::Name(full),
                    None => ShownName::Withheld(withheld_reason(&p)),
                };
                out.insert(p.token, shown);
            }
        }
        Ok(out)
    }

    /// Where to reach a patient, purpose `reminder`.
    pub async fn contacts(&self, token: &PatientToken) -> Result<Contacts, ClinicError> {
        let resolved = self
            .resolve(vec![token.clone()], &CONTACT_FIELDS, Purpose::Reminder)
            .await?;
        let Some(p) = resolved.into_iter().next().filter(|p| p.found) else {
            return Ok(Contacts::default());
        };
        let phone = p
            .fields
            .get(&FieldName::Phones)
            .filter(|f| f.status == FieldStatus::Shown)
            .and_then(|f| f.value.as_ref())
            .and_then(|v| v.as_array())
            .and_then(|a| a.first())
            .and_then(|v| v.as_str())
            .map(|s| Zeroizing::new(s.to_owned()));
        let email = shown_str(&p, FieldName::Email).map(Zeroizing::new);
        let no_consent = CONTACT_FIELDS.iter().any(|f| {
            p.fields.get(f).is_some_and(|r| {
                r.status == FieldStatus::Withheld
                    && r.reason
                        .as_deref()
                        .is_some_and(|why| why.contains(CONSENT_REQUIRED))
            })
        });
        Ok(Contacts {
            phone,
            email,
            no_consent,
        })
    }

    /// Full name, birth date and INN of taxpayer and patient, purpose `tax_certificate`.
    pub async fn tax_people(
        &self,
        tokens: &[PatientToken],
    ) -> Result<HashMap<PatientToken, TaxPerson>, ClinicError> {
        let mut distinct = tokens.to_vec();
        distinct.sort();
        distinct.dedup();
        let resolved = self
            .resolve(distinct, &TAX_FIELDS, Purpose::TaxCertificate)
            .await?;
        let mut out = HashMap::new();
        for p in resolved {
            let (Some(surname), Some(name)) = (
                shown_str(&p, FieldName::Surname),
                shown_str(&p, FieldName::Name),
            ) else {
                return Err(ClinicError::conflict(
                    "vault_withheld",
                    format!(
                        "the vault did not release the name for the tax certificate: {}",
                        withheld_reason(&p)
                    ),
                ));
            };
            out.insert(
                p.token.clone(),
                TaxPerson {
                    surname,
                    name,
                    patronymic: shown_str(&p, FieldName::Patronymic),
                    birth_date: shown_str(&p, FieldName::BirthDate),
                    inn: shown_str(&p, FieldName::Inn),
                },
            );
        }
        Ok(out)
    }

    /// Reports that the doctor (by vault staff id) treats the patient within the window.
    pub async fn put_care(
        &self,
        doctor_vault_id: &str,
        token: &PatientToken,
        from: i64,
        until: i64,
    ) -> Result<(), ClinicError> {
        let req =
            CareRelationshipRequest::new(doctor_vault_id.to_owned(), token.clone(), from, until)
                .map_err(|e| ClinicError::invalid("invalid_field", "doctor_id", e.to_string()))?;
        Ok(self.client.put_care_relationship(&req).await?)
    }

    pub async fn end_care(
        &self,
        doctor_vault_id: &str,
        token: &PatientToken,
    ) -> Result<(), ClinicError> {
        Ok(self
            .client
            .end_care_relationship(doctor_vault_id, token)
            .await?)
    }

    /// The patient's consents in force and their history.
    pub async fn consents(&self, token: &PatientToken) -> Result<ConsentsResponse, ClinicError> {
        Ok(self.client.list_consents(token).await?)
    }

    /// Gives or withdraws one consent; the answer is the consents after the change.
    pub async fn set_consent(
        &self,
        token: &PatientToken,
        purpose: ConsentPurpose,
        granted: bool,
        channel: Channel,
    ) -> Result<ConsentsResponse, ClinicError> {
        let req = SetConsentRequest { granted, channel };
        Ok(self.client.set_consent(token, purpose, &req).await?)
    }

    /// Files an access or deletion request. A deletion is carried out by the vault at once
    /// (the token is unlinked); the answer says what went and what the law keeps.
    pub async fn file_request(
        &self,
        token: &PatientToken,
        kind: DataRequestKind,
        channel: Channel,
        recipient_key: Option<String>,
    ) -> Result<DataRequestView, ClinicError> {
        let req = FileDataRequest {
            patient: token.clone(),
            kind,
            channel,
            recipient_key,
        };
        Ok(self.client.file_data_request(&req).await?)
    }

    /// A patient's requests as the vault holds them.
    pub async fn requests_of(
        &self,
        token: &PatientToken,
    ) -> Result<Vec<DataRequestView>, ClinicError> {
        Ok(self.client.list_data_requests(token).await?.requests)
    }

    /// One request; `patient` is clinic-app's token of the request's patient.
    pub async fn request(&self, id: Uuid) -> Result<DataRequestView, ClinicError> {
        Ok(self.client.get_data_request(id).await?)
    }

    /// The vault's part of an answered access request.
    pub async fn export(&self, id: Uuid) -> Result<PatientDataExport, ClinicError> {
        Ok(self.client.export_patient_data(id).await?)
    }
}
