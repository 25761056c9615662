//! Keyset pages: the compiled ordering, the cursor conditions, and one page of a list.

use std::sync::Arc;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, EntityName, EntityTrait, IdenStatic, ModelTrait,
    QueryFilter, QueryOrder, QueryResult, QuerySelect, QueryTrait, Select, Value,
    sea_query::{Expr, ExprTrait, Order},
};

use super::{
    Page, PageArgs, Sort, SortField, TotalCount,
    cursor::{RowCursor, bad_cursor, decode},
};
use crate::{
    error::Error,
    registry::{
        filter::{all, any},
        rows::{self, ByIndex, Columns},
    },
};

/// One column of the compiled ordering.
pub(super) struct Key<C> {
    pub(super) column: C,
    pub(super) expr: Expr,
    pub(super) desc: bool,
    pub(super) kind: KeyKind,
    pub(super) nullable: bool,
}

#[derive(Clone)]
pub(super) enum KeyKind {
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
    <F::Entity as EntityTrait>::Model: ByIndex + Sync,
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
    let results = db
        .query_all(&select.limit(args.size + 1).into_query())
        .await?;
    Ok(plan.page(rows::read_all(&results)?, total))
}

/// Like [`fetch`], in the same statement: `join` adds joins and columns to the page's query (it
/// must keep its rows: LEFT JOINs of to-one relations), and `also` reads what they add from each
/// row, from the column after the page's entity's (see [`rows`]). The rows of `also` are in no
/// particular order. The total count is not joined. The page's models hold `columns` and the
/// keys of the ordering (its cursors read them); the other fields are placeholders (see
/// [`Columns`]).
pub async fn fetch_also<F: SortField, X>(
    db: &DatabaseConnection,
    select: Select<F::Entity>,
    sort: &[Sort<F>],
    args: &PageArgs,
    columns: Columns,
    join: impl FnOnce(Select<F::Entity>) -> Select<F::Entity>,
    also: impl Fn(&QueryResult, usize) -> Result<X, DbErr>,
) -> Result<(Page<<F::Entity as EntityTrait>::Model>, Vec<X>), Error>
where
    <F::Entity as EntityTrait>::Model: ByIndex + ModelTrait + Sync,
{
    type Model<F> = <<F as SortField>::Entity as EntityTrait>::Model;
    let total = TotalCount {
        db: db.clone(),
        statement: select.clone().into_query(),
    };
    let plan = Plan::new(select, sort, args)?;
    let columns = plan.keys.iter().fold(columns, |columns, key| {
        columns.and(Columns::named::<Model<F>>(key.column.as_str()))
    });
    let mut select = plan.select.clone();
    if !columns.whole::<Model<F>>() {
        let list = rows::some_list::<Model<F>>(columns, None, db.get_database_backend());
        select = select.select_only().expr(Expr::cust(list));
    }
    for (expr, order) in plan.order() {
        select = select.order_by(expr, order);
    }
    let select = join(select.limit(args.size + 1));
    let results = db.query_all(&select.into_query()).await?;
    let mut models = Vec::with_capacity(results.len());
    let mut extra = Vec::with_capacity(results.len());
    let joined_at = columns.count::<Model<F>>();
    for result in &results {
        models.push(rows::read_some_at(result, 0, "", columns)?.ok_or_else(rows::missing_key)?);
        extra.push(also(result, joined_at)?);
    }
    Ok((plan.page(models, total), extra))
}

/// A page query with its cursor conditions applied and its keys compiled.
pub(super) struct Plan<F: SortField> {
    pub(super) select: Select<F::Entity>,
    pub(super) keys: Vec<Key<ColumnOf<F>>>,
    pub(super) signature: Arc<str>,
    pub(super) args: PageArgs,
}

impl<F: SortField> Plan<F> {
    pub(super) fn new(
        select: Select<F::Entity>,
        sort: &[Sort<F>],
        args: &PageArgs,
    ) -> Result<Self, Error> {
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
            signature: signature.into(),
            args: args.clone(),
        })
    }

    /// The SQL ordering, reversed when paging backward.
    pub(super) fn order(&self) -> Vec<(Expr, Order)> {
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
    pub(super) fn page(
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
            .map(|row| {
                (
                    RowCursor::of::<F::Entity>(&self.signature, &self.keys, &row),
                    row,
                )
            })
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

pub(super) type ColumnOf<F> = <<F as SortField>::Entity as EntityTrait>::Column;

pub(super) fn compile_order<F: SortField>(
    sort: &[Sort<F>],
) -> Result<Vec<Key<ColumnOf<F>>>, Error> {
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
pub(super) fn signature<F: SortField>(sort: &[Sort<F>]) -> String {
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
