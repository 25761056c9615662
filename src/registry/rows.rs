//! Models read from a statement's rows by position instead of by name.
//!
//! sea-orm's derived `FromQueryResult` finds every column of every row by its name — a hashed
//! lookup among the row's column names, and for a joined row (`<alias>_<column>`) a `format!`ed
//! name first. The statements of a list select each entity's columns in one known order
//! (`E::find()` selects `E::Column::iter()`, [`join_one`](super::read::join_one) appends a
//! relation's columns in the same order), so a model can be read from its first column's
//! position on. [`ByIndex`] is that reader, written by [`by_index!`] for the entities lists read
//! in bulk; a test checks each one's columns against its entity's, in order.

use std::{
    borrow::Cow,
    sync::{Mutex, OnceLock, PoisonError},
};

use sea_orm::{
    ActiveEnum, ColumnTrait, DatabaseBackend, DbErr, EntityTrait, IdenStatic, Iterable, ModelTrait,
    QueryResult, QuerySelect, QueryTrait, Select,
    prelude::DateTimeUtc,
    sea_query::{Alias, Expr},
    sqlx::{
        Decode, Postgres, Row, Type, ValueRef,
        postgres::{PgRow, PgValueFormat},
    },
};

/// A model read from consecutive columns of a row.
pub trait ByIndex: Sized {
    /// Its columns, in the order its entity's `Column::iter()` lists them (the order `find()`
    /// selects them).
    const COLUMNS: &'static [&'static str];

    /// The model whose columns start at `at` in `row`; `None` when its key there is NULL (a LEFT
    /// JOIN that found no row).
    fn read(row: &QueryResult, at: usize) -> Result<Option<Self>, DbErr> {
        Self::read_some(row, at, Columns::ALL)
    }

    /// Like [`read`](Self::read), from a row that holds only `columns` of the model, in order:
    /// the fields of the others get a placeholder ([`Cell::absent`]), so the model must answer
    /// only what reads `columns` (see [`Columns`]).
    fn read_some(row: &QueryResult, at: usize, columns: Columns) -> Result<Option<Self>, DbErr>;

    /// Its columns as `find()` selects them on `backend`, in SQL (`"table"."column", …`, casts
    /// included): made once, so that a statement can select them without building each column
    /// again ([`select_list`]).
    fn select_list(backend: DatabaseBackend) -> &'static str;

    /// Its columns as [`join_one`](super::read::join_one) selects them when joined as `alias`
    /// (`"alias"."column" AS "alias_column", …`), in SQL for `backend`: made once per alias
    /// ([`joined_list`]).
    fn joined_list(alias: &'static str, backend: DatabaseBackend) -> &'static str;
}

/// Some of a model's columns, by position in [`ByIndex::COLUMNS`] (bit `n`: the `n`-th), its key
/// (the first) always among them: what a projected statement selects
/// ([`some_list`]) and [`ByIndex::read_some`] reads.
///
/// A model read from some of its columns holds placeholders in the others' fields: it may answer
/// only what reads the columns it was read from, so it goes to no loader (their answers are
/// whole rows, for every field of the request that asks for them).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Columns(u64);

impl Columns {
    /// Every column.
    pub const ALL: Columns = Columns(u64::MAX);
    /// The key alone.
    pub const KEY: Columns = Columns(1);

    /// The key and the columns at `positions` (an entity's `Column::X as usize`: its columns'
    /// enum lists them in the order of [`ByIndex::COLUMNS`]).
    pub const fn at(positions: &[usize]) -> Columns {
        let mut bits = 1;
        let mut i = 0;
        while i < positions.len() {
            bits |= 1 << positions[i];
            i += 1;
        }
        Columns(bits)
    }

    /// Both sets.
    #[must_use]
    pub const fn and(self, other: Columns) -> Columns {
        Columns(self.0 | other.0)
    }

    /// Whether the column at `position` is among them.
    pub const fn has(self, position: usize) -> bool {
        position >= 64 || self.0 & (1 << position) != 0
    }

    /// The column of `M` named `name`, with the key (all of them when `M` has no such column).
    pub fn named<M: ByIndex>(name: &str) -> Columns {
        match M::COLUMNS.iter().position(|column| *column == name) {
            Some(position) => Columns::at(&[position]),
            None => Columns::ALL,
        }
    }

    /// Whether they are all of `M`'s.
    pub fn whole<M: ByIndex>(self) -> bool {
        (0..M::COLUMNS.len()).all(|position| self.has(position))
    }

    /// How many of `M`'s columns they are.
    pub fn count<M: ByIndex>(self) -> usize {
        (0..M::COLUMNS.len())
            .filter(|position| self.has(*position))
            .count()
    }
}

