//! Who is asking: a signed-in staff member or a service of a consumer domain, and the request
//! facts every audit event carries.

pub use policy::{ConsumerDomain, Role};

/// Roles that can read medical data sign in with a second factor.
pub fn needs_totp(role: Role) -> bool {
    matches!(role, Role::Doctor | Role::Nurse)
}

/// A signed-in staff member.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StaffPrincipal {
    pub staff_id: String,
    pub role: Role,
    pub branch: String,
}

/// Every request has one; anonymous requests never reach the domain.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Principal {
    Staff(StaffPrincipal),
    /// A consumer domain (clinic-app, analytics) with its service credential.
    Service {
        domain: ConsumerDomain,
    },
}

impl Principal {
    /// The pseudonym domain of this principal's tokens: staff share the vault's own domain,
    /// each service has its own.
    pub fn token_domain(&self) -> ConsumerDomain {
        match self {
            Principal::Staff(_) => ConsumerDomain::VaultStaff,
            Principal::Service { domain } => *domain,
        }
    }

    /// The policy request for this principal.
    pub fn access_request(&self) -> policy::AccessRequest {
        match self {
            Principal::Staff(s) => {
                policy::AccessRequest::staff(s.role, s.staff_id.clone(), s.branch.clone())
            }
            Principal::Service { domain } => policy::AccessRequest::service(*domain),
        }
    }

    /// How the audit names the principal: a staff id or `service:<domain>`.
    pub fn audit_name(&self) -> String {
        match self {
            Principal::Staff(s) => s.staff_id.clone(),
            Principal::Service { domain } => format!("service:{domain}"),
        }
    }

    pub fn audit_role(&self) -> &str {
        match self {
            Principal::Staff(s) => s.role.as_str(),
            Principal::Service { .. } => "service",
        }
    }

    pub fn branch(&self) -> Option<&str> {
        match self {
            Principal::Staff(s) => Some(&s.branch),
            Principal::Service { .. } => None,
        }
    }
}

/// Request facts for the audit: id and client address. Never personal data.
#[derive(Clone, Debug, Default)]
pub struct RequestMeta {
    pub request_id: String,
    pub client_addr: Option<String>,
}
