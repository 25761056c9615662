//! Reads every aggregate shares: filtered pages (keyset for GraphQL, offset for REST), lookups by
//! id and batches for the loaders.
//!
//! Each readable entity says once, in [`Readable`], which rows a [`Scope`] may see; every function
//! here applies it, so no read path can forget it.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, FromQueryResult, Iterable,
    ModelTrait, PrimaryKeyToColumn, QueryFilter, Select, Value,
    sea_query::{Expr, ExprTrait},
};

use super::{
    filter::{Filter, FilterField, compile, ids_of, integer},
    page::{OffsetArgs, OffsetPage, Page, PageArgs, Sort, SortField, fetch, fetch_offset},
    visibility::Scope,
};
use crate::error::Error;

/// An entity that can be listed and looked up.
pub trait Readable: EntityTrait + Default
where
    Self::Model: FromQueryResult + Sync + Send,
{
    /// Its filterable fields.
    type Field: FilterField;
    /// Its sortable fields.
    type Sort: SortField<Entity = Self>;
    /// The rows `scope` may see (`None`: all of them).
    fn scope(scope: &Scope) -> Option<Expr>;
    /// The ordering when none is asked for.
    fn default_sort() -> Vec<Sort<Self::Sort>>;
}

/// The primary key column of `E`.
pub fn primary_key<E: EntityTrait>() -> E::Column {
    E::PrimaryKey::iter()
        .next()
        .map(PrimaryKeyToColumn::into_column)
        .unwrap_or_else(|| unreachable!("every entity of this crate has a primary key"))
}

/// The primary key of a row, as `i64`.
pub fn id_of<M: ModelTrait>(model: &M) -> i64 {
    match model.get(primary_key::<M::Entity>()) {
        Value::Int(Some(id)) => i64::from(id),
        Value::BigInt(Some(id)) => id,
        _ => unreachable!("every primary key of this crate is an integer"),
    }
}

/// The rows of `E` that `scope` may see.
pub fn visible<E: Readable>(scope: &Scope) -> Select<E>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let select = E::find();
    match E::scope(scope) {
        Some(condition) => select.filter(condition),
        None => select,
    }
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
    E::Model: FromQueryResult + Sync + Send,
{
    let query = query::<E>(scope, filter, sort)?;
    fetch(db, query.select, &query.sort, args).await
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
    E::Model: FromQueryResult + Sync + Send,
{
    let query = query::<E>(scope, filter, sort)?;
    fetch_offset(db, query.select, &query.sort, args).await
}

/// A visible, filtered list ready to page: the query and its ordering (default when empty).
struct Query<E: EntityTrait, S> {
    select: Select<E>,
    sort: Vec<Sort<S>>,
}

fn query<E: Readable>(
    scope: &Scope,
    filter: &Filter<E::Field>,
    sort: Vec<Sort<E::Sort>>,
) -> Result<Query<E, E::Sort>, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let sort = if sort.is_empty() {
        E::default_sort()
    } else {
        sort
    };
    Ok(Query {
        select: visible::<E>(scope).filter(compile(filter)?),
        sort,
    })
}

/// The visible row with this id, else `NotFound`.
pub async fn get<E: Readable>(
    db: &impl ConnectionTrait,
    scope: &Scope,
    id: i64,
) -> Result<E::Model, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let key = primary_key::<E>();
    let Some(id) = integer(key.def().get_column_type(), id) else {
        return Err(Error::NotFound);
    };
    visible::<E>(scope)
        .filter(Expr::col((E::default(), key)).eq(id))
        .one(db)
        .await?
        .ok_or(Error::NotFound)
}

/// The visible rows among `ids`, by id (invisible and missing ids are absent).
pub async fn by_ids<E: Readable>(
    db: &DatabaseConnection,
    scope: &Scope,
    ids: &[i64],
) -> Result<HashMap<i64, E::Model>, Error>
where
    E::Model: FromQueryResult + Sync + Send,
{
    let key = primary_key::<E>();
    let rows = visible::<E>(scope)
        .filter(key.is_in(ids_of(key, ids)))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| (id_of(&row), row)).collect())
}