/// The select list of `M`'s `columns` for `backend`, each as `find()` selects it, or as
/// [`join_one`](super::read::join_one) does when `alias` is given (`"alias"."column" AS
/// "alias_column"`): [`ByIndex::select_list`] or [`ByIndex::joined_list`] when they are all of
/// them; else made once per set, alias and backend for the first [`SOME_LISTS`] of them (the
/// sets a process meets are its documents' few shapes), and for each statement beyond.
pub fn some_list<M: ByIndex + ModelTrait>(
    columns: Columns,
    alias: Option<&'static str>,
    backend: DatabaseBackend,
) -> Cow<'static, str> {
    if columns.whole::<M>() {
        return Cow::Borrowed(match alias {
            Some(alias) => M::joined_list(alias, backend),
            None => M::select_list(backend),
        });
    }
    // Per model: a set's bits mean nothing for another.
    let key = (
        std::any::type_name::<M>(),
        columns,
        alias,
        backend_slot(backend),
    );
    let mut lists = SOME.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, list)) = lists.iter().find(|(k, _)| *k == key) {
        return Cow::Borrowed(list);
    }
    let list = columns_list::<M::Entity>(columns, alias, backend);
    if lists.len() >= SOME_LISTS {
        return Cow::Owned(list);
    }
    let list: &'static str = Box::leak(list.into_boxed_str());
    lists.push((key, list));
    Cow::Borrowed(list)
}

/// How many select lists of some columns [`some_list`] keeps.
pub const SOME_LISTS: usize = 64;

type SomeKey = (&'static str, Columns, Option<&'static str>, usize);
static SOME: Mutex<Vec<(SomeKey, &'static str)>> = Mutex::new(Vec::new());

fn columns_list<E: EntityTrait>(
    columns: Columns,
    alias: Option<&'static str>,
    backend: DatabaseBackend,
) -> String {
    let mut select = E::find().select_only();
    for (position, column) in E::Column::iter().enumerate() {
        if !columns.has(position) {
            continue;
        }
        select = match alias {
            None => select.column(column),
            Some(alias) => select.expr_as(
                column.select_as(Expr::col((Alias::new(alias), column))),
                format!("{alias}_{}", column.as_str()),
            ),
        };
    }
    select_list(select, backend)
}

/// The lists [`ByIndex::joined_list`] made, by alias and backend slot ([`backend_slot`]).
pub type JoinedLists = Mutex<Vec<(&'static str, usize, &'static str)>>;

/// What [`ByIndex::joined_list`] returns for `E`: found in `lists`, or made (and kept for the
/// life of the process: one per alias and backend, a handful).
pub fn joined_list<E: EntityTrait>(
    lists: &JoinedLists,
    alias: &'static str,
    backend: DatabaseBackend,
) -> &'static str {
    let slot = backend_slot(backend);
    let mut lists = lists.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some((_, _, list)) = lists.iter().find(|(a, s, _)| *a == alias && *s == slot) {
        return list;
    }
    let list: &'static str =
        Box::leak(columns_list::<E>(Columns::ALL, Some(alias), backend).into_boxed_str());
    lists.push((alias, slot, list));
    list
}

/// What [`ByIndex::select_list`] is made from: the select list of `select` (an entity's
/// `find()`) rendered for `backend`.
pub fn select_list<E: EntityTrait>(select: Select<E>, backend: DatabaseBackend) -> String {
    let sql = backend.build(&select.into_query()).sql;
    sql.strip_prefix("SELECT ")
        .and_then(|rest| rest.split_once(" FROM "))
        .map(|(list, _)| list.to_owned())
        .unwrap_or_else(|| unreachable!("find() renders as SELECT … FROM …: {sql}"))
}

/// A slot per backend, for values made once per backend.
pub fn backend_slot(backend: DatabaseBackend) -> usize {
    match backend {
        DatabaseBackend::Postgres => 0,
        DatabaseBackend::Sqlite => 1,
        _ => 2,
    }
}

/// The model whose columns start at `at` in `row`, each named `<alias>_<column>` in the
/// statement, or `<column>` when `alias` is empty (checked in debug builds, so that every tested
/// statement proves its positions).
pub fn read_at<M: ByIndex>(row: &QueryResult, at: usize, alias: &str) -> Result<Option<M>, DbErr> {
    read_some_at(row, at, alias, Columns::ALL)
}

