//! The cursor codec: opaque (base64url of JSON), carrying the sort values of a row and the
//! signature of its list and ordering.

use std::{borrow::Cow, sync::Arc};

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use chrono::{DateTime, SecondsFormat, Utc};
use sea_orm::{EntityTrait, ModelTrait, Value};
use serde_json::Value as Json;

use super::keyset::{Key, KeyKind};
use crate::{
    error::{Error, FieldErrors},
    registry::filter::integer,
};

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor<'a> {
    /// The ordering it was made for.
    #[serde(borrow)]
    o: Cow<'a, str>,
    /// The sort values of its row, one per key.
    v: Vec<Json>,
}

/// The cursor of a row of a page, spelt only when asked for ([`RowCursor::spell`]): most
/// queries ask for no cursor of their page, and spelling one (its values as JSON, timestamps in
/// RFC 3339, then base64) was ~2% of a list of 50 builds.
#[derive(Clone, Debug)]
pub struct RowCursor {
    signature: Arc<str>,
    values: Vec<Value>,
}

impl RowCursor {
    /// The cursor of `row` in the ordering of `keys` (whose signature is `signature`).
    pub(super) fn of<E: EntityTrait>(
        signature: &Arc<str>,
        keys: &[Key<E::Column>],
        row: &E::Model,
    ) -> Self {
        RowCursor {
            signature: signature.clone(),
            values: keys.iter().map(|key| row.get(key.column)).collect(),
        }
    }

    /// Its text: opaque (base64url of JSON); pass it as `after` or `before`.
    pub fn spell(&self) -> String {
        let cursor = Cursor {
            o: Cow::Borrowed(&self.signature),
            v: self.values.iter().cloned().map(value_to_json).collect(),
        };
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(&cursor).unwrap_or_default())
    }
}

fn value_to_json(value: Value) -> Json {
    match value {
        Value::Int(Some(n)) => Json::from(n),
        Value::BigInt(Some(n)) => Json::from(n),
        Value::SmallInt(Some(n)) => Json::from(n),
        Value::String(Some(s)) => Json::from(s),
        Value::Bool(Some(b)) => Json::from(b),
        Value::ChronoDateTimeUtc(Some(t)) => {
            Json::from(t.to_rfc3339_opts(SecondsFormat::Micros, true))
        }
        _ => Json::Null,
    }
}

/// Decodes a cursor into one value per key (`None` for NULL); `None` when it is not a cursor of
/// this ordering.
pub(super) fn decode<C>(
    cursor: &str,
    signature: &str,
    keys: &[Key<C>],
) -> Option<Vec<Option<Value>>> {
    let bytes = URL_SAFE_NO_PAD.decode(cursor).ok()?;
    let cursor: Cursor = serde_json::from_slice(&bytes).ok()?;
    if cursor.o != signature || cursor.v.len() != keys.len() {
        return None;
    }
    keys.iter()
        .zip(cursor.v)
        .map(|(key, json)| {
            Some(match (&key.kind, json) {
                (_, Json::Null) if key.nullable => None,
                // Bound as the column's type, like every integer (see `filter::integer`).
                (KeyKind::Int(ty), Json::Number(n)) => Some(integer(ty, n.as_i64()?)?),
                (KeyKind::Text, Json::String(s)) => Some(Value::String(Some(s))),
                (KeyKind::Flag, Json::Bool(b)) => Some(Value::Bool(Some(b))),
                (KeyKind::Time, Json::String(s)) => Some(Value::ChronoDateTimeUtc(Some(
                    DateTime::parse_from_rfc3339(&s).ok()?.with_timezone(&Utc),
                ))),
                _ => return None,
            })
        })
        .collect()
}

pub(super) fn bad_cursor(argument: &'static str) -> Error {
    Error::BadInput(FieldErrors::one(
        argument,
        "is not a cursor of this list and ordering",
    ))
}

