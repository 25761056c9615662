//! [`Id`]: the id of a row, parsed once (parse, don't validate) and bound to SQL by the core
//! alone, as its column's type; and its global form, unique across types.
//!
//! An id has two spellings, both parsed here and nowhere else:
//! - the row's integer, `42` ([`Id::parse`]): REST's ids (netbox-packer's), in paths, bodies and
//!   filters;
//! - the global id ([`Id::global`], [`Id::parse_global`], [`Global::parse`]): base64url without
//!   padding (RFC 4648 §5) of `<Type>:<integer>`, e.g. `SW1hZ2VCdWlsZDo0Mg` for `ImageBuild:42`,
//!   where `<Type>` is the public name of the entity ([`Named`]). GraphQL renders every id this
//!   way (Relay's Global Object Identification: a normalized cache keys records by id alone, and
//!   `node(id:)` finds any object from its id), so `ImageBuild` 1 and `Tenant` 1 no longer share
//!   an id. Clients treat it as opaque; it is URL-safe, so it travels in paths and query strings
//!   as it is.
//!
//! Both doors hand the core typed ids: an id of a build cannot be passed where a definition's is
//! expected, and no adapter builds a `sea_orm::Value`. The core turns an id into a value of its column's type (`Id::value`):
//! PostgreSQL caches each prepared statement by its text with the parameter types of its first
//! use, so an `INTEGER` key must always be bound as an `i32` (see `filter::integer`).

use std::{
    fmt::{self, Write},
    hash::Hash,
    marker::PhantomData,
};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use entity::{
    api_token, build_event, cloud_image_template, cluster, image_build, image_definition,
    plugin_settings, proxmox_endpoint, tenant, user,
};
use sea_orm::{ColumnTrait, EntityTrait, Iterable, ModelTrait, PrimaryKeyToColumn, Value};

use super::filter::integer;

/// The primary key column of `E`.
pub fn primary_key<E: EntityTrait>() -> E::Column {
    E::PrimaryKey::iter()
        .next()
        .map(PrimaryKeyToColumn::into_column)
        .unwrap_or_else(|| unreachable!("every entity of this crate has a primary key"))
}

/// The id of a row of `E`: a positive integer. An id beyond the range of its column (an `i64`
/// where the key is an `INTEGER`) names no row; reads find nothing for it.
pub struct Id<E> {
    value: i64,
    entity: PhantomData<fn() -> E>,
}

impl<E> Id<E> {
    /// `text` as an id: decimal digits of a positive integer that fits 64 bits.
    pub fn parse(text: &str) -> Option<Self> {
        Id::new(text.parse::<i64>().ok()?)
    }

    /// `value` as an id, when it is positive.
    pub fn new(value: i64) -> Option<Self> {
        (value > 0).then_some(Id {
            value,
            entity: PhantomData,
        })
    }

    /// The id of a stored row (stored ids are positive by construction).
    pub fn of_row(value: i32) -> Self {
        Id {
            value: i64::from(value),
            entity: PhantomData,
        }
    }

    /// The integer.
    pub fn get(self) -> i64 {
        self.value
    }

    /// The id as its column stores it (`i32` for an `INTEGER` key), or `None` when no row of
    /// the column's type can have it.
    pub fn as_i32(self) -> Option<i32> {
        i32::try_from(self.value).ok()
    }
}

impl<E: EntityTrait> Id<E> {
    /// The id of `row`.
    pub fn of<M: ModelTrait<Entity = E>>(row: &M) -> Self {
        match row.get(primary_key::<E>()) {
            Value::Int(Some(id)) => Id::of_row(id),
            Value::BigInt(Some(id)) => Id {
                value: id,
                entity: PhantomData,
            },
            _ => unreachable!("every primary key of this crate is an integer"),
        }
    }

    /// The id as a value of the primary key's type; `None` when it cannot name a row.
    pub(crate) fn value(self) -> Option<Value> {
        integer(primary_key::<E>().def().get_column_type(), self.value)
    }
}

impl<E> Clone for Id<E> {
    fn clone(&self) -> Self {
        *self
    }
}

impl<E> Copy for Id<E> {}

impl<E> PartialEq for Id<E> {
    fn eq(&self, other: &Self) -> bool {
        self.value == other.value
    }
}

impl<E> Eq for Id<E> {}

impl<E> Hash for Id<E> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.value.hash(state);
    }
}

impl<E> PartialOrd for Id<E> {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl<E> Ord for Id<E> {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.value.cmp(&other.value)
    }
}

impl<E> fmt::Debug for Id<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Id({})", self.value)
    }
}

impl<E> fmt::Display for Id<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.value)
    }
}

/// An entity whose rows have global ids: the public name of its type (GraphQL's type name).
pub trait Named {
    /// `ImageBuild`.
    const NAME: &'static str;
}

macro_rules! named {
    ($($entity:ident => $name:literal),* $(,)?) => {
        $(impl Named for $entity::Entity {
            const NAME: &'static str = $name;
        })*

        /// The name of every type with global ids.
        pub const NAMES: &[&str] = &[$($name),*];
    };
}

named!(
    image_definition => "ImageDefinition",
    image_build => "ImageBuild",
    build_event => "BuildEvent",
    tenant => "Tenant",
    cluster => "Cluster",
    proxmox_endpoint => "ProxmoxEndpoint",
    cloud_image_template => "CloudImageTemplate",
    user => "User",
    api_token => "ApiToken",
    plugin_settings => "PluginSettings",
);

impl<E: Named> Id<E> {
    /// The global id: base64url (no padding) of `<Type>:<integer>`.
    pub fn global(self) -> String {
        spell(E::NAME, self.value)
    }

