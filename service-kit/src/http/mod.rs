//! HTTP plumbing shared by the services: request ids, route metrics, the JSON body extractor.

pub mod json;
pub mod metrics;
pub mod request_id;
