//! GraphQL ids, both ways, in one place: every `ID` argument, input field and filter value is
//! parsed here, and every `id` field is rendered here, with the core's codec
//! ([`crate::registry::id`]).
//!
//! - **Rendered**: always the global id of the row (`SW1hZ2VCdWlsZDo0Mg` for `ImageBuild:42`),
//!   opaque and unique across types, as Relay's Global Object Identification asks; the row's
//!   integer, REST's id, is the `databaseId` field.
//! - **Parsed**: where an argument names its type (`imageBuild(id:)`, `definitionId`,
//!   `filter: {definition: …}`, `afterEventId`), the global id of a row of that type, or — for
//!   a transition period — the row's bare integer (`"42"`), as REST spells it and as every
//!   GraphQL client wrote ids before global ids: build workers that read a build over REST and
//!   report over GraphQL, and scripts written against the integer ids, keep working. It is
//!   unambiguous (a global id is never all digits, and each such position has one type) and
//!   responses never carry it, so a normalized cache sees one id per object. The global id of
//!   another type is refused (`BAD_USER_INPUT`), never taken for its integer. `node(id:)` names
//!   no type: it takes global ids only.

use async_graphql::ID;

use crate::{
    error::Error,
    registry::id::{Global, Id, Named},
};

/// An `ID` naming a row of `E`; anything else is `BAD_USER_INPUT` on `field`.
pub fn parse<E: Named>(id: &ID, field: &str) -> Result<Id<E>, Error> {
    Id::parse_global(id)
        .or_else(|| Id::parse(id))
        .ok_or_else(|| not_an_id_of(field, E::NAME))
}

/// An `ID` as the integer a filter compares (an id lookup's value): the global id of a row of the
/// type named `refers_to` (the filter field's, see `FilterField::refers_to`), or the integer.
pub fn number(id: &ID, field: &str, refers_to: Option<&str>) -> Result<i64, Error> {
    if let Some(id) = Id::<()>::parse(id) {
        return Ok(id.get());
    }
    Global::parse(id)
        .filter(|global| Some(global.name()) == refers_to)
        .map(|global| global.value())
        .ok_or_else(|| match refers_to {
            Some(name) => not_an_id_of(field, name),
            None => not_an_id(field),
        })
}

/// An `ID` naming a row of `E` stored in an `INTEGER` column (a reference a write stores):
/// `None` when it is not one.
pub fn stored<E: Named>(id: &ID) -> Option<i32> {
    Id::<E>::parse_global(id)
        .or_else(|| Id::parse(id))?
        .as_i32()
}

/// The `ID` of a row of `E`: its global id.
pub fn render<E: Named>(id: Id<E>) -> ID {
    ID::from(id.global())
}

/// The `ID` of the row of `E` with key `key` (as stored).
pub fn of_row<E: Named>(key: i32) -> ID {
    render(Id::<E>::of_row(key))
}

/// `node(id:)`'s id: a global id, of any type; `None` when it is not one.
pub fn global(id: &ID) -> Option<Global> {
    Global::parse(id)
}

/// What is said of a malformed id.
pub const NOT_AN_ID: &str = "is not an id of this service";

/// The error of a malformed id.
pub fn not_an_id(field: &str) -> Error {
    Error::bad_input(field, NOT_AN_ID)
}

/// What is said of what is not an id of type `name` (malformed, or another type's).
pub fn not_an_id_of_message(name: &str) -> String {
    format!("is not an id of type {name}")
}

/// The error of what is not an id of type `name` on `field`.
pub fn not_an_id_of(field: &str, name: &str) -> Error {
    Error::bad_input(field, not_an_id_of_message(name))
}
