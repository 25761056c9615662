//! [`Scope`]: what a principal may read. Only a [`Principal`](super::Principal) makes one
//! ([`Principal::scope`](super::Principal::scope)), or the service for its own work
//! ([`Scope::service`]); every read of the registry takes one, so a read that is not given its
//! scope does not compile.

use crate::error::Error;

/// What a principal may read: who reads (for the rules about a user's own data) and which
/// tenants' objects (SPEC §4).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Scope {
    reader: Reader,
    tenants: Tenants,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Reader {
    /// No credentials (`--anonymous-read`).
    Anonymous,
    /// A user.
    User { id: i32, admin: bool },
    /// The service itself.
    Service,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Tenants {
    /// Every object (WORKER, ADMIN, the service).
    All,
    /// Unrestricted objects and those allowed to one of these tenants.
    Only(Vec<i32>),
}

impl Scope {
    /// The service's own reads (the timeout reaper, the event hub, the command line): everything.
    /// An adapter never uses it: it reads with the scope of the request's principal.
    pub fn service() -> Scope {
        Scope {
            reader: Reader::Service,
            tenants: Tenants::All,
        }
    }

    /// An anonymous reader's: unrestricted definitions and their builds.
    pub(super) fn anonymous() -> Scope {
        Scope {
            reader: Reader::Anonymous,
            tenants: Tenants::Only(Vec::new()),
        }
    }

    /// A user's: `tenants` is `None` for roles that see everything.
    pub(super) fn user(id: i32, admin: bool, tenants: Option<Vec<i32>>) -> Scope {
        Scope {
            reader: Reader::User { id, admin },
            tenants: tenants.map_or(Tenants::All, Tenants::Only),
        }
    }

    /// A user's scope seeing `tenants` only, for unit tests of the visibility rules.
    #[cfg(test)]
    pub fn of_tenants(tenants: Vec<i32>) -> Scope {
        Scope::user(0, false, Some(tenants))
    }

    /// Whether the reader is anonymous: anonymous readers may read definitions, builds and their
    /// events only.
    pub fn is_anonymous(&self) -> bool {
        self.reader == Reader::Anonymous
    }

    /// `UNAUTHENTICATED` for an anonymous reader, for what only authenticated principals read.
    pub fn require_authenticated(&self) -> Result<(), Error> {
        if self.is_anonymous() {
            Err(Error::Unauthenticated)
        } else {
            Ok(())
        }
    }

    /// For what only administrators read (the NetBox sync status): `UNAUTHENTICATED` for an
    /// anonymous reader, `FORBIDDEN` for a user who is not ADMIN.
    pub fn require_admin(&self) -> Result<(), Error> {
        match self.reader {
            Reader::Anonymous => Err(Error::Unauthenticated),
            Reader::User { admin: false, .. } => Err(Error::forbidden("only administrators")),
            Reader::User { admin: true, .. } | Reader::Service => Ok(()),
        }
    }

    /// The tenants whose restricted objects are visible (`None`: every object is).
    pub fn tenants(&self) -> Option<&[i32]> {
        match &self.tenants {
            Tenants::All => None,
            Tenants::Only(tenants) => Some(tenants),
        }
    }

    /// Whether an object restricted to `allowed` (empty = unrestricted) is visible.
    pub fn sees(&self, allowed: &[i32]) -> bool {
        match &self.tenants {
            Tenants::All => true,
            Tenants::Only(tenants) => {
                allowed.is_empty() || allowed.iter().any(|t| tenants.contains(t))
            }
        }
    }

    /// What decides what this scope reads, and nothing else: two scopes of the same visibility
    /// read the same of everything. An administrator's id is left out (it sees every user's
    /// private data); another user's is not (it sees its own).
    pub fn visibility(&self) -> Scope {
        let reader = match self.reader {
            Reader::User { admin: true, .. } => Reader::User { id: 0, admin: true },
            ref reader => reader.clone(),
        };
        Scope {
            reader,
            tenants: self.tenants.clone(),
        }
    }

    /// Whether the reader may see what is private to user `user` (its e-mail address and
    /// tokens): the user itself, administrators and the service.
    pub fn sees_private_of(&self, user: i32) -> bool {
        match self.reader {
            Reader::Anonymous => false,
            Reader::User { id, admin } => admin || id == user,
            Reader::Service => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scope;

    #[test]
    fn empty_allowed_tenants_are_visible_to_everyone() {
        assert!(Scope::anonymous().sees(&[]));
        assert!(Scope::of_tenants(vec![1]).sees(&[]));
        assert!(Scope::of_tenants(vec![1]).sees(&[2, 1]));
        assert!(!Scope::of_tenants(vec![1]).sees(&[2]));
        assert!(!Scope::anonymous().sees(&[2]));
        assert!(Scope::service().sees(&[2]));
    }

    #[test]
    fn private_data_is_the_users_own_and_administrators() {
        assert!(Scope::user(7, false, Some(vec![])).sees_private_of(7));
        assert!(!Scope::user(7, false, None).sees_private_of(8));
        assert!(Scope::user(7, true, None).sees_private_of(8));
        assert!(Scope::service().sees_private_of(8));
        assert!(!Scope::anonymous().sees_private_of(0));
        assert!(Scope::anonymous().require_authenticated().is_err());
        assert!(Scope::service().require_authenticated().is_ok());
    }

    #[test]
    fn administrators_share_a_visibility_and_other_users_keep_their_own() {
        let admin = |id| Scope::user(id, true, None).visibility();
        assert_eq!(admin(1), admin(2));
        let worker = |id| Scope::user(id, false, None).visibility();
        assert_ne!(worker(1), worker(2));
        assert_eq!(worker(1), worker(1));
        assert_ne!(
            Scope::user(1, false, Some(vec![1])).visibility(),
            Scope::user(1, false, Some(vec![2])).visibility()
        );
        assert_eq!(Scope::anonymous().visibility(), Scope::anonymous());
    }
}
