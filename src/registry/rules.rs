//! Field rules of SPEC §1 as pure functions: each returns the messages of one field, so that a
//! request's violations are all reported together.

use std::sync::LazyLock;

use regex::Regex;
use serde_json::Value as Json;

use crate::error::FieldErrors;

/// The largest JSON document (variables) accepted, in bytes.
pub const MAX_JSON_BYTES: usize = 64 * 1024;
/// The longest description, in bytes.
pub const MAX_DESCRIPTION_BYTES: usize = 64 * 1024;
/// The most values one request may name in a list (a filter's values together, a definition's or
/// a user's tenants): every value is a bound parameter, and both backends cap their number per
/// statement (SQLite at 32,766, PostgreSQL at 65,535). Beyond it, `BAD_USER_INPUT`.
pub const MAX_VALUES: usize = 1000;
/// The message of a list longer than [`MAX_VALUES`].
pub fn too_many_values(count: usize) -> String {
    format!("names {count} values; at most {MAX_VALUES} are accepted")
}
/// The Proxmox VMID range.
pub const VMID: std::ops::RangeInclusive<i32> = 100..=999_999_999;

static SLUG: LazyLock<Regex> = LazyLock::new(|| regex(r"^[-a-zA-Z0-9_]+$"));
static BRIDGE: LazyLock<Regex> = LazyLock::new(|| regex(r"^[A-Za-z0-9_.-]+$"));
static UNIX_USER: LazyLock<Regex> = LazyLock::new(|| regex(r"^[a-z_][a-z0-9_-]{0,31}$"));
static CHECKSUM: LazyLock<Regex> = LazyLock::new(|| regex(r"^sha256:[0-9a-fA-F]{64}$"));
static ISO_VOLUME: LazyLock<Regex> =
    LazyLock::new(|| regex(r"^[A-Za-z0-9][A-Za-z0-9_.-]*:iso/[^/\s]+$"));

fn regex(pattern: &str) -> Regex {
    Regex::new(pattern).unwrap_or_else(|err| unreachable!("a constant pattern: {err}"))
}

/// Collects messages on named fields.
#[derive(Default)]
pub struct Checks(pub FieldErrors);

impl Checks {
    /// Records `message` on `field` unless `ok`.
    pub fn check(&mut self, field: &str, ok: bool, message: &str) {
        if !ok {
            self.0.add(field, message);
        }
    }

    /// A required string: trimmed non-empty and at most `max` characters.
    pub fn required_text(&mut self, field: &str, value: &str, max: usize) {
        self.check(field, !value.trim().is_empty(), "is required");
        self.max_len(field, value, max);
    }

    /// At most `max` characters.
    pub fn max_len(&mut self, field: &str, value: &str, max: usize) {
        self.check(
            field,
            value.chars().count() <= max,
            &format!("must be at most {max} characters"),
        );
    }

    /// A slug.
    pub fn slug(&mut self, field: &str, value: &str) {
        self.check(field, !value.is_empty(), "is required");
        self.max_len(field, value, 255);
        self.check(
            field,
            value.is_empty() || SLUG.is_match(value),
            "may contain only letters, digits, `-` and `_`",
        );
    }

    /// A VMID.
    pub fn vmid(&mut self, field: &str, value: i32) {
        self.check(
            field,
            VMID.contains(&value),
            "must be between 100 and 999999999",
        );
    }

    /// A network bridge name.
    pub fn bridge(&mut self, field: &str, value: &str) {
        self.max_len(field, value, 64);
        self.check(
            field,
            BRIDGE.is_match(value),
            "may contain only letters, digits, `_`, `.` and `-`",
        );
    }

    /// A Unix user name.
    pub fn unix_user(&mut self, field: &str, value: &str) {
        self.check(
            field,
            UNIX_USER.is_match(value),
            "must be a Unix user name: lowercase letters, digits, `_` and `-`, starting with a letter or `_`, at most 32 characters",
        );
    }

    /// An ISO URL: http(s), no credentials, at most 512 characters.
    pub fn iso_url(&mut self, field: &str, value: &str) {
        self.max_len(field, value, 512);
        match url::Url::parse(value) {
            Ok(url) if !matches!(url.scheme(), "http" | "https") => {
                self.0.add(field, "must be an http or https URL");
            }
            Ok(url) => {
                self.check(
                    field,
                    url.username().is_empty() && url.password().is_none(),
                    "must not carry a user name or password",
                );
                self.check(
                    field,
                    url.host_str().is_some_and(|h| !h.is_empty()),
                    "must name a host",
                );
            }
            Err(_) => self.0.add(field, "is not a URL"),
        }
    }

    /// An ISO checksum: empty or `sha256:` and 64 hex digits.
    pub fn checksum(&mut self, field: &str, value: &str) {
        self.max_len(field, value, 128);
        self.check(
            field,
            value.is_empty() || CHECKSUM.is_match(value),
            "must be `sha256:` followed by 64 hexadecimal digits",
        );
    }

    /// A pre-uploaded ISO volume: `<storage>:iso/<file>`.
    pub fn iso_volume(&mut self, field: &str, value: &str) {
        self.max_len(field, value, 255);
        self.check(
            field,
            value.is_empty() || ISO_VOLUME.is_match(value),
            "must be a Proxmox ISO volume such as `local:iso/ubuntu.iso`",
        );
    }

