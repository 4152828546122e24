//! A typed client of the vault's HTTP API, for clinic-app and other consumers.
//!
//! Authentication is one header, `Authorization: Bearer ...`:
//! - a consumer service sends `Bearer svc.<domain>.<secret>` ([`Credential::Service`]); the
//!   domain is a [`ConsumerDomain`] and never contains `.`, so the vault splits at the first `.`
//!   after `svc.` and the secret is everything after it (it may contain `.`);
//! - a staff member sends `Bearer <session>` from a login ([`Credential::Session`]).
//!
//! Every call has a timeout (5 s unless set), follows no redirects, and maps failures to
//! [`ClientError`]. Error texts never carry the request URL (which can hold a token) nor values
//! from the answer.

use std::fmt;
use std::time::Duration;

use reqwest::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE, HeaderValue};
use reqwest::{Method, Url};
use serde::Serialize;
use serde::de::DeserializeOwned;
use thiserror::Error;
use uuid::Uuid;

use crate::api::check_staff_id;
use crate::api::{
    CareRelationshipRequest, RegisterPatientRequest, RegisterPatientResponse, ResolveRequest,
    ResolveResponse, SearchPatientsRequest, SearchPatientsResponse, UpdatePatientRequest,
    UpdatePatientResponse,
};
use crate::api::{
    ConsentPurpose, ConsentsResponse, DataRequestView, FileDataRequest, ListDataRequestsResponse,
    PatientDataExport, SetConsentRequest,
};
use crate::error::ApiError;
use crate::ids::{ConsumerDomain, PatientToken};

/// Who the client is. `Debug` never shows the secret or the session.
#[derive(Clone)]
pub enum Credential {
    /// A consumer service: sent as `Authorization: Bearer svc.<domain>.<secret>`.
    Service {
        domain: ConsumerDomain,
        secret: String,
    },
    /// A staff session from a login: sent as `Authorization: Bearer <session>`.
    Session(String),
}

impl Credential {
    fn header(&self) -> Result<HeaderValue, ClientError> {
        let (value, secret) = match self {
            Credential::Service { domain, secret } => {
                (format!("Bearer svc.{domain}.{secret}"), secret)
            }
            Credential::Session(session) => (format!("Bearer {session}"), session),
        };
        if secret.is_empty() || !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientError::Config(
                "the credential must be non-empty visible ASCII without spaces".into(),
            ));
        }
        let mut header = HeaderValue::from_str(&value).map_err(|_| {
            ClientError::Config("the credential must be visible ASCII without spaces".into())
        })?;
        header.set_sensitive(true);
        Ok(header)
    }
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credential::Service { domain, .. } => f
                .debug_struct("Service")
                .field("domain", domain)
                .field("secret", &"<redacted>")
                .finish(),
            Credential::Session(_) => f.write_str("Session(<redacted>)"),
        }
    }
}

/// Why a call failed.
#[derive(Debug, Error)]
pub enum ClientError {
    /// The vault answered with an error: its status and [`ApiError`] body. A non-2xx 4xx answer
    /// without such a body gets code `unexpected_status`.
    #[error("the vault refused the request (HTTP {status}): {error}")]
    Api { status: u16, error: ApiError },
    /// The vault could not be reached, timed out, or answered 5xx without an error body.
    #[error("the vault is unavailable: {0}")]
    Unavailable(String),
    /// A 2xx answer whose body is not what the endpoint promises.
    #[error("the vault's answer could not be decoded: {0}")]
    Decode(String),
    /// The client could not be built (bad base URL, bad credential) or a request not encoded.
    #[error("the vault client is misconfigured: {0}")]
    Config(String),
}

/// A client of one vault, with one credential.
#[derive(Clone, Debug)]
pub struct VaultClient {
    http: reqwest::Client,
    base: Url,
    auth: HeaderValue,
}

impl VaultClient {
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

    /// A client of the vault at `base_url` (`http://vault.internal:8200`, optionally with a path
    /// prefix) with the default 5 s timeout.
    pub fn new(base_url: &str, credential: Credential) -> Result<Self, ClientError> {
        Self::with_timeout(base_url, credential, Self::DEFAULT_TIMEOUT)
    }

