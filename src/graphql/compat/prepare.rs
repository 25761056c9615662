//! What every transport does with a GraphQL request before executing it: the document named by a
//! persisted query's hash, the limits of SPEC §5 (which also parse the document), variable
//! coercion, the request context, and the schema for the principal. HTTP and both websocket protocols share it, so none can skip a check.

use std::sync::Arc;

use async_graphql::{Request, Response, Variables, parser::types::OperationType};
use serde_json::{Map, Value as Json};

use super::{
    Door,
    limits::{Kept, Parsed, Refusal},
    params::Params,
    persisted::Document,
    variables::select_operation,
};
use crate::{
    auth::Principal,
    graphql::{AppSchema, RequestCtx, batch::Tick, error::codes, subscriptions},
    registry::rules,
};

/// A request ready to execute.
pub struct Prepared {
    /// The request, its document parsed and its context attached.
    pub request: Request,
    /// The type of the operation it runs (`None` when the document names no such operation;
    /// execution then reports it).
    pub operation: Option<OperationType>,
    /// The schema for the principal (without introspection for anonymous readers).
    pub schema: AppSchema,
    /// When the request's loaders run their batches: the execution must be driven by it.
    pub tick: Tick,
    /// A subscription to what happens from now on (`subscriptions::from_now`): one execution
    /// may serve every subscriber of the same visibility asking the same.
    pub shareable: bool,
    /// The document's entry among those kept, while the full validation has not passed it:
    /// [`Prepared::validated`] records a pass (the request then ran on the strict schema).
    unvalidated: Option<Arc<Kept>>,
}

impl Prepared {
    /// Records that the full validation passed the document, when `response` says so (every
    /// error, if any, is a field's); from then on it runs on the fast schema (see
    /// `compat::Schemas`).
    pub fn validated(unvalidated: Option<Arc<Kept>>, response: &Response) {
        if let Some(kept) = unvalidated
            && response.errors.iter().all(|err| !err.path.is_empty())
        {
            kept.passed();
        }
    }

    /// The entry to pass to [`Prepared::validated`] after the execution.
    pub fn unvalidated(&mut self) -> Option<Arc<Kept>> {
        self.unvalidated.take()
    }
}

/// Checks and builds a request of `principal`; the refusal carries the code to report. A document
/// named by its hash (automatic persisted queries) is found first, and checked like any other.
pub fn prepare(door: &Door, principal: Principal, params: Params) -> Result<Prepared, Refusal> {
    let Params {
        query,
        operation_name,
        variables,
        persisted,
    } = params;
    let Document { query, store } = door.persisted.document(query, persisted.as_ref())?;
    let authenticated = principal.is_authenticated();
    refuse_nul(&query, &variables)?;
    let Parsed { document, kept } =
        door.documents
            .parse(&query, &door.app.config.limits, authenticated)?;
    let validated = kept.as_ref().is_some_and(|kept| kept.validated());
    if let Some(hash) = store {
        door.persisted.store(hash, &query);
    }
    let variables = Variables::from_json(Json::Object(variables));
    let selected = select_operation(&document, operation_name.as_deref());
    let operation = selected.map(|op| op.ty);
    let shareable = selected.is_some_and(|op| {
        op.ty == OperationType::Subscription && subscriptions::from_now(op, &variables)
    });
    door.schemas
        .input_types
        .check(&document, operation_name.as_deref(), &variables)
        .map_err(|message| Refusal::new(codes::BAD_USER_INPUT, message))?;
    let context = RequestCtx::new(&door.app.db, principal);
    let tick = context.loaders.tick.clone();
    let mut request = Request::new(query).variables(variables).data(context);
    request.set_parsed_query(document);
    if let Some(name) = operation_name {
        request = request.operation_name(name);
    }
    if !authenticated {
        request = request.disable_introspection();
    }
    let schema = door.schemas.pick(&door.app, authenticated, validated);
    Ok(Prepared {
        request,
        operation,
        schema,
        tick,
        shareable,
        unvalidated: kept.filter(|_| !validated),
    })
}

/// Refuses text holding U+0000 anywhere — in the document (raw or as the escape `\u0000`) or in a
/// variable. No column can store it (PostgreSQL refuses it in `text` and `jsonb`), so it is a
/// client error, reported before anything runs rather than as an internal error of the database.
fn refuse_nul(query: &str, variables: &Map<String, Json>) -> Result<(), Refusal> {
    let in_query = query.contains('\0') || query.to_ascii_lowercase().contains("\\u0000");
    if in_query || variables.values().any(rules::holds_nul) {
        return Err(Refusal::new(
            codes::BAD_USER_INPUT,
            "text cannot contain the NUL character (U+0000)",
        ));
    }
    Ok(())
}
