//! The null propagation of the GraphQL specification ("Handling Field Errors": a failed field is
//! null, and only a failed non-null field nulls its parent) for the field's own resolver.
//!
//! The bug (async-graphql 7.0.19; upstream issues #1272 and #1549, open, and for guards #798 and
//! #1532 with the open fix #1820): the error of a nullable field's own resolver goes to the
//! nearest nullable *ancestor*, so a missing `imageBuild(id:)` would null the whole `data`, and a
//! failed nullable relation the object holding it. (An error *below* a nullable field, from a
//! non-null child, is caught right: `Option`'s own resolution nulls the field.) Pinned by the
//! tests below against a plain schema. (The opposite trap is in 7.1–7.2: there a failed non-null
//! field vanishes from its parent instead of nulling it; `tests/it/schema.rs` proves the pinned
//! version does it right.)
//!
//! The fix is where the errors arise: every nullable field whose resolver can fail answers
//! through [`nullable`], which reports the error as async-graphql would (its position and path)
//! with `Context::add_error` and answers `None`. It was a schema extension catching errors at
//! every field; any extension sends every field of every request through async-graphql's slow
//! path (a registry lookup, `ResolveInfo` and the extension chain, boxed, per field), so the
//! schemas have none (`tests/it/schema.rs`: `no_schema_has_an_extension`).
//!
//! Nothing of our schema can fail *before* a nullable field's resolver body runs (where
//! `nullable` could not catch it): it has no guards nor validators, and its only nullable fields
//! with arguments are the lookups by `ID` (and `imageDefinition`'s `String`), whose values —
//! literals or variables — validation checks with the scalars' own `is_valid` before execution
//! (`ID`: a string or an `i64`; `tests/it/queries/lookups.rs` pins it). The one scalar whose
//! check is weaker than its parser, `DateTime`, is no nullable field's argument, and its
//! variables are coerced before execution by `compat::variables`.

use std::future::Future;

use async_graphql::Context;

/// The value of a nullable field whose resolver is `field`: its value, or, when it fails, `None`
/// with its error reported at the field (position and path), the response's other fields
/// unharmed.
pub async fn nullable<T>(
    ctx: &Context<'_>,
    field: impl Future<Output = async_graphql::Result<Option<T>>>,
) -> Option<T> {
    match field.await {
        Ok(value) => value,
        Err(err) => {
            let err = err.into_server_error(ctx.item.pos);
            ctx.add_error(ctx.set_error_path(err));
            None
        }
    }
}

/// A nullable field for an optional relation: the row `loaded` (a loader's `load_optional`) as
/// the field's type; null without one, and null with its error at the field when it fails.
pub async fn related<V, T: From<V>>(
    ctx: &Context<'_>,
    loaded: impl Future<Output = Result<Option<V>, crate::error::Error>>,
) -> Option<T> {
    nullable(ctx, async { Ok(loaded.await?.map(T::from)) }).await
}

#[cfg(test)]
mod tests {
    use async_graphql::{Context, EmptyMutation, EmptySubscription, Object, Schema, Subscription};
    use futures_util::{Stream, StreamExt};
    use serde_json::json;

    use super::nullable;

    struct Lookups;

    #[Object]
    impl Lookups {
        async fn missing(&self) -> async_graphql::Result<Option<i32>> {
            Err("not here".into())
        }

        async fn present(&self) -> i32 {
            1
        }

        async fn nested(&self) -> Option<Lookups> {
            Some(Lookups)
        }
    }

    /// The same fields, the failing one answering through [`nullable`].
    struct Fixed;

    #[Object]
    impl Fixed {
        async fn missing(&self, ctx: &Context<'_>) -> Option<i32> {
            nullable(ctx, async { Err("not here".into()) }).await
        }

        async fn present(&self) -> i32 {
            1
        }

        async fn nested(&self) -> Option<Fixed> {
            Some(Fixed)
        }
    }

    const QUERY: &str = "{ missing present nested { missing present } }";

    /// The bug: the failed nullable field nulls its nullable ancestor (here the whole `data`).
    /// The fix: it nulls only itself, and its error says where it was.
    #[tokio::test]
    async fn a_failed_nullable_field_nulls_only_itself() {
        let plain = Schema::new(Lookups, EmptyMutation, EmptySubscription);
        let response = plain.execute(QUERY).await;
        assert_eq!(
            response.data.into_json().ok(),
            Some(json!(null)),
            "the bug is gone: `nullable` may go"
        );

        let ours = Schema::new(Fixed, EmptyMutation, EmptySubscription);
        let response = ours.execute(QUERY).await;
        let errors = serde_json::to_value(&response.errors).expect("json");
        assert_eq!(
            errors,
            json!([
                {"message": "not here", "locations": [{"line": 1, "column": 3}],
                 "path": ["missing"]},
                {"message": "not here", "locations": [{"line": 1, "column": 28}],
                 "path": ["nested", "missing"]},
            ])
        );
        assert_eq!(
            response.data.into_json().ok(),
            Some(json!({
                "missing": null, "present": 1, "nested": {"missing": null, "present": 1}
            }))
        );
    }

    struct Ticks;

    #[Subscription]
    impl Ticks {
        async fn ticks(&self) -> impl Stream<Item = Lookups> {
            futures_util::stream::iter([Lookups, Lookups])
        }
    }

    struct FixedTicks;

    #[Subscription]
    impl FixedTicks {
        async fn ticks(&self) -> impl Stream<Item = Fixed> {
            futures_util::stream::iter([Fixed, Fixed])
        }
    }

    /// The same in a subscription: each event's response carries the errors of its own fields.
    #[tokio::test]
    async fn a_failed_nullable_field_of_an_event_nulls_only_itself() {
        const EVENTS: &str = "subscription { ticks { missing present } }";
        let plain = Schema::new(Lookups, EmptyMutation, Ticks);
        let responses: Vec<_> = plain.execute_stream(EVENTS).collect().await;
        assert!(
            responses
                .into_iter()
                .all(|response| response.data.into_json().ok() == Some(json!(null))),
            "the bug is gone: `nullable` may go"
        );

        let ours = Schema::new(Fixed, EmptyMutation, FixedTicks);
        let responses: Vec<_> = ours.execute_stream(EVENTS).collect().await;
        assert_eq!(responses.len(), 2);
        for response in responses {
            assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
            assert_eq!(
                response.errors[0].path,
                vec![
                    async_graphql::PathSegment::Field("ticks".to_owned()),
                    async_graphql::PathSegment::Field("missing".to_owned()),
                ]
            );
            assert_eq!(
                response.data.into_json().ok(),
                Some(json!({"ticks": {"missing": null, "present": 1}}))
            );
        }
    }
}
