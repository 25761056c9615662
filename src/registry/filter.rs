//! Filters: one tree shape for every aggregate, built by the GraphQL and REST adapters and compiled
//! here to a single SQL `WHERE` expression. Nothing is ever filtered in memory.
//!
//! Semantics worth knowing:
//! - `%` and `_` in string lookups match themselves (patterns are escaped, `ESCAPE '\'`);
//! - string lookups are case-sensitive except `iExact` / `iContains` / `q` (and the REST-only
//!   `IStartsWith` / `IEndsWith`), which compare
//!   `LOWER(column)` with `LOWER(value)` (on SQLite `LOWER` folds ASCII letters only);
//! - a comparison on a nullable column is false for NULL, so `not` of it includes the NULL rows:
//!   `not: {targetCluster: {eq: 3}}` is exactly the complement of `targetCluster: {eq: 3}`
//!   (the same holds for `q` over nullable columns);
//! - `and: []` matches everything, `or: []` matches nothing.

use sea_orm::{
    ColumnTrait, ColumnType, Value,
    sea_query::{BinOper, Expr, ExprTrait, Func, LikeExpr, Query, SelectStatement},
};

use crate::error::{Error, FieldErrors};

/// A filter over the fields `F` of one aggregate.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter<F> {
    /// One field compared with one lookup.
    Field(F, Lookup),
    /// Every sub-filter matches (an empty list matches everything).
    All(Vec<Filter<F>>),
    /// Some sub-filter matches (an empty list matches nothing).
    Any(Vec<Filter<F>>),
    /// The sub-filter does not match.
    Not(Box<Filter<F>>),
    /// Free-text search over the aggregate's search columns (case-insensitive contains).
    Search(String),
}

impl<F> Filter<F> {
    /// The filter that matches everything.
    pub fn everything() -> Self {
        Filter::All(Vec::new())
    }

    /// Both filters match.
    #[must_use]
    pub fn and(self, other: Filter<F>) -> Self {
        match self {
            Filter::All(mut items) => {
                items.push(other);
                Filter::All(items)
            }
            first => Filter::All(vec![first, other]),
        }
    }
}

/// One comparison. Values are already typed by the adapter (ids and integers as `BigInt`,
/// enums as their stored string, timestamps as `ChronoDateTimeUtc`); integers are bound as their
/// column's type when compiled.
#[derive(Clone, Debug, PartialEq)]
pub enum Lookup {
    /// Equal (`exact` for strings).
    Eq(Value),
    /// One of the values (an empty list matches nothing).
    In(Vec<Value>),
    /// Greater than.
    Gt(Value),
    /// Greater than or equal.
    Gte(Value),
    /// Less than.
    Lt(Value),
    /// Less than or equal.
    Lte(Value),
    /// `true`: the field is null (or, for a to-many field, has no member).
    IsNull(bool),
    /// Equal, ignoring case.
    IExact(String),
    /// Contains, case-sensitive.
    Contains(String),
    /// Contains, ignoring case.
    IContains(String),
    /// Starts with, case-sensitive.
    StartsWith(String),
    /// Ends with, case-sensitive.
    EndsWith(String),
    /// Starts with, ignoring case.
    IStartsWith(String),
    /// Ends with, ignoring case.
    IEndsWith(String),
}

/// The type of a filterable field: it decides which lookups make sense.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Strings: every lookup but the ordering ones.
    Text,
    /// Ids and integers: `eq`, `in`, `gt`, `gte`, `lt`, `lte`, `isNull`.
    Number,
    /// Enums: `eq`, `in`.
    Choice,
    /// Booleans: `eq`.
    Flag,
    /// Timestamps: `gt`, `gte`, `lt`, `lte`, `isNull`.
    Time,
}

impl Kind {
    /// Whether `lookup` applies to a field of this kind.
    pub fn allows(self, lookup: &Lookup) -> bool {
        use Lookup as L;
        match self {
            Kind::Text => !matches!(lookup, L::Gt(_) | L::Gte(_) | L::Lt(_) | L::Lte(_)),
            Kind::Number => matches!(
                lookup,
                L::Eq(_) | L::In(_) | L::Gt(_) | L::Gte(_) | L::Lt(_) | L::Lte(_) | L::IsNull(_)
            ),
            Kind::Choice => matches!(lookup, L::Eq(_) | L::In(_)),
            Kind::Flag => matches!(lookup, L::Eq(_)),
            Kind::Time => matches!(
                lookup,
                L::Gt(_) | L::Gte(_) | L::Lt(_) | L::Lte(_) | L::IsNull(_)
            ),
        }
    }
}

