//! `policy draft --scope`: which protected services a draft covers, given as
//! a network (the servers in it) or an inventory role (the servers that
//! have it). A team drafts the rules of its own services without wading
//! through everyone else's.

use std::net::IpAddr;
use std::str::FromStr;

use depmap_edges::{DayActivity, EdgeKey};
use depmap_model::{Cidr, Inventory};

use crate::{Endpoint, PolicyDraft};

/// The services a draft covers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Servers inside this network (a single address is a /32 or /128).
    Network(Cidr),
    /// Servers whose inventory role is this.
    Role(String),
}

impl Scope {
    /// Reads `--scope`: a network or address, else a role name. Errors say
    /// what is wrong with a value that looks like a network but is not one.
    pub fn parse(value: &str) -> Result<Scope, String> {
        if let Ok(ip) = IpAddr::from_str(value) {
            return Ok(Scope::Network(Cidr::host(ip)));
        }
        if value.contains('/') {
            return Cidr::from_str(value)
                .map(Scope::Network)
                .map_err(|e| format!("{value:?} is not a network: {e}"));
        }
        let role = value.strip_prefix("role:").unwrap_or(value);
        if role.is_empty() || role.chars().any(char::is_whitespace) {
            return Err(format!(
                "{value:?} is neither a network (10.0.4.0/24) nor a role name (db)"
            ));
        }
        Ok(Scope::Role(role.to_string()))
    }

    /// Whether `server` is in scope (roles through `inventory`).
    pub fn covers(&self, server: IpAddr, inventory: Option<&Inventory>) -> bool {
        match self {
            Scope::Network(net) => net.contains(server),
            Scope::Role(role) => inventory
                .and_then(|inv| inv.lookup(server).role)
                .is_some_and(|r| r == *role),
        }
    }

    /// How the draft names its scope: the network, or `role:NAME`.
    pub fn describe(&self) -> String {
        match self {
            Scope::Network(net) => net.to_string(),
            Scope::Role(role) => format!("role:{role}"),
        }
    }
}

/// Keeps the activity of edges whose server is in scope.
pub fn scope_activity(
    activity: &mut Vec<(EdgeKey, DayActivity)>,
    scope: &Scope,
    inventory: Option<&Inventory>,
) {
    activity.retain(|(k, _)| scope.covers(k.server, inventory));
}

/// Keeps the draft's services (and edges for review) whose server is in
/// scope, and records the scope in the draft. Servers given as something
/// other than an address (a reviewer's edit) are kept.
pub fn scope_draft(draft: &mut PolicyDraft, scope: &Scope, inventory: Option<&Inventory>) {
    let keep = |server: &Endpoint| server.addr().is_none_or(|ip| scope.covers(ip, inventory));
    draft.services.retain(|s| keep(&s.server));
    draft.review.retain(|r| keep(&r.server));
    draft.scope = Some(scope.describe());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn networks_addresses_and_roles() {
        let net = Scope::parse("10.0.4.0/24").unwrap();
        assert!(net.covers("10.0.4.20".parse().unwrap(), None));
        assert!(!net.covers("10.0.5.20".parse().unwrap(), None));
        let host = Scope::parse("10.0.4.20").unwrap();
        assert_eq!(host.describe(), "10.0.4.20");
        assert!(Scope::parse("10.0.4.5/24")
            .unwrap_err()
            .contains("is not a network"));
        assert_eq!(Scope::parse("role:db").unwrap(), Scope::Role("db".into()));
        assert_eq!(Scope::parse("db").unwrap(), Scope::Role("db".into()));
        assert!(Scope::parse("data base").is_err());
        // A role without an inventory covers nothing.
        assert!(!Scope::Role("db".into()).covers("10.0.4.20".parse().unwrap(), None));
    }
}