/// Like [`read_at`], from a row that holds only `columns` of `M` there.
pub fn read_some_at<M: ByIndex>(
    row: &QueryResult,
    at: usize,
    alias: &str,
    columns: Columns,
) -> Result<Option<M>, DbErr> {
    debug_assert!(
        selected_at::<M>(row, at, alias, columns),
        "the columns of a model are not where they are read: {:?} at {at}, alias {alias:?}",
        row.column_names()
    );
    M::read_some(row, at, columns)
}

/// Every row of a statement that selects `M`'s columns first, as `M`.
pub fn read_all<M: ByIndex>(rows: &[QueryResult]) -> Result<Vec<M>, DbErr> {
    let mut models = Vec::with_capacity(rows.len());
    for row in rows {
        models.push(read_at::<M>(row, 0, "")?.ok_or_else(missing_key)?);
    }
    Ok(models)
}

/// The error of a row whose model has a NULL key where no LEFT JOIN could make one.
pub fn missing_key() -> DbErr {
    DbErr::Type("a row without its primary key".to_owned())
}

fn selected_at<M: ByIndex>(row: &QueryResult, at: usize, alias: &str, columns: Columns) -> bool {
    fn unaliased<'n>(name: &'n str, alias: &str) -> Option<&'n str> {
        if alias.is_empty() {
            return Some(name);
        }
        name.strip_prefix(alias)?.strip_prefix('_')
    }
    let names = row.column_names();
    let selected = M::COLUMNS
        .iter()
        .enumerate()
        .filter(|(position, _)| columns.has(*position));
    names.len() >= at + columns.count::<M>()
        && selected
            .zip(&names[at..])
            .all(|((_, column), name)| unaliased(name, alias) == Some(*column))
}

/// Implements [`ByIndex`] for a model from its primary key and the rest of its fields, in the
/// order of its entity's columns (a missing field does not compile; a misplaced one fails the
/// test of this module and every debug read).
macro_rules! by_index {
    ($($model:path { $key:ident $(, $field:ident)* $(,)? })*) => { $(
        impl ByIndex for $model {
            const COLUMNS: &'static [&'static str] = &[stringify!($key) $(, stringify!($field))*];

            fn read_some(
                row: &QueryResult,
                at: usize,
                _columns: Columns,
            ) -> Result<Option<Self>, DbErr> {
                const { assert!(Self::COLUMNS.len() <= 64, "Columns holds 64") };
                let Some($key) = Cell::cell(row, at)? else {
                    return Ok(None);
                };
                let mut _next = at;
                let mut _position = 0;
                $(
                    _position += 1;
                    let $field = if _columns.has(_position) {
                        _next += 1;
                        Cell::cell(row, _next)?
                    } else {
                        Cell::absent()
                    };
                )*
                Ok(Some(Self { $key $(, $field)* }))
            }

            fn joined_list(alias: &'static str, backend: DatabaseBackend) -> &'static str {
                static LISTS: JoinedLists = Mutex::new(Vec::new());
                joined_list::<<Self as ModelTrait>::Entity>(&LISTS, alias, backend)
            }

            fn select_list(backend: DatabaseBackend) -> &'static str {
                static LISTS: [OnceLock<String>; 3] = [const { OnceLock::new() }; 3];
                LISTS[backend_slot(backend)].get_or_init(|| {
                    select_list(<<Self as ModelTrait>::Entity as EntityTrait>::find(), backend)
                })
            }
        }
    )* };
}

/// A value read from one column of a row.
///
/// On PostgreSQL the plain types are decoded without sqlx's type check (`try_get_unchecked`):
/// the check compares the column's type with every type the value may come from, for every value
/// of every row — about 6% of the server's CPU per list of builds (perf). The types are the
/// entities', which the migrations create, and every debug read still checks them. Enums (text
/// in the database) are read as text and parsed; every value on SQLite is read by sea-orm as
/// before.
pub trait Cell: Sized {
    /// The value at `at` in `row`.
    fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr>;

    /// The placeholder of a column a statement did not select (see [`Columns`]).
    fn absent() -> Self;
}

/// `T` (or NULL) at `at` of a PostgreSQL row, decoded without the type check (debug builds
/// check it).
fn unchecked<T>(row: &PgRow, at: usize) -> Result<Option<T>, DbErr>
where
    T: for<'r> Decode<'r, Postgres> + Type<Postgres>,
{
    debug_assert!(
        {
            use sea_orm::sqlx::ValueRef;
            let value = row.try_get_raw(at).expect("a column of the row");
            value.is_null() || T::compatible(&value.type_info())
        },
        "column {at} of the row is not a {}",
        std::any::type_name::<T>()
    );
    row.try_get_unchecked::<Option<T>, _>(at)
        .map_err(|err| DbErr::Type(err.to_string()))
}

