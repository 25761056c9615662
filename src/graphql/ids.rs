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

use std::{borrow::Cow, fmt};

use async_graphql::{
    ContextSelectionSet, ID, OutputType, Positioned, ServerResult, Value, parser::types::Field,
    registry::Registry,
};

use crate::{
    error::Error,
    registry::id::{Global, Id, Named},
};

/// A row's id as the `ID` of an object's `id` field, spelt (`<Type>:<key>`, base64) only when a
/// query asks for it: the objects of a page are made from every row, and queries ask few of their
/// ids (issue 9's list asks its tenants and creators for names only). Spelling each one when its
/// object was made was 3.6% of that list's instructions. Its `Display` is the global id.
pub struct GlobalId<E>(Id<E>);

impl<E> GlobalId<E> {
    /// The id of the row of `E` with key `key` (as stored).
    pub fn of_row(key: i32) -> Self {
        GlobalId(Id::of_row(key))
    }
}

impl<E> From<Id<E>> for GlobalId<E> {
    fn from(id: Id<E>) -> Self {
        GlobalId(id)
    }
}

impl<E> Clone for GlobalId<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for GlobalId<E> {}

impl<E: Named> fmt::Display for GlobalId<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0.global())
    }
}

impl<E: Named> OutputType for GlobalId<E> {
    fn type_name() -> Cow<'static, str> {
        <ID as OutputType>::type_name()
    }

    fn create_type_info(registry: &mut Registry) -> String {
        <ID as OutputType>::create_type_info(registry)
    }

    async fn resolve(
        &self,
        _: &ContextSelectionSet<'_>,
        _: &Positioned<Field>,
    ) -> ServerResult<Value> {
        Ok(Value::String(self.0.global()))
    }
}

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
