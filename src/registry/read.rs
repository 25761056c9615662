//! Reads every aggregate shares: filtered pages (keyset for GraphQL, offset for REST), lookups by
//! id and batches for the loaders.
//!
//! Each readable entity says once, in [`Readable`], who may read it at all ([`Audience`]) and
//! which of its rows a [`Scope`] sees; every function here — and every read of the registry,
//! which all go through [`visible`] (or `lookup`, its plain-statement twin for reads by key) —
//! applies both, so no read path can forget them, and a read without a scope does not compile.

use std::collections::HashMap;

use sea_orm::{
    ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, EntityTrait, JoinType, ModelTrait,
    QueryFilter, QueryResult, QuerySelect, RelationDef, Select,
    sea_query::{Alias, Expr, ExprTrait, SelectStatement},
};

use super::{
    filter::{Filter, FilterField, compile},
    id::{self, Id, primary_key},
    page::{
        OffsetArgs, OffsetPage, Page, PageArgs, Sort, SortField, fetch, fetch_also, fetch_offset,
    },
    rows::{self, ByIndex, Columns},
};
use crate::{auth::Scope, error::Error};

/// Who may read an entity at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// Every principal that may read, anonymous readers included (`--anonymous-read`):
    /// definitions, builds and their events.
    Everyone,
    /// Authenticated principals only: anonymous readers get `UNAUTHENTICATED` (reference data,
    /// users).
    Authenticated,
}

/// An entity that can be listed and looked up.
pub trait Readable: EntityTrait + Default
where
    Self::Model: ByIndex + Sync + Send,
{
    /// Its filterable fields.
    type Field: FilterField;
    /// Its sortable fields.
    type Sort: SortField<Entity = Self>;
    /// Who may read it at all.
    const AUDIENCE: Audience;
    /// Of its rows, those `scope` may see (`None`: all of them).
    fn rows(scope: &Scope) -> Option<Expr>;
    /// The ordering when none is asked for.
    fn default_sort() -> Vec<Sort<Self::Sort>>;
}

/// `Ok` when `scope` may read `E` at all, else `UNAUTHENTICATED` (an anonymous reader asking for
/// reference data). Every read checks it; an adapter asks it only to choose how to render what
/// it may not read.
pub fn may_read<E: Readable>(scope: &Scope) -> Result<(), Error>
where
    E::Model: ByIndex + Sync + Send,
{
    match E::AUDIENCE {
        Audience::Everyone => Ok(()),
        Audience::Authenticated => scope.require_authenticated(),
    }
}

/// The condition on `E`'s rows that `scope` may see (`None`: all of them), once `scope` may read
/// `E` at all: what [`visible`] and [`lookup`] apply.
fn seen<E: Readable>(scope: &Scope) -> Result<Option<Expr>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    may_read::<E>(scope)?;
    Ok(E::rows(scope))
}

/// The rows of `E` that `scope` may see: the start of every read of `E`.
pub fn visible<E: Readable>(scope: &Scope) -> Result<Select<E>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let select = E::find();
    Ok(match seen::<E>(scope)? {
        Some(condition) => select.filter(condition),
        None => select,
    })
}

/// The start of a lookup of `E`'s visible rows by key, as a plain statement: [`visible`]'s,
/// its `columns` selected by one fragment of SQL made once per entity, set and backend
/// ([`rows::some_list`]) instead of being built one by one for every statement (for a
/// build: ~30,000 instructions, a ninth of a request for one build by id).
fn lookup<E: Readable>(
    backend: DatabaseBackend,
    scope: &Scope,
    columns: Columns,
) -> Result<SelectStatement, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let condition = seen::<E>(scope)?;
    let mut statement = SelectStatement::new();
    statement
        .expr(Expr::cust(rows::some_list::<E::Model>(
            columns, None, backend,
        )))
        .from(E::default().table_ref());
    if let Some(condition) = condition {
        statement.and_where(condition);
    }
    Ok(statement)
}

/// One page of the visible rows matching `filter`, in `sort` (default when empty).
pub async fn list<E: Readable>(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<E::Field>,
    sort: Vec<Sort<E::Sort>>,
    args: &PageArgs,
) -> Result<Page<E::Model>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let query = query::<E>(db.get_database_backend(), scope, filter, sort)?;
    fetch(db, query.select, &query.sort, args).await
}

/// Like [`list`], with what `join` adds to the page's statement read from each row by `also`
/// (see [`fetch_also`]): the to-one relations of a page in the page's own statement. The page's
/// rows hold `columns` of theirs (and the keys they are sorted by).
pub async fn list_also<E: Readable, X>(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<E::Field>,
    sort: Vec<Sort<E::Sort>>,
    args: &PageArgs,
    columns: Columns,
    join: impl FnOnce(Select<E>) -> Select<E>,
    also: impl Fn(&QueryResult, usize) -> Result<X, DbErr>,
) -> Result<(Page<E::Model>, Vec<X>), Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let query = query::<E>(db.get_database_backend(), scope, filter, sort)?;
    fetch_also(db, query.select, &query.sort, args, columns, join, also).await
}

