//! [`Id`]: the id of a row, parsed once (parse, don't validate) and bound to SQL by the core
//! alone, as its column's type.
//!
//! Both doors parse ids with [`Id::parse`] (GraphQL through `graphql::ids`, the one place where
//! global ids will plug in; REST for its path segments), and hand the core typed ids: an id of
//! a build cannot be passed where a definition's is expected, and no adapter builds a
//! `sea_orm::Value`. The core turns an id into a value of its column's type (`Id::value`):
//! PostgreSQL caches each prepared statement by its text with the parameter types of its first
//! use, so an `INTEGER` key must always be bound as an `i32` (see `filter::integer`).

use std::{fmt, hash::Hash, marker::PhantomData};

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

/// The ids of `ids` as values of `E`'s key type; those no row can have are left out.
pub(crate) fn values<E: EntityTrait>(ids: &[Id<E>]) -> Vec<Value> {
    ids.iter().filter_map(|id| id.value()).collect()
}

#[cfg(test)]
mod tests {
    use entity::image_build;
    use sea_orm::Value;

    use super::Id;

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
    fn an_id_is_bound_as_its_columns_type() {
        assert_eq!(BuildId::of_row(7).value(), Some(Value::Int(Some(7))));
        let beyond = BuildId::new(i64::from(i32::MAX) + 1).expect("an id");
        assert_eq!(beyond.value(), None);
        assert_eq!(beyond.as_i32(), None);
    }
}
