//! Variable coercion before execution (GraphQL spec, `CoerceVariableValues`).
//!
//! What async-graphql 7.0.19 does (observed; no upstream issue found): validation checks the
//! values of the variables an argument uses against the argument's type — but a non-null
//! variable that is not sent at all, and a custom scalar that does not parse (a `DateTime` that
//! is not RFC 3339), are only noticed while the field that reads them resolves: a field error,
//! after the other fields have run, with partial `data`. The specification makes every one a
//! request error, raised before any resolver runs (`CoerceVariableValues`). This module checks
//! every variable of the operation against the schema's input types, which it learns once, from
//! the schema's SDL, when the GraphQL door is built; its refusals are `BAD_USER_INPUT` (what
//! async-graphql reports as validation failures would otherwise be `GRAPHQL_VALIDATION_FAILED`,
//! and a variable the operation declares but does not use would not be looked at). The tests
//! below pin the bug against a plain schema.

use std::collections::HashMap;

use async_graphql::{
    Name, Variables,
    parser::{
        parse_schema,
        types::{
            BaseType, ExecutableDocument, OperationDefinition, Type, TypeKind, TypeSystemDefinition,
        },
    },
};
use serde_json::Value as Json;

/// The input types of a schema: what a variable may hold.
#[derive(Debug, Default)]
pub struct InputTypes {
    types: HashMap<String, InputKind>,
}

#[derive(Debug)]
enum InputKind {
    Scalar,
    Enum(Vec<String>),
    Object(Vec<InputField>),
}

#[derive(Debug)]
struct InputField {
    name: String,
    ty: Type,
    has_default: bool,
}

impl InputTypes {
    /// Learns the input types from a schema's SDL (an SDL that does not parse gives none: every
    /// named type is then accepted as is, and the resolvers check what they read).
    pub fn from_sdl(sdl: &str) -> Self {
        let mut types = HashMap::new();
        let definitions = parse_schema(sdl)
            .map(|doc| doc.definitions)
            .unwrap_or_default();
        for definition in definitions {
            let TypeSystemDefinition::Type(ty) = definition else {
                continue;
            };
            let ty = ty.node;
            let kind = match ty.kind {
                TypeKind::Scalar => InputKind::Scalar,
                TypeKind::Enum(values) => InputKind::Enum(
                    values
                        .values
                        .into_iter()
                        .map(|v| v.node.value.node.to_string())
                        .collect(),
                ),
                TypeKind::InputObject(input) => InputKind::Object(
                    input
                        .fields
                        .into_iter()
                        .map(|f| InputField {
                            name: f.node.name.node.to_string(),
                            ty: f.node.ty.node,
                            has_default: f.node.default_value.is_some(),
                        })
                        .collect(),
                ),
                _ => continue,
            };
            types.insert(ty.name.node.to_string(), kind);
        }
        InputTypes { types }
    }

    /// Checks the variables of the operation `document` runs; the error is a message for the
    /// client. Variables the operation does not declare are ignored.
    pub fn check(
        &self,
        document: &ExecutableDocument,
        operation_name: Option<&str>,
        variables: &Variables,
    ) -> Result<(), String> {
        let Some(operation) = select_operation(document, operation_name) else {
            return Ok(());
        };
        let variables = variables
            .clone()
            .into_value()
            .into_json()
            .unwrap_or(Json::Null);
        for definition in &operation.variable_definitions {
            let definition = &definition.node;
            let name = definition.name.node.as_str();
            match variables.get(name) {
                None if definition.default_value.is_some() => {}
                None if !definition.var_type.node.nullable => {
                    return Err(format!(
                        "Variable \"${name}\" of required type \"{}\" was not provided.",
                        definition.var_type.node
                    ));
                }
                None => {}
                Some(value) => self
                    .coerce(&definition.var_type.node, value)
                    .map_err(|why| format!("Variable \"${name}\" got an invalid value: {why}"))?,
            }
        }
        Ok(())
    }

    fn coerce(&self, ty: &Type, value: &Json) -> Result<(), String> {
        if value.is_null() {
            return if ty.nullable {
                Ok(())
            } else {
                Err(format!("expected a non-null {ty}"))
            };
        }
        match &ty.base {
            BaseType::List(inner) => match value {
                Json::Array(items) => items.iter().try_for_each(|item| self.coerce(inner, item)),
                single => self.coerce(inner, single),
            },
            BaseType::Named(name) => self.coerce_named(name, value),
        }
    }