    /// As [`VaultClient::new`], with a timeout for connecting and for each whole call.
    pub fn with_timeout(
        base_url: &str,
        credential: Credential,
        timeout: Duration,
    ) -> Result<Self, ClientError> {
        let base = Url::parse(base_url.trim())
            .map_err(|e| ClientError::Config(format!("base URL: {e}")))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(ClientError::Config(
                "base URL: expected http:// or https://".into(),
            ));
        }
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("vault-wire/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| ClientError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(Self {
            http,
            base,
            auth: credential.header()?,
        })
    }

    /// `POST /v1/patients`.
    pub async fn register_patient(
        &self,
        req: &RegisterPatientRequest,
    ) -> Result<RegisterPatientResponse, ClientError> {
        let r = self.request(Method::POST, &["v1", "patients"], Some(req))?;
        self.call(r).await
    }

    /// `PATCH /v1/patients/{token}`.
    pub async fn update_patient(
        &self,
        token: &PatientToken,
        req: &UpdatePatientRequest,
    ) -> Result<UpdatePatientResponse, ClientError> {
        let r = self.request(
            Method::PATCH,
            &["v1", "patients", token.as_str()],
            Some(req),
        )?;
        self.call(r).await
    }

    /// `POST /v1/patients/search`.
    pub async fn search_patients(
        &self,
        req: &SearchPatientsRequest,
    ) -> Result<SearchPatientsResponse, ClientError> {
        let r = self.request(Method::POST, &["v1", "patients", "search"], Some(req))?;
        self.call(r).await
    }

    /// `POST /v1/resolve`.
    pub async fn resolve(&self, req: &ResolveRequest) -> Result<ResolveResponse, ClientError> {
        let r = self.request(Method::POST, &["v1", "resolve"], Some(req))?;
        self.call(r).await
    }

    /// `PUT /v1/care-relationships`; any 2xx is success and its body is ignored.
    pub async fn put_care_relationship(
        &self,
        req: &CareRelationshipRequest,
    ) -> Result<(), ClientError> {
        let r = self.request(Method::PUT, &["v1", "care-relationships"], Some(req))?;
        self.call_no_content(r).await
    }

    /// `DELETE /v1/care-relationships/{doctor}/{token}`; any 2xx is success.
    pub async fn end_care_relationship(
        &self,
        doctor_staff_id: &str,
        token: &PatientToken,
    ) -> Result<(), ClientError> {
        check_staff_id(doctor_staff_id).map_err(|e| ClientError::Config(e.to_string()))?;
        let path = ["v1", "care-relationships", doctor_staff_id, token.as_str()];
        let r = self.request(Method::DELETE, &path, None::<&()>)?;
        self.call_no_content(r).await
    }

    /// `POST /v1/data-requests` (fileDataRequest).
    pub async fn file_data_request(
        &self,
        req: &FileDataRequest,
    ) -> Result<DataRequestView, ClientError> {
        let r = self.request(Method::POST, &["v1", "data-requests"], Some(req))?;
        self.call(r).await
    }

    /// `GET /v1/data-requests?patient=...` (listDataRequests): one patient's requests.
    pub async fn list_data_requests(
        &self,
        patient: &PatientToken,
    ) -> Result<ListDataRequestsResponse, ClientError> {
        let mut r = self.request(Method::GET, &["v1", "data-requests"], None::<&()>)?;
        r.url_mut()
            .query_pairs_mut()
            .append_pair("patient", patient.as_str());
        self.call(r).await
    }

    /// `GET /v1/data-requests/{id}` (getDataRequest).
    pub async fn get_data_request(&self, id: Uuid) -> Result<DataRequestView, ClientError> {
        let id = id.to_string();
        let r = self.request(Method::GET, &["v1", "data-requests", &id], None::<&()>)?;
        self.call(r).await
    }

    /// `GET /v1/data-requests/{id}/export`: the vault's part of an access request's answer.
    pub async fn export_patient_data(&self, id: Uuid) -> Result<PatientDataExport, ClientError> {
        let id = id.to_string();
        let path = ["v1", "data-requests", &id, "export"];
        let r = self.request(Method::GET, &path, None::<&()>)?;
        self.call(r).await
    }

    /// `PUT /v1/patients/{token}/consents/{purpose}` (setConsent).
    pub async fn set_consent(
        &self,
        token: &PatientToken,
        purpose: ConsentPurpose,
        req: &SetConsentRequest,
    ) -> Result<ConsentsResponse, ClientError> {
        let path = [
            "v1",
            "patients",
            token.as_str(),
            "consents",
            purpose.as_str(),
        ];
        let r = self.request(Method::PUT, &path, Some(req))?;
        self.call(r).await
    }

    /// `GET /v1/patients/{token}/consents` (listConsents).
    pub async fn list_consents(
        &self,
        token: &PatientToken,
    ) -> Result<ConsentsResponse, ClientError> {
        let path = ["v1", "patients", token.as_str(), "consents"];
        let r = self.request(Method::GET, &path, None::<&()>)?;
        self.call(r).await
    }

    /// `GET /healthz`, without the credential: `Ok` when the vault process answers 2xx.
    pub async fn healthz(&self) -> Result<(), ClientError> {
        let mut r = self.request(Method::GET, &["healthz"], None::<&()>)?;
        r.headers_mut().remove(AUTHORIZATION);
        self.call_no_content(r).await
    }

    /// Builds a request to `base + segments` (each segment percent-encoded), with the credential,
    /// `Accept: application/json`, and `body` as JSON.
    fn request<B: Serialize + ?Sized>(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&B>,
    ) -> Result<reqwest::Request, ClientError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|()| ClientError::Config("base URL cannot take a path".into()))?
            .pop_if_empty()
            .extend(segments);
        let mut builder = self
            .http
            .request(method, url)
            .header(AUTHORIZATION, self.auth.clone())
            .header(ACCEPT, "application/json");
        if let Some(body) = body {
            let bytes = serde_json::to_vec(body)
                .map_err(|_| ClientError::Config("the request body could not be encoded".into()))?;
            builder = builder.header(CONTENT_TYPE, "application/json").body(bytes);
        }
        builder
            .build()
            .map_err(|e| ClientError::Config(e.without_url().to_string()))
    }

    async fn send(&self, req: reqwest::Request) -> Result<(u16, Vec<u8>), ClientError> {
        let unavailable = |e: reqwest::Error| ClientError::Unavailable(e.without_url().to_string());
        let resp = self.http.execute(req).await.map_err(unavailable)?;
        let status = resp.status().as_u16();
        let body = resp.bytes().await.map_err(unavailable)?;
        Ok((status, body.to_vec()))
    }

    async fn call<T: DeserializeOwned>(&self, req: reqwest::Request) -> Result<T, ClientError> {
        let (status, body) = self.send(req).await?;
        decode_response(status, &body)
    }

    async fn call_no_content(&self, req: reqwest::Request) -> Result<(), ClientError> {
        let (status, body) = self.send(req).await?;
        check_status(status, &body)
    }
}

/// Maps a non-2xx answer to its error; `Ok` for 2xx.
fn check_status(status: u16, body: &[u8]) -> Result<(), ClientError> {
    if (200..300).contains(&status) {
        return Ok(());
    }
    match serde_json::from_slice::<ApiError>(body) {
        Ok(error) => Err(ClientError::Api { status, error }),
        Err(_) if status >= 500 => Err(ClientError::Unavailable(format!(
            "HTTP {status} without an error body"
        ))),
        Err(_) => Err(ClientError::Api {
            status,
            error: ApiError::new(
                "unexpected_status",
                format!("HTTP {status} without an error body"),
            ),
        }),
    }
}

/// Maps an answer to the endpoint's response type or to an error.
fn decode_response<T: DeserializeOwned>(status: u16, body: &[u8]) -> Result<T, ClientError> {
    check_status(status, body)?;
    serde_json::from_slice(body).map_err(|e| {
        // serde's text can quote values from the body (personal data); keep only where.
        ClientError::Decode(format!(
            "{:?} error at line {} column {}",
            e.classify(),
            e.line(),
            e.column()
        ))
    })
}

#[cfg(test)]
mod tests;
