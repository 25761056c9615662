//! The query string of a list: NetBox-style filters mapped onto the registry's [`Filter`] tree,
//! `ordering` onto its sort keys, `limit`/`offset` onto [`OffsetArgs`]; and the envelope
//! `{count, next, previous, results}` with its links.
//!
//! - `field=value` is an exact match; a repeated parameter is an OR (`?status=running&status=failed`),
//!   different parameters are ANDed;
//! - `field__<suffix>=value` applies a lookup: `n` (not), `ie`/`nie` (equal ignoring case, or
//!   not), `ic`/`nic` (contains ignoring case, or not), `isw`/`nisw` and `iew`/`niew` (starts or
//!   ends with ignoring case, or not), `gt`, `gte`, `lt`, `lte`, `empty` and `isnull`
//!   (`true`/`false`); a negated lookup repeated excludes every value;
//! - `<relation>_id` is accepted for `<relation>` (`tenant_id=3` as `tenant=3`), as NetBox spells it;
//! - `q` searches the aggregate's text columns; an empty value is no filter at all;
//! - `ordering=-created,name` sorts by those keys (`-` descending), the primary key last;
//! - `limit` (default 50; 0 or more than 1000 means 1000, as NetBox caps it) and `offset`.
//!
//! An unknown parameter, field, lookup or ordering key is a 400 naming it; so are more than
//! [`MAX_PARAMETERS`] parameters.

use std::collections::HashMap;

use serde::Serialize;
use url::form_urlencoded;

use super::{
    body::NON_FIELD,
    lookups::{filter, resolve},
};
use crate::{
    error::{Error, FieldErrors},
    registry::{
        filter::{Filter, FilterField},
        page::{DEFAULT_PAGE, MAX_OFFSET_PAGE, OffsetArgs, Sort, SortField},
    },
};

/// The most query parameters (counting repeats) of one request: enough for any filter, and few
/// enough that no statement binds more values than a database accepts (SQLite: 32766).
pub const MAX_PARAMETERS: usize = 1000;

/// A parsed list request.
#[derive(Debug)]
pub struct ListQuery<F, S> {
    /// Every filter parameter, ANDed.
    pub filter: Filter<F>,
    /// The ordering (empty: the aggregate's default).
    pub sort: Vec<Sort<S>>,
    /// The page.
    pub page: OffsetArgs,
    /// The parameters other than `limit` and `offset`, in order, for the links.
    kept: Vec<(String, String)>,
}

/// A page of a list, as NetBox answers it.
#[derive(Serialize)]
pub struct List<T> {
    /// Rows of the whole filtered list.
    pub count: i64,
    /// The next page, if any.
    pub next: Option<String>,
    /// The previous page, if any.
    pub previous: Option<String>,
    /// This page.
    pub results: Vec<T>,
}

