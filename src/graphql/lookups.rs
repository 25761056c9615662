//! Filter and ordering inputs: the lookup objects of SPEC §3.1 and the macro that declares an
//! aggregate's filter input and turns it into a registry [`Filter`].

use async_graphql::{ID, InputObject, InputType};
use chrono::{DateTime, Utc};
use sea_orm::Value;

use super::enums::{
    BuildStatus, BuilderType, CatalogOsFamily, EndpointMode, OrderDirection, OsFamily,
    ProvisionerRecipe, Role,
};
use crate::{
    error::{Error, FieldErrors},
    registry::{filter::Lookup, page::Sort},
};

/// A lookup input: each field set is one comparison, all of them must hold.
pub trait LookupInput {
    /// The comparisons, with values typed for SQL; `field` names the filter field in errors.
    fn lookups(self, field: &str) -> Result<Vec<Lookup>, Error>;
}

/// Parses an `ID` argument; a malformed id is `BAD_USER_INPUT` on `field`.
pub fn parse_id(id: &ID, field: &str) -> Result<i64, Error> {
    id.parse::<i64>()
        .ok()
        .filter(|id| *id > 0)
        .ok_or_else(|| Error::bad_input(field, "is not an id of this service"))
}

/// Comparisons on strings. `%` and `_` match themselves.
#[derive(InputObject, Default)]
pub struct StringLookup {
    /// Equal, case-sensitive.
    exact: Option<String>,
    /// Equal, ignoring case.
    i_exact: Option<String>,
    /// Contains, case-sensitive.
    contains: Option<String>,
    /// Contains, ignoring case.
    i_contains: Option<String>,
    /// Starts with, case-sensitive.
    starts_with: Option<String>,
    /// Ends with, case-sensitive.
    ends_with: Option<String>,
    /// Equal to one of these.
    #[graphql(name = "in")]
    in_: Option<Vec<String>>,
    /// Is null (`true`) or is not (`false`).
    is_null: Option<bool>,
}

