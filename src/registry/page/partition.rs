//! One page per parent (the builds of each of several definitions) in one statement, and one
//! count per parent.

use std::collections::HashMap;

use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, IdenStatic, QueryFilter,
    QueryTrait, Select,
    sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, WindowStatement},
};

use super::{
    Page, PageArgs, Sort, SortField, TotalCount,
    keyset::{ColumnOf, Plan},
};
use crate::{
    error::Error,
    registry::{
        filter::ids_of,
        rows::{self, ByIndex},
    },
};

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
    <F::Entity as EntityTrait>::Model: ByIndex + Sync,
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
        let model = rows::read_at(&row, 0, "")?.ok_or_else(rows::missing_key)?;
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