/// Parses the query string of a list of `F`-filtered, `S`-sorted rows: the filters, lookups and
/// choices the registry declares for the aggregate.
pub fn parse<F: FilterField, S: SortField>(query: Option<&str>) -> Result<ListQuery<F, S>, Error> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    if pairs.len() > MAX_PARAMETERS {
        return Err(Error::bad_input(
            NON_FIELD,
            format!("at most {MAX_PARAMETERS} query parameters are accepted"),
        ));
    }
    let mut errors = FieldErrors::default();
    let mut filters = Vec::new();
    let mut sort = Vec::new();
    let (mut limit, mut offset) = (DEFAULT_PAGE, 0);
    for (key, values) in grouped(&pairs) {
        if key.contains('\0') || values.iter().any(|v| v.contains('\0')) {
            errors.add(key, "cannot contain the NUL character (U+0000)");
            continue;
        }
        let last = values.last().map_or("", |v| v.trim());
        match key {
            // Empty, as any other parameter: the default.
            "limit" | "offset" if last.is_empty() => {}
            "limit" => match last.parse::<u64>() {
                Ok(0) => limit = MAX_OFFSET_PAGE,
                Ok(n) => limit = n,
                Err(_) => errors.add(key, "must be a non-negative integer"),
            },
            "offset" => match last.parse::<u64>() {
                Ok(n) => offset = n,
                Err(_) => errors.add(key, "must be a non-negative integer"),
            },
            "ordering" => match ordering::<S>(&values) {
                Ok(keys) => sort = keys,
                Err(message) => errors.add(key, message),
            },
            "q" => filters.extend(
                values
                    .iter()
                    .filter(|v| !v.trim().is_empty())
                    .map(|v| Filter::Search(v.to_string())),
            ),
            _ => match resolve::<F>(key) {
                None => errors.add(key, unknown_filter::<F>()),
                Some((field, op, negated)) => match filter(field, op, negated, &values) {
                    Ok(Some(filter)) => filters.push(filter),
                    Ok(None) => {}
                    Err(message) => errors.add(key, message),
                },
            },
        }
    }
    errors.into_result()?;
    Ok(ListQuery {
        filter: Filter::All(filters),
        sort,
        page: OffsetArgs::new(limit, offset),
        kept: pairs
            .into_iter()
            .filter(|(k, _)| k != "limit" && k != "offset")
            .collect(),
    })
}

impl<F, S> ListQuery<F, S> {
    /// The envelope of one page of the list served at `list_url`.
    pub fn envelope<T>(&self, list_url: &str, count: i64, results: Vec<T>) -> List<T> {
        let (limit, offset) = (self.page.limit(), self.page.offset());
        let count_u = u64::try_from(count).unwrap_or(0);
        let next = (offset.saturating_add(limit) < count_u)
            .then(|| self.link(list_url, Some(offset + limit)));
        let previous = (offset > 0).then(|| {
            let back = offset.saturating_sub(limit);
            self.link(list_url, (back > 0).then_some(back))
        });
        List {
            count,
            next,
            previous,
            results,
        }
    }

    /// The list URL with the same parameters, this page size, and `offset`.
    fn link(&self, list_url: &str, offset: Option<u64>) -> String {
        let mut query = form_urlencoded::Serializer::new(String::new());
        for (key, value) in &self.kept {
            query.append_pair(key, value);
        }
        query.append_pair("limit", &self.page.limit().to_string());
        if let Some(offset) = offset {
            query.append_pair("offset", &offset.to_string());
        }
        format!("{list_url}?{}", query.finish())
    }
}

/// The values of each parameter, parameters in order of first appearance.
fn grouped(pairs: &[(String, String)]) -> Vec<(&str, Vec<&String>)> {
    let mut index: HashMap<&str, usize> = HashMap::new();
    let mut groups: Vec<(&str, Vec<&String>)> = Vec::new();
    for (key, value) in pairs {
        match index.get(key.as_str()) {
            Some(at) => groups[*at].1.push(value),
            None => {
                index.insert(key, groups.len());
                groups.push((key, vec![value]));
            }
        }
    }
    groups
}

fn ordering<S: SortField>(values: &[&String]) -> Result<Vec<Sort<S>>, String> {
    let mut sort = Vec::new();
    for item in values.iter().flat_map(|v| v.split(',')) {
        let item = item.trim();
        if item.is_empty() {
            continue;
        }
        let (desc, name) = match item.strip_prefix('-') {
            Some(name) => (true, name),
            None => (false, item),
        };
        let Some(field) = S::all().iter().copied().find(|s| s.key() == name) else {
            let keys: Vec<_> = S::all().iter().map(|s| s.key()).collect();
            return Err(format!(
                "`{name}` is not a sort key of this list; sort keys: {}",
                keys.join(", ")
            ));
        };
        sort.push(Sort { field, desc });
    }
    Ok(sort)
}

fn unknown_filter<F: FilterField>() -> String {
    let names: Vec<_> = F::all().iter().map(|f| f.name()).collect();
    format!(
        "is not a filter of this list; filters: {}, q (each with the lookups of the README)",
        names.join(", ")
    )
}
