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
//! An unknown parameter, field, lookup or ordering key is a 400 naming it.

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use sea_orm::{ActiveEnum, Iterable, Value};
use serde::Serialize;
use url::form_urlencoded;

use crate::{
    error::{Error, FieldErrors},
    registry::{
        filter::{Filter, FilterField, Kind, Lookup},
        page::{DEFAULT_PAGE, MAX_OFFSET_PAGE, OffsetArgs, Sort, SortField},
    },
};

/// The values a choice field accepts (`None`: not a choice field), to refuse a misspelt one
/// rather than match nothing.
pub type Choices<F> = fn(F) -> Option<Vec<String>>;

/// Every stored value of a choice enum (`pending`, `running`, …).
pub fn values<T: ActiveEnum<Value = String> + Iterable>() -> Vec<String> {
    T::iter().map(|v| v.to_value()).collect()
}

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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Exact,
    IExact,
    IContains,
    IStartsWith,
    IEndsWith,
    Gt,
    Gte,
    Lt,
    Lte,
    Empty,
    IsNull,
}

/// The lookup suffixes: (suffix, lookup, negated).
const SUFFIXES: [(&str, Op, bool); 15] = [
    ("n", Op::Exact, true),
    ("ie", Op::IExact, false),
    ("nie", Op::IExact, true),
    ("ic", Op::IContains, false),
    ("nic", Op::IContains, true),
    ("isw", Op::IStartsWith, false),
    ("nisw", Op::IStartsWith, true),
    ("iew", Op::IEndsWith, false),
    ("niew", Op::IEndsWith, true),
    ("gt", Op::Gt, false),
    ("gte", Op::Gte, false),
    ("lt", Op::Lt, false),
    ("lte", Op::Lte, false),
    ("empty", Op::Empty, false),
    ("isnull", Op::IsNull, false),
];