#[cfg(test)]
mod tests {
    use chrono::{DateTime, TimeZone, Utc};
    use entity::{enums::BuildStatus, image_build};
    use sea_orm::Value;

    use super::{RowCursor, decode};
    use crate::registry::page::{
        Sort,
        keyset::{Key, compile_order, signature},
    };

    // The page module's own sort keys for its tests (the aggregates' depend on it).
    crate::sort_fields! {
        ()
        BuildSort for image_build {
            /// Start time.
            StartedAt = (StartedAt, "started_at", nullable),
            /// Output name.
            OutputName = (OutputName, "output_name", not_null),
            /// Status.
            Status = (Status, "status", not_null),
        }
    }

    fn build(started: Option<DateTime<Utc>>) -> image_build::Model {
        let created = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 5)
            .single()
            .expect("a valid instant");
        image_build::Model {
            id: 42,
            definition_id: 1,
            status: BuildStatus::Running,
            backend_build_id: String::new(),
            proxmox_endpoint_id: 1,
            target_node: "pve1".into(),
            output_vmid: 1000,
            output_name: "ünïcode \"quoted\" %_".into(),
            image_version: "v".into(),
            variables: serde_json::json!({}),
            timeout_seconds: None,
            started_at: started,
            completed_at: None,
            created_by_id: None,
            netbox_job_id: None,
            cloud_image_template_id: None,
            backend_response: serde_json::json!({}),
            error: String::new(),
            rebuild_of_id: None,
            created,
            last_updated: created,
        }
    }

    fn keys_of(sort: &[Sort<BuildSort>]) -> Vec<Key<image_build::Column>> {
        compile_order(sort).expect("an ordering")
    }

    const ORDER: [Sort<BuildSort>; 3] = [
        Sort {
            field: BuildSort::StartedAt,
            desc: false,
        },
        Sort {
            field: BuildSort::OutputName,
            desc: true,
        },
        Sort {
            field: BuildSort::Status,
            desc: false,
        },
    ];

    #[test]
    fn a_cursor_decodes_to_the_sort_values_of_its_row() {
        let keys = keys_of(&ORDER);
        let signature = signature(&ORDER);
        let started = Utc
            .with_ymd_and_hms(2026, 1, 2, 3, 4, 6)
            .single()
            .expect("a valid instant")
            + chrono::Duration::microseconds(123_456);
        for started in [Some(started), None] {
            let row = build(started);
            let cursor =
                RowCursor::of::<image_build::Entity>(&signature.as_str().into(), &keys, &row)
                    .spell();
            assert!(
                cursor
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
                "{cursor} is not URL-safe"
            );
            assert_eq!(
                decode(&cursor, &signature, &keys),
                Some(vec![
                    started.map(|t| Value::ChronoDateTimeUtc(Some(t))),
                    Some(Value::String(Some(row.output_name.clone()))),
                    Some(Value::String(Some("running".into()))),
                    Some(Value::Int(Some(42))),
                ])
            );
        }
    }

    #[test]
    fn a_cursor_of_another_ordering_or_garbage_decodes_to_nothing() {
        let keys = keys_of(&ORDER);
        let cursor =
            RowCursor::of::<image_build::Entity>(&signature(&ORDER).into(), &keys, &build(None))
                .spell();
        let mut reversed = ORDER;
        reversed[1].desc = false;
        assert_eq!(decode(&cursor, &signature(&reversed), &keys), None);
        for garbage in ["", "!", "bm90IGpzb24", "e30"] {
            assert_eq!(
                decode(garbage, &signature(&ORDER), &keys),
                None,
                "{garbage}"
            );
        }
        // A NULL where the key cannot be NULL.
        let by_name = [Sort {
            field: BuildSort::OutputName,
            desc: false,
        }];
        let forged = base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            format!(r#"{{"o":"{}","v":[null,1]}}"#, signature(&by_name)),
        );
        assert_eq!(
            decode(&forged, &signature(&by_name), &keys_of(&by_name)),
            None
        );
    }
}
