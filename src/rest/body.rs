//! JSON request bodies: the transport checks (media type, size, syntax), then [`Fields`], which
//! takes typed values out of the object and collects every malformed one, so that a request's
//! errors are reported together with the core's.
//!
//! A client may send back what it read: `id`, `url`, `display`, `created` and `last_updated` are
//! ignored, related objects are accepted as ids or as objects with an `id`, and a choice as its
//! value or as `{"value": …}`. Any other field the handler did not take is refused by name.

use axum::{body::Body, http::HeaderMap};
use sea_orm::{ActiveEnum, Iterable};
use serde_json::{Map, Value as Json};

use super::error::Failure;
use crate::{
    app::App,
    error::{Error, FieldErrors},
    registry::{filter::choices, rules},
};

/// Representation fields the service owns, ignored when a client echoes them back.
const ECHOED: [&str; 5] = ["id", "url", "display", "created", "last_updated"];

/// The key of errors about the body as a whole (Django REST framework's name).
pub const NON_FIELD: &str = "non_field_errors";

/// Reads a JSON object: 415 unless `Content-Type: application/json` (UTF-8), 413 beyond
/// `--body-limit`, 400 when it is not a JSON object or holds the NUL character.
pub async fn object(
    app: &App,
    headers: &HeaderMap,
    body: Body,
) -> Result<Map<String, Json>, Failure> {
    let bytes = crate::http::body::read_json(headers, body, app.config.limits.body_limit).await?;
    let json: Json = serde_json::from_slice(&bytes)
        .map_err(|err| Error::bad_input(NON_FIELD, format!("the body is not valid JSON: {err}")))?;
    let Json::Object(map) = json else {
        return Err(Error::bad_input(NON_FIELD, "the body must be a JSON object").into());
    };
    // No column can store U+0000 (PostgreSQL refuses it in text and jsonb): a client error, not
    // an internal one.
    let mut errors = FieldErrors::default();
    for (key, value) in &map {
        if key.contains('\0') || rules::holds_nul(value) {
            errors.add(key, "cannot contain the NUL character (U+0000)");
        }
    }
    errors.into_result()?;
    Ok(map)
}

/// The fields of a JSON object, taken one by one with their type checked.
pub struct Fields {
    map: Map<String, Json>,
    errors: FieldErrors,
}

impl Fields {
    /// The fields of `map`, without the echoed read-only ones.
    pub fn new(mut map: Map<String, Json>) -> Self {
        for key in ECHOED {
            map.remove(key);
        }
        Fields {
            map,
            errors: FieldErrors::default(),
        }
    }

    /// Records "is required" on each of `names` that is absent.
    pub fn require(&mut self, names: &[&str]) {
        for name in names {
            if !self.map.contains_key(*name) {
                self.errors.add(name, "is required");
            }
        }
    }

    /// Refuses each of `names` that is present, with `message`.
    pub fn refuse(&mut self, names: &[&str], message: &str) {
        for name in names {
            if self.map.remove(*name).is_some() {
                self.errors.add(name, message);
            }
        }
    }

    /// A value that may be absent (`None`) or null (`Some(None)`).
    fn nullable<T>(
        &mut self,
        name: &str,
        expected: &str,
        convert: impl FnOnce(Json) -> Option<T>,
    ) -> Option<Option<T>> {
        match self.map.remove(name)? {
            Json::Null => Some(None),
            value => match convert(value) {
                Some(value) => Some(Some(value)),
                None => {
                    self.errors.add(name, expected);
                    None
                }
            },
        }
    }

    /// A value that may be absent, but not null.
    fn required<T>(
        &mut self,
        name: &str,
        expected: &str,
        convert: impl FnOnce(Json) -> Option<T>,
    ) -> Option<T> {
        match self.nullable(name, expected, convert)? {
            Some(value) => Some(value),
            None => {
                self.errors.add(name, "cannot be null");
                None
            }
        }
    }

    /// A string.
    pub fn text(&mut self, name: &str) -> Option<String> {
        self.required(name, "must be a string", string)
    }

    /// A string or null.
    pub fn nullable_text(&mut self, name: &str) -> Option<Option<String>> {
        self.nullable(name, "must be a string", string)
    }

    /// A boolean.
    pub fn boolean(&mut self, name: &str) -> Option<bool> {
        self.required(name, "must be true or false", |v| v.as_bool())
    }

    /// A 32-bit integer.
    pub fn integer(&mut self, name: &str) -> Option<i32> {
        self.required(name, "must be an integer (32 bits)", integer)
    }

    /// A 32-bit integer or null.
    pub fn nullable_integer(&mut self, name: &str) -> Option<Option<i32>> {
        self.nullable(name, "must be an integer (32 bits)", integer)
    }

    /// Any JSON value but null.
    pub fn json(&mut self, name: &str) -> Option<Json> {
        self.required(name, "must be JSON", Some)
    }

    /// One of the values of `T` (`"proxmox-clone"`, or `{"value": "proxmox-clone"}`).
    pub fn choice<T: ActiveEnum<Value = String> + Iterable>(&mut self, name: &str) -> Option<T> {
        let expected = format!("must be one of: {}", choices::<T>().join(", "));
        self.required(name, &expected, |value| {
            let value = match value {
                Json::Object(mut map) => map.remove("value")?,
                value => value,
            };
            let text = value.as_str()?;
            T::iter().find(|v| v.to_value() == text)
        })
    }

    /// The id of a related object (`3`, or `{"id": 3, …}` as it is rendered).
    pub fn reference(&mut self, name: &str) -> Option<i32> {
        self.required(name, "must be an id or an object with an id", reference)
    }

    /// The id of a related object, or null.
    pub fn nullable_reference(&mut self, name: &str) -> Option<Option<i32>> {
        self.nullable(name, "must be an id or an object with an id", reference)
    }

    /// A list of related objects' ids.
    pub fn references(&mut self, name: &str) -> Option<Vec<i32>> {
        self.required(
            name,
            "must be a list of ids or objects with an id",
            |v| match v {
                Json::Array(items) => items.into_iter().map(reference).collect(),
                _ => None,
            },
        )
    }

    /// `Ok` unless a value was malformed or a field was left untaken (unknown here).
    pub fn finish(mut self) -> Result<(), Error> {
        for name in self.map.keys() {
            self.errors
                .add(name, "is not a writable field of this object");
        }
        self.errors.into_result()
    }
}

fn string(value: Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s),
        _ => None,
    }
}

fn integer(value: Json) -> Option<i32> {
    value.as_i64().and_then(|n| i32::try_from(n).ok())
}

fn reference(value: Json) -> Option<i32> {
    let id = match value {
        Json::Object(mut map) => map.remove("id")?,
        value => value,
    };
    integer(id).filter(|id| *id > 0)
}
