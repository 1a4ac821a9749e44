//! Named operators of the admin API and page: who they are, what their role lets them do,
//! and their server-side page sessions. Pure data and rules; hashing passwords and
//! checking tokens is the service's application layer (`src/app/operators.rs`), storing
//! them is `storage::Store` (parts `Operators` and `Sessions`).

use crate::ts::Ts;
use serde::{Deserialize, Serialize};

/// What an operator may do. Each role includes the ones before it.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Reads leads, timelines, stats and dead letters.
    Viewer,
    /// Also replies to leads, freezes and unfreezes them.
    Agent,
    /// Also manages suppressions, dead letters, consent exports, backups and operators.
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Agent => "agent",
            Role::Admin => "admin",
        }
    }

    pub fn parse(s: &str) -> Option<Role> {
        match s.trim().to_ascii_lowercase().as_str() {
            "viewer" => Some(Role::Viewer),
            "agent" => Some(Role::Agent),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// Whether this role includes `needed`.
    pub fn allows(self, needed: Role) -> bool {
        self >= needed
    }
}

/// One API token of an operator: only its SHA-256 is stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenRecord {
    /// A short public id (shown in listings, used to revoke one token).
    pub id: String,
    /// Hex SHA-256 of the token.
    pub sha256: String,
    pub created_at: Ts,
}

/// An operator account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Operator {
    /// Unique; shown on the timeline and in logs.
    pub name: String,
    pub role: Role,
    /// Argon2id PHC string; `None` = no page sign-in.
    pub password_hash: Option<String>,
    pub tokens: Vec<TokenRecord>,
    pub created_at: Ts,
    pub created_by: String,
    /// Set when revoked: no token, password or session of theirs works any more.
    pub revoked_at: Option<Ts>,
}

impl Operator {
    pub fn active(&self) -> bool {
        self.revoked_at.is_none()
    }
}

/// A signed-in page session, stored under the SHA-256 of its cookie value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub operator: String,
    /// The CSRF token every form of this session carries.
    pub csrf: String,
    pub created_at: Ts,
    pub expires_at: Ts,
}

/// The shortest and longest operator name, and the characters allowed.
pub const NAME_MAX: usize = 64;

/// `None` when `name` is acceptable; else why not. Names are what the timeline shows, so
/// they are plain: letters, digits, `.`, `-`, `_`, `@`, 1 to 64 characters.
pub fn check_name(name: &str) -> Option<String> {
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Some(format!("an operator name has 1 to {NAME_MAX} characters"));
    }
    if !name.chars().all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '@')) {
        return Some("an operator name may hold letters, digits, '.', '-', '_' and '@' only".into());
    }
    None
}

/// The name the shared `LEADLINE_ADMIN_TOKEN` acts under (a bootstrap admin).
pub const BOOTSTRAP_NAME: &str = "admin-token";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_include_the_lower_ones() {
        assert!(Role::Admin.allows(Role::Agent) && Role::Admin.allows(Role::Viewer));
        assert!(Role::Agent.allows(Role::Viewer) && !Role::Agent.allows(Role::Admin));
        assert!(!Role::Viewer.allows(Role::Agent));
        for r in [Role::Viewer, Role::Agent, Role::Admin] {
            assert_eq!(Role::parse(r.as_str()), Some(r));
        }
        assert_eq!(Role::parse("root"), None);
    }

    #[test]
    fn names_are_plain() {
        assert!(check_name("ana.ruiz@brokerage").is_none());
        assert!(check_name("").is_some());
        assert!(check_name("a b").is_some());
        assert!(check_name("<script>").is_some());
        assert!(check_name(&"x".repeat(65)).is_some());
    }
}