impl LookupInput for StringLookup {
    fn lookups(self, _field: &str) -> Result<Vec<Lookup>, Error> {
        let text = |s: String| Value::String(Some(s));
        Ok([
            self.exact.map(|v| Lookup::Eq(text(v))),
            self.i_exact.map(Lookup::IExact),
            self.contains.map(Lookup::Contains),
            self.i_contains.map(Lookup::IContains),
            self.starts_with.map(Lookup::StartsWith),
            self.ends_with.map(Lookup::EndsWith),
            self.in_
                .map(|v| Lookup::In(v.into_iter().map(text).collect())),
            self.is_null.map(Lookup::IsNull),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// Comparisons on ids.
#[derive(InputObject, Default)]
pub struct IdLookup {
    /// Equal.
    eq: Option<ID>,
    /// One of these.
    #[graphql(name = "in")]
    in_: Option<Vec<ID>>,
    /// Greater than.
    gt: Option<ID>,
    /// Greater than or equal.
    gte: Option<ID>,
    /// Less than.
    lt: Option<ID>,
    /// Less than or equal.
    lte: Option<ID>,
    /// Is null (`true`) or is not (`false`).
    is_null: Option<bool>,
}

impl LookupInput for IdLookup {
    fn lookups(self, field: &str) -> Result<Vec<Lookup>, Error> {
        let id = |v: ID| parse_id(&v, field).map(|n| Value::BigInt(Some(n)));
        let mut lookups = Vec::new();
        if let Some(v) = self.eq {
            lookups.push(Lookup::Eq(id(v)?));
        }
        if let Some(v) = self.in_ {
            lookups.push(Lookup::In(v.into_iter().map(id).collect::<Result<_, _>>()?));
        }
        for (value, make) in [
            (self.gt, Lookup::Gt as fn(Value) -> Lookup),
            (self.gte, Lookup::Gte),
            (self.lt, Lookup::Lt),
            (self.lte, Lookup::Lte),
        ] {
            if let Some(v) = value {
                lookups.push(make(id(v)?));
            }
        }
        if let Some(v) = self.is_null {
            lookups.push(Lookup::IsNull(v));
        }
        Ok(lookups)
    }
}

/// Comparisons on integers.
#[derive(InputObject, Default)]
pub struct IntLookup {
    /// Equal.
    eq: Option<i32>,
    /// One of these.
    #[graphql(name = "in")]
    in_: Option<Vec<i32>>,
    /// Greater than.
    gt: Option<i32>,
    /// Greater than or equal.
    gte: Option<i32>,
    /// Less than.
    lt: Option<i32>,
    /// Less than or equal.
    lte: Option<i32>,
    /// Is null (`true`) or is not (`false`).
    is_null: Option<bool>,
}

impl LookupInput for IntLookup {
    fn lookups(self, _field: &str) -> Result<Vec<Lookup>, Error> {
        let int = |v: i32| Value::BigInt(Some(i64::from(v)));
        Ok([
            self.eq.map(|v| Lookup::Eq(int(v))),
            self.in_
                .map(|v| Lookup::In(v.into_iter().map(int).collect())),
            self.gt.map(|v| Lookup::Gt(int(v))),
            self.gte.map(|v| Lookup::Gte(int(v))),
            self.lt.map(|v| Lookup::Lt(int(v))),
            self.lte.map(|v| Lookup::Lte(int(v))),
            self.is_null.map(Lookup::IsNull),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// Comparison on booleans.
#[derive(InputObject, Default)]
pub struct BooleanLookup {
    /// Equal.
    eq: Option<bool>,
}

impl LookupInput for BooleanLookup {
    fn lookups(self, _field: &str) -> Result<Vec<Lookup>, Error> {
        Ok(self
            .eq
            .map(|v| Lookup::Eq(Value::Bool(Some(v))))
            .into_iter()
            .collect())
    }
}

/// Comparisons on timestamps.
#[derive(InputObject, Default)]
pub struct DateTimeLookup {
    /// After.
    gt: Option<DateTime<Utc>>,
    /// At or after.
    gte: Option<DateTime<Utc>>,
    /// Before.
    lt: Option<DateTime<Utc>>,
    /// At or before.
    lte: Option<DateTime<Utc>>,
    /// Is null (`true`) or is not (`false`).
    is_null: Option<bool>,
}

impl LookupInput for DateTimeLookup {
    fn lookups(self, _field: &str) -> Result<Vec<Lookup>, Error> {
        let time = |v: DateTime<Utc>| Value::ChronoDateTimeUtc(Some(v));
        Ok([
            self.gt.map(|v| Lookup::Gt(time(v))),
            self.gte.map(|v| Lookup::Gte(time(v))),
            self.lt.map(|v| Lookup::Lt(time(v))),
            self.lte.map(|v| Lookup::Lte(time(v))),
            self.is_null.map(Lookup::IsNull),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// A GraphQL enum whose values are stored as strings.
pub trait Choice: InputType + Copy {
    /// The stored string (`proxmox-clone`).
    fn stored(self) -> String;
}

macro_rules! choice {
    ($($gql:ident => $entity:ident),* $(,)?) => {
        $(impl Choice for $gql {
            fn stored(self) -> String {
                sea_orm::ActiveEnum::to_value(&entity::enums::$entity::from(self))
            }
        })*
    };
}

choice!(
    BuildStatus => BuildStatus,
    BuilderType => BuilderType,
    OsFamily => OsFamily,
    CatalogOsFamily => CatalogOsFamily,
    ProvisionerRecipe => ProvisionerRecipe,
    EndpointMode => EndpointMode,
    Role => Role,
);

/// Comparisons on an enum.
#[derive(InputObject)]
#[graphql(concrete(name = "BuildStatusLookup", params(BuildStatus)))]
#[graphql(concrete(name = "BuilderTypeLookup", params(BuilderType)))]
#[graphql(concrete(name = "OsFamilyLookup", params(OsFamily)))]
#[graphql(concrete(name = "CatalogOsFamilyLookup", params(CatalogOsFamily)))]
#[graphql(concrete(name = "ProvisionerRecipeLookup", params(ProvisionerRecipe)))]
#[graphql(concrete(name = "EndpointModeLookup", params(EndpointMode)))]
#[graphql(concrete(name = "RoleLookup", params(Role)))]
pub struct ChoiceLookup<T: Choice> {
    /// Equal.
    eq: Option<T>,
    /// One of these.
    #[graphql(name = "in")]
    in_: Option<Vec<T>>,
}

impl<T: Choice> LookupInput for ChoiceLookup<T> {
    fn lookups(self, _field: &str) -> Result<Vec<Lookup>, Error> {
        let stored = |v: T| Value::String(Some(v.stored()));
        Ok([
            self.eq.map(|v| Lookup::Eq(stored(v))),
            self.in_
                .map(|v| Lookup::In(v.into_iter().map(stored).collect())),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// One element of an `orderBy` list.
#[derive(InputObject)]
#[graphql(concrete(
    name = "ImageDefinitionOrder",
    params(super::definitions::ImageDefinitionOrderField)
))]
#[graphql(concrete(name = "ImageBuildOrder", params(super::builds::ImageBuildOrderField)))]
#[graphql(concrete(name = "TenantOrder", params(super::reference::TenantOrderField)))]
#[graphql(concrete(name = "ClusterOrder", params(super::reference::ClusterOrderField)))]
#[graphql(concrete(
    name = "ProxmoxEndpointOrder",
    params(super::reference::ProxmoxEndpointOrderField)
))]
#[graphql(concrete(
    name = "CloudImageTemplateOrder",
    params(super::reference::CloudImageTemplateOrderField)
))]
#[graphql(concrete(name = "UserOrder", params(super::reference::UserOrderField)))]
pub struct OrderBy<F: InputType> {
    /// The field.
    pub field: F,
    /// The direction.
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// The registry ordering of an `orderBy` argument.
pub fn sort<F: InputType + Into<S>, S>(order_by: Option<Vec<OrderBy<F>>>) -> Vec<Sort<S>> {
    order_by
        .unwrap_or_default()
        .into_iter()
        .map(|o| Sort {
            field: o.field.into(),
            desc: o.direction == OrderDirection::Desc,
        })
        .collect()
}

/// Collects the lookups of one filter field into `filters`, keeping every error.
pub fn push<L: LookupInput, F: Copy>(
    filters: &mut Vec<crate::registry::filter::Filter<F>>,
    errors: &mut FieldErrors,
    name: &str,
    field: F,
    lookup: Option<L>,
) {
    let Some(lookup) = lookup else {
        return;
    };
    match lookup.lookups(name) {
        Ok(lookups) => filters.extend(
            lookups
                .into_iter()
                .map(|l| crate::registry::filter::Filter::Field(field, l)),
        ),
        Err(Error::BadInput(fields)) => errors.merge(fields),
        Err(_) => errors.add(name, "is invalid"),
    }
}

/// Declares an aggregate's filter input (each field a lookup, plus `q`, `and`, `or`, `not`) and
/// its conversion into a registry filter.
#[macro_export]
macro_rules! filter_input {
    (
        $(#[$meta:meta])*
        pub struct $name:ident => $field:ty {
            $(
                $(#[$fmeta:meta])*
                $input:ident : $lookup:ty => $variant:ident,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(async_graphql::InputObject, Default)]
        pub struct $name {
            $(
                $(#[$fmeta])*
                pub $input: Option<$lookup>,
            )*
            /// Free-text search.
            pub q: Option<String>,
            /// Every one of these matches.
            pub and: Option<Vec<$name>>,
            /// At least one of these matches.
            pub or: Option<Vec<$name>>,
            /// This does not match.
            pub not: Option<Box<$name>>,
        }

        impl $name {
            /// The registry filter; every malformed value is reported at once.
            pub fn into_filter(
                self,
            ) -> Result<$crate::registry::filter::Filter<$field>, $crate::error::Error> {
                use $crate::registry::filter::Filter;
                let mut errors = $crate::error::FieldErrors::default();
                let mut filters: Vec<Filter<$field>> = Vec::new();
                $(
                    $crate::graphql::lookups::push(
                        &mut filters,
                        &mut errors,
                        stringify!($input),
                        <$field>::$variant,
                        self.$input,
                    );
                )*
                if let Some(q) = self.q {
                    filters.push(Filter::Search(q));
                }
                let mut nested = |items: Option<Vec<$name>>| -> Vec<Filter<$field>> {
                    items
                        .unwrap_or_default()
                        .into_iter()
                        .filter_map(|item| match item.into_filter() {
                            Ok(filter) => Some(filter),
                            Err($crate::error::Error::BadInput(fields)) => {
                                errors.merge(fields);
                                None
                            }
                            Err(_) => None,
                        })
                        .collect()
                };
                if let Some(and) = self.and.map(|items| nested(Some(items))) {
                    filters.push(Filter::All(and));
                }
                if let Some(or) = self.or.map(|items| nested(Some(items))) {
                    filters.push(Filter::Any(or));
                }
                if let Some(not) = self.not {
                    if let Some(not) = nested(Some(vec![*not])).pop() {
                        filters.push(Filter::Not(Box::new(not)));
                    }
                }
                errors.into_result()?;
                Ok(Filter::All(filters))
            }
        }
    };
}

/// The registry filter of an optional filter argument (everything when absent).
pub fn filter_of<F, I>(
    input: Option<I>,
    convert: impl FnOnce(I) -> Result<crate::registry::filter::Filter<F>, Error>,
) -> Result<crate::registry::filter::Filter<F>, Error> {
    input.map_or_else(
        || Ok(crate::registry::filter::Filter::everything()),
        convert,
    )
}
