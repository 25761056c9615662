//! Who may do what (SPEC §4), as one pure function over (role, action).

use entity::enums::Role;

use super::Principal;
use crate::error::Error;

/// Something a principal may be allowed to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// Read: every principal may; what it sees is its [`Scope`](super::Scope), which every read
    /// of the registry applies.
    Read,
    /// Create, update and delete definitions (OPERATOR: only within its tenants).
    ManageDefinitions,
    /// Queue a build, or rebuild a completed one.
    QueueBuild,
    /// Cancel a build.
    CancelBuild,
    /// Report progress: start, complete, fail.
    ReportBuild,
    /// Change the plugin settings.
    ManageSettings,
    /// Create, update and delete tenants, clusters, endpoints and catalog entries.
    ManageReference,
    /// Create, update and delete users, and manage every user's tokens.
    ManageUsers,
    /// Create and revoke one's own tokens.
    ManageOwnTokens,
}

impl Action {
    /// Whether the action changes data (refused to read-only tokens).
    pub fn writes(self) -> bool {
        self != Action::Read
    }
}

/// Whether `role` allows `action`.
pub fn allows(role: Role, action: Action) -> bool {
    use Action as A;
    let reads = matches!(action, A::Read | A::ManageOwnTokens);
    match role {
        Role::Admin => true,
        Role::Worker => reads || matches!(action, A::ReportBuild | A::CancelBuild),
        Role::Operator => {
            reads
                || matches!(
                    action,
                    A::ManageDefinitions | A::QueueBuild | A::CancelBuild
                )
        }
        Role::Viewer => reads,
    }
}

/// An OPERATOR may manage only definitions restricted to some of its own tenants: `allowed`
/// must be non-empty and within them (SPEC §4). Others pass (their role was checked already).
pub fn may_manage_definition(principal: &Principal, allowed: &[i32]) -> Result<(), Error> {
    let Principal::User(caller) = principal else {
        return Ok(());
    };
    if caller.role != Role::Operator {
        return Ok(());
    }
    if allowed.is_empty() {
        return Err(Error::forbidden(
            "an OPERATOR may only manage definitions restricted to its tenants (allowedTenantIds is empty)",
        ));
    }
    if !allowed.iter().all(|t| caller.tenants.contains(t)) {
        return Err(Error::forbidden(
            "an OPERATOR may only manage definitions restricted to its own tenants",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use entity::enums::Role;

    use super::{Action, allows};

    #[test]
    fn the_role_table_of_the_spec() {
        use Action as A;
        let all = [
            A::Read,
            A::ManageDefinitions,
            A::QueueBuild,
            A::CancelBuild,
            A::ReportBuild,
            A::ManageSettings,
            A::ManageReference,
            A::ManageUsers,
            A::ManageOwnTokens,
        ];
        // The table of SPEC §4, written out cell by cell.
        let expected = |role: Role, action: A| {
            matches!(
                (role, action),
                (Role::Admin, _)
                    | (_, A::Read | A::ManageOwnTokens)
                    | (Role::Worker, A::ReportBuild | A::CancelBuild)
                    | (
                        Role::Operator,
                        A::ManageDefinitions | A::QueueBuild | A::CancelBuild
                    )
            )
        };
        for role in [Role::Viewer, Role::Operator, Role::Worker, Role::Admin] {
            for action in all {
                assert_eq!(
                    allows(role, action),
                    expected(role, action),
                    "{role:?} {action:?}"
                );
            }
        }
    }
}
