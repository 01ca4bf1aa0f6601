//! A validation problem: what the domain's parsers report, one per field,
//! all at once. Shaped as FastAPI/pydantic report them (`type`, `loc`,
//! `msg`, `ctx`), so that the HTTP layer answers them as they are.

use serde::Serialize;
use serde_json::Value;

/// One problem of a 422, as FastAPI reports it.
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
#[schema(as = FieldError)]
pub struct Problem {
    /// Machine-readable kind: `missing`, `string_too_long`, `enum`, `json_invalid`, …
    #[serde(rename = "type")]
    #[schema(example = "string_too_long")]
    pub kind: &'static str,
    /// Where: `["body", "title"]`, `["query", "limit"]`, `["path", "id"]`, `["header", "idempotency-key"]`.
    #[schema(example = json!(["body", "title"]))]
    pub loc: Vec<Value>,
    pub msg: String,
    /// Details such as `{"max_length": 200}`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl Problem {
    /// A problem at `loc` (for example `["body", "title"]`).
    pub fn new(loc: Vec<Value>, kind: &'static str, msg: impl Into<String>) -> Self {
        Self {
            kind,
            loc,
            msg: msg.into(),
            ctx: None,
        }
    }

    /// Attach pydantic's `ctx` object (limits, expected values).
    pub fn with_ctx(mut self, ctx: Value) -> Self {
        self.ctx = Some(ctx);
        self
    }
}
