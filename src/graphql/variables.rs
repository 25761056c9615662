//! Variable coercion before execution (GraphQL spec, `CoerceVariableValues`).
//!
//! async-graphql 7.0 only notices a missing or ill-typed variable when a resolver reads it, so a
//! request with `$id: ID!` and `{"id": null}` would run, or fail half-way as a field error. The
//! spec makes it a request error, raised before any resolver runs; this module checks every
//! variable of the operation against the schema's input types, which it learns once, through
//! introspection, when the schema is built.

use std::collections::HashMap;

use async_graphql::{
    Name, Variables,
    parser::types::{BaseType, ExecutableDocument, OperationDefinition, Type},
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
    /// Learns the input types from the result of [`INTROSPECTION`].
    pub fn from_introspection(data: &Json) -> Self {
        let mut types = HashMap::new();
        for ty in data["__schema"]["types"].as_array().into_iter().flatten() {
            let Some(name) = ty["name"].as_str() else {
                continue;
            };
            let kind = match ty["kind"].as_str() {
                Some("SCALAR") => InputKind::Scalar,
                Some("ENUM") => InputKind::Enum(
                    ty["enumValues"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|v| v["name"].as_str().map(str::to_owned))
                        .collect(),
                ),
                Some("INPUT_OBJECT") => InputKind::Object(
                    ty["inputFields"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .filter_map(|f| {
                            Some(InputField {
                                name: f["name"].as_str()?.to_owned(),
                                ty: type_of(&f["type"])?,
                                has_default: !f["defaultValue"].is_null(),
                            })
                        })
                        .collect(),
                ),
                _ => continue,
            };
            types.insert(name.to_owned(), kind);
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

/// Builds a [`Type`] from an introspection type reference.
fn type_of(reference: &Json) -> Option<Type> {
    match reference["kind"].as_str()? {
        "NON_NULL" => {
            let mut inner = type_of(&reference["ofType"])?;
            inner.nullable = false;
            Some(inner)
        }
        "LIST" => Some(Type {
            base: BaseType::List(Box::new(type_of(&reference["ofType"])?)),
            nullable: true,
        }),
        _ => Some(Type {
            base: BaseType::Named(Name::new(reference["name"].as_str()?)),
            nullable: true,
        }),
    }
}

/// The introspection query [`InputTypes::from_introspection`] reads.
pub const INTROSPECTION: &str = r#"{
  __schema {
    types {
      name kind
      enumValues(includeDeprecated: true) { name }
      inputFields { name defaultValue type { ...Ref } }
    }
  }
}
fragment Ref on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } }
}"#;
