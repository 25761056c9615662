//! The one error type of the core, with one variant per outcome a client can act on.
//!
//! `registry` and `auth` return [`Error`]; each adapter maps it exactly once: `graphql::error`
//! to `extensions.code`, `rest` to an HTTP status. [`Error::Internal`] carries a detail for the
//! log only — the adapters never show it to a client.

use std::collections::BTreeMap;

use entity::enums::BuildStatus;
use sea_orm::{ActiveEnum, DbErr, SqlErr};

/// What went wrong, as a client should see it.
///
/// It deliberately does not implement `Display`: async-graphql converts any `Display` type into an
/// error *without* a code, and this way the compiler sends every conversion through the one
/// mapping in `graphql::error`. Use [`Error::message`] for the client-facing text.
#[derive(Clone, Debug)]
pub enum Error {
    /// No, unknown, expired or disabled credentials.
    Unauthenticated,
    /// The role or token does not allow it.
    Forbidden(String),
    /// No such object, or the caller may not see it.
    NotFound,
    /// A field rule failed.
    BadInput(FieldErrors),
    /// A uniqueness rule, or a delete that would orphan history.
    Conflict(FieldErrors),
    /// SPEC §2.1.
    InvalidTransition {
        /// Its status (none when it does not exist yet).
        from: Option<BuildStatus>,
        /// The status asked for.
        to: BuildStatus,
    },
    /// `max_concurrent_builds` builds are already running.
    ConcurrencyLimit {
        /// The limit in force.
        limit: i32,
    },
    /// A plugin setting forbids it.
    FeatureDisabled {
        /// `image_factory`, `iso_builds` or `custom_variables`.
        feature: &'static str,
    },
    /// The definition is disabled.
    DefinitionDisabled,
    /// The definition's endpoint is disabled or does not allow writes.
    EndpointWritesDisabled,
    /// An idempotency key was reused with another input.
    IdempotencyKeyReused,
    /// The database did not answer: no connection within the acquire timeout, or the connection
    /// was lost. The detail is for the log; the client may retry.
    DatabaseUnavailable(String),
    /// Anything else; the detail is for the log.
    Internal(String),
}

impl Error {
    /// The code of SPEC §3.4 that names this outcome (GraphQL's `extensions.code`, REST's `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Error::Unauthenticated => "UNAUTHENTICATED",
            Error::Forbidden(_) => "FORBIDDEN",
            Error::NotFound => "NOT_FOUND",
            Error::BadInput(_) => "BAD_USER_INPUT",
            Error::Conflict(_) => "CONFLICT",
            Error::InvalidTransition { .. } => "INVALID_STATUS_TRANSITION",
            Error::ConcurrencyLimit { .. } => "CONCURRENCY_LIMIT",
            Error::FeatureDisabled { .. } => "FEATURE_DISABLED",
            Error::DefinitionDisabled => "DEFINITION_DISABLED",
            Error::EndpointWritesDisabled => "ENDPOINT_WRITES_DISABLED",
            Error::IdempotencyKeyReused => "IDEMPOTENCY_KEY_REUSED",
            Error::DatabaseUnavailable(_) => "DATABASE_UNAVAILABLE",
            Error::Internal(_) => "INTERNAL_SERVER_ERROR",
        }
    }

    /// The message a client sees (never the detail of an internal error), naming fields as the
    /// core does (SPEC §1's snake_case).
    pub fn message(&self) -> String {
        self.message_naming(&|field| field.to_owned())
    }

    /// The message a client sees, naming fields as `name` spells them: each door names fields
    /// its own way (GraphQL camelCase, REST NetBox's snake_case), and a message names them as
    /// the rest of its response does (see [`FieldErrors::renamed`]).
    pub fn message_naming(&self, name: &dyn Fn(&str) -> String) -> String {
        match self {
            Error::Unauthenticated => {
                "authentication required: send `Authorization: Bearer <token>`".to_owned()
            }
            Error::Forbidden(reason) => reason.clone(),
            Error::NotFound => "not found".to_owned(),
            Error::BadInput(fields) => format!("invalid input: {}", fields.renamed(name)),
            Error::Conflict(fields) => format!("conflict: {}", fields.renamed(name)),
            Error::InvalidTransition { from, to } => match from {
                Some(from) => format!(
                    "a {} build cannot become {}",
                    from.to_value(),
                    to.to_value()
                ),
                None => format!("a build cannot be created as {}", to.to_value()),
            },
            Error::ConcurrencyLimit { limit } => {
                format!("{limit} builds are already running, the most allowed at once")
            }
            Error::FeatureDisabled { feature } => {
                format!("the feature `{feature}` is disabled in the plugin settings")
            }
            Error::DefinitionDisabled => "the definition is disabled".to_owned(),
            Error::EndpointWritesDisabled => {
                "the Proxmox endpoint is disabled or does not allow writes".to_owned()
            }
            Error::IdempotencyKeyReused => {
                "this idempotency key was already used with a different input".to_owned()
            }
            Error::DatabaseUnavailable(_) => {
                "the database is unavailable; retry in a moment".to_owned()
            }
            Error::Internal(_) => "internal server error".to_owned(),
        }
    }

    /// An internal error with a detail for the log.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        Error::Internal(detail.to_string())
    }

    /// `Forbidden` with a reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Error::Forbidden(reason.into())
    }

    /// `BadInput` on one field.
    pub fn bad_input(field: &str, message: impl Into<String>) -> Self {
        Error::BadInput(FieldErrors::one(field, message))
    }
}

