//! Shared helpers: hand-made tokens, a key repository on 127.0.0.1 and
//! the asap-keys HTTP repository client for it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use asap_core::{Algorithm, PrivateKey, PublicKey};
use asap_keys::HttpKeyRepository;
use aws_lc_rs::hmac;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::Value;

pub(crate) fn now() -> i64 {
    i64::try_from(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("after 1970")
            .as_secs(),
    )
    .expect("fits")
}

fn b64json(v: &Value) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).expect("serialises"))
}

/// A token with any header and claims, HMAC-SHA256-signed with `secret` whatever `alg` says.
pub(crate) fn hs256_token(header: &Value, claims: &Value, secret: &str) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// A token with any header and claims, HMAC-SHA512-signed (for `alg: HS512`).
pub(crate) fn hs512_token(header: &Value, claims: &Value, secret: &str) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let key = hmac::Key::new(hmac::HMAC_SHA512, secret.as_bytes());
    let tag = hmac::sign(&key, input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// An RS256 token signed with `key`.
pub(crate) fn rs256_token(header: &Value, claims: &Value, key: &PrivateKey) -> String {
    let input = format!("{}.{}", b64json(header), b64json(claims));
    let sig = key.sign(Algorithm::RS256, input.as_bytes()).expect("signs");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// An unsigned `alg: none` token.
pub(crate) fn none_token(claims: &Value) -> String {
    format!(
        "{}.{}.",
        b64json(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64json(claims)
    )
}

/// A public key repository as the Connect install-keys service runs it: `GET /<kid>` answers
/// the PEM with `Content-Type: application/x-pem-file`, or 404. Counts the requests it serves.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyRepository {
    keys: Arc<Mutex<HashMap<String, String>>>,
    hits: Arc<Mutex<usize>>,
}

impl KeyRepository {
    pub(crate) fn publish(&self, kid: &str, key: &PublicKey) {
        self.keys
            .lock()
            .expect("lock")
            .insert(kid.to_owned(), key.to_pem());
    }

    pub(crate) fn hits(&self) -> usize {
        *self.hits.lock().expect("lock")
    }

    /// Serves the repository on 127.0.0.1; returns its base URL (with a trailing `/`).
    pub(crate) async fn serve(&self) -> String {
        async fn key(State(repo): State<KeyRepository>, Path(kid): Path<String>) -> impl IntoResponse {
            *repo.hits.lock().expect("lock") += 1;
            match repo.keys.lock().expect("lock").get(&kid) {
                Some(pem) => (
                    StatusCode::OK,
                    [(header::CONTENT_TYPE, "application/x-pem-file")],
                    pem.clone(),
                )
                    .into_response(),
                None => StatusCode::NOT_FOUND.into_response(),
            }
        }
        let router = Router::new().route("/{*kid}", get(key)).with_state(self.clone());
        let addr: SocketAddr = asap_testkit::http::spawn_http(router).await;
        format!("http://{addr}/")
    }
}

/// The install-keys client an app runs in production: asap-keys' `HttpKeyRepository` (with
/// its cache, single flight and Content-Type check), allowed plain HTTP because `base` is the
/// loopback [`KeyRepository`].
pub(crate) fn install_keys(base: &str) -> HttpKeyRepository {
    HttpKeyRepository::builder(base)
        .allow_insecure_loopback(true)
        .build()
        .expect("a valid loopback repository URL")
}
