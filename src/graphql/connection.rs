//! Relay connections: one generic type, named after its node (`ImageBuildConnection`,
//! `ImageBuildEdge`), built from a registry [`Page`].

use std::borrow::Cow;

use async_graphql::{Context, Object, OutputType, Result, TypeName};

use super::{loaders::CountKey, request};
use entity::image_build;

use crate::registry::{
    id::Id,
    page::{Page, RowCursor, TotalCount},
};

/// A type that appears as a connection node; gives the connection and edge their names.
pub trait Node: OutputType + Clone {
    /// The node's GraphQL name.
    const NAME: &'static str;
}

/// Where `totalCount` comes from.
#[derive(Clone)]
pub enum Count {
    /// A `COUNT(*)` of the list's own query.
    Query(Box<TotalCount>),
    /// A batched count, for lists nested in another list.
    Batched(CountKey),
    /// A build's log lines, counted in a batch.
    LogLines(Id<image_build::Entity>),
}

/// A page of `T`.
pub struct Connection<T> {
    edges: Vec<Edge<T>>,
    page_info: PageInfo,
    count: Count,
}

impl<T: Node> Connection<T> {
    /// The connection of a page, its rows converted to nodes.
    pub fn new<M>(page: Page<M>, count: Count, node: impl Fn(M) -> T) -> Self {
        let edges: Vec<Edge<T>> = page
            .rows
            .into_iter()
            .map(|(cursor, row)| Edge {
                cursor,
                node: node(row),
            })
            .collect();
        let page_info = PageInfo {
            has_next_page: page.has_next,
            has_previous_page: page.has_previous,
            start: edges.first().map(|e| e.cursor.clone()),
            end: edges.last().map(|e| e.cursor.clone()),
        };
        Connection {
            edges,
            page_info,
            count,
        }
    }

    /// The connection of a top-level list, counted by its own query.
    pub fn of<M>(page: Page<M>, node: impl Fn(M) -> T) -> Self {
        let count = Count::Query(Box::new(page.total.clone()));
        Connection::new(page, count, node)
    }
}

impl<T: Node> TypeName for Connection<T> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Connection", T::NAME).into()
    }
}

#[Object(name_type)]
impl<T: Node> Connection<T> {
    /// The rows of this page with their cursors.
    async fn edges(&self) -> &[Edge<T>] {
        &self.edges
    }

    /// The rows of this page.
    async fn nodes(&self) -> Vec<&T> {
        self.edges.iter().map(|e| &e.node).collect()
    }

    /// Where this page lies.
    async fn page_info(&self) -> &PageInfo {
        &self.page_info
    }

    /// How many rows match the filter, on every page together. Counted only when asked for.
    async fn total_count(&self, ctx: &Context<'_>) -> Result<i64> {
        Ok(match &self.count {
            Count::Query(total) => total.get().await?,
            Count::Batched(key) => request(ctx)
                .loaders
                .build_counts()
                .load_one(key.clone())
                .await?
                .unwrap_or(0),
            Count::LogLines(build) => request(ctx)
                .loaders
                .log_counts()
                .load_one(*build)
                .await?
                .unwrap_or(0),
        })
    }
}

/// A row and its cursor.
pub struct Edge<T> {
    cursor: RowCursor,
    node: T,
}

impl<T: Node> TypeName for Edge<T> {
    fn type_name() -> Cow<'static, str> {
        format!("{}Edge", T::NAME).into()
    }
}

#[Object(name_type)]
impl<T: Node> Edge<T> {
    /// Opaque; pass it as `after` or `before`.
    async fn cursor(&self) -> String {
        self.cursor.spell()
    }

    /// The row.
    async fn node(&self) -> &T {
        &self.node
    }
}

/// Where a page lies, and the cursors of its ends, spelt when asked for.
#[derive(Clone)]
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start: Option<RowCursor>,
    end: Option<RowCursor>,
}

/// Relay page information.
#[Object]
impl PageInfo {
    /// Rows exist after this page (exact when paging forward; when paging backward, true when a
    /// `before` cursor was given).
    async fn has_next_page(&self) -> bool {
        self.has_next_page
    }

    /// Rows exist before this page (exact when paging backward; when paging forward, true when an
    /// `after` cursor was given).
    async fn has_previous_page(&self) -> bool {
        self.has_previous_page
    }

    /// The cursor of the first row.
    async fn start_cursor(&self) -> Option<String> {
        self.start.as_ref().map(RowCursor::spell)
    }

    /// The cursor of the last row.
    async fn end_cursor(&self) -> Option<String> {
        self.end.as_ref().map(RowCursor::spell)
    }
}
