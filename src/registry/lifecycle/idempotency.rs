//! Idempotent queue requests (SPEC §3.2): the same key and input, by the same user, answer with
//! the first build; the same key with another input is `IDEMPOTENCY_KEY_REUSED`.

use chrono::{DateTime, Utc};
use entity::{idempotency_key, image_build};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, DatabaseTransaction, DbErr, EntityTrait, QueryFilter, Set,
};
use serde_json::Value as Json;
use sha2::{Digest, Sha256};

use super::QueueRequest;
use crate::{error::Error, registry::rules};

/// The key of a request, its owner, and the fingerprint of its input.
pub(super) struct Key {
    key: String,
    user: i32,
    hash: String,
}

impl Key {
    /// The key of `request` by `user`, if it has one (the service's own requests have none).
    pub(super) fn of(request: &QueueRequest, user: Option<i32>) -> Result<Option<Key>, Error> {
        let (Some(key), Some(user)) = (&request.idempotency_key, user) else {
            return Ok(None);
        };
        let mut c = rules::Checks::default();
        c.required_text("idempotency_key", key, 255);
        c.0.into_result()?;
        Ok(Some(Key {
            key: key.clone(),
            user,
            hash: fingerprint(request),
        }))
    }

    /// The build this key already created, or `IDEMPOTENCY_KEY_REUSED` when it was used with
    /// another input.
    pub(super) async fn first_result(
        &self,
        txn: &DatabaseTransaction,
    ) -> Result<Option<image_build::Model>, Error> {
        let Some(found) = idempotency_key::Entity::find()
            .filter(idempotency_key::Column::UserId.eq(self.user))
            .filter(idempotency_key::Column::Key.eq(self.key.as_str()))
            .one(txn)
            .await?
        else {
            return Ok(None);
        };
        if found.request_hash != self.hash {
            return Err(Error::IdempotencyKeyReused);
        }
        Ok(image_build::Entity::find_by_id(found.build_id)
            .one(txn)
            .await?)
    }

    /// Binds the key to `build`; a unique violation means a concurrent request won the key.
    pub(super) async fn remember(
        self,
        txn: &DatabaseTransaction,
        build: i32,
        stamp: DateTime<Utc>,
    ) -> Result<(), DbErr> {
        idempotency_key::ActiveModel {
            user_id: Set(self.user),
            key: Set(self.key),
            request_hash: Set(self.hash),
            build_id: Set(build),
            created: Set(stamp),
            ..Default::default()
        }
        .insert(txn)
        .await?;
        Ok(())
    }
}

/// A stable hash of a queue request's input (object keys sorted).
fn fingerprint(request: &QueueRequest) -> String {
    let canonical = serde_json::json!([
        request.definition.get(),
        request.output_vmid,
        request.output_name,
        request.image_version,
        request.variables.as_ref().map(canonical_json),
    ]);
    hex::encode(Sha256::digest(canonical.to_string().as_bytes()))
}

fn canonical_json(value: &Json) -> Json {
    match value {
        Json::Object(map) => {
            let mut entries: Vec<_> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Json::Array(
                entries
                    .into_iter()
                    .map(|(k, v)| Json::Array(vec![Json::String(k.clone()), canonical_json(v)]))
                    .collect(),
            )
        }
        Json::Array(items) => Json::Array(items.iter().map(canonical_json).collect()),
        other => other.clone(),
    }
}
