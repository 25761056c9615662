//! The two custom scalars of the schema, `DateTime` and `JSON`, with descriptions that say what
//! their values are and `@specifiedBy` URLs (GraphQL's way of naming a scalar's specification).
//!
//! async-graphql's own `DateTime<Utc>` and `Json<T>` carry generic descriptions ("Implement the
//! DateTime<Utc> scalar"), and `Json` no `@specifiedBy`; these newtypes replace them in every
//! type and input of the schema and parse and render exactly as they do. A schema that used both
//! would not build: async-graphql refuses two Rust types with one GraphQL name.

use async_graphql::{InputValueError, InputValueResult, Scalar, ScalarType, Value};
use chrono::Utc;

/// An instant.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DateTime(pub chrono::DateTime<Utc>);

/// An instant: an RFC 3339 date-time with a time offset, e.g.
/// `2026-11-24T17:58:17.316207+00:00`. The service answers in UTC (`+00:00`); inputs may carry
/// any offset (`Z` included).
#[Scalar(
    name = "DateTime",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc3339"
)]
impl ScalarType for DateTime {
    fn parse(value: Value) -> InputValueResult<Self> {
        <chrono::DateTime<Utc> as ScalarType>::parse(value)
            .map(DateTime)
            .map_err(InputValueError::propagate)
    }

    fn to_value(&self) -> Value {
        ScalarType::to_value(&self.0)
    }
}

impl From<chrono::DateTime<Utc>> for DateTime {
    fn from(instant: chrono::DateTime<Utc>) -> Self {
        DateTime(instant)
    }
}

/// Any JSON value.
#[derive(Clone, Debug, PartialEq)]
pub struct Json(pub serde_json::Value);

/// Any JSON value (RFC 8259, ECMA-404): an object, array, string, number, boolean or null,
/// written as itself in the GraphQL document or the variables — not as a string holding JSON.
#[Scalar(
    name = "JSON",
    specified_by_url = "https://www.rfc-editor.org/rfc/rfc8259"
)]
impl ScalarType for Json {
    fn parse(value: Value) -> InputValueResult<Self> {
        Ok(Json(value.into_json()?))
    }

    fn to_value(&self) -> Value {
        Value::from_json(self.0.clone()).unwrap_or(Value::Null)
    }
}

impl From<serde_json::Value> for Json {
    fn from(value: serde_json::Value) -> Self {
        Json(value)
    }
}
