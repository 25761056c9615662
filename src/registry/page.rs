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

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityName, EntityTrait, FromQueryResult,
    IdenStatic, ModelTrait, QueryFilter, QueryOrder, QuerySelect, QueryTrait, Select, Value,
    sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, SelectStatement, WindowStatement},
};
use serde_json::Value as Json;

use super::filter::{all, any, ids_of, integer};
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
    pub rows: Vec<(String, M)>,
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

/// One column of the compiled ordering.
struct Key<C> {
    column: C,
    expr: Expr,
    desc: bool,
    kind: KeyKind,
    nullable: bool,
}

#[derive(Clone)]
enum KeyKind {
    /// An integer column of this type.
    Int(sea_orm::ColumnType),
    Text,
    Time,
    Flag,
}

impl<C> Key<C> {
    /// The SQL expressions this key sorts by: `(column IS NULL)` first when nullable.
    fn exprs(&self) -> Vec<Expr> {
        let mut exprs = Vec::with_capacity(2);
        if self.nullable {
            exprs.push(Expr::case(self.expr.clone().is_null(), 1).finally(0).into());
        }
        exprs.push(self.expr.clone());
        exprs
    }
}

/// Fetches one page of `select` (already filtered and scoped) in the order `sort`.
///
/// `has_previous` / `has_next` follow the Relay spec: in the paging direction they are exact (one
/// extra row is fetched); in the other direction they are `true` when a cursor was given, because
/// the cursor row itself lies there.
pub async fn fetch<F: SortField>(
    db: &DatabaseConnection,
    select: Select<F::Entity>,
    sort: &[Sort<F>],
    args: &PageArgs,
) -> Result<Page<<F::Entity as EntityTrait>::Model>, Error>
where
    <F::Entity as EntityTrait>::Model: FromQueryResult + Sync,
{
    let total = TotalCount {
        db: db.clone(),
        statement: select.clone().into_query(),
    };
    let plan = Plan::new(select, sort, args)?;
    let mut select = plan.select.clone();
    for (expr, order) in plan.order() {
        select = select.order_by(expr, order);
    }
    let rows = select.limit(args.size + 1).all(db).await?;
    Ok(plan.page(rows, total))
}

/// The largest page of offset pagination (REST's `limit`).
pub const MAX_OFFSET_PAGE: u64 = 1000;

/// Validated offset paging arguments: at most `limit` rows, after skipping `offset`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OffsetArgs {
    limit: u64,
    offset: u64,
}

impl OffsetArgs {
    /// `limit` rows from `offset`; `limit` is capped to 1..=[`MAX_OFFSET_PAGE`], and `offset` to
    /// what SQL can bind (`i64::MAX`: a page that far is empty anyway).
    pub fn new(limit: u64, offset: u64) -> Self {
        OffsetArgs {
            limit: limit.clamp(1, MAX_OFFSET_PAGE),
            offset: Ord::min(offset, i64::MAX as u64),
        }
    }

