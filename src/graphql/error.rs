//! The one mapping from the core [`Error`] to GraphQL errors (`extensions.code` and friends), and
//! the codes only GraphQL raises. The codes of the transport's refusals, the same in every door,
//! are `http::codes`; those of core outcomes are [`Error::code`].

use async_graphql::{ErrorExtensionValues, Value};
use entity::enums::BuildStatus;

use crate::error::Error;

/// Codes of errors only GraphQL raises: async-graphql before any resolver runs, the query limits,
/// the GraphQL transports.
pub mod codes {
    /// The document is not valid GraphQL.
    pub const PARSE_FAILED: &str = "GRAPHQL_PARSE_FAILED";
    /// The document does not validate against the schema.
    pub const VALIDATION_FAILED: &str = "GRAPHQL_VALIDATION_FAILED";
    /// A variable or argument value that does not coerce: the code of the core's field errors
    /// ([`crate::error::Error::BadInput`]), given to what async-graphql reports without one.
    pub const BAD_USER_INPUT: &str = "BAD_USER_INPUT";
    /// Too deeply nested: fields, brackets, fragments or introspection lists.
    pub const QUERY_TOO_DEEP: &str = "QUERY_TOO_DEEP";
    /// Too complex: connection page sizes times the fields selected in them, or simply too many
    /// fields.
    pub const QUERY_TOO_COMPLEX: &str = "QUERY_TOO_COMPLEX";
    /// Too many aliases in the document.
    pub const TOO_MANY_ALIASES: &str = "TOO_MANY_ALIASES";
    /// Too many directives on one location.
    pub const TOO_MANY_DIRECTIVES: &str = "TOO_MANY_DIRECTIVES";
    /// Introspection asked for by a principal that may not introspect.
    pub const INTROSPECTION_DISABLED: &str = "INTROSPECTION_DISABLED";
    /// The document is larger than `--max-document-bytes` (HTTP 413).
    pub const QUERY_TOO_LARGE: &str = "QUERY_TOO_LARGE";
    /// JSON-array batching, which the service does not support.
    pub const BATCHING_NOT_SUPPORTED: &str = "BATCHING_NOT_SUPPORTED";
    /// One operation more than a websocket may run at once.
    pub const TOO_MANY_SUBSCRIPTIONS: &str = "TOO_MANY_SUBSCRIPTIONS";
}

pub use super::compat::nullable::{nullable, related};

/// The detail of an internal error, kept out of the response and logged by the HTTP layer.
#[derive(Debug)]
pub struct InternalDetail(pub String);

/// The code of a core error (the core names its outcomes; see [`Error::code`]).
pub fn code(err: &Error) -> &'static str {
    err.code()
}

/// The one mapping: the code, the extras of the code (`fields` by GraphQL's names of the input
/// fields, `from`/`to`, `limit`, `feature`), and the message, which names fields as `fields`
/// does (`invalid input: defaultStorage: is required`).
impl From<Error> for async_graphql::Error {
    fn from(err: Error) -> Self {
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", code(&err));
        match &err {
            Error::BadInput(fields) | Error::Conflict(fields) => {
                let fields: async_graphql::indexmap::IndexMap<_, _> = fields
                    .renamed(&camel_case)
                    .iter()
                    .map(|(field, messages)| {
                        (
                            async_graphql::Name::new(field),
                            Value::List(messages.iter().map(|m| Value::from(m.as_str())).collect()),
                        )
                    })
                    .collect();
                extensions.set("fields", Value::Object(fields));
            }
            Error::InvalidTransition { from, to } => {
                extensions.set("from", from.map_or(Value::Null, status_value));
                extensions.set("to", status_value(*to));
            }
            Error::ConcurrencyLimit { limit } => extensions.set("limit", *limit),
            Error::FeatureDisabled { feature } => extensions.set("feature", *feature),
            _ => {}
        }
        let source: Option<std::sync::Arc<dyn std::any::Any + Send + Sync>> = match &err {
            Error::Internal(detail) => Some(std::sync::Arc::new(InternalDetail(detail.clone()))),
            _ => None,
        };
        async_graphql::Error {
            // Fields named as GraphQL names them, in `extensions.fields` and in the message alike.
            message: err.message_naming(&camel_case),
            source,
            extensions: Some(extensions),
        }
    }
}

/// A status as its GraphQL enum value (`RUNNING`).
fn status_value(status: BuildStatus) -> Value {
    Value::Enum(async_graphql::Name::new(
        format!("{status:?}").to_uppercase(),
    ))
}

/// `target_cluster` → `targetCluster`: the GraphQL name of a SPEC field.
pub fn camel_case(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The code of a request error async-graphql raised without one (validation, the only stage of
/// its own that a document reaches: `compat::prepare` parses and limit-checks it first), from its
/// message: `QUERY_TOO_DEEP`, `QUERY_TOO_COMPLEX` (its complexity limit) or
/// `GRAPHQL_VALIDATION_FAILED`. Given where responses are rendered (`compat::render::sanitize`),
/// not by a schema extension: any extension sends every field through async-graphql's slow path.
pub fn request_code(message: &str) -> &'static str {
    if message.contains("nested too deep") {
        codes::QUERY_TOO_DEEP
    } else if message.contains("too complex") {
        codes::QUERY_TOO_COMPLEX
    } else {
        codes::VALIDATION_FAILED
    }
}

/// A parse error as a client sees it: where, and what was expected, without echoing the
/// document back.
pub fn parse_message(err: &async_graphql::parser::Error) -> String {
    if !matches!(err, async_graphql::parser::Error::Syntax { .. }) {
        // The other errors name only operations and fragments (duplicated, anonymous among
        // several), never the text around them.
        return err.to_string();
    }
    let expected = err
        .to_string()
        .lines()
        .rev()
        .find_map(|line| line.trim().strip_prefix("= ").map(str::to_owned))
        .unwrap_or_else(|| "unexpected input".to_owned());
    match err.positions().next() {
        Some(pos) => format!(
            "syntax error at line {}, column {}: {expected}",
            pos.line, pos.column
        ),
        None => format!("syntax error: {expected}"),
    }
}

/// Sets `extensions.code` unless the error already has one.
pub fn set_code(err: &mut async_graphql::ServerError, code: &str) {
    let extensions = err
        .extensions
        .get_or_insert_with(ErrorExtensionValues::default);
    if extensions.get("code").is_none() {
        extensions.set("code", code);
    }
}

/// The code of a server error, if it has one.
pub fn code_of(err: &async_graphql::ServerError) -> Option<String> {
    match err.extensions.as_ref()?.get("code")? {
        Value::String(code) => Some(code.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{camel_case, codes};
    use crate::error::Error;

    #[test]
    fn bad_user_input_is_the_cores_code() {
        assert_eq!(codes::BAD_USER_INPUT, Error::bad_input("f", "m").code());
    }

    #[test]
    fn snake_becomes_camel() {
        assert_eq!(camel_case("target_cluster"), "targetCluster");
        assert_eq!(
            camel_case("image_factory_max_concurrent_builds"),
            "imageFactoryMaxConcurrentBuilds"
        );
        assert_eq!(camel_case("name"), "name");
    }
}
