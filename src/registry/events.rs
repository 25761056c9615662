//! Build events: the history of every transition (SPEC §1.5), read in event-id order.

use entity::{build_event, image_build};
use sea_orm::sea_query::Expr;

use super::{
    page::Sort,
    read::Readable,
    visibility::{self, Scope},
};
use crate::{filter_fields, sort_fields};

filter_fields! {
    /// The filterable fields of a build event; `q` searches the message.
    pub enum EventField for build_event {
        /// `id`
        Id => column(Id, Number, not_null, "id"),
        /// `build`
        Build => column(BuildId, Number, not_null, "build"),
        /// The build's definition.
        Definition => through(BuildId, image_build, Id, DefinitionId, Number, "definition"),
        /// `from_status`
        FromStatus => column(FromStatus, Choice, nullable, "from_status"),
        /// `to_status`
        ToStatus => column(ToStatus, Choice, not_null, "to_status"),
        /// `actor`
        Actor => column(ActorId, Number, nullable, "actor"),
        /// `at`
        At => column(At, Time, not_null, "at"),
    }
    search [Message]
}

sort_fields! {
    /// Events are read in the order they were committed.
    pub enum EventSort for build_event {
        /// `id`
        Id => (Id, "id", not_null),
    }
}

impl Readable for build_event::Entity {
    type Field = EventField;
    type Sort = EventSort;

    fn scope(scope: &Scope) -> Option<Expr> {
        visibility::events(scope)
    }

    fn default_sort() -> Vec<Sort<EventSort>> {
        vec![Sort {
            field: EventSort::Id,
            desc: false,
        }]
    }
}