    /// The page size.
    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// The rows skipped.
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

/// A page of offset pagination.
#[derive(Clone, Debug)]
pub struct OffsetPage<M> {
    /// The rows, in order.
    pub rows: Vec<M>,
    /// The number of rows of the whole filtered list.
    pub count: i64,
}

/// Fetches `args.limit()` rows of `select` (already filtered and scoped) from `args.offset()` in
/// the order `sort` (completed by the primary key, as [`fetch`] does, so that pages neither
/// repeat nor skip rows while the data stands still), and counts the filtered rows with the same
/// statement: two statements, whatever the page size.
pub async fn fetch_offset<F: SortField>(
    db: &DatabaseConnection,
    select: Select<F::Entity>,
    sort: &[Sort<F>],
    args: &OffsetArgs,
) -> Result<OffsetPage<<F::Entity as EntityTrait>::Model>, Error>
where
    <F::Entity as EntityTrait>::Model: FromQueryResult + Sync,
{
    let total = TotalCount {
        db: db.clone(),
        statement: select.clone().into_query(),
    };
    // No cursor: the plan only compiles the ordering.
    let plan = Plan::new(select, sort, &PageArgs::first(1))?;
    let mut select = plan.select.clone();
    for (expr, order) in plan.order() {
        select = select.order_by(expr, order);
    }
    let rows = select.offset(args.offset).limit(args.limit).all(db).await?;
    let count = total.get().await?;
    Ok(OffsetPage { rows, count })
}

/// Fetches one page per value of `partition` among `parents` (e.g. the builds of each of several
/// definitions) in one statement, with `ROW_NUMBER() OVER (PARTITION BY …)`. The pages carry no
/// total: count them with [`count_partitioned`].
pub async fn fetch_partitioned<F: SortField>(
    db: &DatabaseConnection,
    select: Select<F::Entity>,
    partition: ColumnOf<F>,
    parents: &[i64],
    sort: &[Sort<F>],
    args: &PageArgs,
) -> Result<HashMap<i64, Page<<F::Entity as EntityTrait>::Model>>, Error>
where
    <F::Entity as EntityTrait>::Model: FromQueryResult + Sync,
{
    let select = select.filter(partition.is_in(ids_of(partition, parents)));
    let plan = Plan::new(select, sort, args)?;
    let mut window = WindowStatement::partition_by((F::Entity::default(), partition));
    for (expr, order) in plan.order() {
        window.order_by_expr(expr, order);
    }
    let mut inner = plan.select.clone().into_query();
    inner.expr_window_as(Expr::cust("ROW_NUMBER()"), window, Alias::new("page_row"));
    let outer = Query::select()
        .column(Asterisk)
        .from_subquery(inner, Alias::new("paged"))
        .and_where(Expr::col(Alias::new("page_row")).lte(args.size + 1))
        .order_by(Alias::new("page_row"), Order::Asc)
        .take();
    let mut grouped: HashMap<i64, Vec<_>> = parents.iter().map(|p| (*p, Vec::new())).collect();
    for row in db.query_all(&outer).await? {
        let parent: i64 = match row.try_get::<i32>("", partition.as_str()) {
            Ok(id) => i64::from(id),
            Err(_) => row.try_get::<i64>("", partition.as_str())?,
        };
        let model = <F::Entity as EntityTrait>::Model::from_query_result(&row, "")?;
        grouped.entry(parent).or_default().push(model);
    }
    Ok(grouped
        .into_iter()
        .map(|(parent, rows)| (parent, plan.page(rows, TotalCount::none(db))))
        .collect())
}

/// `COUNT(*)` of `select` per value of `partition` among `parents`, in one statement.
pub async fn count_partitioned<E: EntityTrait>(
    db: &DatabaseConnection,
    select: Select<E>,
    partition: E::Column,
    parents: &[i64],
) -> Result<HashMap<i64, i64>, Error> {
    let mut statement = select
        .filter(partition.is_in(ids_of(partition, parents)))
        .into_query();
    statement
        .clear_selects()
        .expr_as(Expr::col((E::default(), partition)), Alias::new("parent"))
        .expr_as(Expr::cust("COUNT(*)"), Alias::new("n"))
        .group_by_col((E::default(), partition));
    let mut counts: HashMap<i64, i64> = parents.iter().map(|p| (*p, 0)).collect();
    for row in db.query_all(&statement).await? {
        let parent: i64 = match row.try_get::<i32>("", "parent") {
            Ok(id) => i64::from(id),
            Err(_) => row.try_get::<i64>("", "parent")?,
        };
        counts.insert(parent, row.try_get::<i64>("", "n")?);
    }
    Ok(counts)
}

/// A page query with its cursor conditions applied and its keys compiled.
struct Plan<F: SortField> {
    select: Select<F::Entity>,
    keys: Vec<Key<ColumnOf<F>>>,
    signature: String,
    args: PageArgs,
}

impl<F: SortField> Plan<F> {
    fn new(select: Select<F::Entity>, sort: &[Sort<F>], args: &PageArgs) -> Result<Self, Error> {
        let keys = compile_order(sort)?;
        let signature = signature(sort);
        let mut select = select;
        if let Some(after) = &args.after {
            let values = decode(after, &signature, &keys).ok_or_else(|| bad_cursor("after"))?;
            select = select.filter(beyond(&keys, &values, false));
        }
        if let Some(before) = &args.before {
            let values = decode(before, &signature, &keys).ok_or_else(|| bad_cursor("before"))?;
            select = select.filter(beyond(&keys, &values, true));
        }
        Ok(Plan {
            select,
            keys,
            signature,
            args: args.clone(),
        })
    }

