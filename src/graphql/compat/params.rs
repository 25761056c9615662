//! The parameters of a GraphQL request (`query`, `operationName`, `variables`, `extensions` —
//! of which only `persistedQuery` is read, see [`super::persisted`]),
//! parsed by one function, [`Params::from_json`], for every transport: the JSON body of a POST
//! ([`Params::from_body`]), the query string of a GET ([`Params::from_query`]), and the payload of
//! `subscribe` (graphql-transport-ws) and `start` (graphql-ws).
//!
//! Why not async-graphql 7.0.19's parsers (no upstream issue found for either; observed in
//! 7.0.19 and pinned by the tests below):
//! - `async_graphql::http::parse_query_string` deserializes a struct whose field is
//!   `operation_name` without a camelCase rename, so `?operationName=B` is silently ignored and a
//!   GET of a document with several operations fails as "Operation name required";
//! - it and `Request`'s `Deserialize` (used by `receive_body`/`receive_json`) default a missing
//!   `query` to the empty string, which then fails as a parse error — under `application/json`
//!   a 200 — where the GraphQL-over-HTTP specification asks for a 400;
//! - `receive_body` reads a body of any size and of any content type as JSON (`text/plain`
//!   included), and `BatchRequest` accepts arrays; the edge refuses those before we get here.

use std::borrow::Cow;

use serde_json::{Map, Value as Json};

use super::{super::error::codes as graphql_codes, persisted::Persisted};
use crate::http::Failure;

/// The parameters of one GraphQL request.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    /// The document; absent when `persisted` names it by its hash.
    pub query: Option<String>,
    /// The operation to run, when the document has several.
    pub operation_name: Option<String>,
    /// The variables (an absent or null `variables` is empty).
    pub variables: Map<String, Json>,
    /// `extensions.persistedQuery`: the hash of the document (automatic persisted queries).
    pub persisted: Option<Persisted>,
}

impl Params {
    /// Reads the parameters of a JSON object; the error is a message for the client. `query` may
    /// only be left out (or null) when `extensions.persistedQuery` names it; `extensions` must be
    /// an object when present, and its other members are not used.
    pub fn from_json(mut map: Map<String, Json>) -> Result<Params, String> {
        let query = match map.remove("query") {
            Some(Json::String(query)) => Some(query),
            Some(Json::Null) | None => None,
            Some(_) => return Err("`query` must be a string".to_owned()),
        };
        let operation_name = match map.remove("operationName") {
            Some(Json::String(name)) => Some(name),
            Some(Json::Null) | None => None,
            Some(_) => return Err("`operationName` must be a string".to_owned()),
        };
        let variables = match map.remove("variables") {
            Some(Json::Object(variables)) => variables,
            Some(Json::Null) | None => Map::new(),
            Some(_) => return Err("`variables` must be an object".to_owned()),
        };
        let persisted = match map.remove("extensions") {
            Some(Json::Object(extensions)) => extensions
                .get("persistedQuery")
                .map(Persisted::from_json)
                .transpose()?,
            Some(Json::Null) | None => None,
            Some(_) => return Err("`extensions` must be an object".to_owned()),
        };
        if query.is_none() && persisted.is_none() {
            return Err("`query` is required".to_owned());
        }
        Ok(Params {
            query,
            operation_name,
            variables,
            persisted,
        })
    }

    /// The parameters of a POST body: one JSON object (an array is batching, which is refused).
    pub fn from_body(body: &[u8]) -> Result<Params, Failure> {
        let json: Json = serde_json::from_slice(body)
            .map_err(|_| Failure::bad_request("the request body is not valid JSON"))?;
        match json {
            Json::Object(map) => Params::from_json(map).map_err(Failure::bad_request),
            Json::Array(_) => Err(Failure::http(
                axum::http::StatusCode::BAD_REQUEST,
                graphql_codes::BATCHING_NOT_SUPPORTED,
                "batched requests (a JSON array) are not supported: send one request per POST",
            )),
            _ => Err(Failure::bad_request(
                "the request body must be a JSON object",
            )),
        }
    }