impl From<DbErr> for Error {
    fn from(err: DbErr) -> Self {
        if database_unavailable(&err) {
            metrics::counter!(crate::telemetry::names::DB_UNAVAILABLE).increment(1);
            Error::DatabaseUnavailable(format!("database: {err}"))
        } else {
            Error::Internal(format!("database: {err}"))
        }
    }
}

/// Whether `err` says the database cannot be reached (rather than that a statement failed): no
/// connection within the pool's acquire timeout, a connection lost or refused, or PostgreSQL
/// shutting the session down (SQLSTATE class 08, connection exceptions, and 57P01–57P03).
pub fn database_unavailable(err: &DbErr) -> bool {
    use sea_orm::{RuntimeErr, sqlx::Error as Sqlx};
    let runtime = match err {
        DbErr::ConnectionAcquire(_) => return true,
        DbErr::Conn(runtime) | DbErr::Exec(runtime) | DbErr::Query(runtime) => runtime,
        _ => return false,
    };
    let RuntimeErr::SqlxError(sqlx) = runtime else {
        return false;
    };
    match sqlx.as_ref() {
        Sqlx::Io(_)
        | Sqlx::PoolTimedOut
        | Sqlx::PoolClosed
        | Sqlx::WorkerCrashed
        | Sqlx::Tls(_)
        | Sqlx::Protocol(_) => true,
        Sqlx::Database(db) => db
            .code()
            .is_some_and(|code| code.starts_with("08") || code.starts_with("57P0")),
        _ => false,
    }
}

/// Maps a unique-constraint violation to `Conflict` on `field`; anything else stays internal.
/// Call it where the statement that can violate the constraint runs.
pub fn conflict_on_unique(err: DbErr, field: &str, message: &str) -> Error {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => {
            Error::Conflict(FieldErrors::one(field, message))
        }
        _ => err.into(),
    }
}

/// Maps a foreign-key violation (a delete of something still referenced) to `Conflict`.
///
/// SQLite reports an `ON DELETE RESTRICT` failure with the extended code 1811
/// (`SQLITE_CONSTRAINT_TRIGGER`), which sea-orm does not classify; its message names it.
pub fn conflict_on_reference(err: DbErr, field: &str, message: &str) -> Error {
    let foreign_key = matches!(
        err.sql_err(),
        Some(SqlErr::ForeignKeyConstraintViolation(_))
    ) || err.to_string().contains("FOREIGN KEY constraint failed");
    if foreign_key {
        Error::Conflict(FieldErrors::one(field, message))
    } else {
        err.into()
    }
}

/// Messages per input field (snake_case names, as in SPEC §1). A message that names another
/// field writes it in backticks (``is required when `iso_url` is set``), so that each door can
/// spell it as it spells the field itself ([`FieldErrors::renamed`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FieldErrors(BTreeMap<String, Vec<String>>);

impl FieldErrors {
    /// One message on one field.
    pub fn one(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::default();
        errors.add(field, message);
        errors
    }

