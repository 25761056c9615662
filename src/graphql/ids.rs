//! GraphQL ids, both ways, in one place: every `ID` argument, input field and filter value is
//! parsed here, and every `id` field is rendered here. Ids are the core's [`Id`]s (decimal
//! today); when GraphQL ids become opaque global ids (`Node`, `node(id:)`), this module is the
//! only one that changes.

use async_graphql::ID;

use crate::{error::Error, registry::id::Id};

/// An `ID` naming a row of `E`; anything else is `BAD_USER_INPUT` on `field`.
pub fn parse<E>(id: &ID, field: &str) -> Result<Id<E>, Error> {
    Id::parse(id).ok_or_else(|| not_an_id(field))
}

/// An `ID` as the integer a filter compares (an id lookup's value).
pub fn number(id: &ID, field: &str) -> Result<i64, Error> {
    parse::<()>(id, field).map(Id::get)
}

/// An `ID` naming a row stored in an `INTEGER` column (a reference a write stores): `None` when
/// it is not one.
pub fn stored<E>(id: &ID) -> Option<i32> {
    Id::<E>::parse(id)?.as_i32()
}

/// The `ID` of a row of `E`.
pub fn render<E>(id: Id<E>) -> ID {
    ID::from(id.to_string())
}

/// The `ID` of the row with key `key` (as stored).
pub fn of_row<E>(key: i32) -> ID {
    render(Id::<E>::of_row(key))
}

/// What is said of a malformed id.
pub const NOT_AN_ID: &str = "is not an id of this service";

/// The error of a malformed id.
pub fn not_an_id(field: &str) -> Error {
    Error::bad_input(field, NOT_AN_ID)
}