/// Where a field's values live.
pub enum Target {
    /// A column of the filtered table.
    Column {
        /// The column, qualified with its table.
        column: Expr,
        /// Whether it can be NULL.
        nullable: bool,
        /// Its SQL type, which integer values are bound as (see [`integer`]).
        ty: ColumnType,
    },
    /// Values reached through another table: the row matches when
    /// `outer IN (SELECT key FROM table WHERE column <lookup>)`; `isNull: true` means no such row.
    Through {
        /// The filtered table's column that points at `table` (or is pointed at by it).
        outer: Expr,
        /// The other table.
        table: sea_orm::sea_query::DynIden,
        /// Its column compared with `outer`.
        key: sea_orm::sea_query::DynIden,
        /// Its column compared with the lookup.
        column: sea_orm::sea_query::DynIden,
        /// The SQL type of that column.
        ty: ColumnType,
    },
}

/// A filterable field of an aggregate.
pub trait FilterField: Copy + std::fmt::Debug + 'static {
    /// Every field, in declaration order.
    fn all() -> &'static [Self];
    /// The public (snake_case) name, used in error messages.
    fn name(self) -> &'static str;
    /// The type of the field.
    fn kind(self) -> Kind;
    /// Where its values live.
    fn target(self) -> Target;
    /// The columns a free-text search (`q`) looks in.
    fn search_columns() -> Vec<Expr>;
}

/// Compiles a filter to one SQL boolean expression.
pub fn compile<F: FilterField>(filter: &Filter<F>) -> Result<Expr, Error> {
    Ok(match filter {
        Filter::Field(field, lookup) => compile_field(*field, lookup)?,
        Filter::All(items) => all(items.iter().map(compile).collect::<Result<Vec<_>, _>>()?),
        Filter::Any(items) => any(items.iter().map(compile).collect::<Result<Vec<_>, _>>()?),
        Filter::Not(inner) => compile(inner)?.not(),
        // Each column is guarded like a nullable column's comparison: a NULL (an endpoint
        // without a domain) makes its term false, not unknown, so that `not: {q: …}` is the
        // exact complement of `q`.
        Filter::Search(text) => any(F::search_columns()
            .into_iter()
            .map(|column| icontains(column.clone(), text).and(column.is_not_null()))
            .collect()),
    })
}

/// The conjunction of `items` (TRUE when empty).
pub fn all(items: Vec<Expr>) -> Expr {
    items
        .into_iter()
        .reduce(|acc, item| acc.and(item))
        .unwrap_or_else(|| Expr::cust("1 = 1"))
}

/// The disjunction of `items` (FALSE when empty).
pub fn any(items: Vec<Expr>) -> Expr {
    items
        .into_iter()
        .reduce(|acc, item| acc.or(item))
        .unwrap_or_else(|| Expr::cust("1 = 0"))
}

fn compile_field<F: FilterField>(field: F, lookup: &Lookup) -> Result<Expr, Error> {
    if !field.kind().allows(lookup) {
        return Err(Error::BadInput(FieldErrors::one(
            field.name(),
            format!("this lookup does not apply to a {:?} field", field.kind()),
        )));
    }
    Ok(match field.target() {
        Target::Column {
            column,
            nullable,
            ty,
        } => {
            let lookup = &fit(lookup, &ty);
            let compared = compare(column.clone(), lookup);
            match lookup {
                Lookup::IsNull(_) => compared,
                _ if nullable => compared.and(column.is_not_null()),
                _ => compared,
            }
        }
        Target::Through {
            outer,
            table,
            key,
            column,
            ty,
        } => {
            let lookup = &fit(lookup, &ty);
            let subquery = |condition: Option<Expr>| -> SelectStatement {
                let mut select = Query::select();
                select
                    .column((table.clone(), key.clone()))
                    .from(table.clone());
                if let Some(condition) = condition {
                    select.and_where(condition);
                }
                select.take()
            };
            match lookup {
                Lookup::IsNull(true) => outer.not_in_subquery(subquery(None)),
                Lookup::IsNull(false) => outer.in_subquery(subquery(None)),
                lookup => outer.in_subquery(subquery(Some(compare(
                    Expr::col((table.clone(), column.clone())),
                    lookup,
                )))),
            }
        }
    })
}

