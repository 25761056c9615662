//! The lookup objects of SPEC §3.1 (one per kind of field), the `orderBy` element, and their
//! conversion into the registry's typed lookups. Which lookup object a field takes follows from
//! its kind in the registry's declaration ([`LookupOf`], used by [`super::filters`]).

use async_graphql::{ID, InputObject, InputType};

use super::{
    enums::{
        BuildStatus, BuilderType, CatalogOsFamily, EndpointMode, OrderDirection, OsFamily,
        ProvisionerRecipe, Role,
    },
    ids,
    scalars::DateTime,
};
use crate::{
    error::{Error, FieldErrors},
    registry::{
        filter::{Filter, FilterField, Lookup, Scalar},
        page::Sort,
    },
};

/// A lookup input: each field set is one comparison, all of them must hold.
pub trait LookupInput {
    /// The comparisons, with typed values; `field` names the filter field in errors, and
    /// `refers_to` the type whose ids an id field holds ([`FilterField::refers_to`]).
    fn lookups(self, field: &str, refers_to: Option<&str>) -> Result<Vec<Lookup>, Error>;
}

/// The kinds of field of the registry's declarations (`Id`, `Int`, `Text`, `Flag`, `Time`,
/// `Choice(T)`), as types, so that a declaration's kind names its GraphQL lookup object.
pub mod kinds {
    use std::marker::PhantomData;

    /// An id.
    pub struct Id;
    /// An integer.
    pub struct Int;
    /// Text.
    pub struct Text;
    /// A boolean.
    pub struct Flag;
    /// A timestamp.
    pub struct Time;
    /// A choice among the values of the GraphQL enum `T`.
    pub struct Choice<T>(PhantomData<T>);
}

/// The lookup object of a kind of field.
pub trait LookupOf {
    /// The input object.
    type Input: InputType + LookupInput;
}

impl LookupOf for kinds::Id {
    type Input = IdLookup;
}

impl LookupOf for kinds::Int {
    type Input = IntLookup;
}

impl LookupOf for kinds::Text {
    type Input = StringLookup;
}

impl LookupOf for kinds::Flag {
    type Input = BooleanLookup;
}

impl LookupOf for kinds::Time {
    type Input = DateTimeLookup;
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
    fn lookups(self, _field: &str, _refers_to: Option<&str>) -> Result<Vec<Lookup>, Error> {
        let text = Scalar::Text;
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

/// Comparisons on ids: global ids of the field's type (or, for a transition period, their
/// integers). The comparisons order ids by their integers, the order of creation.
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
    fn lookups(self, field: &str, refers_to: Option<&str>) -> Result<Vec<Lookup>, Error> {
        let id = |v: ID| ids::number(&v, field, refers_to).map(Scalar::Int);
        let mut lookups = Vec::new();
        if let Some(v) = self.eq {
            lookups.push(Lookup::Eq(id(v)?));
        }
        if let Some(v) = self.in_ {
            lookups.push(Lookup::In(v.into_iter().map(id).collect::<Result<_, _>>()?));
        }
        for (value, make) in [
            (self.gt, Lookup::Gt as fn(Scalar) -> Lookup),
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
    fn lookups(self, _field: &str, _refers_to: Option<&str>) -> Result<Vec<Lookup>, Error> {
        let int = |v: i32| Scalar::Int(i64::from(v));
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
    fn lookups(self, _field: &str, _refers_to: Option<&str>) -> Result<Vec<Lookup>, Error> {
        Ok(self
            .eq
            .map(|v| Lookup::Eq(Scalar::Flag(v)))
            .into_iter()
            .collect())
    }
}

/// Comparisons on timestamps.
#[derive(InputObject, Default)]
pub struct DateTimeLookup {
    /// After.
    gt: Option<DateTime>,
    /// At or after.
    gte: Option<DateTime>,
    /// Before.
    lt: Option<DateTime>,
    /// At or before.
    lte: Option<DateTime>,
    /// Is null (`true`) or is not (`false`).
    is_null: Option<bool>,
}

impl LookupInput for DateTimeLookup {
    fn lookups(self, _field: &str, _refers_to: Option<&str>) -> Result<Vec<Lookup>, Error> {
        let time = Scalar::Time;
        Ok([
            self.gt.map(|v| Lookup::Gt(time(v.0))),
            self.gte.map(|v| Lookup::Gte(time(v.0))),
            self.lt.map(|v| Lookup::Lt(time(v.0))),
            self.lte.map(|v| Lookup::Lte(time(v.0))),
            self.is_null.map(Lookup::IsNull),
        ]
        .into_iter()
        .flatten()
        .collect())
    }
}

/// A GraphQL enum whose values are stored as strings.
pub trait ChoiceEnum: InputType + Copy {
    /// The stored string (`proxmox-clone`).
    fn stored(self) -> String;
}

macro_rules! choice {
    ($($gql:ident => $entity:ident),* $(,)?) => {
        $(
            impl ChoiceEnum for $gql {
                fn stored(self) -> String {
                    sea_orm::ActiveEnum::to_value(&entity::enums::$entity::from(self))
                }
            }

            impl LookupOf for kinds::Choice<$gql> {
                type Input = ChoiceLookup<$gql>;
            }
        )*
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
pub struct ChoiceLookup<T: ChoiceEnum> {
    /// Equal.
    eq: Option<T>,
    /// One of these.
    #[graphql(name = "in")]
    in_: Option<Vec<T>>,
}

impl<T: ChoiceEnum> LookupInput for ChoiceLookup<T> {
    fn lookups(self, _field: &str, _refers_to: Option<&str>) -> Result<Vec<Lookup>, Error> {
        let stored = |v: T| Scalar::Choice(v.stored());
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
pub fn push<L: LookupInput, F: FilterField>(
    filters: &mut Vec<Filter<F>>,
    errors: &mut FieldErrors,
    name: &str,
    field: F,
    lookup: Option<L>,
) {
    let Some(lookup) = lookup else {
        return;
    };
    match lookup.lookups(name, field.refers_to()) {
        Ok(lookups) => filters.extend(lookups.into_iter().map(|l| Filter::Field(field, l))),
        Err(Error::BadInput(fields)) => errors.merge(fields),
        Err(_) => errors.add(name, "is invalid"),
    }
}

/// The registry filter of an optional filter argument (everything when absent).
pub fn filter_of<F, I>(
    input: Option<I>,
    convert: impl FnOnce(I) -> Result<Filter<F>, Error>,
) -> Result<Filter<F>, Error> {
    input.map_or_else(|| Ok(Filter::everything()), convert)
}