/// The error of a NULL where the model has a value.
fn null_at(at: usize) -> DbErr {
    DbErr::Type(format!("column {at} is NULL"))
}

macro_rules! unchecked_cells {
    ($($type:ty),* $(,)?) => { $(
        impl Cell for $type {
            fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
                match row.try_as_pg_row() {
                    Some(pg) => unchecked::<$type>(pg, at)?.ok_or_else(|| null_at(at)),
                    None => row.try_get_by_index(at),
                }
            }

            fn absent() -> Self {
                Self::default()
            }
        }
        impl Cell for Option<$type> {
            fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
                match row.try_as_pg_row() {
                    Some(pg) => unchecked::<$type>(pg, at),
                    None => row.try_get_by_index(at),
                }
            }

            fn absent() -> Self {
                None
            }
        }
    )* };
}

/// Enums stored as text: on PostgreSQL the text is read like any other and then parsed by the
/// enum (sea-orm's read checks the column's type first, as for plain types: ~3% of a list of
/// builds).
macro_rules! enum_cells {
    ($($type:ty),* $(,)?) => { $(
        impl Cell for $type {
            fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
                match row.try_as_pg_row() {
                    Some(pg) => {
                        let text = unchecked::<String>(pg, at)?.ok_or_else(|| null_at(at))?;
                        <$type as ActiveEnum>::try_from_value(&text)
                    }
                    None => row.try_get_by_index(at),
                }
            }

            fn absent() -> Self {
                <$type as Iterable>::iter()
                    .next()
                    .expect("an enum has a first value")
            }
        }
        impl Cell for Option<$type> {
            fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
                match row.try_as_pg_row() {
                    Some(pg) => unchecked::<String>(pg, at)?
                        .map(|text| <$type as ActiveEnum>::try_from_value(&text))
                        .transpose(),
                    None => row.try_get_by_index(at),
                }
            }

            fn absent() -> Self {
                None
            }
        }
    )* };
}

unchecked_cells!(i32, i64, bool, String, sea_orm::prelude::Json);

impl Cell for DateTimeUtc {
    fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
        match row.try_as_pg_row() {
            Some(pg) => timestamp(pg, at)?.ok_or_else(|| null_at(at)),
            None => row.try_get_by_index(at),
        }
    }

    fn absent() -> Self {
        Self::default()
    }
}

impl Cell for Option<DateTimeUtc> {
    fn cell(row: &QueryResult, at: usize) -> Result<Self, DbErr> {
        match row.try_as_pg_row() {
            Some(pg) => timestamp(pg, at),
            None => row.try_get_by_index(at),
        }
    }

    fn absent() -> Self {
        None
    }
}

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01T00:00:00Z).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// A `timestamptz` (or NULL) at `at` of a PostgreSQL row. A binary value (what prepared
/// statements return) is microseconds since 2000-01-01, read here at once; sqlx builds that date
/// from its calendar fields and adds a duration for every value (~400 instructions, 3% of a list
/// of builds). A text value goes through sqlx.
fn timestamp(row: &PgRow, at: usize) -> Result<Option<DateTimeUtc>, DbErr> {
    let value = row
        .try_get_raw(at)
        .map_err(|err| DbErr::Type(err.to_string()))?;
    if value.is_null() {
        return Ok(None);
    }
    debug_assert!(
        <DateTimeUtc as Type<Postgres>>::compatible(&value.type_info()),
        "column {at} of the row is not a timestamp"
    );
    match (value.format(), value.as_bytes()) {
        (PgValueFormat::Binary, Ok(bytes)) => {
            let micros = <[u8; 8]>::try_from(bytes)
                .map(i64::from_be_bytes)
                .map_err(|_| DbErr::Type(format!("column {at} is not an 8-byte timestamp")))?;
            micros
                .checked_add(POSTGRES_EPOCH_MICROS)
                .and_then(DateTimeUtc::from_timestamp_micros)
                .map(Some)
                .ok_or_else(|| DbErr::Type(format!("column {at} is out of range: {micros} µs")))
        }
        _ => unchecked::<DateTimeUtc>(row, at),
    }
}

enum_cells!(
    entity::enums::BuildStatus,
    entity::enums::BuilderType,
    entity::enums::CatalogOsFamily,
    entity::enums::EndpointMode,
    entity::enums::OsFamily,
    entity::enums::ProvisionerRecipe,
    entity::enums::Role,
);

