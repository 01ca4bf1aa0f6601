//! The `Idempotency-Key` header (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match): its validation, and the
//! fingerprint of a request body that a replay must match.

use axum::extract::FromRequestParts;
use axum::http::HeaderName;
use axum::http::request::Parts;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use super::error::{ApiError, Problem};

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on a replayed response (as Stripe does).
pub const REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest key accepted (as Stripe's).
const MAX_KEY: usize = 255;

/// The request's `Idempotency-Key`, if it sent one: 1 to 255 visible ASCII
/// characters, in one header. Anything else is a 422 on the header.
pub struct IdempotencyKey(pub Option<String>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyKey {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let mut values = parts.headers.get_all(IDEMPOTENCY_KEY).iter();
        let Some(value) = values.next() else {
            return Ok(IdempotencyKey(None));
        };
        let bad = |kind: &'static str, msg: &str| {
            ApiError::invalid(vec![Problem::new(
                vec![json!("header"), json!("idempotency-key")],
                kind,
                msg,
            )])
        };
        if values.next().is_some() {
            return Err(bad("value_error", "Send one Idempotency-Key header"));
        }
        let key = value.as_bytes();
        if key.is_empty() || key.len() > MAX_KEY || !key.iter().all(|b| b.is_ascii_graphic()) {
            return Err(bad(
                "value_error",
                "Idempotency-Key must be 1 to 255 visible ASCII characters",
            ));
        }
        let key = String::from_utf8(key.to_vec()).expect("checked ASCII");
        Ok(IdempotencyKey(Some(key)))
    }
}

/// SHA-256 of the body as parsed JSON, object keys sorted, so a retry that
/// reorders keys or whitespace is the same request.
pub fn fingerprint(body: &Value) -> String {
    fn canonical(v: &Value, out: &mut String) {
        match v {
            Value::Object(map) => {
                let mut entries: Vec<_> = map.iter().collect();
                entries.sort_by(|a, b| a.0.cmp(b.0));
                out.push('{');
                for (i, (k, v)) in entries.into_iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    canonical(v, out);
                }
                out.push('}');
            }
            Value::Array(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    canonical(item, out);
                }
                out.push(']');
            }
            scalar => out.push_str(&scalar.to_string()),
        }
    }
    let mut text = String::new();
    canonical(body, &mut text);
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_compare_parsed_json() {
        let a: Value = serde_json::from_str(r#"{"title":"x","tags":{"b":1,"a":[1,2]}}"#).unwrap();
        let b: Value =
            serde_json::from_str(r#"{ "tags": {"a": [1, 2], "b": 1}, "title": "x" }"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
        let c: Value = serde_json::from_str(r#"{"title":"y","tags":{"b":1,"a":[1,2]}}"#).unwrap();
        assert_ne!(fingerprint(&a), fingerprint(&c));
        let d: Value = serde_json::from_str(r#"{"title":"x","tags":{"b":1,"a":[2,1]}}"#).unwrap();
        assert_ne!(fingerprint(&a), fingerprint(&d));
    }
}