    /// The parameters of a GET query string: `variables` and `extensions` hold JSON text, the
    /// others plain text; a repeated parameter keeps its last value.
    pub fn from_query<'a>(
        pairs: impl IntoIterator<Item = (Cow<'a, str>, Cow<'a, str>)>,
    ) -> Result<Params, Failure> {
        let mut map = Map::new();
        for (key, value) in pairs {
            let value = match key.as_ref() {
                "variables" | "extensions" => serde_json::from_str(&value)
                    .map_err(|_| Failure::bad_request(format!("`{key}` is not a JSON object")))?,
                _ => Json::String(value.into_owned()),
            };
            map.insert(key.into_owned(), value);
        }
        Params::from_json(map).map_err(Failure::bad_request)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{Map, json};

    use super::Params;

    fn query_string(text: &str) -> Option<Params> {
        Params::from_query(url::form_urlencoded::parse(text.as_bytes())).ok()
    }

    /// The bug: async-graphql's query-string parser drops `operationName`. The fix: ours reads it.
    #[test]
    fn get_reads_operation_name_where_async_graphql_drops_it() {
        let text = "query=query%20A%7Ba%7D%20query%20B%7Bb%7D&operationName=B";
        let theirs = async_graphql::http::parse_query_string(text).expect("it parses");
        assert_eq!(
            theirs.operation_name, None,
            "the bug is gone: review params.rs"
        );
        let ours = query_string(text).expect("it parses");
        assert_eq!(ours.operation_name.as_deref(), Some("B"));
    }

    /// The bug: a missing `query` is the empty document for async-graphql. The fix: ours refuses
    /// it, which the handler answers with 400.
    #[test]
    fn a_missing_query_is_refused_where_async_graphql_takes_the_empty_document() {
        let theirs = async_graphql::http::parse_query_string("operationName=A").expect("parses");
        assert_eq!(theirs.query, "", "the bug is gone: review params.rs");
        let theirs: async_graphql::Request =
            serde_json::from_value(json!({"variables": {}})).expect("it deserializes");
        assert_eq!(theirs.query, "");
        assert!(query_string("operationName=A").is_none());
        assert_eq!(
            Params::from_json(Map::new()),
            Err("`query` is required".to_owned())
        );
    }

    /// The insufficiency: `receive_body` reads any content type as JSON (a cross-site form's
    /// `text/plain` included) and any size. Ours: the edge's `http::body` refuses both (415, 413;
    /// `tests/it/http.rs`: `only_json_bodies_are_accepted`, `bodies_over_the_limit_are_413`).
    #[tokio::test]
    async fn async_graphql_reads_any_body_as_json() {
        let padding = " ".repeat(1 << 20);
        let body = format!("{{\"query\": \"{{ a }}\"}}{padding}");
        let request = async_graphql::http::receive_body(
            Some("text/plain"),
            body.as_bytes(),
            async_graphql::http::MultipartOptions::default(),
        )
        .await;
        assert!(request.is_ok(), "the bug is gone: {:?}", request.err());
    }

    #[test]
    fn every_parameter_has_its_type() {
        let object = |value: serde_json::Value| match value {
            serde_json::Value::Object(map) => map,
            _ => Map::new(),
        };
        let ok = Params::from_json(object(json!({
            "query": "{ a }", "operationName": null, "variables": null, "extensions": {}
        })));
        assert_eq!(
            ok,
            Ok(Params {
                query: Some("{ a }".to_owned()),
                operation_name: None,
                variables: Map::new(),
                persisted: None,
            })
        );
        let hash = "ecf4edb46db40b5132295c0291d62fb65d6759a9eedfa4d5d612dd5ec54a6b38";
        let hashed = Params::from_json(object(json!({
            "extensions": {"persistedQuery": {"version": 1, "sha256Hash": hash}}
        })))
        .ok();
        assert_eq!(
            hashed.and_then(|p| p.persisted).map(|p| p.hash),
            Some(hash.to_owned())
        );
        for bad in [
            json!({"query": 1}),
            json!({"query": "{ a }", "operationName": 1}),
            json!({"query": "{ a }", "variables": []}),
            json!({"query": "{ a }", "extensions": "x"}),
            json!({"extensions": {}}),
            json!({"extensions": {"persistedQuery": {"version": 2, "sha256Hash": "00"}}}),
        ] {
            assert!(Params::from_json(object(bad.clone())).is_err(), "{bad}");
        }
        assert!(query_string("query=%7Ba%7D&variables=%7B%22n%22%3A1%7D").is_some());
        assert!(query_string("query=%7Ba%7D&variables=nope").is_none());
    }
}
