//! Input helpers for patches: an absent field keeps its value, an explicit `null` clears a
//! nullable field and is refused on a required one.

use async_graphql::{ID, MaybeUndefined};

use super::lookups::parse_id;
use crate::error::{Error, FieldErrors};

/// Collects the input errors of one mutation, so that all are reported together.
#[derive(Default)]
pub struct Inputs(pub FieldErrors);

impl Inputs {
    /// A required field of a patch: absent keeps, `null` is refused.
    pub fn keep<T>(&mut self, field: &str, value: MaybeUndefined<T>) -> Option<T> {
        match value {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => {
                self.0.add(field, "cannot be null");
                None
            }
            MaybeUndefined::Value(value) => Some(value),
        }
    }

    /// A nullable field of a patch: absent keeps, `null` clears.
    pub fn nullable<T>(&mut self, value: MaybeUndefined<T>) -> Option<Option<T>> {
        match value {
            MaybeUndefined::Undefined => None,
            MaybeUndefined::Null => Some(None),
            MaybeUndefined::Value(value) => Some(Some(value)),
        }
    }

    /// An id of a row of this service.
    pub fn id(&mut self, field: &str, id: &ID) -> Option<i32> {
        match parse_id(id, field)
            .ok()
            .and_then(|id| i32::try_from(id).ok())
        {
            Some(id) => Some(id),
            None => {
                self.0.add(field, "is not an id of this service");
                None
            }
        }
    }

    /// A list of ids.
    pub fn ids(&mut self, field: &str, ids: &[ID]) -> Vec<i32> {
        ids.iter().filter_map(|id| self.id(field, id)).collect()
    }

    /// `Ok` when no input error was found.
    pub fn finish(self) -> Result<(), Error> {
        self.0.into_result()
    }
}