/// `select` with the rows of `R` LEFT JOINed as `alias` on `from = to` (a to-one relation: the
/// rows of `select` stay as they are), its `columns` selected as `<alias>_<column>` (`select` as
/// it is when `columns` is `None`: not asked for); read them back with [`joined_row`]. Only for a
/// relation the reader may read with its parent (the caller checks the relation's [`Audience`];
/// the rows of `R` are those the parent points at).
pub fn join_one<E: EntityTrait, R: EntityTrait>(
    select: Select<E>,
    from: E::Column,
    to: R::Column,
    (alias, columns): (&'static str, Option<Columns>),
    backend: DatabaseBackend,
) -> Select<E>
where
    R::Model: ByIndex + ModelTrait,
{
    let Some(columns) = columns else {
        return select;
    };
    let relation: RelationDef = E::belongs_to(R::default()).from(from).to(to).into();
    // The aliased columns as one fragment of SQL made once: built column by column, with a
    // `format!`ed alias each, they were ~2% of a list of builds.
    select
        .join_as(JoinType::LeftJoin, relation, Alias::new(alias))
        .expr(Expr::cust(rows::some_list::<R::Model>(
            columns,
            Some(alias),
            backend,
        )))
}

/// The row of `R` that [`join_one`] joined as `alias` with `columns` into `row`, if any (none
/// when it joined nothing), its columns starting at `at` (after the columns of the page's entity
/// and of the relations joined before it).
pub fn joined_row<R: EntityTrait>(
    row: &QueryResult,
    at: usize,
    (alias, columns): (&str, Option<Columns>),
) -> Result<Option<R::Model>, DbErr>
where
    R::Model: ByIndex,
{
    match columns {
        Some(columns) => rows::read_some_at(row, at, alias, columns),
        None => Ok(None),
    }
}

/// How many columns [`join_one`] adds for `M` when joined with `columns`: where the next
/// relation's columns start.
pub fn width<M: ByIndex>(columns: Option<Columns>) -> usize {
    columns.map_or(0, Columns::count::<M>)
}

/// The visible rows matching `filter` in `sort` (default when empty), `args.limit()` of them
/// from `args.offset()`, with the number of all of them (offset pagination, for REST).
pub async fn list_offset<E: Readable>(
    db: &DatabaseConnection,
    scope: &Scope,
    filter: &Filter<E::Field>,
    sort: Vec<Sort<E::Sort>>,
    args: &OffsetArgs,
) -> Result<OffsetPage<E::Model>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let query = query::<E>(db.get_database_backend(), scope, filter, sort)?;
    fetch_offset(db, query.select, &query.sort, args).await
}

/// A visible, filtered list ready to page: the query and its ordering (default when empty).
struct Query<E: EntityTrait, S> {
    select: Select<E>,
    sort: Vec<Sort<S>>,
}

fn query<E: Readable>(
    backend: DatabaseBackend,
    scope: &Scope,
    filter: &Filter<E::Field>,
    sort: Vec<Sort<E::Sort>>,
) -> Result<Query<E, E::Sort>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let sort = if sort.is_empty() {
        E::default_sort()
    } else {
        sort
    };
    Ok(Query {
        select: visible::<E>(scope)?.filter(compile(filter, backend)?),
        sort,
    })
}

/// The visible row with this id, else `NotFound`.
pub async fn get<E: Readable>(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Id<E>,
) -> Result<E::Model, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    get_some(db, scope, id, Columns::ALL).await
}

/// Like [`get`], with only `columns` of the row: the other fields are placeholders (see
/// [`Columns`]).
pub async fn get_some<E: Readable>(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: Id<E>,
    columns: Columns,
) -> Result<E::Model, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let mut statement = lookup::<E>(db.get_database_backend(), scope, columns)?;
    let Some(id) = id.value() else {
        return Err(Error::NotFound);
    };
    statement
        .and_where(Expr::col((E::default(), primary_key::<E>())).eq(id))
        .limit(1);
    let Some(row) = db.query_one(&statement).await? else {
        return Err(Error::NotFound);
    };
    Ok(rows::read_some_at(&row, 0, "", columns)?.ok_or_else(rows::missing_key)?)
}

/// The visible rows among `ids`, by id (invisible and missing ids are absent).
pub async fn by_ids<E: Readable>(
    db: &DatabaseConnection,
    scope: &Scope,
    ids: &[Id<E>],
) -> Result<HashMap<Id<E>, E::Model>, Error>
where
    E::Model: ByIndex + Sync + Send,
{
    let mut statement = lookup::<E>(db.get_database_backend(), scope, Columns::ALL)?;
    statement.and_where(Expr::col((E::default(), primary_key::<E>())).is_in(id::values(ids)));
    let rows = rows::read_all::<E::Model>(&db.query_all(&statement).await?)?;
    Ok(rows.into_iter().map(|row| (Id::of(&row), row)).collect())
}
