//! The complexity of a connection field, for async-graphql's complexity limit (the query limits
//! checked before async-graphql sees a document are the transport's: `compat::limits`).

use async_graphql::{
    Positioned, VisitorContext,
    parser::types::{Field, VariableDefinition},
};

use crate::registry::page;

/// The cost a connection field can reach at most, so that sums of costs never overflow.
const MAX_CONNECTION_COST: usize = u32::MAX as usize;

/// The complexity of a connection field: its page size (`first` or `last`, 50 when absent,
/// clamped to 1..=100 — the resolver refuses anything outside with `BAD_USER_INPUT`, and a literal
/// that does not parse counts as the largest page) times the complexity of its selection, plus
/// one. Capped so that the sums async-graphql makes of it never overflow.
///
/// Used by `#[graphql(complexity = …)]` on every connection field, so that the page-size rule is
/// written once rather than in each attribute; `tests/it/limits.rs` checks the cost of each.
pub fn connection_cost(
    ctx: &VisitorContext<'_>,
    variables: &[Positioned<VariableDefinition>],
    field: &Field,
    child_complexity: usize,
) -> usize {
    let size = |name: &str| -> Option<u64> {
        let argument = field.get_argument(name)?;
        match ctx.param_value::<Option<i32>>(variables, field, name, None) {
            Ok(Some(n)) => Some(u64::try_from(n).unwrap_or(1).clamp(1, page::MAX_PAGE)),
            Ok(None) => None,
            // Variables are coerced before validation (`compat::variables`), so a variable that
            // fails here did not come from the client: the argument counts as absent.
            Err(_) if argument.node.clone().into_const().is_none() => None,
            Err(_) => Some(page::MAX_PAGE),
        }
    };
    let rows = match (size("first"), size("last")) {
        (Some(first), Some(last)) => first.max(last),
        (Some(n), None) | (None, Some(n)) => n,
        (None, None) => page::DEFAULT_PAGE,
    };
    usize::try_from(rows)
        .unwrap_or(usize::MAX)
        .saturating_mul(child_complexity)
        .saturating_add(1)
        .min(MAX_CONNECTION_COST)
}
