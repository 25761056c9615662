//! The null propagation of the GraphQL specification ("Handling Field Errors": a failed field is
//! null, and only a failed non-null field nulls its parent) for the field's own resolver.
//!
//! The bug (async-graphql 7.0.19; upstream issues #1272 and #1549, open, and for guards #798 and
//! #1532 with the open fix #1820): the error of a nullable field's own resolver goes to the
//! nearest nullable *ancestor*, so a missing `imageBuild(id:)` nulled the whole `data`, and a
//! failed nullable relation nulled the object holding it. Pinned by the tests below against a
//! plain schema. (The opposite trap is in 7.1–7.2: there a failed non-null field vanishes from
//! its parent instead of nulling it; `tests/it/schema.rs` proves the pinned version does it
//! right.)

use async_graphql::{
    ServerError, Value,
    extensions::{
        Extension, ExtensionContext, ExtensionFactory, NextExecute, NextResolve, NextSubscribe,
        ResolveInfo,
    },
};
use futures_util::stream::BoxStream;

/// Makes a failed nullable field null *itself*: catches the error at the field, answers `null`
/// there, and adds the error to the response once execution is over (for a subscription, to the
/// response of the event being resolved). Installed on every schema of the service.
pub struct NullableFieldErrors;

impl ExtensionFactory for NullableFieldErrors {
    fn create(&self) -> std::sync::Arc<dyn Extension> {
        std::sync::Arc::new(NullableFieldErrorsExtension::default())
    }
}

/// One per request: the errors caught at nullable fields, until the response is assembled.
#[derive(Default)]
struct NullableFieldErrorsExtension {
    caught: Caught,
}

/// Errors caught and not yet reported; shared with a subscription's response stream.
#[derive(Clone, Default)]
struct Caught(std::sync::Arc<std::sync::Mutex<Vec<ServerError>>>);

impl Caught {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<ServerError>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Moves every caught error into `response`.
    fn report(&self, mut response: async_graphql::Response) -> async_graphql::Response {
        response.errors.append(&mut self.lock());
        response
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for NullableFieldErrorsExtension {
    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let response = next.run(ctx, operation_name).await;
        self.caught.report(response)
    }

    fn subscribe<'s>(
        &self,
        ctx: &ExtensionContext<'_>,
        stream: BoxStream<'s, async_graphql::Response>,
        next: NextSubscribe<'_>,
    ) -> BoxStream<'s, async_graphql::Response> {
        use futures_util::StreamExt;
        let caught = self.caught.clone();
        next.run(ctx, stream)
            .map(move |response| caught.report(response))
            .boxed()
    }

    async fn resolve(
        &self,
        ctx: &ExtensionContext<'_>,
        info: ResolveInfo<'_>,
        next: NextResolve<'_>,
    ) -> async_graphql::ServerResult<Option<Value>> {
        let nullable = !info.return_type.ends_with('!');
        match next.run(ctx, info).await {
            Err(err) if nullable => {
                self.caught.lock().push(err);
                Ok(Some(Value::Null))
            }
            result => result,
        }
    }
}

#[cfg(test)]
mod tests {
    use async_graphql::{EmptyMutation, EmptySubscription, Object, Schema, Subscription};
    use futures_util::{Stream, StreamExt};
    use serde_json::json;

    use super::NullableFieldErrors;

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

    const QUERY: &str = "{ missing present nested { missing present } }";

    /// The bug: without the extension, the failed nullable field nulls its nullable ancestor (here
    /// the whole `data`). The fix: it nulls only itself.
    #[tokio::test]
    async fn a_failed_nullable_field_nulls_only_itself() {
        let plain = Schema::new(Lookups, EmptyMutation, EmptySubscription);
        let response = plain.execute(QUERY).await;
        assert_eq!(
            response.data.into_json().ok(),
            Some(json!(null)),
            "the bug is gone: NullableFieldErrors may go"
        );

        let ours = Schema::build(Lookups, EmptyMutation, EmptySubscription)
            .extension(NullableFieldErrors)
            .finish();
        let response = ours.execute(QUERY).await;
        assert_eq!(response.errors.len(), 2, "{:?}", response.errors);
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

    /// The same in a subscription: each event's response carries the errors of its own fields.
    #[tokio::test]
    async fn a_failed_nullable_field_of_an_event_nulls_only_itself() {
        let ours = Schema::build(Lookups, EmptyMutation, Ticks)
            .extension(NullableFieldErrors)
            .finish();
        let responses: Vec<_> = ours
            .execute_stream("subscription { ticks { missing present } }")
            .collect()
            .await;
        assert_eq!(responses.len(), 2);
        for response in responses {
            assert_eq!(response.errors.len(), 1, "{:?}", response.errors);
            assert_eq!(
                response.data.into_json().ok(),
                Some(json!({"ticks": {"missing": null, "present": 1}}))
            );
        }
    }
}
