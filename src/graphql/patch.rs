//! Input helpers for patches: an absent field keeps its value, an explicit `null` clears a
//! nullable field and is refused on a required one.

use async_graphql::{ID, MaybeUndefined};

use super::ids;
use crate::{
    error::{Error, FieldErrors},
    registry::id::Named,
};

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

    /// The id of a row of `E` that a write stores (a reference).
    pub fn id<E: Named>(&mut self, field: &str, id: &ID) -> Option<i32> {
        let stored = ids::stored::<E>(id);
        if stored.is_none() {
            self.0.add(field, ids::not_an_id_of_message(E::NAME));
        }
        stored
    }

    /// A list of ids of rows of `E`.
    pub fn ids<E: Named>(&mut self, field: &str, ids: &[ID]) -> Vec<i32> {
        ids.iter()
            .filter_map(|id| self.id::<E>(field, id))
            .collect()
    }

    /// `Ok` when no input error was found.
    pub fn finish(self) -> Result<(), Error> {
        self.0.into_result()
    }
}