    /// Adds a message.
    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_owned())
            .or_default()
            .push(message.into());
    }

    /// Takes every message of `other`.
    pub fn merge(&mut self, other: FieldErrors) {
        for (field, messages) in other.0 {
            self.0.entry(field).or_default().extend(messages);
        }
    }

    /// Whether there is no message.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok` when empty, else `BadInput` with every message.
    pub fn into_result(self) -> Result<(), Error> {
        if self.is_empty() {
            Ok(())
        } else {
            Err(Error::BadInput(self))
        }
    }

    /// The messages, by field.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[String])> {
        self.0.iter().map(|(f, m)| (f.as_str(), m.as_slice()))
    }

    /// The same errors with every field named by `name`: the keys, and the fields a message
    /// names in backticks (a backticked word of lowercase letters, digits and `_`).
    pub fn renamed(&self, name: &dyn Fn(&str) -> String) -> FieldErrors {
        let mut renamed = FieldErrors::default();
        for (field, messages) in &self.0 {
            for message in messages {
                renamed.add(&name(field), rename_references(message, name));
            }
        }
        renamed
    }
}

/// `message` with each backticked field name spelt by `name`.
fn rename_references(message: &str, name: &dyn Fn(&str) -> String) -> String {
    let is_field = |word: &str| {
        word.starts_with(|c: char| c.is_ascii_lowercase())
            && word
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
    };
    let parts: Vec<&str> = message.split('`').collect();
    let mut out = String::with_capacity(message.len());
    for (i, part) in parts.iter().enumerate() {
        if i > 0 {
            out.push('`');
        }
        // Odd parts are between two backticks, unless the last one opened none that closes.
        let quoted = i % 2 == 1 && i + 1 < parts.len();
        if quoted && is_field(part) {
            out.push_str(&name(part));
        } else {
            out.push_str(part);
        }
    }
    out
}

impl std::fmt::Display for FieldErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut first = true;
        for (field, messages) in &self.0 {
            for message in messages {
                if !first {
                    write!(f, "; ")?;
                }
                first = false;
                write!(f, "{field}: {message}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{Error, FieldErrors};

    fn shout(field: &str) -> String {
        field.to_uppercase()
    }

    #[test]
    fn a_door_names_fields_in_keys_and_messages() {
        let mut errors = FieldErrors::one("iso_checksum", "is required when `iso_url` is set");
        errors.add("name", "may contain only `-` and `_`, like `a_b-c`");
        errors.add("slug", "must be `sha256:` or `local:iso/x.iso`");
        let renamed = errors.renamed(&shout);
        let pairs: Vec<_> = renamed
            .iter()
            .map(|(field, messages)| (field.to_owned(), messages.to_vec()))
            .collect();
        assert_eq!(
            pairs,
            vec![
                (
                    "ISO_CHECKSUM".to_owned(),
                    vec!["is required when `ISO_URL` is set".to_owned()]
                ),
                (
                    "NAME".to_owned(),
                    vec!["may contain only `-` and `_`, like `a_b-c`".to_owned()]
                ),
                (
                    "SLUG".to_owned(),
                    vec!["must be `sha256:` or `local:iso/x.iso`".to_owned()]
                ),
            ]
        );
        assert_eq!(
            Error::BadInput(errors.clone()).message_naming(&shout),
            "invalid input: ISO_CHECKSUM: is required when `ISO_URL` is set; NAME: may contain \
             only `-` and `_`, like `a_b-c`; SLUG: must be `sha256:` or `local:iso/x.iso`"
        );
        assert_eq!(
            Error::BadInput(errors).message(),
            "invalid input: iso_checksum: is required when `iso_url` is set; name: may contain \
             only `-` and `_`, like `a_b-c`; slug: must be `sha256:` or `local:iso/x.iso`"
        );
    }

    #[test]
    fn an_odd_backtick_is_text() {
        for message in ["names `a_b", "`a_b` and `c_d"] {
            let renamed = FieldErrors::one("a_b", message).renamed(&shout);
            let expected = message.replace("`a_b`", "`A_B`");
            assert_eq!(
                renamed.iter().next().map(|(_, m)| m[0].clone()),
                Some(expected)
            );
        }
    }
}
