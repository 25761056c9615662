//! Typed lookup values to SQL values of their column's type: the one place where a filter's
//! values become `sea_orm::Value`s.
//!
//! Binding a column's own type matters on PostgreSQL: a connection caches each prepared
//! statement by its text, with the parameter types of its first use. sea-orm binds an `i32` for
//! `find_by_id` on an `INTEGER` key; the same text bound to an `i64` on that connection then
//! fails with "incorrect binary data format", whatever the value (and the other way round).

use sea_orm::{ColumnTrait, ColumnType, Value};

use super::{FilterField, Kind, Lookup, Scalar};
use crate::error::{Error, FieldErrors};

/// An integer as a value of a column of type `ty` (`INTEGER` binds an `i32`, `BIGINT` an `i64`),
/// or `None` when it does not fit.
pub fn integer(ty: &ColumnType, n: i64) -> Option<Value> {
    match ty {
        ColumnType::Integer => i32::try_from(n).ok().map(Value::from),
        ColumnType::SmallInteger => i16::try_from(n).ok().map(Value::from),
        _ => Some(Value::from(n)),
    }
}

/// `ids` as values of `column`'s type; those that do not fit in it (and so match no row) are
/// left out.
pub fn ids_of<C: ColumnTrait>(column: C, ids: &[i64]) -> Vec<Value> {
    let ty = column.def().get_column_type().clone();
    ids.iter().filter_map(|id| integer(&ty, *id)).collect()
}

/// `lookup` on `field` (whose column is of type `ty`) with its values bound: integers as the
/// column's type, choices checked against the field's choices.
pub(super) fn lookup<F: FilterField>(
    field: F,
    lookup: &Lookup,
    ty: &ColumnType,
) -> Result<Lookup<Value>, Error> {
    if field.kind() == Kind::Number {
        return number(field, lookup, ty);
    }
    let value = |scalar: &Scalar| plain(field, scalar);
    use Lookup as L;
    Ok(match lookup {
        L::Eq(v) => L::Eq(value(v)?),
        L::In(values) => L::In(values.iter().map(value).collect::<Result<_, _>>()?),
        L::Gt(v) => L::Gt(value(v)?),
        L::Gte(v) => L::Gte(value(v)?),
        L::Lt(v) => L::Lt(value(v)?),
        L::Lte(v) => L::Lte(value(v)?),
        L::IsNull(b) => L::IsNull(*b),
        L::IExact(t) => L::IExact(t.clone()),
        L::Contains(t) => L::Contains(t.clone()),
        L::IContains(t) => L::IContains(t.clone()),
        L::StartsWith(t) => L::StartsWith(t.clone()),
        L::EndsWith(t) => L::EndsWith(t.clone()),
        L::IStartsWith(t) => L::IStartsWith(t.clone()),
        L::IEndsWith(t) => L::IEndsWith(t.clone()),
    })
}

/// A value of a text, choice, flag or timestamp field.
fn plain<F: FilterField>(field: F, scalar: &Scalar) -> Result<Value, Error> {
    Ok(match (field.kind(), scalar) {
        (Kind::Text, Scalar::Text(text)) => Value::from(text.as_str()),
        (Kind::Choice, Scalar::Choice(text)) => {
            if let Some(choices) = field.choices()
                && !choices.iter().any(|c| c == text)
            {
                return Err(bad(
                    field,
                    format!("`{text}` is not one of: {}", choices.join(", ")),
                ));
            }
            Value::from(text.as_str())
        }
        (Kind::Flag, Scalar::Flag(flag)) => Value::Bool(Some(*flag)),
        (Kind::Time, Scalar::Time(at)) => Value::ChronoDateTimeUtc(Some(*at)),
        (kind, _) => return Err(bad(field, format!("is not a {kind:?} value"))),
    })
}

/// A lookup on an integer column, bound as the column's type. A bound beyond the type moves to
/// the type's edge with the same meaning (`lt: 2^40` on an `INTEGER` is `lte: 2^31 - 1`); an
/// `eq` beyond it matches nothing.
fn number<F: FilterField>(
    field: F,
    lookup: &Lookup,
    ty: &ColumnType,
) -> Result<Lookup<Value>, Error> {
    use Lookup as L;
    let (min, max) = match ty {
        ColumnType::Integer => (i64::from(i32::MIN), i64::from(i32::MAX)),
        ColumnType::SmallInteger => (i64::from(i16::MIN), i64::from(i16::MAX)),
        _ => (i64::MIN, i64::MAX),
    };
    let int = |scalar: &Scalar| match scalar {
        Scalar::Int(n) => Ok(*n),
        _ => Err(bad(field, "is not an integer".to_owned())),
    };
    let bind = |n: i64| integer(ty, n.clamp(min, max)).unwrap_or(Value::BigInt(Some(n)));
    Ok(match lookup {
        L::Eq(v) => match int(v)? {
            n if n < min || n > max => L::In(Vec::new()),
            n => L::Eq(bind(n)),
        },
        L::In(values) => L::In(
            values
                .iter()
                .map(int)
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .filter_map(|n| integer(ty, n))
                .collect(),
        ),
        L::Gt(v) | L::Gte(v) => match int(v)? {
            n if n > max => L::Gt(bind(max)),
            n if n < min => L::Gte(bind(min)),
            n if matches!(lookup, L::Gt(_)) => L::Gt(bind(n)),
            n => L::Gte(bind(n)),
        },
        L::Lt(v) | L::Lte(v) => match int(v)? {
            n if n > max => L::Lte(bind(max)),
            n if n < min => L::Lt(bind(min)),
            n if matches!(lookup, L::Lt(_)) => L::Lt(bind(n)),
            n => L::Lte(bind(n)),
        },
        L::IsNull(b) => L::IsNull(*b),
        _ => return Err(bad(field, "is not a text field".to_owned())),
    })
}

fn bad<F: FilterField>(field: F, message: String) -> Error {
    Error::BadInput(FieldErrors::one(field.name(), message))
}
