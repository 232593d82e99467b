//! Who may call what: client identities (from mTLS certificates) mapped to roles.
//!
//! `evaluate` may call Evaluate, CheckCompose, GetPolicyInfo and Ping; `admin` may also call
//! Reload and WatchDecisions. With mTLS, the identity is the client certificate's subject
//! common name (else its first DNS name) and unknown identities get `evaluate`. Without mTLS
//! there is no identity: callers get the configured default (admin only when every listener is
//! a unix socket or a loopback address).

use std::collections::HashMap;

use serde::Deserialize;

/// A role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Evaluate and read.
    Evaluate,
    /// Everything, including Reload and WatchDecisions.
    Admin,
}

/// The access policy of a server.
#[derive(Debug, Clone)]
pub struct Access {
    /// Client certificates are required and identify callers.
    pub mtls: bool,
    /// Roles by identity.
    pub roles: HashMap<String, Role>,
    /// The role of callers without a certificate identity.
    pub default_role: Role,
}

impl Access {
    /// The caller's identity, from its verified client certificate.
    pub fn identity<T>(request: &tonic::Request<T>) -> Option<String> {
        let certs = request.peer_certs()?;
        let der = certs.first()?;
        let (_, cert) = x509_parser::parse_x509_certificate(der.as_ref()).ok()?;
        if let Some(cn) = cert
            .subject()
            .iter_common_name()
            .next()
            .and_then(|cn| cn.as_str().ok())
        {
            return Some(cn.to_string());
        }
        let san = cert.subject_alternative_name().ok().flatten()?;
        san.value.general_names.iter().find_map(|n| match n {
            x509_parser::extensions::GeneralName::DNSName(d) => Some((*d).to_string()),
            _ => None,
        })
    }

    /// The caller's role.
    pub fn role<T>(&self, request: &tonic::Request<T>) -> Role {
        if !self.mtls {
            return self.default_role;
        }
        Self::identity(request)
            .and_then(|id| self.roles.get(&id).copied())
            .unwrap_or(Role::Evaluate)
    }

    /// Fails unless the caller is an admin.
    pub fn require_admin<T>(
        &self,
        request: &tonic::Request<T>,
        call: &str,
    ) -> Result<(), tonic::Status> {
        if self.role(request) == Role::Admin {
            return Ok(());
        }
        let who = Self::identity(request).unwrap_or_else(|| "an unauthenticated caller".into());
        Err(tonic::Status::permission_denied(format!(
            "{call} needs the admin role; {who} has the evaluate role (set `roles:` in the server config)"
        )))
    }
}