    /// The SQL ordering, reversed when paging backward.
    fn order(&self) -> Vec<(Expr, Order)> {
        let mut order = Vec::new();
        for key in &self.keys {
            let direction = if key.desc != self.args.backward {
                Order::Desc
            } else {
                Order::Asc
            };
            for expr in key.exprs() {
                order.push((expr, direction.clone()));
            }
        }
        order
    }

    /// Turns the fetched rows (at most one more than the page) into the page.
    fn page(
        &self,
        mut rows: Vec<<F::Entity as EntityTrait>::Model>,
        total: TotalCount,
    ) -> Page<<F::Entity as EntityTrait>::Model> {
        let args = &self.args;
        let more = rows.len() as u64 > args.size;
        rows.truncate(args.size as usize);
        if args.backward {
            rows.reverse();
        }
        let rows = rows
            .into_iter()
            .map(|row| (encode::<F::Entity>(&self.signature, &self.keys, &row), row))
            .collect();
        let (has_previous, has_next) = if args.backward {
            (more, args.before.is_some())
        } else {
            (args.after.is_some(), more)
        };
        Page {
            rows,
            has_previous,
            has_next,
            total,
        }
    }
}

type ColumnOf<F> = <<F as SortField>::Entity as EntityTrait>::Column;

fn compile_order<F: SortField>(sort: &[Sort<F>]) -> Result<Vec<Key<ColumnOf<F>>>, Error> {
    use sea_orm::{ColumnTrait, ColumnType, Iterable, PrimaryKeyToColumn};
    let primary = <F::Entity as EntityTrait>::PrimaryKey::iter()
        .next()
        .ok_or_else(|| Error::internal("entity without primary key"))?
        .into_column();
    let last_desc = sort.last().is_some_and(|s| s.desc);
    let entries = sort
        .iter()
        .map(|s| (s.field.column(), s.desc, s.field.nullable()))
        .chain(std::iter::once((primary, last_desc, false)));
    Ok(entries
        .map(|(column, desc, nullable)| {
            let kind = match column.def().get_column_type() {
                ty @ (ColumnType::Integer | ColumnType::BigInteger | ColumnType::SmallInteger) => {
                    KeyKind::Int(ty.clone())
                }
                ColumnType::TimestampWithTimeZone
                | ColumnType::Timestamp
                | ColumnType::DateTime => KeyKind::Time,
                ColumnType::Boolean => KeyKind::Flag,
                _ => KeyKind::Text,
            };
            Key {
                column,
                expr: Expr::col((F::Entity::default(), column)),
                desc,
                kind,
                nullable,
            }
        })
        .collect())
}

/// The list and ordering a cursor belongs to, e.g. `image_build:-created`. The table is part of
/// it because two lists can share an ordering (`+name`), and a cursor of one would silently
/// position the other.
fn signature<F: SortField>(sort: &[Sort<F>]) -> String {
    let keys = sort
        .iter()
        .map(|s| format!("{}{}", if s.desc { "-" } else { "+" }, s.field.key()))
        .collect::<Vec<_>>()
        .join(",");
    format!("{}:{keys}", F::Entity::default().table_name())
}

/// Rows strictly after (or, `reverse`, strictly before) the cursor values, in the keys' order:
/// `k1 > v1 OR (k1 = v1 AND k2 > v2) OR …`, with `<` for descending keys. A nullable key
/// contributes its NULL flag, then its value; a NULL value has nothing strictly beyond it within
/// its NULL group, which the flag already separates, so it adds no term.
fn beyond<C>(keys: &[Key<C>], values: &[Option<Value>], reverse: bool) -> Expr {
    let mut disjuncts = Vec::new();
    let mut equal_so_far: Vec<Expr> = Vec::new();
    for (key, value) in keys.iter().zip(values) {
        let forward = key.desc == reverse;
        let mut terms: Vec<(Expr, Value)> = Vec::with_capacity(2);
        if key.nullable {
            terms.push((
                Expr::case(key.expr.clone().is_null(), 1).finally(0).into(),
                Value::Int(Some(i32::from(value.is_none()))),
            ));
        }
        if let Some(value) = value {
            terms.push((key.expr.clone(), value.clone()));
        }
        for (expr, value) in terms {
            let ahead = if forward {
                expr.clone().gt(value.clone())
            } else {
                expr.clone().lt(value.clone())
            };
            let mut conjuncts = equal_so_far.clone();
            conjuncts.push(ahead);
            disjuncts.push(all(conjuncts));
            equal_so_far.push(expr.eq(value));
        }
    }
    any(disjuncts)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    /// The ordering it was made for.
    o: String,
    /// The sort values of its row, one per key.
    v: Vec<Json>,
}

fn encode<E: EntityTrait>(signature: &str, keys: &[Key<E::Column>], row: &E::Model) -> String {
    let cursor = Cursor {
        o: signature.to_owned(),
        v: keys
            .iter()
            .map(|key| value_to_json(row.get(key.column)))
            .collect(),
    };
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
}

fn value_to_json(value: Value) -> Json {
    match value {
        Value::Int(Some(n)) => Json::from(n),
        Value::BigInt(Some(n)) => Json::from(n),
        Value::SmallInt(Some(n)) => Json::from(n),
        Value::String(Some(s)) => Json::from(s),
        Value::Bool(Some(b)) => Json::from(b),
        Value::ChronoDateTimeUtc(Some(t)) => {
            Json::from(t.to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        _ => Json::Null,
    }
}

/// Decodes a cursor into one value per key (`None` for NULL); `None` when it is not a cursor of
/// this ordering.
fn decode<C>(cursor: &str, signature: &str, keys: &[Key<C>]) -> Option<Vec<Option<Value>>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
    if cursor.o != signature || cursor.v.len() != keys.len() {
        return None;
    }
    keys.iter()
        .zip(cursor.v)
        .map(|(key, json)| {
            Some(match (&key.kind, json) {
                (_, Json::Null) if key.nullable => None,
                // Bound as the column's type, like every integer (see `filter::integer`).
                (KeyKind::Int(ty), Json::Number(n)) => Some(integer(ty, n.as_i64()?)?),
                (KeyKind::Text, Json::String(s)) => Some(Value::String(Some(s))),
                (KeyKind::Flag, Json::Bool(b)) => Some(Value::Bool(Some(b))),
                (KeyKind::Time, Json::String(s)) => Some(Value::ChronoDateTimeUtc(Some(
                    DateTime::parse_from_rfc3339(&s).ok()?.with_timezone(&Utc),
                ))),
                _ => return None,
            })
        })
        .collect()
}

fn bad_cursor(argument: &'static str) -> Error {
    Error::BadInput(FieldErrors::one(
        argument,
        "is not a cursor of this list and ordering",
    ))
}

/// Declares the sortable fields of an aggregate and their [`SortField`] impl.
///
/// ```ignore
/// sort_fields! {
///     /// Doc of the enum.
///     pub enum BuildSort for image_build {
///         /// `started_at`
///         StartedAt => (StartedAt, "started_at", nullable),
///     }
/// }
/// ```
#[macro_export]
macro_rules! sort_fields {
    (
        $(#[$meta:meta])*
        pub enum $name:ident for $entity:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident => ($col:ident, $key:literal, $null:ident),
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
    use chrono::{DateTime, TimeZone, Utc};
    use entity::{enums::BuildStatus, image_build};
    use sea_orm::Value;

    use super::{Key, PageArgs, Sort, compile_order, decode, encode, signature};
    use crate::registry::builds::BuildSort;

    fn build(started: Option<DateTime<Utc>>) -> image_build::Model {
        let created = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("a valid instant");
        image_build::Model {
            id: 42,
            definition_id: 1,
            status: BuildStatus::Running,
            backend_build_id: String::new(),
            proxmox_endpoint_id: 1,
            target_node: "pve1".into(),
            output_vmid: 1000,
            output_name: "ünïcode \"quoted\" %_".into(),
            image_version: "v".into(),
            variables: serde_json::json!({}),
            timeout_seconds: None,
            started_at: started,
            completed_at: None,
            created_by_id: None,
            netbox_job_id: None,
            cloud_image_template_id: None,
            backend_response: serde_json::json!({}),
            error: String::new(),
            rebuild_of_id: None,
            created,
            last_updated: created,
        }
    }

    fn keys_of(sort: &[Sort<BuildSort>]) -> Vec<Key<image_build::Column>> {
        compile_order(sort).expect("an ordering")
    }

    const ORDER: [Sort<BuildSort>; 3] = [
        Sort {
            field: BuildSort::StartedAt,
            desc: false,
        },
        Sort {
            field: BuildSort::OutputName,
            desc: true,
        },
        Sort {
            field: BuildSort::Status,
            desc: false,
        },
    ];

    #[test]
    fn a_cursor_decodes_to_the_sort_values_of_its_row() {
        let keys = keys_of(&ORDER);
        let signature = signature(&ORDER);
        let started = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 6)
            .single()
            .expect("a valid instant")
            + chrono::Duration::microseconds(123_456);
        for started in [Some(started), None] {
            let row = build(started);
            let cursor = encode::<image_build::Entity>(&signature, &keys, &row);
            assert!(
                cursor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{cursor} is not URL-safe"
            );
            assert_eq!(
                decode(&cursor, &signature, &keys),
                Some(vec![
                    started.map(|t| Value::ChronoDateTimeUtc(Some(t))),
                    Some(Value::String(Some(row.output_name.clone()))),
                    Some(Value::String(Some("running".into()))),
                    Some(Value::Int(Some(42))),
                ])
            );
        }
    }

    #[test]
    fn a_cursor_of_another_ordering_or_garbage_decodes_to_nothing() {
        let keys = keys_of(&ORDER);
        let cursor = encode::<image_build::Entity>(&signature(&ORDER), &keys, &build(None));
        let mut reversed = ORDER;
        reversed[1].desc = false;
        assert_eq!(decode(&cursor, &signature(&reversed), &keys), None);
        for garbage in ["", "!", "bm90IGpzb24", "e30"] {
            assert_eq!(
                decode(garbage, &signature(&ORDER), &keys),
                None,
                "{garbage}"
            );
        }
        // A NULL where the key cannot be NULL.
        let by_name = [Sort {
            field: BuildSort::OutputName,
            desc: false,
        }];
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(r#"{{"o":"{}","v":[null,1]}}"#, signature(&by_name)),
        );
        assert_eq!(
            decode(&forged, &signature(&by_name), &keys_of(&by_name)),
            None
        );
    }

    #[test]
    fn offset_pages_are_1_to_1000_rows() {
        use super::{MAX_OFFSET_PAGE, OffsetArgs};
        assert_eq!(OffsetArgs::new(0, 0).limit(), 1);
        assert_eq!(OffsetArgs::new(50, 7).limit(), 50);
        assert_eq!(OffsetArgs::new(50, 7).offset(), 7);
        assert_eq!(OffsetArgs::new(1001, 0).limit(), MAX_OFFSET_PAGE);
        assert_eq!(OffsetArgs::new(1, u64::MAX).offset(), i64::MAX as u64);
    }

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
