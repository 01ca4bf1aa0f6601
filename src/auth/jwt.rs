//! JWS compact tokens: splitting, the header, and the registered claims.
//!
//! Verification is done here rather than by `jsonwebtoken::decode` because
//! Better Auth tokens need what that crate cannot give: ES512, `alg` written as
//! `Ed25519` (RFC 9864), and keys parsed once per JWKS fetch instead of on
//! every request. The signature primitives are RustCrypto's (`keys.rs`).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;
use serde_json::{Map, Value};

use super::AuthFailure;

/// Signature algorithms a token may name. `none` is not one of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Alg {
    HS256,
    HS384,
    HS512,
    RS256,
    RS384,
    RS512,
    PS256,
    PS384,
    PS512,
    ES256,
    ES384,
    ES512,
    EdDSA,
}

impl Alg {
    /// The `alg` header value; `Ed25519` is the fully specified name of EdDSA
    /// over Ed25519 (RFC 9864) and is accepted as the same algorithm.
    pub fn parse(name: &str) -> Option<Alg> {
        Some(match name {
            "HS256" => Alg::HS256,
            "HS384" => Alg::HS384,
            "HS512" => Alg::HS512,
            "RS256" => Alg::RS256,
            "RS384" => Alg::RS384,
            "RS512" => Alg::RS512,
            "PS256" => Alg::PS256,
            "PS384" => Alg::PS384,
            "PS512" => Alg::PS512,
            "ES256" => Alg::ES256,
            "ES384" => Alg::ES384,
            "ES512" => Alg::ES512,
            "EdDSA" | "Ed25519" => Alg::EdDSA,
            _ => return None,
        })
    }

    /// Shared-secret algorithms: verified with `BETTER_AUTH_SECRET`, never a JWK.
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::HS256 | Alg::HS384 | Alg::HS512)
    }
}

/// The header fields that matter; others (`cty`, …) are ignored.
#[derive(Debug, Deserialize)]
struct RawHeader {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
    /// `at+jwt` on an OAuth access token (RFC 9068); checked only where
    /// access tokens are required (`/mcp` with `MCP_RESOURCE_URL`).
    #[serde(default)]
    typ: Option<Value>,
    /// Critical extensions: none are understood, so any makes the token invalid
    /// (RFC 7515 4.1.11).
    #[serde(default)]
    crit: Option<Value>,
}

/// Longest `kid` looked up; longer ones cannot be a key we published.
const MAX_KID_BYTES: usize = 256;

/// A token split into its parts, the signature not yet checked.
pub struct Compact<'a> {
    pub alg: Alg,
    pub kid: Option<String>,
    /// The header's `typ`, when it is a string.
    pub typ: Option<String>,
    /// `header.payload`, the bytes the signature covers.
    pub signing_input: &'a [u8],
    pub signature: Vec<u8>,
    payload: &'a str,
}

impl<'a> Compact<'a> {
    pub fn parse(token: &'a str) -> Result<Self, AuthFailure> {
        let (signing_input, signature) = token.rsplit_once('.').ok_or(AuthFailure::Malformed)?;
        let (header, payload) = signing_input
            .split_once('.')
            .ok_or(AuthFailure::Malformed)?;
        if payload.contains('.') {
            return Err(AuthFailure::Malformed);
        }
        let header: RawHeader =
            serde_json::from_slice(&b64(header)?).map_err(|_| AuthFailure::Malformed)?;
        if header.crit.is_some() {
            return Err(AuthFailure::Malformed);
        }
        let alg = Alg::parse(&header.alg).ok_or(AuthFailure::Algorithm)?;
        if header.kid.as_ref().is_some_and(|k| k.len() > MAX_KID_BYTES) {
            return Err(AuthFailure::UnknownKey);
        }
        Ok(Compact {
            alg,
            kid: header.kid,
            typ: match header.typ {
                Some(Value::String(t)) => Some(t),
                _ => None,
            },
            signing_input: signing_input.as_bytes(),
            signature: b64(signature)?,
            payload,
        })
    }

    /// An OAuth 2.0 access token in JWT form (RFC 9068 2.1: `typ` is
    /// `at+jwt`, or `application/at+jwt`, in any case).
    pub fn is_access_token(&self) -> bool {
        self.typ.as_deref().is_some_and(|t| {
            let t = t.to_ascii_lowercase();
            t == "at+jwt" || t == "application/at+jwt"
        })
    }

    /// The claims; call only once the signature is verified.
    pub fn claims(&self) -> Result<Map<String, Value>, AuthFailure> {
        serde_json::from_slice(&b64(self.payload)?).map_err(|_| AuthFailure::Malformed)
    }
}

fn b64(part: &str) -> Result<Vec<u8>, AuthFailure> {
    URL_SAFE_NO_PAD
        .decode(part)
        .map_err(|_| AuthFailure::Malformed)
}

/// What the registered claims must satisfy (docs/auth.md).
#[derive(Debug, Clone, Default)]
pub struct ClaimRules {
    /// Seconds of clock skew allowed on `exp` and `nbf`.
    pub leeway: i64,
    /// When not empty, `iss` must be one of these.
    pub issuers: Vec<String>,
    /// When not empty, `aud` (a string or an array) must name one of these.
    pub audiences: Vec<String>,
}

