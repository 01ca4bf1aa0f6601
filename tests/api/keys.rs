//! Test keys (tests/fixtures/keys, generated once with openssl), token
//! signing for every JWS algorithm, and a fake JWKS server that counts hits.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey};
use serde_json::{Value, json};

const FIXTURES: &str = include_str!("../fixtures/keys/jwks.json");

fn pem(name: &str) -> &'static str {
    match name {
        "ed25519" => include_str!("../fixtures/keys/ed25519.pem"),
        "ed25519-other" => include_str!("../fixtures/keys/ed25519-other.pem"),
        "ec-P-256" => include_str!("../fixtures/keys/ec-P-256.pem"),
        "ec-P-384" => include_str!("../fixtures/keys/ec-P-384.pem"),
        "ec-P-521" => include_str!("../fixtures/keys/ec-P-521.pem"),
        "rsa" => include_str!("../fixtures/keys/rsa.pem"),
        other => panic!("no fixture key {other}"),
    }
}

fn fixture(name: &str) -> Value {
    let all: Value = serde_json::from_str(FIXTURES).unwrap();
    all[name].clone()
}

/// A private key from the fixtures and the `kid` it is published under.
pub struct TestKey {
    pub kid: String,
    name: &'static str,
}

impl TestKey {
    pub fn new(name: &'static str, kid: &str) -> TestKey {
        TestKey {
            kid: kid.to_owned(),
            name,
        }
    }

    /// The public JWK with its `kid`, and `alg` when given.
    pub fn jwk(&self, alg: Option<&str>) -> Value {
        let mut jwk = fixture(self.name)["public"].clone();
        jwk["kid"] = json!(self.kid);
        if let Some(alg) = alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }

    /// The public key as PEM (for algorithm-confusion attempts).
    pub fn public_pem(&self) -> String {
        let out = std::process::Command::new("openssl")
            .args(["pkey", "-pubout"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut child| {
                use std::io::Write;
                child
                    .stdin
                    .take()
                    .unwrap()
                    .write_all(pem(self.name).as_bytes())?;
                child.wait_with_output()
            })
            .expect("openssl runs");
        String::from_utf8(out.stdout).unwrap()
    }

    /// A token with header `{"alg": alg, "kid": kid}` over `claims`.
    pub fn sign(&self, alg: &str, claims: &Value) -> String {
        self.sign_header(&json!({"alg": alg, "kid": self.kid}), claims)
    }

    /// A token with any header, signed as the header's `alg` says.
    pub fn sign_header(&self, header: &Value, claims: &Value) -> String {
        let alg = header["alg"].as_str().unwrap();
        let input = format!("{}.{}", b64(header), b64(claims));
        let signature = self.signature(alg, input.as_bytes());
        format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    fn signature(&self, alg: &str, message: &[u8]) -> Vec<u8> {
        if alg == "ES512" {
            use p521::ecdsa::signature::Signer;
            let d = fixture(self.name)["d"].as_str().unwrap().to_owned();
            let key =
                p521::ecdsa::SigningKey::from_slice(&URL_SAFE_NO_PAD.decode(d).unwrap()).unwrap();
            let sig: p521::ecdsa::Signature = key.sign(message);
            return sig.to_bytes().to_vec();
        }
        let (algorithm, key) = match alg {
            "EdDSA" | "Ed25519" => (
                Algorithm::EdDSA,
                EncodingKey::from_ed_pem(pem(self.name).as_bytes()),
            ),
            "ES256" => (
                Algorithm::ES256,
                EncodingKey::from_ec_pem(pem(self.name).as_bytes()),
            ),
            "ES384" => (
                Algorithm::ES384,
                EncodingKey::from_ec_pem(pem(self.name).as_bytes()),
            ),
            rsa => (
                rsa.parse::<Algorithm>().unwrap(),
                EncodingKey::from_rsa_pem(pem(self.name).as_bytes()),
            ),
        };
        let sig = jsonwebtoken::crypto::sign(message, &key.unwrap(), algorithm).unwrap();
        URL_SAFE_NO_PAD.decode(sig).unwrap()
    }
}

/// An HS256 token keyed with `secret`, with `kid` in its header when given.
pub fn hs256(secret: &str, kid: Option<&str>, claims: &Value) -> String {
    let header = jsonwebtoken::Header {
        kid: kid.map(str::to_owned),
        ..jsonwebtoken::Header::new(Algorithm::HS256)
    };
    jsonwebtoken::encode(
        &header,
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap()
}

pub fn b64(value: &Value) -> String {
    URL_SAFE_NO_PAD.encode(value.to_string())
}

/// A payload shaped like Better Auth's (docs/auth.md) for `user`.
pub fn better_auth_claims(issuer: &str, user: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "iat": now, "name": format!("User {user}"), "email": format!("{user}@example.com"),
        "emailVerified": false, "image": null, "createdAt": "2026-01-01T00:00:00.000Z",
        "updatedAt": "2026-01-01T00:00:00.000Z", "id": user, "sub": user,
        "exp": now + 900, "iss": issuer, "aud": issuer,
    })
}

/// How the fake JWKS server answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Up,
    /// 503 to every request.
    Failing,
    /// Accepts the request and never answers.
    Hanging,
}

struct FakeState {
    keys: Mutex<Vec<Value>>,
    hits: AtomicUsize,
    mode: Mutex<Mode>,
    cache_control: Mutex<Option<String>>,
}

/// A JWKS endpoint at `{base}/api/auth/jwks`, as Better Auth serves it.
pub struct FakeJwks {
    pub base: String,
    state: Arc<FakeState>,
}

impl FakeJwks {
    pub async fn start(keys: Vec<Value>) -> FakeJwks {
        let state = Arc::new(FakeState {
            keys: Mutex::new(keys),
            hits: AtomicUsize::new(0),
            mode: Mutex::new(Mode::Up),
            cache_control: Mutex::new(None),
        });
        let shared = state.clone();
        let app = axum::Router::new().route(
            "/api/auth/jwks",
            axum::routing::get(move || serve(shared.clone())),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr: SocketAddr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeJwks {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn set_keys(&self, keys: Vec<Value>) {
        *self.state.keys.lock().unwrap() = keys;
    }

    pub fn set_mode(&self, mode: Mode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn set_cache_control(&self, value: &str) {
        *self.state.cache_control.lock().unwrap() = Some(value.to_owned());
    }

    pub fn hits(&self) -> usize {
        self.state.hits.load(Ordering::SeqCst)
    }

    /// Wait until the API has fetched the set at least `n` times.
    pub async fn wait_for_hits(&self, n: usize) {
        for _ in 0..100 {
            if self.hits() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the JWKS was fetched {} times, expected {n}", self.hits());
    }
}

async fn serve(state: Arc<FakeState>) -> Response {
    state.hits.fetch_add(1, Ordering::SeqCst);
    let mode = *state.mode.lock().unwrap();
    match mode {
        Mode::Failing => StatusCode::SERVICE_UNAVAILABLE.into_response(),
        Mode::Hanging => {
            tokio::time::sleep(Duration::from_secs(120)).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        Mode::Up => {
            let keys = state.keys.lock().unwrap().clone();
            let mut resp = axum::Json(json!({ "keys": keys })).into_response();
            if let Some(cc) = state.cache_control.lock().unwrap().clone() {
                resp.headers_mut()
                    .insert(header::CACHE_CONTROL, HeaderValue::from_str(&cc).unwrap());
            }
            resp
        }
    }
}