    fn coerce_named(&self, name: &Name, value: &Json) -> Result<(), String> {
        let fits = match name.as_str() {
            "String" => value.is_string(),
            "Boolean" => value.is_boolean(),
            "Float" => value.is_number(),
            "Int" => value.as_i64().is_some_and(|n| i32::try_from(n).is_ok()),
            "ID" => value.is_string() || value.is_i64() || value.is_u64(),
            "DateTime" => value
                .as_str()
                .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok()),
            other => match self.types.get(other) {
                Some(InputKind::Scalar) | None => true,
                Some(InputKind::Enum(values)) => value
                    .as_str()
                    .is_some_and(|v| values.iter().any(|known| known == v)),
                Some(InputKind::Object(fields)) => {
                    let Json::Object(map) = value else {
                        return Err(format!("expected an object of type {other}"));
                    };
                    if let Some(unknown) =
                        map.keys().find(|k| !fields.iter().any(|f| &f.name == *k))
                    {
                        return Err(format!("{other} has no field \"{unknown}\""));
                    }
                    for field in fields {
                        match map.get(&field.name) {
                            None if field.has_default || field.ty.nullable => {}
                            None => {
                                return Err(format!(
                                    "{other}.{} of type {} is required",
                                    field.name, field.ty
                                ));
                            }
                            Some(v) => self
                                .coerce(&field.ty, v)
                                .map_err(|why| format!("{other}.{}: {why}", field.name))?,
                        }
                    }
                    true
                }
            },
        };
        if fits {
            Ok(())
        } else {
            Err(format!("expected a value of type {name}"))
        }
    }
}

/// The operation a request runs: the only one, or the one named.
pub fn select_operation<'a>(
    document: &'a ExecutableDocument,
    operation_name: Option<&str>,
) -> Option<&'a OperationDefinition> {
    use async_graphql::parser::types::DocumentOperations;
    match &document.operations {
        DocumentOperations::Single(operation) => Some(&operation.node),
        DocumentOperations::Multiple(operations) => match operation_name {
            Some(name) => operations
                .iter()
                .find(|(n, _)| n.as_str() == name)
                .map(|(_, op)| &op.node),
            None if operations.len() == 1 => operations.values().next().map(|op| &op.node),
            None => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use async_graphql::{
        EmptyMutation, EmptySubscription, ID, Object, Request, Schema, Variables,
        parser::parse_query,
    };
    use chrono::{DateTime, Utc};
    use serde_json::{Value as Json, json};

    use super::InputTypes;

    /// Counts the runs of `Query::side`.
    static SIDE: AtomicUsize = AtomicUsize::new(0);

    struct Query;

    #[Object]
    impl Query {
        async fn side(&self) -> i32 {
            SIDE.fetch_add(1, Ordering::SeqCst);
            1
        }

        async fn echo(&self, id: ID) -> Option<String> {
            Some(id.to_string())
        }

        async fn at(&self, at: DateTime<Utc>) -> Option<String> {
            Some(at.to_rfc3339())
        }
    }

    const ECHO: &str = "query ($id: ID!) { side echo(id: $id) }";
    const AT: &str = "query ($at: DateTime!) { side at(at: $at) }";

    fn check(types: &InputTypes, query: &str, variables: Json) -> Result<(), String> {
        let document = parse_query(query).map_err(|e| e.to_string())?;
        types.check(&document, None, &Variables::from_json(variables))
    }

    /// What a plain schema answers: `side` has run, and the variable's error is a field error.
    async fn field_error(query: &str, variables: Json) -> bool {
        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let before = SIDE.load(Ordering::SeqCst);
        let request = Request::new(query).variables(Variables::from_json(variables));
        let response = schema.execute(request).await;
        SIDE.load(Ordering::SeqCst) > before
            && response.errors.len() == 1
            && !response.errors[0].path.is_empty()
    }

    /// The bug: a missing non-null variable, and a `DateTime` that does not parse, are field errors
    /// found after the other fields ran. The fix: the request is refused before execution.
    #[tokio::test]
    async fn bad_variables_are_refused_before_execution() {
        let bug = "the bug is gone: review variables.rs";
        assert!(field_error(ECHO, json!({})).await, "{bug}");
        assert!(field_error(AT, json!({"at": "yesterday"})).await, "{bug}");

        let schema = Schema::new(Query, EmptyMutation, EmptySubscription);
        let types = InputTypes::from_sdl(&schema.sdl());
        assert!(check(&types, ECHO, json!({})).is_err());
        assert!(check(&types, AT, json!({"at": "yesterday"})).is_err());
        assert!(check(&types, ECHO, json!({"id": null})).is_err());
        assert!(check(&types, ECHO, json!({"id": "1"})).is_ok());
        assert!(check(&types, AT, json!({"at": "2026-11-24T17:58:17Z"})).is_ok());
    }

    #[test]
    fn the_input_types_of_the_service_are_learnt_from_its_sdl() {
        let types = InputTypes::from_sdl(&crate::graphql::sdl());
        let query = "query ($f: ImageBuildFilter) { imageBuilds(filter: $f) { totalCount } }";
        assert!(check(&types, query, json!({"f": {"status": {"eq": "RUNNING"}}})).is_ok());
        assert!(check(&types, query, json!({"f": {"status": {"eq": "SLEEPING"}}})).is_err());
        assert!(check(&types, query, json!({"f": {"nope": 1}})).is_err());
        let query = "query ($n: Int) { imageBuilds(first: $n) { totalCount } }";
        assert!(check(&types, query, json!({"n": "three"})).is_err());
        assert!(check(&types, query, json!({"n": 3})).is_ok());
    }
}
