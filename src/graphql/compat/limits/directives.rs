//! The number of directives on each location of a document, as written.

use async_graphql::{
    Positioned,
    parser::types::{Directive, ExecutableDocument, Selection, SelectionSet},
};

use super::Refusal;
use crate::graphql::error::codes;

/// Refuses more than `max` directives on any one location, as written.
pub(super) fn check_directives(document: &ExecutableDocument, max: usize) -> Result<(), Refusal> {
    fn check(directives: &[Positioned<Directive>], max: usize, what: &str) -> Result<(), Refusal> {
        if directives.len() > max {
            return Err(Refusal::new(
                codes::TOO_MANY_DIRECTIVES,
                format!(
                    "{what} has {} directives; at most {max} are allowed",
                    directives.len()
                ),
            ));
        }
        Ok(())
    }
    fn selection_set(set: &SelectionSet, max: usize) -> Result<(), Refusal> {
        for selection in &set.items {
            match &selection.node {
                Selection::Field(field) => {
                    let name = format!("the field \"{}\"", field.node.response_key().node);
                    check(&field.node.directives, max, &name)?;
                    selection_set(&field.node.selection_set.node, max)?;
                }
                Selection::FragmentSpread(spread) => {
                    check(&spread.node.directives, max, "a fragment spread")?;
                }
                Selection::InlineFragment(inline) => {
                    check(&inline.node.directives, max, "an inline fragment")?;
                    selection_set(&inline.node.selection_set.node, max)?;
                }
            }
        }
        Ok(())
    }
    for (_, operation) in document.operations.iter() {
        check(&operation.node.directives, max, "the operation")?;
        for variable in &operation.node.variable_definitions {
            check(&variable.node.directives, max, "a variable definition")?;
        }
        selection_set(&operation.node.selection_set.node, max)?;
    }
    for fragment in document.fragments.values() {
        check(&fragment.node.directives, max, "a fragment definition")?;
        selection_set(&fragment.node.selection_set.node, max)?;
    }
    Ok(())
}