impl ClaimRules {
    /// On success, the time (Unix seconds) from which the token is refused:
    /// its `exp` plus the leeway.
    pub fn check(&self, claims: &Map<String, Value>, now: i64) -> Result<i64, AuthFailure> {
        let exp = numeric_date(claims.get("exp"))?.ok_or(AuthFailure::MissingClaim)?;
        let refused_from = exp.saturating_add(self.leeway);
        if refused_from <= now {
            return Err(AuthFailure::Expired);
        }
        if let Some(nbf) = numeric_date(claims.get("nbf"))?
            && nbf > now.saturating_add(self.leeway)
        {
            return Err(AuthFailure::NotYetValid);
        }
        if !self.issuers.is_empty() {
            let iss = claims.get("iss").ok_or(AuthFailure::MissingClaim)?;
            if !iss
                .as_str()
                .is_some_and(|i| self.issuers.iter().any(|e| e == i))
            {
                return Err(AuthFailure::Issuer);
            }
        }
        if !self.audiences.is_empty() {
            let named = |v: &Value| {
                v.as_str()
                    .is_some_and(|a| self.audiences.iter().any(|e| e == a))
            };
            let ok = match claims.get("aud").ok_or(AuthFailure::MissingClaim)? {
                Value::Array(items) => items.iter().any(named),
                one => named(one),
            };
            if !ok {
                return Err(AuthFailure::Audience);
            }
        }
        Ok(refused_from)
    }
}

/// A NumericDate claim: absent is `None`; present but not a number is invalid.
fn numeric_date(value: Option<&Value>) -> Result<Option<i64>, AuthFailure> {
    match value {
        None => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().filter(|f| f.is_finite()).map(|f| f as i64))
            .map(Some)
            .ok_or(AuthFailure::Malformed),
        Some(_) => Err(AuthFailure::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn exp_is_required_and_honours_leeway() {
        let rules = ClaimRules {
            leeway: 30,
            ..Default::default()
        };
        assert_eq!(
            rules.check(&claims(json!({})), 1000),
            Err(AuthFailure::MissingClaim)
        );
        assert_eq!(
            rules.check(&claims(json!({"exp": "soon"})), 1000),
            Err(AuthFailure::Malformed)
        );
        assert!(rules.check(&claims(json!({"exp": 980})), 1000).is_ok());
        assert!(rules.check(&claims(json!({"exp": 980.5})), 1000).is_ok());
        assert_eq!(
            rules.check(&claims(json!({"exp": 970})), 1000),
            Err(AuthFailure::Expired)
        );
        assert!(
            rules
                .check(&claims(json!({"exp": 2000, "nbf": 1020})), 1000)
                .is_ok()
        );
        assert_eq!(
            rules.check(&claims(json!({"exp": 2000, "nbf": 1040})), 1000),
            Err(AuthFailure::NotYetValid)
        );
    }

    #[test]
    fn issuer_and_audience_when_configured() {
        let rules = ClaimRules {
            leeway: 0,
            issuers: vec!["https://a".into()],
            audiences: vec!["x".into(), "y".into()],
        };
        let ok = json!({"exp": 2000, "iss": "https://a", "aud": "y"});
        assert!(rules.check(&claims(ok), 1000).is_ok());
        let arr = json!({"exp": 2000, "iss": "https://a", "aud": ["z", "x"]});
        assert!(rules.check(&claims(arr), 1000).is_ok());
        let bad_aud = json!({"exp": 2000, "iss": "https://a", "aud": ["z"]});
        assert_eq!(
            rules.check(&claims(bad_aud), 1000),
            Err(AuthFailure::Audience)
        );
        let no_iss = json!({"exp": 2000, "aud": "x"});
        assert_eq!(
            rules.check(&claims(no_iss), 1000),
            Err(AuthFailure::MissingClaim)
        );
        let bad_iss = json!({"exp": 2000, "iss": "https://b", "aud": "x"});
        assert_eq!(
            rules.check(&claims(bad_iss), 1000),
            Err(AuthFailure::Issuer)
        );
    }

    #[test]
    fn parsing_refuses_what_is_not_a_compact_jws() {
        assert!(Compact::parse("a.b").is_err());
        assert!(Compact::parse("a.b.c.d").is_err());
        // {"alg":"none"}
        let none = "eyJhbGciOiJub25lIn0.e30.";
        assert_eq!(Compact::parse(none).err(), Some(AuthFailure::Algorithm));
        // {"alg":"HS256","crit":["b64"]}
        let crit = "eyJhbGciOiJIUzI1NiIsImNyaXQiOlsiYjY0Il19.e30.c2ln";
        assert_eq!(Compact::parse(crit).err(), Some(AuthFailure::Malformed));
        // {"alg":"Ed25519","kid":"k"}
        let ed = Compact::parse("eyJhbGciOiJFZDI1NTE5Iiwia2lkIjoiayJ9.e30.c2ln").unwrap();
        assert_eq!((ed.alg, ed.kid.as_deref()), (Alg::EdDSA, Some("k")));
    }
}