    /// `text` as the global id of a row of `E`; `None` when it is not one (malformed, or the id
    /// of another type).
    pub fn parse_global(text: &str) -> Option<Self> {
        Global::parse(text)?.of::<E>()
    }
}

/// A global id, decoded: the name of its type and its row's integer. Its `Display` is the one
/// spelling of it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Global {
    name: String,
    value: i64,
}

impl Global {
    /// Decodes `text`: canonical base64url without padding of `<Type>:<integer>`, the type a name
    /// of [`NAMES`] and the integer positive, in decimal without sign or leading zeros — so that
    /// an object has exactly one global id.
    pub fn parse(text: &str) -> Option<Global> {
        let bytes = URL_SAFE_NO_PAD.decode(text).ok()?;
        let text = std::str::from_utf8(&bytes).ok()?;
        let (name, digits) = text.split_once(':')?;
        let name = NAMES.iter().find(|known| **known == name)?;
        let value = Id::<()>::parse(digits)?.get();
        (value.to_string() == digits).then(|| Global {
            name: (*name).to_owned(),
            value,
        })
    }

    /// The name of its type.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The row's integer.
    pub fn value(&self) -> i64 {
        self.value
    }

    /// The id, when it names a row of `E`.
    pub fn of<E: Named>(&self) -> Option<Id<E>> {
        (self.name == E::NAME).then_some(Id {
            value: self.value,
            entity: PhantomData,
        })
    }
}

impl fmt::Display for Global {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&spell(&self.name, self.value))
    }
}

/// The one spelling of a global id. Every node of a list has one, so it is written into a
/// buffer of its size (`<Type>:` and at most 20 characters of digits) rather than through
/// `format!`'s growing string and a second formatting pass.
fn spell(name: &str, value: i64) -> String {
    let mut raw = String::with_capacity(name.len() + 21);
    raw.push_str(name);
    raw.push(':');
    // Writing into a `String` does not fail.
    let _ = write!(raw, "{value}");
    URL_SAFE_NO_PAD.encode(raw)
}

/// The ids of `ids` as values of `E`'s key type; those no row can have are left out.
pub(crate) fn values<E: EntityTrait>(ids: &[Id<E>]) -> Vec<Value> {
    ids.iter().filter_map(|id| id.value()).collect()
}

#[cfg(test)]
mod tests {
    use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
    use entity::image_build;
    use sea_orm::Value;

    use super::{Global, Id, NAMES};

    type BuildId = Id<image_build::Entity>;

    #[test]
    fn ids_are_positive_integers() {
        assert_eq!(BuildId::parse("42").map(Id::get), Some(42));
        assert_eq!(BuildId::parse("+42").map(Id::get), Some(42));
        assert_eq!(
            BuildId::parse("9223372036854775807").map(Id::get),
            Some(i64::MAX)
        );
        for text in ["0", "-1", "x1", "1.0", " 1", "", "99999999999999999999"] {
            assert_eq!(BuildId::parse(text), None, "{text}");
        }
    }

    #[test]
    fn global_ids_name_their_type() {
        let build = BuildId::of_row(42);
        assert_eq!(build.global(), "SW1hZ2VCdWlsZDo0Mg");
        assert_eq!(BuildId::parse_global("SW1hZ2VCdWlsZDo0Mg"), Some(build));
        let tenant = Id::<entity::tenant::Entity>::of_row(42).global();
        assert_ne!(tenant, build.global(), "ids are unique across types");
        assert_eq!(BuildId::parse_global(&tenant), None, "another type's id");
        let global = Global::parse(&tenant).expect("a global id");
        assert_eq!(global.name(), "Tenant");
        assert_eq!(global.of::<entity::tenant::Entity>().map(Id::get), Some(42));
        assert_eq!(
            BuildId::new(i64::MAX).map(|id| BuildId::parse_global(&id.global())),
            Some(BuildId::new(i64::MAX))
        );
    }

    #[test]
    fn a_global_id_has_one_spelling() {
        let encode = |text: &str| URL_SAFE_NO_PAD.encode(text);
        for text in [
            "ImageBuild:0",
            "ImageBuild:-1",
            "ImageBuild:+42",
            "ImageBuild:042",
            "ImageBuild:42 ",
            "ImageBuild:",
            "ImageBuild",
            "Nothing:42",
            "imagebuild:42",
            "ImageBuild:99999999999999999999",
        ] {
            assert_eq!(Global::parse(&encode(text)), None, "{text}");
        }
        let padded = base64::engine::general_purpose::URL_SAFE.encode("ImageBuild:42");
        let standard = base64::engine::general_purpose::STANDARD.encode("ImageBuild:42");
        for text in [
            padded.as_str(),
            standard.as_str(),
            "42",
            "",
            "%%%",
            "SW1hZ2VCdWlsZDo0Mh",
        ] {
            assert_eq!(Global::parse(text), None, "{text}");
        }
    }

    #[test]
    fn a_global_id_never_looks_like_an_integer() {
        // Every type name starts with an upper-case letter, whose base64 is a letter: the two
        // spellings of an id cannot be confused.
        for name in NAMES {
            let first = URL_SAFE_NO_PAD.encode(format!("{name}:1"));
            assert!(
                first.starts_with(|c: char| c.is_ascii_alphabetic()),
                "{name}"
            );
        }
    }

    #[test]
    fn an_id_is_bound_as_its_columns_type() {
        assert_eq!(BuildId::of_row(7).value(), Some(Value::Int(Some(7))));
        let beyond = BuildId::new(i64::from(i32::MAX) + 1).expect("an id");
        assert_eq!(beyond.value(), None);
        assert_eq!(beyond.as_i32(), None);
    }
}
