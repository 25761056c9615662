//! GraphQL's expansion of the registry's aggregate declarations (see `registry::filter` and
//! `registry::page`): each aggregate's filter input (one lookup object per field, chosen by the
//! field's kind, plus `q`, `and`, `or`, `not`) with its conversion into the registry's filter, and
//! each aggregate's `…OrderField` enum with its conversion into the registry's sort key. Field
//! names, descriptions and order are the declaration's, so the schema follows it.
//!
//! ```ignore
//! build_filter!(graphql_filter, /// Filters builds; every field set must match.
//!     ImageBuildFilter);
//! build_sort!(graphql_order, /// The sortable fields of a build.
//!     ImageBuildOrderField);
//! ```

/// Expands a filter declaration into a GraphQL input type named by the extra arguments.
#[macro_export]
macro_rules! graphql_filter {
    (
        ($(#[$imeta:meta])* $input:ident)
        $name:ident for $entity:ident search [$($search:ident),*] {
            $(
                $(#[$vmeta:meta])*
                $variant:ident $field:ident : $ty:ident $(($choice:ident))? = $how:ident ( $($arg:tt)* ),
            )*
        }
    ) => {
        $(#[$imeta])*
        #[derive(async_graphql::InputObject, Default)]
        pub struct $input {
            $(
                $(#[$vmeta])*
                pub $field: Option<
                    <$crate::graphql_filter!(@kind $ty $($choice)?)
                        as $crate::graphql::lookups::LookupOf>::Input
                >,
            )*
            /// Free-text search.
            pub q: Option<String>,
            /// Every one of these matches.
            pub and: Option<Vec<$input>>,
            /// At least one of these matches.
            pub or: Option<Vec<$input>>,
            /// This does not match.
            pub not: Option<Box<$input>>,
        }

        impl $input {
            /// The registry filter; every malformed value is reported at once.
            pub fn into_filter(
                self,
            ) -> Result<$crate::registry::filter::Filter<$name>, $crate::error::Error> {
                use $crate::registry::filter::Filter;
                let mut errors = $crate::error::FieldErrors::default();
                let mut filters: Vec<Filter<$name>> = Vec::new();
                $(
                    $crate::graphql::lookups::push(
                        &mut filters,
                        &mut errors,
                        stringify!($field),
                        $name::$variant,
                        self.$field,
                    );
                )*
                if let Some(q) = self.q {
                    filters.push(Filter::Search(q));
                }
                let mut nested = |items: Option<Vec<$input>>| -> Vec<Filter<$name>> {
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
    (@kind Choice $choice:ident) => {
        $crate::graphql::lookups::kinds::Choice<$crate::graphql::enums::$choice>
    };
    (@kind Id $of:ident) => { $crate::graphql::lookups::kinds::Id };
    (@kind $ty:ident) => { $crate::graphql::lookups::kinds::$ty };
}

/// Expands a sort declaration into a GraphQL enum named by the extra arguments, convertible into
/// the registry's sort key.
#[macro_export]
macro_rules! graphql_order {
    (
        ($(#[$imeta:meta])* $order:ident)
        $name:ident for $entity:ident {
            $(
                $(#[$vmeta:meta])*
                $variant:ident = ($col:ident, $key:literal, $null:ident),
            )*
        }
    ) => {
        $(#[$imeta])*
        #[derive(async_graphql::Enum, Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $order {
            $($(#[$vmeta])* $variant,)*
        }

        impl From<$order> for $name {
            fn from(field: $order) -> Self {
                match field {
                    $($order::$variant => $name::$variant,)*
                }
            }
        }
    };
}
