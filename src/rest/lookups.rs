//! The lookups of one filter parameter: which field and lookup a parameter names
//! (`name__ic`), and the registry filter of its values, each typed for its field as the registry
//! declares it (kind and choices).

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

use crate::registry::filter::{Filter, FilterField, Kind, Lookup, Scalar};

/// A lookup, as a suffix names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
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

/// The field, lookup and negation a parameter names.
pub(super) fn resolve<F: FilterField>(key: &str) -> Option<(F, Op, bool)> {
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
pub(super) fn filter<F: FilterField>(
    field: F,
    op: Op,
    negated: bool,
    values: &[&String],
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
                    Filter::Field(field, check(Lookup::Eq(Scalar::Text(String::new())))?),
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
            .map(|value| check(lookup(field, op, value)?))
            .collect::<Result<Vec<_>, _>>()?;
        let equals: Vec<Scalar> = lookups
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
fn lookup<F: FilterField>(field: F, op: Op, text: &str) -> Result<Lookup, String> {
    let text_value = || text.to_owned();
    Ok(match op {
        Op::Exact => Lookup::Eq(value(field, text)?),
        Op::IExact => Lookup::IExact(text_value()),
        Op::IContains => Lookup::IContains(text_value()),
        Op::IStartsWith => Lookup::IStartsWith(text_value()),
        Op::IEndsWith => Lookup::IEndsWith(text_value()),
        Op::Gt => Lookup::Gt(value(field, text)?),
        Op::Gte => Lookup::Gte(value(field, text)?),
        Op::Lt => Lookup::Lt(value(field, text)?),
        Op::Lte => Lookup::Lte(value(field, text)?),
        Op::IsNull => Lookup::IsNull(boolean(text)?),
        Op::Empty => unreachable!("`empty` is built by `filter`"),
    })
}

/// `text` as a value of `field`'s type.
fn value<F: FilterField>(field: F, text: &str) -> Result<Scalar, String> {
    match field.kind() {
        Kind::Text => Ok(Scalar::Text(text.to_owned())),
        Kind::Number => text
            .trim()
            .parse::<i64>()
            .map(Scalar::Int)
            .map_err(|_| format!("`{text}` is not an integer")),
        Kind::Choice => match field.choices() {
            Some(values) if !values.iter().any(|v| v == text) => {
                Err(format!("`{text}` is not one of: {}", values.join(", ")))
            }
            _ => Ok(Scalar::Choice(text.to_owned())),
        },
        Kind::Flag => boolean(text).map(Scalar::Flag),
        Kind::Time => time(text).map(Scalar::Time),
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

/// The suffixes a field of `kind` takes, derived from the lookups the registry allows it.
fn lookups_of(kind: Kind) -> String {
    let exact = ("exact", Op::Exact, false);
    std::iter::once(&exact)
        .chain(SUFFIXES.iter())
        .filter(|(_, op, _)| allows(kind, *op))
        .map(|(suffix, ..)| *suffix)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Whether the registry allows the lookup `op` names on a field of `kind` (`empty` is `isNull`,
/// or for text an empty value too).
fn allows(kind: Kind, op: Op) -> bool {
    let sample = Scalar::Flag(true);
    let lookup = match op {
        Op::Exact => Lookup::Eq(sample),
        Op::IExact => Lookup::IExact(String::new()),
        Op::IContains => Lookup::IContains(String::new()),
        Op::IStartsWith => Lookup::IStartsWith(String::new()),
        Op::IEndsWith => Lookup::IEndsWith(String::new()),
        Op::Gt => Lookup::Gt(sample),
        Op::Gte => Lookup::Gte(sample),
        Op::Lt => Lookup::Lt(sample),
        Op::Lte => Lookup::Lte(sample),
        Op::Empty | Op::IsNull => Lookup::IsNull(true),
    };
    kind.allows(&lookup)
}

#[cfg(test)]
mod tests {
    use chrono::{TimeZone, Utc};

    use super::{boolean, lookups_of, time};
    use crate::registry::filter::Kind;

    #[test]
    fn the_suffixes_of_each_kind_follow_the_registrys_lookups() {
        for (kind, suffixes) in [
            (
                Kind::Text,
                "exact, n, ie, nie, ic, nic, isw, nisw, iew, niew, empty, isnull",
            ),
            (Kind::Number, "exact, n, gt, gte, lt, lte, empty, isnull"),
            (Kind::Choice, "exact, n"),
            (Kind::Flag, "exact, n"),
            (Kind::Time, "gt, gte, lt, lte, empty, isnull"),
        ] {
            assert_eq!(lookups_of(kind), suffixes, "{kind:?}");
        }
    }

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
