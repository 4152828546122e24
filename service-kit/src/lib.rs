//! What the vault and clinic-app share and that is not domain: the SQL store over SQLite or
//! PostgreSQL ([`store`]), and the HTTP plumbing both put in front of their handlers ([`http`]).

pub mod http;
pub mod store;