    /// Packer variables (SPEC §1.6).
    pub fn variables(&mut self, field: &str, value: &Json) {
        for message in variables(value) {
            self.0.add(field, message);
        }
    }
}

/// The keys a variables object may hold.
pub const VARIABLE_KEYS: [&str; 6] = [
    "vm_storage",
    "cloud_init_storage",
    "bridge",
    "memory_mb",
    "cores",
    "cpu_type",
];

/// The violations of SPEC §1.6 in a variables document.
pub fn variables(value: &Json) -> Vec<String> {
    let mut messages = Vec::new();
    if serde_json::to_vec(value).map_or(0, |bytes| bytes.len()) > MAX_JSON_BYTES {
        messages.push(format!("must be at most {MAX_JSON_BYTES} bytes of JSON"));
        return messages;
    }
    let Json::Object(map) = value else {
        messages.push("must be a JSON object".to_owned());
        return messages;
    };
    for (key, value) in map {
        let problem = match key.as_str() {
            "vm_storage" | "cloud_init_storage" | "cpu_type" => {
                (!value.is_string()).then(|| "must be a string".to_owned())
            }
            "bridge" => match value.as_str() {
                Some(bridge) if BRIDGE.is_match(bridge) && bridge.len() <= 64 => None,
                Some(_) => {
                    Some("must be a bridge name (letters, digits, `_`, `.`, `-`)".to_owned())
                }
                None => Some("must be a string".to_owned()),
            },
            "memory_mb" => integer_in(value, 256, 4_194_304),
            "cores" => integer_in(value, 1, 512),
            _ => Some(format!(
                "is not a known variable; allowed: {}",
                VARIABLE_KEYS.join(", ")
            )),
        };
        if let Some(problem) = problem {
            messages.push(format!("{key}: {problem}"));
        }
    }
    messages
}

/// Whether a JSON document holds U+0000 in a string or a key. No column can store it (PostgreSQL
/// refuses it in `text` and `jsonb`), so every door refuses it as a client error.
pub fn holds_nul(value: &Json) -> bool {
    match value {
        Json::String(s) => s.contains('\0'),
        Json::Array(items) => items.iter().any(holds_nul),
        Json::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || holds_nul(v)),
        _ => false,
    }
}

fn integer_in(value: &Json, min: i64, max: i64) -> Option<String> {
    match value.as_i64() {
        Some(n) if (min..=max).contains(&n) => None,
        _ => Some(format!("must be an integer from {min} to {max}")),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{Checks, variables};

    fn messages(f: impl FnOnce(&mut Checks)) -> usize {
        let mut checks = Checks::default();
        f(&mut checks);
        checks.0.iter().map(|(_, m)| m.len()).sum()
    }

    #[test]
    fn variables_follow_the_spec() {
        assert!(variables(&json!({})).is_empty());
        assert!(
            variables(
                &json!({"cores": 4, "memory_mb": 2048, "bridge": "vmbr1", "cpu_type": "host"})
            )
            .is_empty()
        );
        assert_eq!(variables(&json!({"cores": 0})).len(), 1);
        assert_eq!(variables(&json!({"cores": "4"})).len(), 1);
        assert_eq!(variables(&json!({"memory_mb": 255})).len(), 1);
        assert_eq!(variables(&json!({"colour": "red"})).len(), 1);
        assert!(variables(&json!({"colour": "red"}))[0].contains("allowed: vm_storage"));
        assert_eq!(variables(&json!([1])).len(), 1);
        assert_eq!(variables(&json!({"bridge": "vm br"})).len(), 1);
        let big = "x".repeat(70_000);
        assert_eq!(variables(&json!({"cpu_type": big})).len(), 1);
    }

    #[test]
    fn iso_urls_are_http_without_credentials() {
        assert_eq!(
            messages(|c| c.iso_url("u", "https://mirror.example.net/a.iso")),
            0
        );
        assert_eq!(messages(|c| c.iso_url("u", "file:///etc/passwd")), 1);
        assert_eq!(
            messages(|c| c.iso_url("u", "https://user:pw@example.net/a.iso")),
            1
        );
        assert_eq!(messages(|c| c.iso_url("u", "not a url")), 1);
        let long = format!("https://example.net/{}", "a".repeat(600));
        assert_eq!(messages(|c| c.iso_url("u", &long)), 1);
    }

    #[test]
    fn small_rules() {
        assert_eq!(messages(|c| c.checksum("c", "")), 0);
        assert_eq!(
            messages(|c| c.checksum("c", &format!("sha256:{}", "a".repeat(64)))),
            0
        );
        assert_eq!(messages(|c| c.checksum("c", "md5:abc")), 1);
        assert_eq!(messages(|c| c.slug("s", "ok-slug_1")), 0);
        assert_eq!(messages(|c| c.slug("s", "no spaces")), 1);
        assert_eq!(messages(|c| c.vmid("v", 99)), 1);
        assert_eq!(messages(|c| c.vmid("v", 1_000_000_000)), 1);
        assert_eq!(messages(|c| c.vmid("v", 100)), 0);
        assert_eq!(messages(|c| c.unix_user("u", "ubuntu")), 0);
        assert_eq!(messages(|c| c.unix_user("u", "Root")), 1);
        assert_eq!(messages(|c| c.iso_volume("i", "local:iso/ubuntu.iso")), 0);
        assert_eq!(messages(|c| c.iso_volume("i", "ubuntu.iso")), 1);
    }
}
