//! NetBox webhooks: the signature check and the object type they name — pure functions. The
//! payload's data is not trusted beyond its type: a webhook only brings a pass forward.

use hmac::{Hmac, KeyInit, Mac};
use serde_json::Value;
use sha512::Sha512;

use crate::registry::reference::sync::Kind;

/// Whether `signature` (`X-Hook-Signature`: hex HMAC-SHA512 of `body` keyed with `secret`) is
/// right; compared in constant time.
pub fn signed(secret: &str, body: &[u8], signature: &str) -> bool {
    let Ok(expected) = decode_hex(signature.trim()) else {
        return false;
    };
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(secret.as_bytes()) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

/// The hex signature of `body` (what NetBox sends; the tests sign with it).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha512>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// The synced type a webhook's `object_type` (`tenancy.tenant`, …) names, if any.
pub fn kind(payload: &Value) -> Option<Kind> {
    match payload.get("object_type").and_then(Value::as_str)? {
        "tenancy.tenant" => Some(Kind::Tenants),
        "virtualization.clustertype" => Some(Kind::ClusterTypes),
        "virtualization.cluster" => Some(Kind::Clusters),
        "netbox_proxbox.proxmoxendpoint" => Some(Kind::Endpoints),
        "users.user" => Some(Kind::Users),
        "netbox_proxbox.cloudimagetemplate" => Some(Kind::Templates),
        _ => None,
    }
}

fn decode_hex(text: &str) -> Result<Vec<u8>, ()> {
    if !text.len().is_multiple_of(2) {
        return Err(());
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2).ok_or(())?, 16).map_err(|_| ()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::{sign, signed};

    #[test]
    fn only_the_right_signature_passes() {
        let body = br#"{"event":"updated","object_type":"tenancy.tenant"}"#;
        let signature = sign("s3cret", body);
        assert_eq!(signature.len(), 128);
        assert!(signed("s3cret", body, &signature));
        assert!(signed("s3cret", body, &signature.to_uppercase()));
        assert!(!signed("other", body, &signature));
        assert!(!signed("s3cret", b"{}", &signature));
        assert!(!signed("s3cret", body, "zz"));
        assert!(!signed("s3cret", body, ""));
    }
}