/// Parses the query string of a list of `F`-filtered, `S`-sorted rows.
pub fn parse<F: FilterField, S: SortField>(
    query: Option<&str>,
    choices: Choices<F>,
) -> Result<ListQuery<F, S>, Error> {
    let pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .into_owned()
        .collect();
    let mut errors = FieldErrors::default();
    let mut filters = Vec::new();
    let mut sort = Vec::new();
    let (mut limit, mut offset) = (DEFAULT_PAGE, 0);
    for (key, values) in grouped(&pairs) {
        if key.contains('\0') || values.iter().any(|v| v.contains('\0')) {
            errors.add(key, "cannot contain the NUL character (U+0000)");
            continue;
        }
        let last = values.last().map_or("", |v| v.as_str());
        match key {
            "limit" => match last.trim().parse::<u64>() {
                Ok(0) => limit = MAX_OFFSET_PAGE,
                Ok(n) => limit = n,
                Err(_) => errors.add(key, "must be a non-negative integer"),
            },
            "offset" => match last.trim().parse::<u64>() {
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
                Some((field, op, negated)) => match filter(field, op, negated, &values, choices) {
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
    let mut groups: Vec<(&str, Vec<&String>)> = Vec::new();
    for (key, value) in pairs {
        match groups.iter_mut().find(|(k, _)| k == key) {
            Some((_, values)) => values.push(value),
            None => groups.push((key, vec![value])),
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

/// The field, lookup and negation a parameter names.
fn resolve<F: FilterField>(key: &str) -> Option<(F, Op, bool)> {
    if let Some(field) = field::<F>(key) {
        return Some((field, Op::Exact, false));
    }
    let (name, suffix) = key.rsplit_once("__")?;
    let (_, op, negated) = SUFFIXES.iter().find(|(s, ..)| *s == suffix)?;
    Some((field::<F>(name)?, *op, *negated))
}

/// The field named `name`, or `<relation>_id` for the id field `<relation>`.
fn field<F: FilterField>(name: &str) -> Option<F> {
    let named = |name: &str| F::all().iter().copied().find(|f| f.name() == name);
    named(name).or_else(|| named(name.strip_suffix("_id")?).filter(|f| f.kind() == Kind::Number))
}

/// The filter of one parameter and its values (`None`: only empty values, no filter).
fn filter<F: FilterField>(
    field: F,
    op: Op,
    negated: bool,
    values: &[&String],
    choices: Choices<F>,
) -> Result<Option<Filter<F>>, String> {
    let values: Vec<&str> = values
        .iter()
        .map(|v| v.as_str())
        .filter(|v| !v.trim().is_empty())
        .collect();
    if values.is_empty() {
        return Ok(None);
    }
    let kind = field.kind();
    let check = |lookup: Lookup| -> Result<Lookup, String> {
        if kind.allows(&lookup) {
            Ok(lookup)
        } else {
            Err(format!(
                "this lookup does not apply to a {} field; its lookups: {}",
                kind_name(kind),
                lookups_of(kind)
            ))
        }
    };
    let positive = if op == Op::Empty {
        let mut any = Vec::new();
        for value in &values {
            let empty = match kind {
                Kind::Text => Filter::Any(vec![
                    Filter::Field(field, check(Lookup::Eq(Value::from("")))?),
                    Filter::Field(field, check(Lookup::IsNull(true))?),
                ]),
                _ => Filter::Field(field, check(Lookup::IsNull(true))?),
            };
            any.push(if boolean(value)? {
                empty
            } else {
                Filter::Not(Box::new(empty))
            });
        }
        one_or_any(any)
    } else {
        let lookups = values
            .iter()
            .map(|value| check(lookup(field, op, value, choices)?))
            .collect::<Result<Vec<_>, _>>()?;
        let equals: Vec<Value> = lookups
            .iter()
            .filter_map(|l| match l {
                Lookup::Eq(v) => Some(v.clone()),
                _ => None,
            })
            .collect();
        let as_in = Lookup::In(equals.clone());
        if lookups.len() > 1 && equals.len() == lookups.len() && kind.allows(&as_in) {
            Filter::Field(field, as_in)
        } else {
            one_or_any(
                lookups
                    .into_iter()
                    .map(|l| Filter::Field(field, l))
                    .collect(),
            )
        }
    };
    Ok(Some(if negated {
        Filter::Not(Box::new(positive))
    } else {
        positive
    }))
}

fn one_or_any<F>(mut filters: Vec<Filter<F>>) -> Filter<F> {
    if filters.len() == 1 {
        filters.remove(0)
    } else {
        Filter::Any(filters)
    }
}

/// The lookup of `op` with one value, typed for `field`.
fn lookup<F: FilterField>(
    field: F,
    op: Op,
    text: &str,
    choices: Choices<F>,
) -> Result<Lookup, String> {
    let text_value = || text.to_owned();
    Ok(match op {
        Op::Exact => Lookup::Eq(value(field, text, choices)?),
        Op::IExact => Lookup::IExact(text_value()),
        Op::IContains => Lookup::IContains(text_value()),
        Op::IStartsWith => Lookup::IStartsWith(text_value()),
        Op::IEndsWith => Lookup::IEndsWith(text_value()),
        Op::Gt => Lookup::Gt(value(field, text, choices)?),
        Op::Gte => Lookup::Gte(value(field, text, choices)?),
        Op::Lt => Lookup::Lt(value(field, text, choices)?),
        Op::Lte => Lookup::Lte(value(field, text, choices)?),
        Op::IsNull => Lookup::IsNull(boolean(text)?),
        Op::Empty => unreachable!("`empty` is built by `filter`"),
    })
}

/// `text` as a value of `field`'s type.
fn value<F: FilterField>(field: F, text: &str, choices: Choices<F>) -> Result<Value, String> {
    match field.kind() {
        Kind::Text => Ok(Value::from(text)),
        Kind::Number => text
            .trim()
            .parse::<i64>()
            .map(|n| Value::BigInt(Some(n)))
            .map_err(|_| format!("`{text}` is not an integer")),
        Kind::Choice => match choices(field) {
            Some(values) if !values.iter().any(|v| v == text) => {
                Err(format!("`{text}` is not one of: {}", values.join(", ")))
            }
            _ => Ok(Value::from(text)),
        },
        Kind::Flag => boolean(text).map(|b| Value::Bool(Some(b))),
        Kind::Time => time(text).map(|t| Value::ChronoDateTimeUtc(Some(t))),
    }
}

fn boolean(text: &str) -> Result<bool, String> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "1" => Ok(true),
        "false" | "0" => Ok(false),
        _ => Err(format!("`{text}` is not true or false")),
    }
}

/// An RFC 3339 timestamp (a `+` of the offset sent unencoded arrives as a space, and is read
/// back as `+`), a date-time without offset (UTC), or a date (its midnight, UTC).
fn time(text: &str) -> Result<DateTime<Utc>, String> {
    let text = text.trim();
    for candidate in [text.to_owned(), text.replace(' ', "+")] {
        if let Ok(t) = DateTime::parse_from_rfc3339(&candidate) {
            return Ok(t.with_timezone(&Utc));
        }
    }
    if let Ok(t) = NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f") {
        return Ok(t.and_utc());
    }
    if let Some(t) = NaiveDate::parse_from_str(text, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
    {
        return Ok(t.and_utc());
    }
    Err(format!(
        "`{text}` is not a timestamp (RFC 3339 such as 2026-11-18T09:30:00Z, or a date)"
    ))
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "text",
        Kind::Number => "number or id",
        Kind::Choice => "choice",
        Kind::Flag => "boolean",
        Kind::Time => "timestamp",
    }
}

fn lookups_of(kind: Kind) -> &'static str {
    match kind {
        Kind::Text => "exact, n, ie, nie, ic, nic, isw, nisw, iew, niew, empty, isnull",
        Kind::Number => "exact, n, gt, gte, lt, lte, empty, isnull",
        Kind::Choice | Kind::Flag => "exact, n",
        Kind::Time => "gt, gte, lt, lte, empty, isnull",
    }
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::{boolean, time};

    #[test]
    fn timestamps_dates_and_an_unencoded_plus() {
        let expected = Utc
            .with_ymd_and_hms(2026, 11, 18, 9, 30, 0)
            .single()
            .expect("an instant");
        for text in [
            "2026-11-18T09:30:00Z",
            "2026-11-18T10:30:00+01:00",
            "2026-11-18T10:30:00 01:00",
            "2026-11-18T09:30:00",
        ] {
            assert_eq!(time(text), Ok(expected), "{text}");
        }
        assert_eq!(
            time("2026-11-18").ok(),
            Utc.with_ymd_and_hms(2026, 11, 18, 0, 0, 0).single()
        );
        assert!(time("yesterday").is_err());
    }

    #[test]
    fn booleans_as_django_reads_them() {
        assert_eq!(boolean("True"), Ok(true));
        assert_eq!(boolean("0"), Ok(false));
        assert!(boolean("yes").is_err());
    }
}