/// An integer as a value of a column of type `ty` (`INTEGER` binds an `i32`, `BIGINT` an `i64`),
/// or `None` when it does not fit.
///
/// Binding a column's own type matters on PostgreSQL: a connection caches each prepared
/// statement by its text, with the parameter types of its first use. sea-orm binds an `i32` for
/// `find_by_id` on an `INTEGER` key; the same text bound to an `i64` on that connection then
/// fails with "incorrect binary data format", whatever the value (and the other way round).
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

/// `lookup` with its integers bound as the column's type. A bound beyond the type moves to the
/// type's edge with the same meaning (`lt: 2^40` on an `INTEGER` is `lte: 2^31 - 1`); an `eq`
/// beyond it matches nothing.
fn fit(lookup: &Lookup, ty: &ColumnType) -> Lookup {
    use Lookup as L;
    let (min, max) = match ty {
        ColumnType::Integer => (i64::from(i32::MIN), i64::from(i32::MAX)),
        ColumnType::SmallInteger => (i64::from(i16::MIN), i64::from(i16::MAX)),
        _ => return lookup.clone(),
    };
    let bind = |n: i64| integer(ty, n.clamp(min, max)).unwrap_or(Value::BigInt(Some(n)));
    let int = |value: &Value| match value {
        Value::BigInt(Some(n)) => Some(*n),
        _ => None,
    };
    match lookup {
        L::Eq(v) => match int(v) {
            Some(n) if n < min || n > max => L::In(Vec::new()),
            Some(n) => L::Eq(bind(n)),
            None => lookup.clone(),
        },
        L::In(values) => L::In(
            values
                .iter()
                .filter_map(|v| int(v).map_or(Some(v.clone()), |n| integer(ty, n)))
                .collect(),
        ),
        L::Gt(v) | L::Gte(v) => match int(v) {
            Some(n) if n > max => L::Gt(bind(max)),
            Some(n) if n < min => L::Gte(bind(min)),
            Some(n) if matches!(lookup, L::Gt(_)) => L::Gt(bind(n)),
            Some(n) => L::Gte(bind(n)),
            None => lookup.clone(),
        },
        L::Lt(v) | L::Lte(v) => match int(v) {
            Some(n) if n > max => L::Lte(bind(max)),
            Some(n) if n < min => L::Lt(bind(min)),
            Some(n) if matches!(lookup, L::Lt(_)) => L::Lt(bind(n)),
            Some(n) => L::Lte(bind(n)),
            None => lookup.clone(),
        },
        _ => lookup.clone(),
    }
}

fn compare(column: Expr, lookup: &Lookup) -> Expr {
    match lookup {
        Lookup::Eq(value) => column.eq(value.clone()),
        Lookup::In(values) if values.is_empty() => Expr::cust("1 = 0"),
        Lookup::In(values) => column.is_in(values.iter().cloned()),
        Lookup::Gt(value) => column.gt(value.clone()),
        Lookup::Gte(value) => column.gte(value.clone()),
        Lookup::Lt(value) => column.lt(value.clone()),
        Lookup::Lte(value) => column.lte(value.clone()),
        Lookup::IsNull(true) => column.is_null(),
        Lookup::IsNull(false) => column.is_not_null(),
        Lookup::IExact(text) => lower(column).eq(lower(Expr::val(text.clone()))),
        Lookup::Contains(text) => like(column, format!("%{}%", escape_like(text))),
        Lookup::IContains(text) => icontains(column, text),
        Lookup::IStartsWith(text) => ilike(column, format!("{}%", escape_like(text))),
        Lookup::IEndsWith(text) => ilike(column, format!("%{}", escape_like(text))),
        Lookup::StartsWith(text) => like(column, format!("{}%", escape_like(text))),
        Lookup::EndsWith(text) => like(column, format!("%{}", escape_like(text))),
    }
}

/// Case-sensitive `LIKE` (SQLite connections run with `PRAGMA case_sensitive_like = ON`).
///
/// Built from sea-query's own operators rather than a custom SQL template: a template's
/// placeholders are backend-specific (`$1` on PostgreSQL, `?` on SQLite), so no single template
/// works on both.
fn like(column: Expr, pattern: String) -> Expr {
    column.like(LikeExpr::new(pattern).escape('\\'))
}

