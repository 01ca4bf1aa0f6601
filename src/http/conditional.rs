//! Conditional requests (docs/api.md#safe-concurrent-edits-etag-if-match-if-none-match, RFC 9110 13): a task's `ETag` is its
//! version; `If-Match` guards writes, `If-None-Match` saves a re-download.

use axum::extract::FromRequestParts;
use axum::http::header::{IF_MATCH, IF_NONE_MATCH};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use serde_json::json;

use super::error::{ApiError, Problem};
use crate::db::sql::MAX_VERSIONS;

/// Most entity tags an `If-Match` or `If-None-Match` may list (a task has
/// one version at a time; a client needs one or two).
pub const MAX_TAGS: usize = MAX_VERSIONS;

/// The `ETag` of a task at `version`: a strong tag, `"<version>"`.
pub fn etag(version: i64) -> HeaderValue {
    HeaderValue::from_str(&format!("\"{version}\"")).expect("digits are a valid header")
}

/// What an `If-Match` or `If-None-Match` header lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tags {
    /// `*`: any current version.
    Any,
    /// Versions from entity tags; `weak` ones (`W/"…"`) kept apart, since
    /// `If-Match` compares strongly and never matches them.
    Versions { strong: Vec<i64>, weak: Vec<i64> },
}

impl Tags {
    /// All values of `name`, comma lists included; `None` when absent. Tags
    /// that name no version of ours (not digits) match nothing. More than
    /// [`MAX_TAGS`] tags is an error (parsing stops there).
    fn parse(headers: &HeaderMap, name: &HeaderName) -> Result<Option<Tags>, TooManyTags> {
        let mut strong = Vec::new();
        let mut weak = Vec::new();
        let mut present = false;
        let mut count = 0;
        for value in headers.get_all(name) {
            present = true;
            let Ok(text) = value.to_str() else { continue };
            for item in text.split(',').map(str::trim).filter(|i| !i.is_empty()) {
                count += 1;
                if count > MAX_TAGS {
                    return Err(TooManyTags);
                }
                if item == "*" {
                    return Ok(Some(Tags::Any));
                }
                let (list, tag) = match item.strip_prefix("W/") {
                    Some(rest) => (&mut weak, rest),
                    None => (&mut strong, item),
                };
                let tag = tag
                    .strip_prefix('"')
                    .and_then(|t| t.strip_suffix('"'))
                    .unwrap_or(tag);
                if let Ok(version) = tag.parse::<i64>() {
                    list.push(version);
                }
            }
        }
        for list in [&mut strong, &mut weak] {
            list.sort_unstable();
            list.dedup();
        }
        Ok(present.then_some(Tags::Versions { strong, weak }))
    }
}

/// More entity tags than [`MAX_TAGS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyTags;

fn too_many(header: &'static str) -> ApiError {
    ApiError::invalid(vec![
        Problem::new(
            vec![json!("header"), json!(header)],
            "too_long",
            format!("At most {MAX_TAGS} entity tags"),
        )
        .with_ctx(json!({ "max_length": MAX_TAGS })),
    ])
}

/// `If-Match` on a write: `Some(versions)` that the task must be at, or
/// `None` when absent or `*` (a write needs the task to exist anyway).
pub struct IfMatch(pub Option<Vec<i64>>);

impl<S: Send + Sync> FromRequestParts<S> for IfMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let tags = Tags::parse(&parts.headers, &IF_MATCH).map_err(|_| too_many("if-match"))?;
        Ok(IfMatch(match tags {
            None | Some(Tags::Any) => None,
            Some(Tags::Versions { strong, .. }) => Some(strong),
        }))
    }
}

/// `If-None-Match` on a read.
pub struct IfNoneMatch(pub Option<Tags>);

impl IfNoneMatch {
    /// Whether a task at `version` matches, so the answer is 304 (weak
    /// comparison, RFC 9110 13.1.2).
    pub fn matches(&self, version: i64) -> bool {
        match &self.0 {
            None => false,
            Some(Tags::Any) => true,
            Some(Tags::Versions { strong, weak }) => {
                strong.contains(&version) || weak.contains(&version)
            }
        }
    }
}

impl<S: Send + Sync> FromRequestParts<S> for IfNoneMatch {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        Tags::parse(&parts.headers, &IF_NONE_MATCH)
            .map(IfNoneMatch)
            .map_err(|_| too_many("if-none-match"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(values: &[&str]) -> Option<Tags> {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(IF_MATCH, HeaderValue::from_str(v).unwrap());
        }
        Tags::parse(&h, &IF_MATCH).unwrap()
    }

    #[test]
    fn entity_tag_lists() {
        assert_eq!(tags(&[]), None);
        assert_eq!(tags(&["*"]), Some(Tags::Any));
        assert_eq!(
            tags(&[r#""3", W/"4""#, r#"5, "x", "#]),
            Some(Tags::Versions {
                strong: vec![3, 5],
                weak: vec![4]
            })
        );
        assert_eq!(
            tags(&["garbage"]),
            Some(Tags::Versions {
                strong: vec![],
                weak: vec![]
            })
        );
        assert_eq!(etag(7), "\"7\"");
        let mut h = HeaderMap::new();
        let list = (0..=MAX_TAGS)
            .map(|i| format!("\"{i}\""))
            .collect::<Vec<_>>();
        h.append(IF_MATCH, HeaderValue::from_str(&list.join(",")).unwrap());
        assert_eq!(Tags::parse(&h, &IF_MATCH), Err(TooManyTags));
    }
}