by_index! {
    entity::image_build::Model {
        id, definition_id, status, backend_build_id, proxmox_endpoint_id, target_node,
        output_vmid, output_name, image_version, variables, timeout_seconds, started_at,
        completed_at, created_by_id, netbox_job_id, cloud_image_template_id, backend_response,
        error, rebuild_of_id, created, last_updated,
    }
    entity::image_definition::Model {
        id, name, slug, description, enabled, builder_type, proxmox_endpoint_id,
        target_cluster_id, target_node, source_template_vmid, iso_url, iso_checksum, iso_storage,
        default_storage, default_bridge, os_family, os_release, default_ciuser,
        provisioner_recipe, default_variables, created, last_updated,
    }
    entity::build_event::Model { id, build_id, from_status, to_status, actor_id, message, at }
    entity::build_log_line::Model { id, build_id, seq, at, stream, line }
    entity::tenant::Model { id, name, slug, description, netbox_id, created, last_updated }
    entity::cluster::Model {
        id, name, cluster_type, tenant_id, description, netbox_id, netbox_type_id, created,
        last_updated,
    }
    entity::proxmox_endpoint::Model {
        id, name, domain, ip_address, port, mode, verify_ssl, allow_writes, enabled, tenant_id,
        netbox_id, created, last_updated,
    }
    entity::user::Model {
        id, username, first_name, last_name, email, is_active, role, netbox_id, created,
        last_updated,
    }
    entity::cloud_image_template::Model {
        id, name, slug, description, cluster_id, source_vmid, os_family, os_release,
        default_ciuser, is_active, netbox_id, netbox_pushed, created, last_updated,
    }
}

#[cfg(test)]
mod tests {
    use entity::{
        build_event, build_log_line, cloud_image_template, cluster, image_build, image_definition,
        proxmox_endpoint, tenant, user,
    };
    use sea_orm::{DatabaseBackend, EntityTrait, IdenStatic, Iterable};

    use super::ByIndex;

    /// `E`'s reader lists its columns, all of them, in the order `find()` selects them.
    fn reads_in_order<E: EntityTrait>()
    where
        E::Model: ByIndex,
    {
        let columns: Vec<_> = E::Column::iter().map(|column| column.as_str()).collect();
        let table = E::default().table_name();
        assert_eq!(E::Model::COLUMNS, columns, "{table}");
        // The select list made once lists the same columns, qualified by the table.
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            let list = E::Model::select_list(backend);
            let first = format!("\"{table}\".\"{}\"", columns[0]);
            assert!(list.starts_with(&first), "{list}");
            for column in &columns {
                assert!(list.contains(&format!(".\"{column}\"")), "{column}: {list}");
            }
            assert_eq!(
                list.matches(&format!("\"{table}\".")).count(),
                columns.len()
            );
        }
    }

    /// Some columns are selected as all of them are, in the same order, for every backend and
    /// alias; and a set of all of them is the list made once.
    #[test]
    fn some_columns_are_selected_as_all_are() {
        use super::{Columns, some_list};
        let all = Columns::ALL;
        for backend in [DatabaseBackend::Postgres, DatabaseBackend::Sqlite] {
            assert_eq!(
                some_list::<image_build::Model>(all, None, backend),
                image_build::Model::select_list(backend)
            );
            assert_eq!(
                some_list::<user::Model>(all, Some("pgw_test"), backend),
                user::Model::joined_list("pgw_test", backend)
            );
            let some = Columns::at(&[
                image_build::Column::Status as usize,
                image_build::Column::Created as usize,
            ]);
            assert_eq!(some.count::<image_build::Model>(), 3);
            assert!(!some.whole::<image_build::Model>());
            let whole: Vec<String> = image_build::Model::select_list(backend)
                .split(", ")
                .map(str::to_owned)
                .collect();
            let expected = [0, 2, 19].map(|i| whole[i].clone()).join(", ");
            assert_eq!(
                some_list::<image_build::Model>(some, None, backend),
                expected
            );
            let joined: Vec<String> = user::Model::joined_list("pgw_test", backend)
                .split(", ")
                .map(str::to_owned)
                .collect();
            let some = Columns::at(&[user::Column::Email as usize]);
            assert_eq!(
                some_list::<user::Model>(some, Some("pgw_test"), backend),
                [0, 4].map(|i| joined[i].clone()).join(", ")
            );
        }
    }

    #[test]
    fn every_reader_reads_its_entitys_columns_in_order() {
        reads_in_order::<image_build::Entity>();
        reads_in_order::<image_definition::Entity>();
        reads_in_order::<build_event::Entity>();
        reads_in_order::<build_log_line::Entity>();
        reads_in_order::<tenant::Entity>();
        reads_in_order::<cluster::Entity>();
        reads_in_order::<proxmox_endpoint::Entity>();
        reads_in_order::<user::Entity>();
        reads_in_order::<cloud_image_template::Entity>();
    }
}
