//! Filters: one tree shape for every aggregate, built by the GraphQL and REST adapters and compiled
//! here to a single SQL `WHERE` expression. Nothing is ever filtered in memory.
//!
//! Semantics worth knowing:
//! - `%` and `_` in string lookups match themselves (patterns are escaped, `ESCAPE '\'`);
//! - string lookups are case-sensitive except `iExact` / `iContains` / `q`, which compare
//!   `LOWER(column)` with `LOWER(value)` (on SQLite `LOWER` folds ASCII letters only);
//! - a comparison on a nullable column is false for NULL, so `not` of it includes the NULL rows:
//!   `not: {targetCluster: {eq: 3}}` is exactly the complement of `targetCluster: {eq: 3}`;
//! - `and: []` matches everything, `or: []` matches nothing.

use sea_orm::{
    Value,
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
/// enums as their stored string, timestamps as `ChronoDateTimeUtc`).
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
    fn allows(self, lookup: &Lookup) -> bool {
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
    },
}

/// A filterable field of an aggregate.
pub trait FilterField: Copy + std::fmt::Debug {
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
        Filter::Search(text) => any(F::search_columns()
            .into_iter()
            .map(|column| icontains(column, text))
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
        Target::Column { column, nullable } => {
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
        } => {
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

/// `LOWER(column) LIKE LOWER(pattern)`: both sides folded by the database, so that they fold
/// alike on each backend.
fn icontains(column: Expr, text: &str) -> Expr {
    let pattern = Expr::val(format!("%{}%", escape_like(text)));
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
        }
    };
    (@target $entity:ident through $outer:ident, $link:ident, $key:ident, $value:ident, $kind:ident, $public:literal) => {
        $crate::registry::filter::Target::Through {
            outer: sea_orm::sea_query::Expr::col(($entity::Entity, $entity::Column::$outer)),
            table: sea_orm::sea_query::IntoIden::into_iden($link::Entity),
            key: sea_orm::sea_query::IntoIden::into_iden($link::Column::$key),
            column: sea_orm::sea_query::IntoIden::into_iden($link::Column::$value),
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
