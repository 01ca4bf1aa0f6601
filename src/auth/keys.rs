//! Public keys from a JWKS, parsed once, and the signature checks per `alg`.
//!
//! Every key type Better Auth can be configured with (docs/auth.md) and the rest of
//! docs/auth.md: Ed25519, P-256, P-384, P-521 and RSA (PKCS#1 v1.5 and PSS). A key
//! only verifies the algorithms its type fits, and only its own `alg` when the
//! JWK names one, so no token can pick a weaker reading of a key.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Verifier as _;
use rsa::traits::PublicKeyParts;
use rsa::{BigUint, Pkcs1v15Sign, Pss, RsaPublicKey};
use serde::Deserialize;
use sha2::{Digest, Sha256, Sha384, Sha512};

use super::jwt::Alg;

/// RSA keys below this size are refused (RFC 7518 3.3).
const MIN_RSA_BITS: usize = 2048;

/// The verifying half of a key pair.
enum Verifier {
    Ed25519(ed25519_dalek::VerifyingKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    Rsa(RsaPublicKey),
}

/// One usable key of a JWKS.
pub struct PublicKey {
    pub kid: Option<String>,
    /// The JWK's own `alg`, when it names one.
    alg: Option<Alg>,
    verifier: Verifier,
}

/// The JWK members we read; the rest are ignored.
#[derive(Deserialize)]
struct Jwk {
    kty: String,
    kid: Option<String>,
    alg: Option<String>,
    #[serde(rename = "use")]
    use_: Option<String>,
    key_ops: Option<Vec<String>>,
    crv: Option<String>,
    x: Option<String>,
    y: Option<String>,
    n: Option<String>,
    e: Option<String>,
}

/// Why a JWK was skipped (logged at WARN with its `kid`).
pub type SkipReason = &'static str;

impl PublicKey {
    /// Parse one JWK; keys that are not for signatures, of unknown types, or
    /// malformed are skipped by the caller, never fatal to the set.
    pub fn from_jwk(value: &serde_json::Value) -> Result<PublicKey, SkipReason> {
        let jwk = Jwk::deserialize(value).map_err(|_| "not a JWK")?;
        if jwk.use_.as_deref().is_some_and(|u| u != "sig") {
            return Err("use is not sig");
        }
        if jwk
            .key_ops
            .as_ref()
            .is_some_and(|ops| !ops.iter().any(|o| o == "verify"))
        {
            return Err("key_ops lacks verify");
        }
        let alg = match jwk.alg.as_deref() {
            None => None,
            Some(name) => Some(Alg::parse(name).ok_or("unsupported alg")?),
        };
        let bytes = |field: &Option<String>| -> Result<Vec<u8>, SkipReason> {
            let text = field.as_deref().ok_or("missing key member")?;
            URL_SAFE_NO_PAD.decode(text).map_err(|_| "bad base64")
        };
        let verifier = match (jwk.kty.as_str(), jwk.crv.as_deref()) {
            ("OKP", Some("Ed25519")) => {
                let x: [u8; 32] = bytes(&jwk.x)?.try_into().map_err(|_| "bad Ed25519 key")?;
                Verifier::Ed25519(
                    ed25519_dalek::VerifyingKey::from_bytes(&x).map_err(|_| "bad Ed25519 key")?,
                )
            }
            ("EC", Some(crv @ ("P-256" | "P-384" | "P-521"))) => {
                let mut point = vec![0x04];
                point.extend(bytes(&jwk.x)?);
                point.extend(bytes(&jwk.y)?);
                let bad = |_| "bad EC point";
                match crv {
                    "P-256" => Verifier::P256(
                        p256::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad)?,
                    ),
                    "P-384" => Verifier::P384(
                        p384::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad)?,
                    ),
                    _ => Verifier::P521(
                        p521::ecdsa::VerifyingKey::from_sec1_bytes(&point).map_err(bad)?,
                    ),
                }
            }
            ("RSA", _) => {
                let n = BigUint::from_bytes_be(&bytes(&jwk.n)?);
                let e = BigUint::from_bytes_be(&bytes(&jwk.e)?);
                let key = RsaPublicKey::new(n, e).map_err(|_| "bad RSA key")?;
                if key.size() * 8 < MIN_RSA_BITS {
                    return Err("RSA key under 2048 bits");
                }
                Verifier::Rsa(key)
            }
            _ => return Err("unsupported key type"),
        };
        let key = PublicKey {
            kid: jwk.kid,
            alg,
            verifier,
        };
        match key.alg {
            Some(alg) if !key.fits(alg) => Err("alg does not fit the key type"),
            _ => Ok(key),
        }
    }

    /// Whether a token signed with `alg` may be checked with this key.
    pub fn fits(&self, alg: Alg) -> bool {
        if self.alg.is_some_and(|own| own != alg) {
            return false;
        }
        matches!(
            (&self.verifier, alg),
            (Verifier::Ed25519(_), Alg::EdDSA)
                | (Verifier::P256(_), Alg::ES256)
                | (Verifier::P384(_), Alg::ES384)
                | (Verifier::P521(_), Alg::ES512)
                | (
                    Verifier::Rsa(_),
                    Alg::RS256 | Alg::RS384 | Alg::RS512 | Alg::PS256 | Alg::PS384 | Alg::PS512
                )
        )
    }

    /// Check `signature` over `message`; false for any mismatch, including an
    /// `alg` that does not fit the key.
    pub fn verify(&self, alg: Alg, message: &[u8], signature: &[u8]) -> bool {
        if !self.fits(alg) {
            return false;
        }
        match &self.verifier {
            Verifier::Ed25519(key) => ed25519_dalek::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify_strict(message, &sig).is_ok()),
            Verifier::P256(key) => p256::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Verifier::P384(key) => p384::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Verifier::P521(key) => p521::ecdsa::Signature::from_slice(signature)
                .is_ok_and(|sig| key.verify(message, &sig).is_ok()),
            Verifier::Rsa(key) => {
                let result = match alg {
                    Alg::RS256 => key.verify(
                        Pkcs1v15Sign::new::<Sha256>(),
                        &Sha256::digest(message),
                        signature,
                    ),
                    Alg::RS384 => key.verify(
                        Pkcs1v15Sign::new::<Sha384>(),
                        &Sha384::digest(message),
                        signature,
                    ),
                    Alg::RS512 => key.verify(
                        Pkcs1v15Sign::new::<Sha512>(),
                        &Sha512::digest(message),
                        signature,
                    ),
                    Alg::PS256 => {
                        key.verify(Pss::new::<Sha256>(), &Sha256::digest(message), signature)
                    }
                    Alg::PS384 => {
                        key.verify(Pss::new::<Sha384>(), &Sha384::digest(message), signature)
                    }
                    Alg::PS512 => {
                        key.verify(Pss::new::<Sha512>(), &Sha512::digest(message), signature)
                    }
                    _ => return false,
                };
                result.is_ok()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// RFC 8037 A.2.
    const ED_X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
    const RSA_1024_N: &str = "nTmr3Hq0oqIeSkro9e7jkRiCdd0gSbagMb5iN0JFuBEetkK2nj3CaE9BWX9450GdfkvfSzWM9DLPlrFixGOnnL_YKyJ5upQ2RqTgvdx50IGGWeT-GeCjbSZiVjNjv0fpq3ilSRwD_ChP5YfjcQ2k7mrXa3TI9Utg151tJ3NeohE";

    #[test]
    fn unusable_jwks_entries_are_skipped_with_a_reason() {
        let ok = json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "kid": "a"});
        assert!(PublicKey::from_jwk(&ok).is_ok());
        for (bad, why) in [
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": "!!"}),
                "bad base64",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": "AAAA"}),
                "bad Ed25519 key",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed448", "x": ED_X}),
                "unsupported key type",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "use": "enc"}),
                "use is not sig",
            ),
            (
                json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "alg": "RS256"}),
                "alg does not fit the key type",
            ),
            (
                json!({"kty": "oct", "k": "c2VjcmV0"}),
                "unsupported key type",
            ),
            (
                json!({"kty": "EC", "crv": "P-256", "x": ED_X, "y": ED_X}),
                "bad EC point",
            ),
            (
                json!({"kty": "RSA", "n": "AQAB", "e": "AQAB"}),
                "bad RSA key",
            ),
            (
                json!({"kty": "RSA", "n": RSA_1024_N, "e": "AQAB"}),
                "RSA key under 2048 bits",
            ),
            (json!("not an object"), "not a JWK"),
        ] {
            assert_eq!(PublicKey::from_jwk(&bad).err(), Some(why), "{bad}");
        }
    }

    #[test]
    fn a_key_fits_only_its_own_algorithms() {
        let any = PublicKey::from_jwk(&json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X})).unwrap();
        assert!(any.fits(Alg::EdDSA));
        assert!(!any.fits(Alg::ES256) && !any.fits(Alg::HS256) && !any.fits(Alg::RS256));
        let named = PublicKey::from_jwk(
            &json!({"kty": "OKP", "crv": "Ed25519", "x": ED_X, "alg": "Ed25519"}),
        )
        .unwrap();
        assert!(named.fits(Alg::EdDSA));
    }
}
