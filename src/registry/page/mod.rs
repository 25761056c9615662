//! Relay-style keyset pagination shared by every list.
//!
//! A page is asked for with [`PageArgs`] (validated: `first`/`last` in 1..=100, default 50) and an
//! ordering. The order always ends with the primary key, which takes the direction of the last
//! key, so the order is total. Cursors are opaque (base64url of JSON) and carry the sort values of
//! their row plus a signature of the list and ordering: a cursor made for another list or
//! ordering is refused.
//! Because the next page starts *after the values* of the cursor row, rows inserted or deleted
//! between two requests never shift a page: nothing repeats and nothing is skipped.
//!
//! NULLs sort as larger than every value (PostgreSQL's default): last ascending, first descending.
//! A nullable key is compiled to two keys, `(column IS NULL)` then `column`.
//!
//! The jobs are split: `keyset` (Relay pages and their cursor conditions), `cursor` (the
//! opaque cursor codec), `offset` (REST's limit/offset pages) and `partition` (one page per
//! parent in one statement, for nested lists).

mod cursor;
mod keyset;
mod offset;
mod partition;

pub use cursor::RowCursor;
pub use keyset::{fetch, fetch_also};
pub use offset::{MAX_OFFSET_PAGE, OffsetArgs, OffsetPage, fetch_offset};
pub use partition::{count_partitioned, fetch_partitioned};

use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait,
    sea_query::{Alias, Expr, Query, SelectStatement},
};

use crate::error::{Error, FieldErrors};

/// The largest page; also the cap of `first` and `last`.
pub const MAX_PAGE: u64 = 100;
/// The page size when neither `first` nor `last` is given.
pub const DEFAULT_PAGE: u64 = 50;

/// Validated paging arguments.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct PageArgs {
    size: u64,
    backward: bool,
    after: Option<String>,
    before: Option<String>,
}

impl PageArgs {
    /// Parses Relay arguments: `first` and `last` are 1..=100 and not both; default `first: 50`.
    pub fn new(
        first: Option<i64>,
        after: Option<String>,
        last: Option<i64>,
        before: Option<String>,
    ) -> Result<Self, Error> {
        let mut errors = FieldErrors::default();
        let check = |name: &'static str, value: Option<i64>, errors: &mut FieldErrors| {
            if let Some(value) = value
                && !(1..=MAX_PAGE as i64).contains(&value)
            {
                errors.add(name, format!("must be between 1 and {MAX_PAGE}"));
            }
        };
        check("first", first, &mut errors);
        check("last", last, &mut errors);
        if first.is_some() && last.is_some() {
            errors.add("last", "cannot be combined with first");
        }
        errors.into_result()?;
        let backward = last.is_some();
        let size = first.or(last).map_or(DEFAULT_PAGE, |n| n as u64);
        Ok(PageArgs {
            size,
            backward,
            after,
            before,
        })
    }

    /// The first `n` rows (for internal callers and tests).
    pub fn first(n: u64) -> Self {
        PageArgs {
            size: n.clamp(1, MAX_PAGE),
            backward: false,
            after: None,
            before: None,
        }
    }
}

/// One sort key of an aggregate.
pub trait SortField: Copy + std::fmt::Debug + 'static {
    /// The entity whose rows are sorted.
    type Entity: EntityTrait;
    /// Every sort key, in declaration order.
    fn all() -> &'static [Self];
    /// The column sorted on.
    fn column(self) -> <Self::Entity as EntityTrait>::Column;
    /// A short stable name, part of the cursor signature; also the field's public (snake_case)
    /// name, as REST's `ordering` spells it.
    fn key(self) -> &'static str;
    /// Whether the column can be NULL.
    fn nullable(self) -> bool {
        false
    }
}

/// One element of an ordering.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sort<F> {
    /// The key.
    pub field: F,
    /// Descending when true.
    pub desc: bool,
}

/// A page of rows with what a connection needs around them.
#[derive(Clone)]
pub struct Page<M> {
    /// The rows, in order, each with its cursor.
    pub rows: Vec<(RowCursor, M)>,
    /// More rows exist before this page (see [`fetch`] for how this is decided).
    pub has_previous: bool,
    /// More rows exist after this page.
    pub has_next: bool,
    /// Counts the filtered rows, without paging, when asked.
    pub total: TotalCount,
}

/// A deferred `COUNT(*)` of the filtered rows: it costs nothing unless [`TotalCount::get`] runs.
#[derive(Clone)]
pub struct TotalCount {
    db: DatabaseConnection,
    statement: SelectStatement,
}

impl TotalCount {
    /// A count that matches nothing, for pages whose total is counted elsewhere.
    fn none(db: &DatabaseConnection) -> Self {
        TotalCount {
            db: db.clone(),
            statement: Query::select()
                .expr(Expr::val(1))
                .and_where(Expr::cust("1 = 0"))
                .take(),
        }
    }

    /// Runs the count.
    pub async fn get(&self) -> Result<i64, Error> {
        let count = Query::select()
            .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
            .from_subquery(self.statement.clone(), Alias::new("filtered"))
            .take();
        let row = self
            .db
            .query_one(&count)
            .await?
            .ok_or_else(|| Error::internal("COUNT(*) returned no row"))?;
        Ok(row.try_get::<i64>("", "n")?)
    }
}

/// The registry's expansion of an aggregate's sort declaration: the sort-key enum and its
/// [`SortField`] impl. Like filters (see `registry::filter`), an aggregate declares its sort keys
/// once, as a macro handing them to a callback; GraphQL expands the same declaration into its
/// `…OrderField` enum, and REST's `ordering` reads [`SortField::key`].
///
/// ```ignore
/// #[macro_export]
/// macro_rules! build_sort {
///     ($callback:ident $(, $($extra:tt)*)?) => {
///         $callback! {
///             ($($($extra)*)?)
///             BuildSort for image_build {
///                 /// Start time (not started last when ascending).
///                 StartedAt = (StartedAt, "started_at", nullable),
///             }
///         }
///     };
/// }
/// ```
#[macro_export]
macro_rules! sort_fields {
    (
        ($(#[$meta:meta])*)
        $name:ident for $entity:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = ($col:ident, $key:literal, $null:ident),
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant,)*
        }

        impl $crate::registry::page::SortField for $name {
            type Entity = $entity::Entity;

            fn all() -> &'static [Self] {
                &[$(Self::$variant),*]
            }

            fn column(self) -> $entity::Column {
                match self {
                    $(Self::$variant => $entity::Column::$col,)*
                }
            }

            fn key(self) -> &'static str {
                match self {
                    $(Self::$variant => $key,)*
                }
            }

            fn nullable(self) -> bool {
                match self {
                    $(Self::$variant => $crate::filter_fields!(@null $null),)*
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use super::PageArgs;

    #[test]
    fn page_sizes_are_1_to_100_and_first_and_last_exclude_each_other() {
        assert!(PageArgs::new(None, None, None, None).is_ok());
        assert!(PageArgs::new(Some(1), None, None, None).is_ok());
        assert!(PageArgs::new(None, None, Some(100), None).is_ok());
        for (first, last) in [
            (Some(0), None),
            (Some(101), None),
            (None, Some(0)),
            (None, Some(-1)),
            (Some(1), Some(1)),
        ] {
            assert!(
                PageArgs::new(first, None, last, None).is_err(),
                "{first:?} {last:?}"
            );
        }
        assert_eq!(
            PageArgs::new(None, None, None, None).ok().map(|a| a.size),
            Some(50)
        );
    }
}