/// `LOWER(column) LIKE LOWER('%text%')`.
fn icontains(column: Expr, text: &str) -> Expr {
    ilike(column, format!("%{}%", escape_like(text)))
}

/// `LOWER(column) LIKE LOWER(pattern)`: both sides folded by the database, so that they fold
/// alike on each backend.
fn ilike(column: Expr, pattern: String) -> Expr {
    let pattern = Expr::val(pattern);
    lower(column).binary(
        BinOper::Like,
        lower(pattern).binary(BinOper::Escape, Expr::Constant('\\'.into())),
    )
}

fn lower(expr: Expr) -> Expr {
    Func::lower(expr).into()
}

/// Makes `%`, `_` and `\` match themselves in a `LIKE … ESCAPE '\'` pattern.
fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Declares the filterable fields of an aggregate and their [`FilterField`] impl.
///
/// ```ignore
/// filter_fields! {
///     /// Doc of the enum.
///     pub enum TenantField for tenant {
///         /// `id`
///         Id => column(Id, Number, not_null, "id"),
///         /// `allowed_tenants`
///         Tenant => through(Id, link, DefinitionId, TenantId, Number, "tenant"),
///     }
///     search [Name, Description]
/// }
/// ```
#[macro_export]
macro_rules! filter_fields {
    (
        $(#[$meta:meta])*
        pub enum $name:ident for $entity:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => $how:ident ( $($arg:tt)* ),
            )*
        }
        search [$($search:ident),*]
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $crate::registry::filter::FilterField for $name {
            fn all() -> &'static [Self] {
                &[$(Self::$variant),*]
            }

            fn name(self) -> &'static str {
                match self {
                    $(Self::$variant => $crate::filter_fields!(@name $how $($arg)*),)*
                }
            }

            fn kind(self) -> $crate::registry::filter::Kind {
                match self {
                    $(Self::$variant => $crate::filter_fields!(@kind $how $($arg)*),)*
                }
            }

            fn target(self) -> $crate::registry::filter::Target {
                match self {
                    $(Self::$variant => $crate::filter_fields!(@target $entity $how $($arg)*),)*
                }
            }

            fn search_columns() -> Vec<sea_orm::sea_query::Expr> {
                vec![$(sea_orm::sea_query::Expr::col(($entity::Entity, $entity::Column::$search))),*]
            }
        }
    };
    (@name column $col:ident, $kind:ident, $null:ident, $public:literal) => { $public };
    (@name through $outer:ident, $link:ident, $key:ident, $value:ident, $kind:ident, $public:literal) => { $public };
    (@kind column $col:ident, $kind:ident, $null:ident, $public:literal) => {
        $crate::registry::filter::Kind::$kind
    };
    (@kind through $outer:ident, $link:ident, $key:ident, $value:ident, $kind:ident, $public:literal) => {
        $crate::registry::filter::Kind::$kind
    };
    (@target $entity:ident column $col:ident, $kind:ident, $null:ident, $public:literal) => {
        $crate::registry::filter::Target::Column {
            column: sea_orm::sea_query::Expr::col(($entity::Entity, $entity::Column::$col)),
            nullable: $crate::filter_fields!(@null $null),
            ty: sea_orm::ColumnTrait::def(&$entity::Column::$col).get_column_type().clone(),
        }
    };
    (@target $entity:ident through $outer:ident, $link:ident, $key:ident, $value:ident, $kind:ident, $public:literal) => {
        $crate::registry::filter::Target::Through {
            outer: sea_orm::sea_query::Expr::col(($entity::Entity, $entity::Column::$outer)),
            table: sea_orm::sea_query::IntoIden::into_iden($link::Entity),
            key: sea_orm::sea_query::IntoIden::into_iden($link::Column::$key),
            column: sea_orm::sea_query::IntoIden::into_iden($link::Column::$value),
            ty: sea_orm::ColumnTrait::def(&$link::Column::$value).get_column_type().clone(),
        }
    };
    (@null nullable) => { true };
    (@null not_null) => { false };
}

#[cfg(test)]
mod tests {
    use super::escape_like;

    #[test]
    fn like_metacharacters_are_escaped() {
        assert_eq!(escape_like(r"50%_a\b"), r"50\%\_a\\b");
    }
}
