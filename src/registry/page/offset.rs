//! Offset pages (REST's `limit` and `offset`), counted with the same statement.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, EntityTrait, QueryOrder, QuerySelect, QueryTrait, Select,
};

use super::{PageArgs, Sort, SortField, TotalCount, keyset::Plan};
use crate::{
    error::Error,
    registry::rows::{self, ByIndex},
};

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
/// the order `sort` (completed by the primary key, as [`fetch`](super::fetch) does, so that pages neither
/// repeat nor skip rows while the data stands still), and counts the filtered rows with the same
/// statement: two statements, whatever the page size.
pub async fn fetch_offset<F: SortField>(
    db: &DatabaseConnection,
    select: Select<F::Entity>,
    sort: &[Sort<F>],
    args: &OffsetArgs,
) -> Result<OffsetPage<<F::Entity as EntityTrait>::Model>, Error>
where
    <F::Entity as EntityTrait>::Model: ByIndex + Sync,
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
    let statement = select.offset(args.offset).limit(args.limit).into_query();
    let rows = rows::read_all(&db.query_all(&statement).await?)?;
    let count = total.get().await?;
    Ok(OffsetPage { rows, count })
}

#[cfg(test)]
mod tests {
    use super::{MAX_OFFSET_PAGE, OffsetArgs};

    #[test]
    fn offset_pages_are_1_to_1000_rows() {
        assert_eq!(OffsetArgs::new(0, 0).limit(), 1);
        assert_eq!(OffsetArgs::new(50, 7).limit(), 50);
        assert_eq!(OffsetArgs::new(50, 7).offset(), 7);
        assert_eq!(OffsetArgs::new(1001, 0).limit(), MAX_OFFSET_PAGE);
        assert_eq!(OffsetArgs::new(1, u64::MAX).offset(), i64::MAX as u64);
    }
}
